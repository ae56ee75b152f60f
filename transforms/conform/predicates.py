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
    # comparing in place avoids converting a million-record column to str for every rule
    if pd.api.types.is_numeric_dtype(values):
        return values.notna()
    return values.notna() & values.ne("")


def _per_distinct(values: pd.Series, judge) -> pd.Series:
    """`judge` (distinct values as str -> booleans) worked once per distinct value, spread back."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    if len(distinct) == 0:
        return pd.Series(False, index=values.index)
    verdict = np.asarray(judge(pd.Series(distinct, dtype=object).astype("str")), dtype=bool)
    return pd.Series(np.where(codes >= 0, verdict[np.maximum(codes, 0)], False), index=values.index)


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
