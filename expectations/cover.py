"""The rows Great Expectations must examine for a suite to judge every row of a frame.

Most expectations judge a row by the values of the few columns they read, some only by whether a
value is missing: two rows with a visit and the same standardised VISIT get the same verdict from
"VISIT is filled where visit is". A million lab rows hold a few thousand such combinations, so GX
examines one row for each combination of each group of columns, and a failure found on that row
is a failure of every row that shares the combination. Uniqueness expectations judge rows against each other: for them GX
examines every row whose key repeats (a row whose key is unique cannot fail, and cannot make
another row fail).

The verdict per row is exactly GX's on the whole frame; what changes is the count GX reports
(rows examined, in Data Docs). An expectation of any other kind (a table or aggregate check, a
`mostly` below 1, a text row condition) needs the whole frame, and then GX gets all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from great_expectations.expectations.row_conditions import (
    AndCondition,
    ComparisonCondition,
    NullityCondition,
    OrCondition,
)

from transforms.core.distinct import (
    compute_combination_codes,
    compute_first_occurrences,
    compute_is_repeated,
    fill_value_codes,
)

# Judge each row from that row's values only (GX's column, column-pair and multicolumn map
# metrics). Listed by name, not by base class: expect_column_values_to_be_unique is a column map
# expectation too, and judges a row against the others.
ROW_WISE = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list",
    "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_to_be_in_set",
    "expect_select_column_values_to_be_unique_within_record",
    "expect_multicolumn_sum_to_equal",
})
# Of these, judge the column by whether it is missing, not by its value.
_NULLITY_ONLY = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"})
# What of a column a verdict reads (a feature is a (column, what) pair).
VALUE, NULLITY = "value", "nullity"
# Judge a row by whether another row has its value (its key).
REPEATS = frozenset({"expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique"})


@dataclass(frozen=True)
class Cover:
    """`rows`: the positions (ascending) of the frame's rows GX examines. `codes[i]`: for the i-th
    expectation, each frame row's combination of the features its verdict depends on (aligned
    with the frame), so a failing examined row names every row sharing its code; None where the
    failing rows are exactly those GX names (uniqueness)."""

    rows: np.ndarray
    codes: list
    judged: np.ndarray  # the rows not skipped: only these take a failure


def plan_cover(
    frame: pd.DataFrame, expectations: list, skip: np.ndarray | None = None,
    cache: dict | None = None,
) -> Cover | None:
    """The rows GX must examine for `expectations` to judge every row of `frame` but those the
    boolean mask `skip` leaves out; None when it must examine them all (an expectation of
    another kind, or no row to spare). `cache`: the frame's value-code cache
    (transforms.core.distinct)."""
    reads = [_features_read(e, frame) for e in expectations]
    if frame.empty or any(r is None for r in reads):
        return None
    row_wise = [e.expectation_type in ROW_WISE for e in expectations]
    groups = _feature_groups(
        [key + condition for (key, condition, _), rw in zip(reads, row_wise) if rw]
    )
    cache = {} if cache is None else cache
    judged = np.ones(len(frame), dtype=bool) if skip is None else ~skip
    examined = np.zeros(len(frame), dtype=bool)
    # a check that fails whole (a missing column) still gets a row to fail on
    examined[np.flatnonzero(judged)[:1]] = True
    keys = [key for (key, _, complete), rw in zip(reads, row_wise) if not rw and complete]
    fill_value_codes(
        [frame[c] for features in groups + keys for c, mode in features if mode == VALUE], cache
    )
    group_codes = {}
    for group in groups:
        codes = compute_combination_codes([_feature(frame, f) for f in group], cache)
        examined |= _first_judged(codes, skip)
        group_codes.update({feature: codes for feature in group})
    codes = []
    for (key, condition, complete), is_row_wise in zip(reads, row_wise):
        if is_row_wise:
            features = key + condition
            # a check reading no column of the frame fails whole, not row by row
            codes.append(group_codes[features[0]] if features else np.zeros(len(frame), "int64"))
        else:
            if complete and key:  # else GX fails it whole for the missing key column
                # by the key alone: rows sharing a key but not the condition's columns still
                # meet when both pass the condition
                examined |= _repeated_among_judged([_feature(frame, f) for f in key], skip, cache)
            codes.append(None)
    if examined.all():
        return None
    return Cover(rows=np.flatnonzero(examined), codes=codes, judged=judged)


def expand_rows(cover: Cover, position: int, examined_positions: np.ndarray) -> np.ndarray:
    """The positions of all frame rows judged as the examined rows at `examined_positions` (frame
    positions) were, for the expectation at `position` in the list the cover was planned for."""
    codes = cover.codes[position]
    if codes is None:
        return np.sort(examined_positions)
    failing = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=bool)
    failing[codes[examined_positions]] = True
    return np.flatnonzero(failing[codes] & cover.judged)


def _repeated_among_judged(key: list, skip: np.ndarray | None, cache: dict) -> np.ndarray:
    """Whether each judged row's key occurs on another judged row too."""
    if skip is None:
        return compute_is_repeated(key, cache)
    judged = np.flatnonzero(~skip)
    repeated = np.zeros(len(skip), dtype=bool)
    # the codes of the whole frame serve the judged rows as well: rows equal stay equal
    key_codes = compute_combination_codes(key, cache)[judged]
    repeated[judged[np.bincount(key_codes)[key_codes] > 1]] = True
    return repeated


def _first_judged(codes: np.ndarray, skip: np.ndarray | None) -> np.ndarray:
    """Whether each row is the first row of its code that is judged (not skipped)."""
    if skip is None:
        return compute_first_occurrences(codes)
    judged = np.flatnonzero(~skip)
    first = np.zeros(len(codes), dtype=bool)
    first[judged[compute_first_occurrences(codes[judged])]] = True
    return first


# --- which columns ---------------------------------------------------------------------------


def _features_read(expectation, frame: pd.DataFrame) -> tuple | None:
    """(the features of a row an expectation's verdict depends on, those its row condition
    reads, whether the frame has every column it names); None when the cover cannot be planned
    for it. A feature is (column as named in the frame, VALUE or NULLITY): whether a value is
    missing is all that "to be null", "not to be null" and a nullity condition read, so rows
    differing only in which subject or date they carry are judged alike by them."""
    kind = expectation.expectation_type
    if kind not in ROW_WISE and kind not in REPEATS:
        return None
    mostly = getattr(expectation, "mostly", 1)
    if mostly is not None and mostly < 1:
        return None  # success would be judged on the examined rows' share of failures
    names = named_columns(expectation)
    mode = NULLITY if kind in _NULLITY_ONLY else VALUE
    condition = getattr(expectation, "row_condition", None)
    condition_read = [] if condition is None else condition_features(condition)
    if condition_read is None:
        return None
    in_frame = {str(c).casefold(): c for c in frame.columns}

    def resolved(features):
        # a column the frame lacks makes GX fail the expectation whole, whatever the rows
        found = [(in_frame[n.casefold()], m) for n, m in features if n.casefold() in in_frame]
        return list(dict.fromkeys(found))

    complete = all(n.casefold() in in_frame for n in names + [n for n, _ in condition_read])
    return resolved([(n, mode) for n in names]), resolved(condition_read), complete


def named_columns(expectation) -> list[str]:
    """The columns an expectation names (column, column_A and column_B, column_list), without
    those its row condition reads."""
    names = [getattr(expectation, f, None) for f in ("column", "column_A", "column_B")]
    names += list(getattr(expectation, "column_list", None) or [])
    return [n for n in names if isinstance(n, str)]


def condition_features(condition) -> list | None:
    """The features (column, VALUE or NULLITY) a row condition reads; None for a text
    condition, which may read anything."""
    if isinstance(condition, NullityCondition):
        return [(condition.column.name, NULLITY)]
    if isinstance(condition, ComparisonCondition):
        return [(condition.column.name, VALUE)]
    if isinstance(condition, (AndCondition, OrCondition)):
        parts = [condition_features(c) for c in condition.conditions]
        return None if any(p is None for p in parts) else [f for p in parts for f in p]
    return None


def condition_columns(condition) -> list | None:
    """Columns a row condition reads; None for a text condition, which may read anything."""
    features = condition_features(condition)
    return None if features is None else [column for column, _ in features]


def _feature_groups(reads: list) -> list:
    """Features read together by some expectation, joined into groups (connected components):
    one combination code per group serves every expectation reading any of its features."""
    parent: dict = {}

    def root(feature):
        while parent.setdefault(feature, feature) != feature:
            feature = parent[feature]
        return feature

    for features in reads:
        for feature in features[1:]:
            parent[root(feature)] = root(features[0])
        if features:
            root(features[0])
    groups: dict = {}
    for feature in parent:
        groups.setdefault(root(feature), []).append(feature)
    return list(groups.values())


def _feature(frame: pd.DataFrame, feature: tuple) -> pd.Series:
    """A feature's values: the column itself, or whether it is missing (unnamed: derived, so
    kept out of the value-code cache)."""
    column, mode = feature
    return frame[column] if mode == VALUE else frame[column].isna().rename(None)
