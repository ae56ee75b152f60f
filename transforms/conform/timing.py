"""Checks of timing: start before end, study days, EPOCH.
"""

from __future__ import annotations

import pandas as pd

from transforms.core.dates import compute_complete_date, compute_day
from transforms.conform.hits import Package, concat_hits, dm_column, make_dataset_hit, make_hits, select_datasets


def _start_end_pairs(frame: pd.DataFrame, dataset: str, start: str, end: str):
    for column in frame.columns:
        if column.endswith(start) and column.startswith(dataset):
            partner = column[: -len(start)] + end
            if partner in frame.columns:
                yield column, partner


def check_start_before_end(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for start, end in _start_end_pairs(frame, name, "STDTC", "ENDTC"):
            a, b = compute_complete_date(frame[start]), compute_complete_date(frame[end])
            parts.append(make_hits(frame, name, a.notna() & b.notna() & (a > b), start, f"{start} is after {end}"))
    dm = package.frame("DM")
    if dm is not None and "DM" in select_datasets(package, target):
        for start, end in (("RFSTDTC", "RFENDTC"), ("RFXSTDTC", "RFXENDTC")):
            a, b = compute_complete_date(dm[start]), compute_complete_date(dm[end])
            parts.append(make_hits(dm, "DM", a.notna() & b.notna() & (a > b), start, f"{start} is after {end}"))
    return concat_hits(parts)


def check_study_day_order(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for start, end in _start_end_pairs(frame, name, "STDY", "ENDY"):
            parts.append(make_hits(frame, name, frame[start] > frame[end], start, f"{start} is after {end}"))
    return concat_hits(parts)


def check_study_day_not_zero(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(frame, name, frame[column] == 0, column, f"{column} is 0 (there is no day 0)")
        for name in select_datasets(package, target) for frame in [package.datasets[name]]
        for column in frame.columns if column.endswith("DY") and column != "VISITDY"
    )


def _study_day_pairs(frame: pd.DataFrame):
    """(--DY variable, its --DTC) pairs: LBDY/LBDTC, EXSTDY/EXSTDTC, SVENDY/SVENDTC ..."""
    for column in frame.columns:
        if column.endswith("DY") and column != "VISITDY":
            dtc = column[:-2] + "DTC"
            if dtc in frame.columns:
                yield column, dtc


def compute_expected_study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """SDTMIG 4.4.4 study day from complete dates, independently of the mapping's own code."""
    date, reference = compute_day(dtc), compute_day(rfstdtc)
    days = (date - reference).dt.days
    return (days + (days >= 0)).astype("Float64")


def check_study_day_value(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        rfstdtc = dm_column(package, frame, "RFSTDTC")
        for day, dtc in _study_day_pairs(frame):
            expected = compute_expected_study_day(frame[dtc], rfstdtc)
            bad = expected.notna() & (frame[day].isna() | (frame[day] != expected.astype("float64")))
            parts.append(make_hits(frame, name, bad.fillna(False), day, f"{day} is not the SDTMIG study day of {dtc} from DM.RFSTDTC"))
    return concat_hits(parts)


def check_study_day_partial(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        rfstdtc = dm_column(package, frame, "RFSTDTC")
        for day, dtc in _study_day_pairs(frame):
            incomplete = compute_complete_date(frame[dtc]).isna() | compute_complete_date(rfstdtc).isna()
            parts.append(make_hits(frame, name, incomplete & frame[day].notna(), day,
                               f"{day} is given although {dtc} or DM.RFSTDTC is not a complete date"))
    return concat_hits(parts)


def check_study_day_present(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for dtc in [c for c in frame.columns if c.startswith(name) and c.endswith("DTC")]:
            day = dtc[:-3] + "DY"
            if day not in frame.columns:
                parts.append(make_dataset_hit(name, day, None, f"{dtc} is in {name} but {day} is not"))
    return concat_hits(parts)


def check_epoch_present(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, "EPOCH", None, f"EPOCH is not in {name}")
        for name in select_datasets(package, target) if "EPOCH" not in package.datasets[name].columns
    )


CHECKS = {
    "check_start_before_end": check_start_before_end,
    "check_study_day_order": check_study_day_order,
    "check_study_day_not_zero": check_study_day_not_zero,
    "check_study_day_value": check_study_day_value,
    "check_study_day_partial": check_study_day_partial,
    "check_study_day_present": check_study_day_present,
    "check_epoch_present": check_epoch_present,
}
