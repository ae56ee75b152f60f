"""The rows Great Expectations must examine for a suite to judge every row of a frame.

Most expectations judge a row by the values of the few columns they read: two rows with the same
visit text and the same standardised VISIT get the same verdict from "VISIT is filled where visit
is". A million lab rows hold a few thousand such combinations, so GX examines one row for each
combination of each group of columns, and a failure found on that row is a failure of every row
that shares the combination. Uniqueness expectations judge rows against each other: for them GX
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

from transforms.distinct import (
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
# Judge a row by whether another row has its value (its key).
REPEATS = frozenset({"expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique"})


@dataclass(frozen=True)
class Cover:
    """`rows`: the positions (ascending) of the frame's rows GX examines. `codes[i]`: for the i-th
    expectation, each frame row's value combination over the columns its verdict depends on
    (aligned with the frame), so a failing examined row names every row sharing its code; None
    where the failing rows are exactly those GX names (uniqueness)."""

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
    (transforms.distinct)."""
    reads = [_columns_read(e, frame) for e in expectations]
    if frame.empty or any(r is None for r in reads):
        return None
    kinds = [e.expectation_type for e in expectations]
    row_wise = [kind in ROW_WISE for kind in kinds]
    groups = _column_groups(
        [key + condition for (key, condition, _), rw in zip(reads, row_wise) if rw]
    )
    cache = {} if cache is None else cache
    judged = np.ones(len(frame), dtype=bool) if skip is None else ~skip
    examined = np.zeros(len(frame), dtype=bool)
    # a check that fails whole (a missing column) still gets a row to fail on
    examined[np.flatnonzero(judged)[:1]] = True
    keys = [key for (key, _, complete), rw in zip(reads, row_wise) if not rw and complete]
    fill_value_codes([frame[c] for columns in groups + keys for c in columns], cache)
    group_codes = {}
    for group in groups:
        codes = compute_combination_codes([frame[c] for c in group], cache)
        examined |= _first_judged(codes, skip)
        group_codes.update({column: codes for column in group})
    codes = []
    for (key, condition, complete), is_row_wise in zip(reads, row_wise):
        if is_row_wise:
            columns = key + condition
            # a check reading no column of the frame fails whole, not row by row
            codes.append(group_codes[columns[0]] if columns else np.zeros(len(frame), "int64"))
        else:
            if complete and key:  # else GX fails it whole for the missing key column
                # by the key alone: rows sharing a key but not the condition's columns still
                # meet when both pass the condition
                examined |= _repeated_among_judged([frame[c] for c in key], skip, cache)
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


def _columns_read(expectation, frame: pd.DataFrame) -> tuple | None:
    """(the frame columns an expectation's verdict depends on, those its row condition reads,
    whether the frame has every column it names), the names as in the frame (GX matches them
    case-insensitively); None when the cover cannot be planned for it."""
    kind = expectation.expectation_type
    if kind not in ROW_WISE and kind not in REPEATS:
        return None
    mostly = getattr(expectation, "mostly", 1)
    if mostly is not None and mostly < 1:
        return None  # success would be judged on the examined rows' share of failures
    names = [getattr(expectation, f, None) for f in ("column", "column_A", "column_B")]
    names += list(getattr(expectation, "column_list", None) or [])
    names = [n for n in names if isinstance(n, str)]
    condition = getattr(expectation, "row_condition", None)
    condition_names = [] if condition is None else condition_columns(condition)
    if condition_names is None:
        return None
    in_frame = {str(c).casefold(): c for c in frame.columns}

    def resolved(wanted):
        # a column the frame lacks makes GX fail the expectation whole, whatever the rows
        found = [in_frame[n.casefold()] for n in wanted if n.casefold() in in_frame]
        return list(dict.fromkeys(found))

    complete = all(n.casefold() in in_frame for n in names + condition_names)
    return resolved(names), resolved(condition_names), complete


def condition_columns(condition) -> list | None:
    """Columns a row condition reads; None for a text condition, which may read anything."""
    if isinstance(condition, (NullityCondition, ComparisonCondition)):
        return [condition.column.name]
    if isinstance(condition, (AndCondition, OrCondition)):
        parts = [condition_columns(c) for c in condition.conditions]
        return None if any(p is None for p in parts) else [n for p in parts for n in p]
    return None


def _column_groups(reads: list) -> list:
    """Columns read together by some expectation, joined into groups (connected components): one
    combination code per group serves every expectation reading any of its columns."""
    parent: dict = {}

    def root(column):
        while parent.setdefault(column, column) != column:
            column = parent[column]
        return column

    for columns in reads:
        for column in columns[1:]:
            parent[root(column)] = root(columns[0])
        if columns:
            root(columns[0])
    groups: dict = {}
    for column in parent:
        groups.setdefault(root(column), []).append(column)
    return list(groups.values())
