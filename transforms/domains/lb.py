"""LB — Laboratory Test Results: one record per lab row the site sent
(docs/sdtm-reference.md#laboratory).

Every variable is filled as the study's mapping.csv says; what is not a plain assign is one of
the named derivations below (LB_DERIVATIONS), chosen in the spec's `value`. The result text was
parsed once by standardise (`result_stresc`, `result_stresn`); LB publishes what it parsed.
"""

from __future__ import annotations

import pandas as pd

from transforms.core.dates import compute_day
from transforms.core.distinct import compute_per_distinct
from transforms.domains.sdtm import SHARED_DERIVATIONS
from transforms.domains.spec_map import Derivation, Sources, build_domain
from transforms.standardise.values import compute_reference_range_indicator, compute_standard_result
from transforms.spec.study import Study
from transforms.standardise.visits import derive_visit_variables


def build_lb(
    labs: pd.DataFrame, dm: pd.DataFrame, study: Study, unscheduled: pd.DataFrame
) -> pd.DataFrame:
    """LB from standardised findings rows that passed validation, with DM's reference dates and
    the numbering of the unscheduled visits (visits.derive_unscheduled_visits)."""
    return build_domain(Sources(labs, study, "LB", dm=dm, unscheduled=unscheduled), LB_DERIVATIONS)


def derive_lab_test_attributes(lb: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """LBTEST, LBCAT, LBSPEC of each record's LBTESTCD from the study's lab_tests.csv."""
    tests = lb[["LBTESTCD"]].merge(sources.study.lab_tests, on="LBTESTCD", how="left")
    return {name: pd.Series(tests[name].to_numpy(), index=lb.index) for name in ("LBTEST", "LBCAT", "LBSPEC")}


def derive_standard_result(lb: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """LBSTRESC/LBSTRESN as standardise parsed them; LBSTNRLO/HI the lab's range in the standard
    unit, for a continuous result only (no numeric standard range for `<5`, mappings/README.md);
    LBNRIND from LBSTRESN against the range in the standard unit."""
    labs = sources.records
    low, high = (_standard_limit(labs[limit], labs["factor"]) for limit in ("normal_low", "normal_high"))
    continuous = labs["result_number"].notna() & labs["result_operator"].isna()
    stresn = labs["result_stresn"]
    return {
        "LBSTRESC": labs["result_stresc"],
        "LBSTRESN": stresn,
        "LBSTNRLO": low.where(continuous),
        "LBSTNRHI": high.where(continuous),
        "LBNRIND": compute_reference_range_indicator(stresn, low, high),
    }


def _standard_limit(limit: pd.Series, factor: pd.Series) -> pd.Series:
    """A range limit in the standard unit. A million lab rows carry a few hundred distinct
    (limit, factor) pairs: each pair is parsed and scaled once."""
    standard = compute_per_distinct(
        lambda text, scale: compute_standard_result(text, scale)["LBSTRESN"].to_numpy(dtype="float64"),
        limit, factor)
    return pd.Series(standard, index=limit.index, dtype="float64")


def derive_not_done(lb: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """LBSTAT "NOT DONE" and LBREASND where the result is blank and a reason is given."""
    labs = sources.records
    not_done = labs["result"].isna() & labs["not_done_reason"].notna()
    return {
        "LBSTAT": pd.Series("NOT DONE", index=labs.index).where(not_done),
        "LBREASND": labs["not_done_reason"].where(not_done),
    }


def derive_visit(frame: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """VISITNUM, VISIT, VISITDY of each record from its standardised visit and its --DTC
    (visits.derive_visit_variables: planned from visits.csv, unscheduled numbered by date)."""
    dtc = f"{sources.domain}DTC"
    dated = pd.DataFrame(
        {"USUBJID": frame["USUBJID"], "VISIT": sources.records["VISIT"], dtc: frame[dtc]}, index=frame.index
    )
    visited = derive_visit_variables(dated, dtc, sources.study.visits, sources.unscheduled)
    return {name: visited[name] for name in ("VISITNUM", "VISIT", "VISITDY")}


def derive_baseline_flag(frame: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """--LOBXFL (derive_lobxfl), the last result on or before the first dose."""
    name = f"{sources.domain}LOBXFL"
    return {name: derive_lobxfl(frame, sources.dm, sources.domain)[name]}


# The named derivations an LB spec row may choose (mapping.csv `derived`, its `value`).
LB_DERIVATIONS: dict[str, Derivation] = {
    "lab_test_attributes": derive_lab_test_attributes,
    "standard_result": derive_standard_result,
    "not_done": derive_not_done,
    "visit": derive_visit,
    **SHARED_DERIVATIONS,
    "baseline_flag": derive_baseline_flag,
}


def derive_lobxfl(frame: pd.DataFrame, dm: pd.DataFrame, domain: str) -> pd.DataFrame:
    """--LOBXFL = "Y" on the last non-missing result per test on or before the RFXSTDTC date.

    Dates are compared as days (a Day 1 sample counts as pre-exposure,
    docs/sdtm-reference.md#baseline); among results on the same last day the latest time, then the
    highest --SEQ, wins.
    """
    testcd, stresc, dtc, seq = (f"{domain}TESTCD", f"{domain}STRESC", f"{domain}DTC", f"{domain}SEQ")
    reference = frame[["USUBJID"]].merge(dm[["USUBJID", "RFXSTDTC"]], on="USUBJID", how="left")
    day = compute_day(frame[dtc]).to_numpy()  # NaT (partial, missing) is never <= a day
    first_dose = compute_day(reference["RFXSTDTC"]).to_numpy()
    eligible = frame[stresc].notna().to_numpy() & (day <= first_dose)
    candidates = frame[eligible].sort_values([dtc, seq], kind="stable")
    last = candidates.groupby(["USUBJID", testcd]).tail(1).index
    flag = pd.Series(pd.NA, index=frame.index, dtype="object")
    flag[last] = "Y"
    return frame.assign(**{f"{domain}LOBXFL": flag})
