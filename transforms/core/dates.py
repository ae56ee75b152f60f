"""The day of an ISO 8601 value: the one rule every stage compares dates by.

SDTM keeps dates as ISO 8601 text (docs/sdtm-reference.md#dtc): "2024-03-05", "2024-03-05T14:30",
or a partial "2024-03". A comparison by day — epoch, baseline, study day, the consent or death date
against a dose, the CORE rules' "start before end" — reads the first ten characters and only when
they are a complete date; a partial date is not a day, and a missing one is missing, never the text
"nan" compared as if it were a date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COMPLETE_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}"
DATE_WIDTH = len("YYYY-MM-DD")


def compute_date_text(dtc: pd.Series) -> pd.Series:
    """The date part of each ISO 8601 value as text, partial dates kept ("2024-03"): what a
    precision-aware comparison reads. Missing stays missing."""
    return dtc.astype("str").str.slice(0, DATE_WIDTH).where(dtc.notna())


def compute_complete_date(dtc: pd.Series) -> pd.Series:
    """The YYYY-MM-DD part of each ISO 8601 value (object, None where the date is partial, absent
    or not a date). Worked once per distinct value: a million lab records carry a few hundred
    dates."""
    codes, days = _distinct_complete_dates(dtc)
    return pd.Series(days[codes], index=dtc.index, dtype=object)


def compute_day(dtc: pd.Series) -> pd.Series:
    """compute_complete_date as datetime64, NaT where there is no complete date: for day arithmetic
    (study days, visit windows). The distinct dates are parsed, not the million rows."""
    codes, days = _distinct_complete_dates(dtc)
    parsed = pd.to_datetime(pd.Series(days, dtype=object), format="%Y-%m-%d", errors="coerce")
    return pd.Series(parsed.to_numpy()[codes], index=dtc.index)


def _distinct_complete_dates(dtc: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row, YYYY-MM-DD or None of each distinct value with None last for missing)."""
    codes, distinct = pd.factorize(dtc, use_na_sentinel=True)
    text = pd.Series(np.asarray(distinct, dtype=object), dtype=object).astype("str")
    complete = text.str.match(COMPLETE_DATE_PATTERN).to_numpy(dtype=bool)
    days = np.where(complete, text.str.slice(0, DATE_WIDTH).to_numpy(dtype=object), None)
    return codes, np.append(days, None)  # code -1 (missing) takes the last
