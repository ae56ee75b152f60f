"""Checks of subjects, arms and exposure (DM, EX).
"""

from __future__ import annotations

import pandas as pd

from transforms.core.dates import compute_complete_date
from transforms.core.distinct import derive_group_extremes
from transforms.conform.hits import NOT_TREATED_ARMS, Package, concat_hits, dm_column, dm_rule, make_hits, one_to_one_rule, select_datasets, ta_values
from transforms.conform.predicates import compute_filled


def check_subject_in_dm(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    subjects = set(dm["USUBJID"]) if dm is not None else set()
    return concat_hits(
        make_hits(frame, name, ~frame["USUBJID"].isin(subjects), "USUBJID", "USUBJID is not in DM")
        for name in select_datasets(package, target) if name != "DM" and "USUBJID" in (frame := package.datasets[name]).columns
    )


def _rfx_from_ex(dm: pd.DataFrame, package: Package, how: str) -> pd.Series:
    ex = package.frame("EX")
    if ex is None:
        return pd.Series(None, index=dm.index, dtype=object)
    column = "EXSTDTC" if how == "min" else "EXENDTC"
    values = derive_group_extremes(ex, ["USUBJID"], column, how).set_index("USUBJID")[column]
    return dm["USUBJID"].map(values)


check_age_not_negative = dm_rule(lambda dm, p: dm["AGE"] < 0, "AGE", "AGE is negative")
check_dthfl_values = dm_rule(lambda dm, p: compute_filled(dm["DTHFL"]) & (dm["DTHFL"] != "Y"), "DTHFL", "DTHFL is neither Y nor null")
check_dthdtc_has_dthfl = dm_rule(lambda dm, p: compute_filled(dm["DTHDTC"]) & (dm["DTHFL"] != "Y"), "DTHFL", "DTHDTC is given but DTHFL is not Y")
check_dthfl_has_dthdtc = dm_rule(lambda dm, p: (dm["DTHFL"] == "Y") & ~compute_filled(dm["DTHDTC"]), "DTHDTC", "DTHFL = Y but DTHDTC is null")
check_armcd_in_ta = dm_rule(
    lambda dm, p: compute_filled(dm["ARMCD"]) & ~dm["ARMCD"].isin(NOT_TREATED_ARMS) & ~dm["ARMCD"].isin(ta_values(p, "ARMCD")),
    "ARMCD", "ARMCD is not in TA.ARMCD")
check_actarmcd_in_ta = dm_rule(
    lambda dm, p: compute_filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS) & ~dm["ACTARMCD"].isin(ta_values(p, "ARMCD")),
    "ACTARMCD", "ACTARMCD is not in TA.ARMCD")
check_armnrs_when_arm_null = dm_rule(lambda dm, p: ~compute_filled(dm["ARMCD"]) & ~compute_filled(dm["ARMNRS"]), "ARMNRS", "ARMCD is null but ARMNRS is not given")
check_armnrs_when_actarm_null = dm_rule(lambda dm, p: ~compute_filled(dm["ACTARMCD"]) & ~compute_filled(dm["ARMNRS"]), "ARMNRS", "ACTARMCD is null but ARMNRS is not given")
check_armnrs_when_arms_given = dm_rule(lambda dm, p: compute_filled(dm["ARMCD"]) & compute_filled(dm["ACTARMCD"]) & compute_filled(dm["ARMNRS"]), "ARMNRS", "ARMCD and ACTARMCD are given but ARMNRS is too")
check_arm_needs_armcd = dm_rule(lambda dm, p: compute_filled(dm["ARM"]) & ~compute_filled(dm["ARMCD"]), "ARMCD", "ARM is given but ARMCD is null")
check_actarm_needs_actarmcd = dm_rule(lambda dm, p: compute_filled(dm["ACTARM"]) & ~compute_filled(dm["ACTARMCD"]), "ACTARMCD", "ACTARM is given but ACTARMCD is null")
check_rfstdtc_for_treated = dm_rule(lambda dm, p: compute_filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS) & ~compute_filled(dm["RFSTDTC"]), "RFSTDTC", "treated subject (ACTARMCD given) without RFSTDTC")
check_rfstdtc_null_not_treated = dm_rule(
    lambda dm, p: compute_filled(dm["ARMNRS"]) & (dm["ARMNRS"] != "UNPLANNED TREATMENT") & compute_filled(dm["RFSTDTC"]),
    "RFSTDTC", "subject not treated (ARMNRS) but RFSTDTC is given")
check_rfxendtc_present = dm_rule(lambda dm, p: compute_filled(dm["RFXSTDTC"]) & ~compute_filled(dm["RFXENDTC"]), "RFXENDTC", "RFXSTDTC is given but RFXENDTC is null")
check_rfxstdtc_is_first_exposure = dm_rule(
    lambda dm, p: compute_filled(_rfx_from_ex(dm, p, "min")) & (dm["RFXSTDTC"] != _rfx_from_ex(dm, p, "min")),
    "RFXSTDTC", "RFXSTDTC is not the earliest EXSTDTC")
check_rfxendtc_is_last_exposure = dm_rule(
    lambda dm, p: compute_filled(_rfx_from_ex(dm, p, "max")) & (dm["RFXENDTC"] != _rfx_from_ex(dm, p, "max")),
    "RFXENDTC", "RFXENDTC is not the latest EXENDTC")
check_actual_arm_is_planned = dm_rule(
    lambda dm, p: compute_filled(dm["ACTARMCD"]) & compute_filled(dm["ARMCD"]) & (dm["ACTARMCD"] != dm["ARMCD"]),
    "ACTARMCD", "ACTARMCD differs from ARMCD (subject treated other than randomised)")


def check_treated_have_exposure(package: Package, target: str) -> pd.DataFrame:
    dm, ex = package.frame("DM"), package.frame("EX")
    if dm is None:
        return concat_hits([])
    exposed = set(ex["USUBJID"]) if ex is not None else set()
    treated = compute_filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS)
    return make_hits(dm, "DM", treated & ~dm["USUBJID"].isin(exposed), "USUBJID", "treated subject has no EX record")


def check_arm_one_to_one(package: Package, target: str) -> pd.DataFrame:
    """SD1033 / SD1034: ARMCD and ARM one to one within and across DM, TA (and TV)."""
    parts = []
    frames = [(n, package.datasets[n]) for n in ("DM", "TA", "TV") if n in package.datasets]
    pairs = pd.concat([f[["ARMCD", "ARM"]] for n, f in frames if {"ARMCD", "ARM"} <= set(f.columns)] or
                      [pd.DataFrame(columns=["ARMCD", "ARM"])]).dropna().drop_duplicates()
    bad_codes = set(pairs.loc[pairs.duplicated("ARMCD", keep=False), "ARMCD"])
    bad_names = set(pairs.loc[pairs.duplicated("ARM", keep=False), "ARM"])
    for name, frame in frames:
        if {"ARMCD", "ARM"} <= set(frame.columns):
            parts.append(make_hits(frame, name, frame["ARMCD"].isin(bad_codes) | frame["ARM"].isin(bad_names), "ARM",
                               "ARMCD and ARM are not one to one across DM and TA"))
    return concat_hits(parts)


check_actarm_one_to_one = one_to_one_rule(("DM",), "ACTARMCD", "ACTARM")


def check_exposure_within_treatment(package: Package, target: str) -> pd.DataFrame:
    """SD1205 / SD1206: EXSTDTC on or after RFXSTDTC and on or before RFXENDTC (dates)."""
    ex = package.frame("EX")
    if ex is None:
        return concat_hits([])
    start = compute_complete_date(ex["EXSTDTC"])
    first = compute_complete_date(dm_column(package, ex, "RFXSTDTC"))
    last = compute_complete_date(dm_column(package, ex, "RFXENDTC"))
    if target == "before":
        return make_hits(ex, "EX", start.notna() & first.notna() & (start < first), "EXSTDTC", "EXSTDTC is before DM.RFXSTDTC")
    return make_hits(ex, "EX", start.notna() & last.notna() & (start > last), "EXSTDTC", "EXSTDTC is after DM.RFXENDTC")


def _dose_frames(package: Package, target: str):
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        if f"{name}DOSE" in frame.columns:
            yield name, frame


def check_dose_not_negative(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(make_hits(f, n, f[f"{n}DOSE"] < 0, f"{n}DOSE", f"{n}DOSE is negative") for n, f in _dose_frames(package, target))


def check_dose_has_unit(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, f[f"{n}DOSE"].notna() & ~compute_filled(f.get(f"{n}DOSU", pd.Series(None, index=f.index))), f"{n}DOSU",
              f"{n}DOSE is given but {n}DOSU is null")
        for n, f in _dose_frames(package, target)
    )


def check_exposure_days_not_negative(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, f[c] < 0, c, f"{c} is negative for a study treatment")
        for n, f in _dose_frames(package, target) for c in (f"{n}STDY", f"{n}ENDY") if c in f.columns
    )


CHECKS = {
    "check_subject_in_dm": check_subject_in_dm,
    "check_age_not_negative": check_age_not_negative,
    "check_dthfl_values": check_dthfl_values,
    "check_dthdtc_has_dthfl": check_dthdtc_has_dthfl,
    "check_dthfl_has_dthdtc": check_dthfl_has_dthdtc,
    "check_armcd_in_ta": check_armcd_in_ta,
    "check_actarmcd_in_ta": check_actarmcd_in_ta,
    "check_armnrs_when_arm_null": check_armnrs_when_arm_null,
    "check_armnrs_when_actarm_null": check_armnrs_when_actarm_null,
    "check_armnrs_when_arms_given": check_armnrs_when_arms_given,
    "check_arm_needs_armcd": check_arm_needs_armcd,
    "check_actarm_needs_actarmcd": check_actarm_needs_actarmcd,
    "check_rfstdtc_for_treated": check_rfstdtc_for_treated,
    "check_rfstdtc_null_not_treated": check_rfstdtc_null_not_treated,
    "check_rfxendtc_present": check_rfxendtc_present,
    "check_rfxstdtc_is_first_exposure": check_rfxstdtc_is_first_exposure,
    "check_rfxendtc_is_last_exposure": check_rfxendtc_is_last_exposure,
    "check_actual_arm_is_planned": check_actual_arm_is_planned,
    "check_treated_have_exposure": check_treated_have_exposure,
    "check_arm_one_to_one": check_arm_one_to_one,
    "check_actarm_one_to_one": check_actarm_one_to_one,
    "check_exposure_within_treatment": check_exposure_within_treatment,
    "check_dose_not_negative": check_dose_not_negative,
    "check_dose_has_unit": check_dose_has_unit,
    "check_exposure_days_not_negative": check_exposure_days_not_negative,
}
