"""CORE rules of the engine's SDTMIG 3.4 list (cdisc-rules-engine resources/cache).
"""

from __future__ import annotations

import pandas as pd

from transforms.core.dates import compute_complete_date
from transforms.conform.hits import Package, concat_hits, dm_rule, findings_pairs, make_dataset_hit, make_hits, one_to_one_hits, select_datasets, trial_design_rule, ts_parameter
from transforms.conform.predicates import compute_filled


_NO_ARM_REASONS = {"SCREEN FAILURE", "NOT ASSIGNED", "UNPLANNED TREATMENT", "NOT TREATED"}


def check_arm_not_a_reason(package: Package, target: str) -> pd.DataFrame:
    """CORE-000115: ARM / ACTARM do not carry why a subject has no arm (SDTMIG 3.4: ARMNRS)."""
    return concat_hits(
        make_hits(frame, name, frame[column].astype("str").str.upper().isin(_NO_ARM_REASONS) & frame[column].notna(),
              column, f"{column} is a reason for no arm: it belongs in ARMNRS")
        for name in select_datasets(package, target) for column in ("ARM", "ACTARM")
        if column in (frame := package.datasets[name]).columns
    )


def check_ts_parameters_valued(package: Package, target: str) -> pd.DataFrame:
    """target `TS.<TSPARMCD> <TSPARMCD> ...`: each parameter has a record with TSVAL populated."""
    ts = package.frame("TS")
    parameters = ts_parameter(target).split()
    valued = set() if ts is None else set(ts.loc[compute_filled(ts["TSVAL"]), "TSPARMCD"])
    return concat_hits(
        make_dataset_hit("TS", "TSPARMCD", p, f"no {p} record with a TSVAL in TS") for p in parameters if p not in valued
    )


def check_cat_not_all_records(package: Package, target: str) -> pd.DataFrame:
    """CORE-000365: --CAT does not put every record of the dataset in one category."""
    parts = []
    for name in select_datasets(package, target):
        frame, cat = package.datasets[name], f"{name}CAT"
        if cat in frame.columns and len(frame) > 1 and compute_filled(frame[cat]).all() and frame[cat].nunique() == 1:
            parts.append(make_dataset_hit(name, cat, frame[cat].iloc[0], f"{cat} groups every record: drop it"))
    return concat_hits(parts)


def check_epoch_populated(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(frame, name, ~compute_filled(frame["EPOCH"]), "EPOCH", "EPOCH is null")
        for name in select_datasets(package, target) if "EPOCH" in (frame := package.datasets[name]).columns
    )


def check_lobxfl_unique(package: Package, target: str) -> pd.DataFrame:
    """CORE-000915: one --LOBXFL = Y record (with --STRESC) per subject and test/category/specimen/method."""
    parts = []
    for n, f, (testcd, lobxfl, stresc) in findings_pairs(package, target, "TESTCD", "LOBXFL", "STRESC"):
        keys = ["USUBJID", testcd] + [c for c in (f"{n}CAT", f"{n}SCAT", f"{n}SPEC", f"{n}METHOD") if c in f.columns]
        flagged = (f[lobxfl] == "Y") & compute_filled(f[stresc])
        repeated = f.loc[flagged, keys].astype(str).duplicated(keep=False).reindex(f.index, fill_value=False)
        parts.append(make_hits(f, n, repeated, lobxfl, f"more than one {lobxfl} = Y record for the same test"))
    return concat_hits(parts)


def check_ietest_one_to_one(package: Package, target: str) -> pd.DataFrame:
    ti = package.frame("TI")
    if ti is None:
        return concat_hits([])
    return concat_hits([one_to_one_hits(ti, "TI", "IETESTCD", "IETEST"), one_to_one_hits(ti, "TI", "IETEST", "IETESTCD")])


def _exposed(dm: pd.DataFrame, package: Package) -> pd.Series:
    ex = package.frame("EX")
    return dm["USUBJID"].isin(set() if ex is None else set(ex["USUBJID"]))


def _cdisc_reference(ts: pd.DataFrame) -> pd.Series:
    return ts["TSVCDREF"].isin(["CDISC", "CDISC CT"])


check_arm_matches_actarm = dm_rule(
    lambda dm, p: compute_filled(dm["ARM"]) & compute_filled(dm["ACTARM"]) & (dm["ARM"] != dm["ACTARM"]), "ACTARM", "ACTARM differs from ARM")
check_consent_before_first_treatment = dm_rule(
    lambda dm, p: compute_complete_date(dm["RFICDTC"]) > compute_complete_date(dm["RFXSTDTC"]), "RFICDTC", "RFICDTC is after RFXSTDTC")
check_consent_before_reference_start = dm_rule(
    lambda dm, p: compute_complete_date(dm["RFICDTC"]) > compute_complete_date(dm["RFSTDTC"]), "RFICDTC", "RFICDTC is after RFSTDTC")
check_multiple_race_has_suppdm = dm_rule(
    lambda dm, p: (dm["RACE"] == "MULTIPLE") & ("SUPPDM" not in p.datasets), "RACE",
    "RACE is MULTIPLE but there is no SUPPDM with the races")
check_unexposed_have_armnrs = dm_rule(
    lambda dm, p: ~_exposed(dm, p) & ~compute_filled(dm["ARMNRS"]), "ARMNRS", "no EX record and ARMNRS is null")
check_exposed_have_arm = dm_rule(
    lambda dm, p: _exposed(dm, p) & ~compute_filled(dm["ARM"]), "ARM", "subject has EX records but no ARM")
check_tsval_and_null_flavour = trial_design_rule(
    "TS", lambda ts, p: compute_filled(ts["TSVAL"]) & compute_filled(ts["TSVALNF"]), "TSVALNF", "both TSVAL and TSVALNF are populated")
check_indic_null_flavour_not_na = trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "INDIC") & (ts["TSVALNF"] == "NA"), "TSVALNF", "INDIC TSVALNF is NA")
check_cdisc_version_is_a_date = trial_design_rule(
    "TS", lambda ts, p: _cdisc_reference(ts) & ~ts["TSVCDVER"].astype("str").str.match(r"^\d{4}-\d{2}-\d{2}$"),
    "TSVCDVER", "TSVCDREF is CDISC CT but TSVCDVER is not a CT package date")
check_cdisc_code_known = trial_design_rule(
    "TS", lambda ts, p: _cdisc_reference(ts) & compute_filled(ts["TSVALCD"]) & ~ts["TSVALCD"].isin(set(p.codelists["nci_code"])),
    "TSVALCD", "TSVALCD is not a code of the CDISC CT package")


CHECKS = {
    "check_arm_not_a_reason": check_arm_not_a_reason,
    "check_ts_parameters_valued": check_ts_parameters_valued,
    "check_cat_not_all_records": check_cat_not_all_records,
    "check_epoch_populated": check_epoch_populated,
    "check_lobxfl_unique": check_lobxfl_unique,
    "check_ietest_one_to_one": check_ietest_one_to_one,
    "check_arm_matches_actarm": check_arm_matches_actarm,
    "check_consent_before_first_treatment": check_consent_before_first_treatment,
    "check_consent_before_reference_start": check_consent_before_reference_start,
    "check_multiple_race_has_suppdm": check_multiple_race_has_suppdm,
    "check_unexposed_have_armnrs": check_unexposed_have_armnrs,
    "check_exposed_have_arm": check_exposed_have_arm,
    "check_tsval_and_null_flavour": check_tsval_and_null_flavour,
    "check_indic_null_flavour_not_na": check_indic_null_flavour_not_na,
    "check_cdisc_version_is_a_date": check_cdisc_version_is_a_date,
    "check_cdisc_code_known": check_cdisc_code_known,
}
