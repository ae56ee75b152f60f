"""The day of an ISO 8601 value, the one rule every date comparison uses."""

from __future__ import annotations

import pandas as pd

from transforms.core.dates import compute_complete_date, compute_date_text


def test_complete_date_is_the_day_of_a_complete_date_and_missing_otherwise():
    values = pd.Series(["2024-03-05T14:30", "2024-03-05", "2024-03", "2024", None, "nan", "05MAR2024",
                        "2024-03-05T14:30"], index=list("abcdefgh"))
    got = compute_complete_date(values)
    assert got.index.tolist() == list("abcdefgh")
    assert got.tolist() == ["2024-03-05", "2024-03-05", None, None, None, None, None, "2024-03-05"]


def test_complete_date_reads_arrow_backed_text_and_all_missing_columns():
    assert compute_complete_date(pd.Series(["2024-03-05", pd.NA], dtype="string[pyarrow]")).tolist() == [
        "2024-03-05", None]
    assert compute_complete_date(pd.Series([None, None], dtype=object)).tolist() == [None, None]
    assert compute_complete_date(pd.Series([], dtype=object)).tolist() == []


def test_date_text_keeps_partial_dates_and_drops_the_time():
    got = compute_date_text(pd.Series(["2024-03-05T14:30", "2024-03", None]))
    assert got.iloc[:2].tolist() == ["2024-03-05", "2024-03"] and pd.isna(got.iloc[2])
