"""Derivations every SDTM domain shares: --SEQ, --DY, EPOCH, subject reference dates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.core.dates import compute_day
from transforms.domains.spec_map import Derivation, Sources
from transforms.standardise.values import compute_study_day


def derive_seq(frame: pd.DataFrame, seq_var: str, sort_by: list[str]) -> pd.DataFrame:
    """--SEQ: 1, 2, ... per USUBJID in the order of `sort_by` (stable, so ties keep input order)."""
    ordered = frame.sort_values(["USUBJID", *sort_by], kind="stable", na_position="last")
    ordered = ordered.assign(**{seq_var: ordered.groupby("USUBJID").cumcount() + 1.0})
    return ordered.reset_index(drop=True)


def compute_seq(frame: pd.DataFrame, sort_by: list[str]) -> pd.Series:
    """--SEQ of each row (its index): 1, 2, ... per USUBJID in the order of `sort_by`, as
    derive_seq numbers them, without reordering the rows."""
    ordered = frame[["USUBJID", *sort_by]].sort_values(["USUBJID", *sort_by], kind="stable", na_position="last")
    seq = ordered.groupby("USUBJID").cumcount() + 1.0
    return seq.reindex(frame.index)


def derive_subject_variables(
    records: pd.DataFrame, subjects: pd.DataFrame, variables: list[str]
) -> pd.DataFrame:
    """`records` with each subject's `variables` from the subjects sheet, where the records do not
    carry them already (the planned ARMCD a mapping condition reads: EXTRT = PLACEBO where the
    arm is placebo)."""
    wanted = [v for v in variables if v not in records.columns and v in subjects.columns]
    if not wanted:
        return records
    per_subject = subjects[["USUBJID", *wanted]].drop_duplicates("USUBJID", keep="last")
    joined = records[["USUBJID"]].merge(per_subject, on="USUBJID", how="left")
    return records.assign(**{v: joined[v].to_numpy() for v in wanted})


def derive_study_days(frame: pd.DataFrame, dm: pd.DataFrame, days: dict[str, str]) -> pd.DataFrame:
    """Add each --DY named in `days` ({"LBDY": "LBDTC"}) from DM.RFSTDTC (SDTMIG 4.4.4)."""
    return frame.assign(**compute_study_days(frame, dm, days))


def compute_study_days(frame: pd.DataFrame, dm: pd.DataFrame, days: dict[str, str]) -> dict[str, pd.Series]:
    """{--DY: values} for each --DY named in `days`, from the subject's DM.RFSTDTC."""
    reference = frame[["USUBJID"]].merge(dm[["USUBJID", "RFSTDTC"]], on="USUBJID", how="left")
    rfstdtc = pd.Series(reference["RFSTDTC"].to_numpy(), index=frame.index)
    return {day: compute_study_day(frame[dtc], rfstdtc).astype("Float64") for day, dtc in days.items()}


def derive_epoch(
    frame: pd.DataFrame, dm: pd.DataFrame, dtc_var: str, epochs: tuple[str, str, str]
) -> pd.DataFrame:
    """EPOCH from the record date against the subject's treatment dates.

    `epochs` (Study.epochs, from the trial elements): before the first dose date the first,
    up to the last dose date the second, after it the third (e.g. SCREENING, TREATMENT,
    FOLLOW-UP). Null when the date is partial or the subject was never treated (SDTMIG 3.4
    4.1.3.1: don't invent an epoch the dates cannot support). Dates only: a Day 1 pre-dose sample
    has no time to tell it from a post-dose one, so Day 1 is the treatment epoch.
    """
    before, during, after = epochs
    reference = frame[["USUBJID"]].merge(
        dm[["USUBJID", "RFXSTDTC", "RFXENDTC"]], on="USUBJID", how="left"
    )
    # as days (datetime64, NaT where partial): numpy compares a million of them, not Python
    date = compute_day(frame[dtc_var]).to_numpy()
    first = compute_day(reference["RFXSTDTC"]).to_numpy()
    last = compute_day(reference["RFXENDTC"]).to_numpy()
    known = ~(np.isnat(date) | np.isnat(first) | np.isnat(last))
    # after the last dose wins over before the first, as it did when a subject's dose dates
    # are the wrong way round
    epoch = np.select(
        [known & (date > last), known & (date < first), known],
        np.array([after, before, during], dtype=object),
        default=pd.NA,
    )
    return frame.assign(EPOCH=pd.Series(epoch, index=frame.index, dtype="object"))


# --- named derivations every domain's spec may choose (mapping.csv `derived`) ---------------


def derive_sequence(frame: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """--SEQ in the order study.toml [domains.<domain>] seq_by names (compute_seq)."""
    return {f"{sources.domain}SEQ": compute_seq(frame, list(sources.settings["seq_by"]))}


def derive_study_day(frame: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """--DY of every --DTC filled so far (LBDTC -> LBDY, SVSTDTC -> SVSTDY), from DM.RFSTDTC."""
    days = {f"{name[:-3]}DY": name for name in frame.columns if name.endswith("DTC")}
    return compute_study_days(frame, sources.dm, days)


def derive_record_epoch(frame: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """EPOCH of the record's --DTC against the subject's treatment dates (derive_epoch)."""
    dated = derive_epoch(frame[["USUBJID", f"{sources.domain}DTC"]], sources.dm, f"{sources.domain}DTC", sources.study.epochs)
    return {"EPOCH": dated["EPOCH"]}


SHARED_DERIVATIONS: dict[str, Derivation] = {
    "sequence": derive_sequence,
    "study_day": derive_study_day,
    "epoch": derive_record_epoch,
}
