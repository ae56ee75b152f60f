"""The predicates every check of the SDTM output shares: one home for what a valid --TESTCD or
--DTC is, and the few kinds of rule the conformance table states as data.

A predicate is a vectorised function of columns that returns, per record, whether the record
breaks it (a boolean Series on the frame's index). Those that depend on a value alone (a
pattern, a length, a forbidden word) are worked out once per distinct value and spread back to
the records (transforms/core/distinct.py's reason: a million lab records carry a few hundred test
codes and dates).

The patterns, and why these:

* TESTCD_PATTERN: at most 8 characters, upper-case letters, digits and underscores, not starting
  with a digit (SDTMIG 3.4 section 4.5.3.1, docs/sdtm-reference.md#lb; FDA rule SD0018: "cannot start with a number"). A leading
  underscore is therefore valid, as it is in a SAS name.
* ISO8601_DTC_PATTERN: a complete or partial date, optionally with a time and a UTC offset, where
  a missing component inside the value is a hyphen ("2003---15", "2003-12-15T-:15"; SDTMIG 3.4
  section 4.4.2, "Date/Time Precision"; docs/sdtm-reference.md#dtc).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd

TESTCD_PATTERN = r"^[A-Z_][A-Z0-9_]{0,7}$"
ISO8601_DTC_PATTERN = (
    r"^(?:\d{4}|-)(?:-(?:\d{2}|-)(?:-(?:\d{2}|-)(?:T(?:\d{2}|-)(?::(?:\d{2}|-)(?::\d{2}(?:\.\d+)?)?)?"
    r"(?:Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
ISO8601_DURATION_PATTERN = (
    r"^P(?=\d|T\d)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?"
    r"(\d+(\.\d+)?S)?)?$|^P\d+(\.\d+)?W$"
)
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def compute_filled(values: pd.Series) -> pd.Series:
    """Whether each value is given: a number that is not missing, a text that is not missing
    and not empty."""
    def filled() -> np.ndarray:
        # comparing in place avoids converting a million-record column to str for every rule
        if pd.api.types.is_numeric_dtype(values):
            return values.notna().to_numpy()
        return (values.notna() & values.ne("")).to_numpy()
    return pd.Series(_remembered(values, "filled", filled), index=values.index)


def compute_number(values: pd.Series) -> pd.Series:
    """Each value as a number where its text is one (NUMBER_PATTERN), else missing; worked once
    per distinct value."""
    codes, distinct = _distinct_texts(values)
    numbers = pd.to_numeric(distinct.where(distinct.str.match(NUMBER_PATTERN)), errors="coerce").to_numpy()
    # the code of a missing value, -1, picks the NaN appended last
    return pd.Series(np.append(numbers.astype("float64"), np.nan)[codes], index=values.index)


def _distinct_texts(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """The values' codes (-1 where missing) and their distinct values as str."""
    def factorised():
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        return codes, pd.Series(distinct, dtype=object).astype("str")
    return _remembered(values, "distinct", factorised)


def _per_distinct(values: pd.Series, judge) -> pd.Series:
    """`judge` (distinct values as str -> booleans) worked once per distinct value, spread back."""
    codes, distinct = _distinct_texts(values)
    if len(distinct) == 0:
        return pd.Series(False, index=values.index)
    verdict = np.asarray(judge(distinct), dtype=bool)
    return pd.Series(np.where(codes >= 0, verdict[np.maximum(codes, 0)], False), index=values.index)


# The package's checks read the same columns again and again (some 250 rules; the ASCII and the
# leading-space rules each read every text column of every dataset): within `remembering_columns`
# what depends on one of the datasets' columns alone, its filled mask and its distinct values, is
# worked out once. A column is known by the memory its values occupy (numpy's data pointer, shape,
# strides and type, or its Arrow chunks' buffers, offsets and lengths), taken from the datasets
# when the block starts: the datasets are alive and not changed in place while the checks run
# (pandas' copy-on-write), so that memory is theirs. Values derived inside a check (a filtered
# frame's column) are not remembered: they would stay in memory.
_remembered_columns: dict | None = None


@contextmanager
def remembering_columns(frames):
    """Within the block, compute_filled and the per-distinct predicates work once per column of
    `frames` (the package's datasets)."""
    global _remembered_columns
    outer = _remembered_columns
    _remembered_columns = {"known": {_column_key(frame[c]) for frame in frames for c in frame.columns}}
    try:
        yield
    finally:
        _remembered_columns = outer


def _column_key(values: pd.Series):
    array = values.array
    if isinstance(array, pd.arrays.NumpyExtensionArray):
        data = array.to_numpy()
        return data.__array_interface__["data"][0], data.shape, data.strides, data.dtype.str
    if hasattr(array, "__arrow_array__"):  # Arrow-backed: its chunks' buffers, offsets and lengths
        chunks = array.__arrow_array__()
        return str(chunks.type), tuple(
            (chunk.offset, len(chunk), tuple(b.address if b is not None else 0 for b in chunk.buffers()))
            for chunk in chunks.chunks)
    return None  # neither: not remembered


def _remembered(values: pd.Series, what: str, compute):
    memory = _remembered_columns
    if memory is None:
        return compute()
    key = _column_key(values)
    if key is None or key not in memory["known"]:
        return compute()
    entry = memory.get((what, key))
    if entry is None:
        entry = memory[(what, key)] = compute()
    return entry


def compute_not_matching(values: pd.Series, pattern: str) -> pd.Series:
    """Given values that do not match the regular expression `pattern` (re.match, from the start)."""
    return compute_filled(values) & _per_distinct(values, lambda text: ~text.str.match(pattern))


def compute_containing(values: pd.Series, pattern: str) -> pd.Series:
    """Values (missing ones never) in which the regular expression `pattern` is found (re.search)."""
    return _per_distinct(values, lambda text: text.str.contains(pattern, regex=True))


def compute_over_length(values: pd.Series, limit: int) -> pd.Series:
    """Values longer than `limit` characters."""
    return _per_distinct(values, lambda text: text.str.len() > limit)


def compute_is_word(values: pd.Series, word: str) -> pd.Series:
    """Values that are `word`, in any case ("other" is OTHER)."""
    return _per_distinct(values, lambda text: text.str.upper() == word)


def compute_requires(given: pd.Series, required: pd.Series) -> pd.Series:
    """Records where `given` is given and `required` is not (A requires B)."""
    return compute_filled(given) & ~compute_filled(required)


def compute_not_unique(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Records whose combination of `keys` occurs on another record too."""
    return frame.duplicated(keys, keep=False)


def compute_not_one_to_one(frame: pd.DataFrame, key: str, other: str) -> pd.Series:
    """Records whose `key` goes with more than one `other` (pairs with a missing side ignored)."""
    pairs = frame[[key, other]].dropna().drop_duplicates()
    many = pairs[pairs.duplicated(key, keep=False)][key]
    return frame[key].isin(many)


def compute_not_in(values: pd.Series, allowed) -> pd.Series:
    """Given values outside `allowed` (A a subset of B)."""
    return compute_filled(values) & ~values.isin(allowed)
