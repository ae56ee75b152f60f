"""LB — Laboratory Test Results: one record per lab row the site sent
(docs/sdtm-reference.md#laboratory)."""

from __future__ import annotations

import pandas as pd

from transforms.findings import LINEAGE
from transforms.sdtm import compute_complete_date, derive_epoch, derive_seq, derive_study_days
from transforms.standardise import compute_continuous_result, compute_reference_range_indicator, compute_standard_result
from transforms.study import Study
from transforms.visits import derive_visit_variables


def build_lb(
    labs: pd.DataFrame, dm: pd.DataFrame, study: Study, unscheduled: pd.DataFrame
) -> pd.DataFrame:
    """LB from standardised Labs rows that passed validation, with DM's reference dates."""
    tests = labs[["LBTESTCD"]].merge(study.lab_tests, on="LBTESTCD", how="left")
    standard = compute_standard_result(labs["result"], labs["factor"], study.result_values)
    low = compute_standard_result(labs["normal_low"], labs["factor"])["LBSTRESN"]
    high = compute_standard_result(labs["normal_high"], labs["factor"])["LBSTRESN"]
    not_done = labs["result"].isna() & labs["not_done_reason"].notna()
    continuous = compute_continuous_result(labs["result"])  # no numeric standard range for `<5` (mappings/README.md)
    lb = pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "DOMAIN": "LB",
            "USUBJID": labs["USUBJID"],
            "LBTESTCD": labs["LBTESTCD"],
            "LBTEST": tests["LBTEST"].to_numpy(),
            "LBCAT": tests["LBCAT"].to_numpy(),
            "LBORRES": labs["result"],
            # INR has no unit: the empty unit stays null in SDTM, never "".
            "LBORRESU": labs["LBORRESU"].replace("", pd.NA).where(~not_done),  # no result, no unit (SD0027)
            "LBORNRLO": labs["normal_low"],
            "LBORNRHI": labs["normal_high"],
            "LBSTRESC": standard["LBSTRESC"],
            "LBSTRESN": standard["LBSTRESN"],
            "LBSTRESU": labs["LBSTRESU"].replace("", pd.NA).where(~not_done),
            "LBSTNRLO": low.where(continuous),
            "LBSTNRHI": high.where(continuous),
            "LBNRIND": compute_reference_range_indicator(standard["LBSTRESN"], low, high),
            "LBSTAT": pd.Series("NOT DONE", index=labs.index).where(not_done),
            "LBREASND": labs["not_done_reason"].where(not_done),
            "LBSPEC": tests["LBSPEC"].to_numpy(),
            "VISIT": labs["VISIT"],
            "LBDTC": labs["LBDTC"],
            **{column: labs[column] for column in LINEAGE},
        },
        index=labs.index,
    )
    lb = derive_visit_variables(lb, "LBDTC", study.visits, unscheduled)
    lb = derive_seq(lb, "LBSEQ", ["LBTESTCD", "VISITNUM", "LBDTC"])
    lb = derive_study_days(lb, dm, {"LBDY": "LBDTC"})
    lb = derive_epoch(lb, dm, "LBDTC", study.epochs)
    return derive_lobxfl(lb, dm, "LB")


def derive_lobxfl(frame: pd.DataFrame, dm: pd.DataFrame, domain: str) -> pd.DataFrame:
    """--LOBXFL = "Y" on the last non-missing result per test on or before the RFXSTDTC date.

    Dates are compared as days (a Day 1 sample counts as pre-exposure,
    docs/sdtm-reference.md#baseline); among results on the same last day the latest time, then the
    highest --SEQ, wins.
    """
    testcd, stresc, dtc, seq = (f"{domain}TESTCD", f"{domain}STRESC", f"{domain}DTC", f"{domain}SEQ")
    reference = frame[["USUBJID"]].merge(dm[["USUBJID", "RFXSTDTC"]], on="USUBJID", how="left")
    day = compute_complete_date(frame[dtc])
    first_dose = pd.Series(reference["RFXSTDTC"].to_numpy(), index=frame.index).astype("str").str.slice(0, 10)
    eligible = frame[stresc].notna() & day.notna() & first_dose.notna() & (day <= first_dose)
    candidates = frame[eligible].sort_values([dtc, seq], kind="stable")
    last = candidates.groupby(["USUBJID", testcd]).tail(1).index
    flag = pd.Series(pd.NA, index=frame.index, dtype="object")
    flag[last] = "Y"
    return frame.assign(**{f"{domain}LOBXFL": flag})
