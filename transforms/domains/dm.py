"""DM — Demographics: one record per subject (docs/sdtm-reference.md#demographics).

Reference dates come from EX (the infusions actually given), the planned arm from the site's arm
text and the actual arm from the doses given, so DM is built after EX's records.
"""

from __future__ import annotations

import pandas as pd

from transforms.standardise.values import compute_age
from transforms.domains.spec_map import Sources, build_domain
from transforms.spec.study import Study


def build_dm(demographics: pd.DataFrame, ex: pd.DataFrame, study: Study) -> pd.DataFrame:
    """DM from the standardised subjects rows that passed validation and the EX records: each
    variable as the study's mapping.csv says, the `derived` ones by the named derivation."""
    arms = study.arms
    rule = study.config.get("derivations", {}).get("actual_arm", "dose_level")
    planned = demographics[["USUBJID", "ARMCD"]].dropna().drop_duplicates("USUBJID", keep="last")
    exposure = derive_exposure_summary(ex, arms, study.config["treatment"]["EXDOSU"], rule, planned)
    base = demographics.merge(exposure, on="USUBJID", how="left").merge(
        arms[["ARMCD", "ARM"]], on="ARMCD", how="left"
    )
    dm = build_domain(Sources(base, study, "DM"), DM_DERIVATIONS)
    return dm.sort_values("USUBJID", kind="stable").reset_index(drop=True)


def derive_reference_dates(dm: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """RFSTDTC/RFENDTC: the first and last dose given (the reference start is first exposure)."""
    base = sources.records
    return {
        "RFSTDTC": base["RFXSTDTC"], "RFENDTC": base["RFXENDTC"],
        "RFXSTDTC": base["RFXSTDTC"], "RFXENDTC": base["RFXENDTC"],
    }


def derive_age(dm: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    base = sources.records
    age = compute_age(base["dtc_birth_date"], base["dtc_consent_date"])
    return {
        "AGE": age.astype("Float64"),
        "AGEU": pd.Series("YEARS", index=base.index).where(age.notna()),
    }


def derive_planned_arm(dm: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    return {"ARM": sources.records["ARM"]}


def derive_actual_arm(dm: pd.DataFrame, sources: Sources) -> dict[str, pd.Series]:
    """ACTARMCD/ACTARM from the doses given; a subject never treated gets the study's
    not-treated reason (study.toml [not_treated])."""
    base, study = sources.records, sources.study
    treated = base["RFXSTDTC"].notna()
    return {
        "ACTARMCD": base["ACTARMCD"],
        "ACTARM": base["ACTARM"],
        "ARMNRS": base["ARMNRS"].where(treated, study.config["not_treated"]["ARMNRS"]),
        "ACTARMUD": base["ACTARMUD"],
    }


DM_DERIVATIONS = {
    "reference_dates": derive_reference_dates,
    "age": derive_age,
    "planned_arm": derive_planned_arm,
    "actual_arm": derive_actual_arm,
}


def derive_exposure_summary(
    ex: pd.DataFrame, arms: pd.DataFrame, dose_unit: str, rule: str = "dose_level",
    planned: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per subject: first/last dose date-times and the actual arm from the doses given.

    The actual-arm `rule` is the study's (study.toml [derivations] actual_arm):
    * `dose_level`: one distinct dose matching a planned arm's `dose` gives that arm (arms that
      differ by dose level);
    * `planned_regimen`: the subject's planned arm (`planned`: USUBJID, ARMCD) when every dose
      given is one that arm allows (its `dose`, or one of its `doses`: protocol reductions).
    Any other pattern is an unplanned treatment: ACTARMCD null, ARMNRS "UNPLANNED TREATMENT" and
    ACTARMUD describing the doses (SDTMIG 3.4 DM assumptions).
    """
    doses = ex[["USUBJID", "EXDOSE"]].dropna().drop_duplicates().sort_values(["USUBJID", "EXDOSE"])
    described = (
        doses.assign(text=doses["EXDOSE"].map("{:g}".format))
        .groupby("USUBJID")["text"].agg(" and ".join)
    )
    per_subject = ex.groupby("USUBJID").agg(
        RFXSTDTC=("EXSTDTC", "min"), RFXENDTC=("EXENDTC", "max")
    )
    distinct = doses.groupby("USUBJID")["EXDOSE"].agg(["nunique", "min"])
    per_subject = per_subject.join(distinct).join(described).reset_index()
    if rule == "dose_level":
        actual = per_subject[["min"]].rename(columns={"min": "dose"}).merge(
            arms[["ARMCD", "ARM", "dose"]], on="dose", how="left"
        )
        fits = (per_subject["nunique"] == 1).to_numpy() & actual["ARMCD"].notna().to_numpy()
    elif rule == "planned_regimen":
        actual, fits = compute_regimen_arm(per_subject["USUBJID"], doses, arms, planned)
    else:
        raise ValueError(
            f"study.toml [derivations] actual_arm = {rule!r}: use dose_level or planned_regimen"
        )
    return pd.DataFrame(
        {
            "USUBJID": per_subject["USUBJID"],
            "RFXSTDTC": per_subject["RFXSTDTC"],
            "RFXENDTC": per_subject["RFXENDTC"],
            "ACTARMCD": actual["ARMCD"].where(fits).to_numpy(),
            "ACTARM": actual["ARM"].where(fits).to_numpy(),
            "ARMNRS": pd.Series("UNPLANNED TREATMENT", index=per_subject.index).where(~fits),
            # astype: with no infusion at all (an export before the first one) the column is an
            # empty float column, and "text" + float fails
            "ACTARMUD": ("Doses given: " + per_subject["text"].astype("str") + " " + dose_unit).where(~fits),
        }
    )


def compute_regimen_arm(
    subjects: pd.Series, doses: pd.DataFrame, arms: pd.DataFrame, planned: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series]:
    """(ARMCD and ARM of each subject's planned arm, whether every dose given is allowed by it)."""
    allowed = compute_allowed_doses(arms)
    given = doses.merge(planned, on="USUBJID", how="left").merge(
        allowed.assign(allowed=True), on=["ARMCD", "EXDOSE"], how="left"
    )
    fits = given.assign(allowed=given["allowed"].eq(True)).groupby("USUBJID")["allowed"].all()
    actual = subjects.rename("USUBJID").to_frame().merge(planned, on="USUBJID", how="left").merge(
        arms[["ARMCD", "ARM"]], on="ARMCD", how="left"
    )
    ok = subjects.map(fits).eq(True).to_numpy() & actual["ARMCD"].notna().to_numpy()
    return actual[["ARMCD", "ARM"]], ok


def compute_allowed_doses(arms: pd.DataFrame) -> pd.DataFrame:
    """(ARMCD, EXDOSE) pairs each planned arm allows: its `dose` and its `doses` (reductions)."""
    listed = arms["doses"] if "doses" in arms.columns else pd.Series([None] * len(arms), index=arms.index)
    pairs = [
        (armcd, float(dose))
        for armcd, main, extra in zip(arms["ARMCD"], arms["dose"], listed)
        for dose in [main, *(extra if isinstance(extra, list) else [])]
    ]
    return pd.DataFrame(pairs, columns=["ARMCD", "EXDOSE"]).drop_duplicates()
