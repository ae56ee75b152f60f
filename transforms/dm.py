"""DM — Demographics: one record per subject (sdtm-reference Part A).

Reference dates come from EX (the infusions actually given), the planned arm from the site's arm
text and the actual arm from the doses given, so DM is built after EX's records.
"""

from __future__ import annotations

import pandas as pd

from transforms.findings import LINEAGE
from transforms.standardise import compute_age
from transforms.spec_map import derive_mapped_variables
from transforms.study import Study


def build_dm(demographics: pd.DataFrame, ex: pd.DataFrame, study: Study) -> pd.DataFrame:
    """DM from the standardised subjects rows that passed validation and the EX records: each
    variable as the study's mapping.csv says, the `derived` ones by the named derivation."""
    arms = study.arms[["ARMCD", "ARM", "dose"]]
    exposure = derive_exposure_summary(ex, arms, study.config["treatment"]["EXDOSU"])
    base = demographics.merge(exposure, on="USUBJID", how="left").merge(
        arms[["ARMCD", "ARM"]], on="ARMCD", how="left"
    )
    spec = study.mapping_of("DM")
    mapped = derive_mapped_variables(base, spec, study.config)
    derived = {}
    for name in spec.loc[spec["algorithm"] == "derived", "value"].unique():
        if name not in DM_DERIVATIONS:
            raise ValueError(
                f"mapping.csv: DM derivation {name!r} does not exist; use one of "
                + ", ".join(DM_DERIVATIONS)
            )
        derived.update(DM_DERIVATIONS[name](base, study))
    columns = {"STUDYID": study.studyid, "DOMAIN": "DM", "USUBJID": base["USUBJID"]}
    for variable in spec["variable"].unique():
        columns[variable] = mapped[variable] if variable in mapped.columns else derived[variable]
    dm = pd.DataFrame({**columns, **{column: base[column] for column in LINEAGE}})
    return dm.sort_values("USUBJID", kind="stable").reset_index(drop=True)


def derive_reference_dates(base: pd.DataFrame, study: Study) -> dict[str, pd.Series]:
    """RFSTDTC/RFENDTC: the first and last dose given (the reference start is first exposure)."""
    return {
        "RFSTDTC": base["RFXSTDTC"], "RFENDTC": base["RFXENDTC"],
        "RFXSTDTC": base["RFXSTDTC"], "RFXENDTC": base["RFXENDTC"],
    }


def derive_age(base: pd.DataFrame, study: Study) -> dict[str, pd.Series]:
    age = compute_age(base["dtc_birth_date"], base["dtc_consent_date"])
    return {
        "AGE": age.astype("Float64"),
        "AGEU": pd.Series("YEARS", index=base.index).where(age.notna()),
    }


def derive_planned_arm(base: pd.DataFrame, study: Study) -> dict[str, pd.Series]:
    return {"ARM": base["ARM"]}


def derive_actual_arm(base: pd.DataFrame, study: Study) -> dict[str, pd.Series]:
    """ACTARMCD/ACTARM from the doses given; a subject never treated gets the study's
    not-treated reason (study.toml [not_treated])."""
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


def derive_exposure_summary(ex: pd.DataFrame, arms: pd.DataFrame, dose_unit: str) -> pd.DataFrame:
    """Per subject: first/last infusion date-times and the actual arm from the doses given.

    One distinct dose matching a planned arm's dose gives that arm; any other pattern (mixed or
    off-protocol doses) is an unplanned treatment: ACTARMCD null, ARMNRS "UNPLANNED TREATMENT"
    and ACTARMUD describing the doses (SDTMIG 3.4 DM assumptions).
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
    actual = per_subject[["min"]].rename(columns={"min": "dose"}).merge(arms, on="dose", how="left")
    planned = (per_subject["nunique"] == 1).to_numpy() & actual["ARMCD"].notna().to_numpy()
    return pd.DataFrame(
        {
            "USUBJID": per_subject["USUBJID"],
            "RFXSTDTC": per_subject["RFXSTDTC"],
            "RFXENDTC": per_subject["RFXENDTC"],
            "ACTARMCD": actual["ARMCD"].where(planned).to_numpy(),
            "ACTARM": actual["ARM"].where(planned).to_numpy(),
            "ARMNRS": pd.Series("UNPLANNED TREATMENT", index=per_subject.index).where(~planned),
            # astype: with no infusion at all (an export before the first one) the column is an
            # empty float column, and "text" + float fails
            "ACTARMUD": ("Doses given: " + per_subject["text"].astype("str") + " " + dose_unit).where(~planned),
        }
    )
