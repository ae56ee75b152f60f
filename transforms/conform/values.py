"""Checks of single values: ISO 8601 dates and durations, ASCII, leading spaces.
"""

from __future__ import annotations

import pandas as pd

from transforms.conform.hits import Package, concat_hits, make_hits, select_datasets, value_hits
from transforms.conform.predicates import ISO8601_DTC_PATTERN, ISO8601_DURATION_PATTERN, compute_containing, compute_not_matching


def _ending(*suffixes: str):
    return lambda frame: [c for c in frame.columns if c.endswith(suffixes)]


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return list(frame.columns[frame.dtypes == object])


def check_iso8601_dtc(package: Package, target: str) -> pd.DataFrame:
    parts = [value_hits(package, target, _ending("DTC"), lambda v: compute_not_matching(v, ISO8601_DTC_PATTERN),
                        "{column} is not ISO 8601")]
    if "TS" in select_datasets(package, target):
        ts = package.datasets["TS"]
        bad = ts["TSPARMCD"].astype("str").str.endswith("DTC") & compute_not_matching(ts["TSVAL"], ISO8601_DTC_PATTERN)
        parts.append(make_hits(ts, "TS", bad, "TSVAL", "date parameter TSVAL is not ISO 8601"))
    return concat_hits(parts)


def check_iso8601_duration(package: Package, target: str) -> pd.DataFrame:
    return value_hits(package, target, _ending("DUR", "ELTM", "EVLINT"),
                      lambda v: compute_not_matching(v, ISO8601_DURATION_PATTERN), "{column} is not an ISO 8601 duration")


def check_ascii(package: Package, target: str) -> pd.DataFrame:
    return value_hits(package, target, _text_columns, lambda v: compute_containing(v, r"[^\x20-\x7e]"),
                      "{column} holds non-ASCII or non-printable characters")


def check_leading_space_or_period(package: Package, target: str) -> pd.DataFrame:
    return value_hits(package, target, _text_columns, lambda v: compute_containing(v, r"^(?: |\.$)"),
                      "{column} starts with a space or is only '.'")


CHECKS = {
    "check_iso8601_dtc": check_iso8601_dtc,
    "check_iso8601_duration": check_iso8601_duration,
    "check_ascii": check_ascii,
    "check_leading_space_or_period": check_leading_space_or_period,
}
