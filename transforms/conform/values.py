"""Checks of single values: ISO 8601 dates and durations, ASCII, leading spaces.
"""

from __future__ import annotations

import pandas as pd

from transforms.conform.hits import Package, concat_hits, make_hits, select_datasets
from transforms.conform.predicates import ISO8601_DTC_PATTERN, ISO8601_DURATION_PATTERN, compute_filled


def check_iso8601_dtc(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for column in [c for c in frame.columns if c.endswith("DTC")]:
            bad = compute_filled(frame[column]) & ~frame[column].astype("str").str.match(ISO8601_DTC_PATTERN)
            parts.append(make_hits(frame, name, bad, column, f"{column} is not ISO 8601"))
    if "TS" in select_datasets(package, target):
        ts = package.datasets["TS"]
        dates = ts["TSPARMCD"].astype("str").str.endswith("DTC") & compute_filled(ts["TSVAL"])
        bad = dates & ~ts["TSVAL"].astype("str").str.match(ISO8601_DTC_PATTERN)
        parts.append(make_hits(ts, "TS", bad, "TSVAL", "date parameter TSVAL is not ISO 8601"))
    return concat_hits(parts)


def check_iso8601_duration(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for column in [c for c in frame.columns if c.endswith(("DUR", "ELTM", "EVLINT"))]:
            bad = compute_filled(frame[column]) & ~frame[column].astype("str").str.match(ISO8601_DURATION_PATTERN)
            parts.append(make_hits(frame, name, bad, column, f"{column} is not an ISO 8601 duration"))
    return concat_hits(parts)


def check_ascii(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for column in frame.columns[frame.dtypes == object]:
            bad = frame[column].astype("str").str.contains(r"[^\x20-\x7e]", regex=True) & frame[column].notna()
            parts.append(make_hits(frame, name, bad, column, f"{column} holds non-ASCII or non-printable characters"))
    return concat_hits(parts)


def check_leading_space_or_period(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for column in frame.columns[frame.dtypes == object]:
            text = frame[column].astype("str")
            bad = frame[column].notna() & (text.str.startswith(" ") | (text == "."))
            parts.append(make_hits(frame, name, bad, column, f"{column} starts with a space or is only '.'"))
    return concat_hits(parts)


CHECKS = {
    "check_iso8601_dtc": check_iso8601_dtc,
    "check_iso8601_duration": check_iso8601_duration,
    "check_ascii": check_ascii,
    "check_leading_space_or_period": check_leading_space_or_period,
}
