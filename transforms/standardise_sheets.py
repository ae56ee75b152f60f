"""Standardise each raw sheet: add the coded, ISO 8601 and numeric columns the checks and the
SDTM builders read, beside the untouched raw text.

Nothing is dropped or overwritten here: each raw column keeps the value as sent (for findings and
LBORRES), and each derived column sits next to it. A date column `x` gains `dtc_x` (ISO 8601 or
missing) and `problem_x` (why it would not parse); coded columns take their SDTM name (SEX, ARMCD,
LBTESTCD, VISIT ...), missing where the raw value is not in the study's terminology.
"""

from __future__ import annotations

import pandas as pd

from transforms.standardise import (
    assign_ct,
    compute_age,
    compute_iso8601_date,
    compute_iso8601_datetime,
    compute_numeric_result,
)
from transforms.study import Study


def standardise_export(sheets: dict[str, pd.DataFrame], study: Study) -> dict[str, pd.DataFrame]:
    """Every sheet of the export, standardised (a new dict of new frames)."""
    steps = {
        "demographics": standardise_demographics,
        "infusions": standardise_infusions,
        "labs": standardise_labs,
        "assessments": standardise_assessments,
    }
    return {sheet: steps[sheet](frame, study) for sheet, frame in sheets.items()}


def standardise_demographics(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    out = assign_dates(frame, study.raw_columns, "demographics")
    out = assign_subject_ids(out, study)
    ct = study.terminology
    return out.assign(
        SITEID=frame["site"],
        SEX=assign_ct(frame["sex"], ct, "SEX"),
        RACE=assign_ct(frame["race"], ct, "RACE"),
        ETHNIC=assign_ct(frame["ethnicity"], ct, "ETHNIC"),
        ARMCD=assign_ct(frame["arm"], ct, "ARMCD"),
        transplant=assign_ct(frame["liver_transplant"], ct, "NY"),
        # completed years at consent (as DM's AGE); the eligibility check reads it
        age_at_consent=compute_age(out["dtc_birth_date"], out["dtc_consent_date"]),
    )


def standardise_infusions(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    out = assign_dates(frame, study.raw_columns, "infusions")
    out = assign_subject_ids(out, study)
    start = compute_iso8601_datetime(frame["infusion_date"], frame["start_time"])
    end = compute_iso8601_datetime(frame["infusion_date"], frame["end_time"])
    return out.assign(
        EXSTDTC=start["dtc"],
        problem_start_time=_time_problem(start["problem"], frame["start_time"], out["dtc_infusion_date"]),
        EXENDTC=end["dtc"],
        problem_end_time=_time_problem(end["problem"], frame["end_time"], out["dtc_infusion_date"]),
        EXDOSE=compute_number(frame["dose"]),
        number_weight=compute_number(frame["body_weight"]),
        number_total_cells=compute_number(frame["total_cells"]),
        number_infusion=compute_number(frame["infusion_number"]),
        EXROUTE=assign_ct(frame["route"], study.terminology, "ROUTE"),
    )


def standardise_labs(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    out = assign_dates(frame, study.raw_columns, "labs")
    out = assign_subject_ids(out, study)
    ct = study.terminology
    when = compute_iso8601_datetime(frame["collection_date"], frame["collection_time"])
    result = compute_numeric_result(frame["result"], study.result_values)
    coded = out.assign(
        LBDTC=when["dtc"],
        problem_collection_time=_time_problem(
            when["problem"], frame["collection_time"], out["dtc_collection_date"]
        ),
        LBTESTCD=assign_ct(frame["test"], ct, "LBTESTCD"),
        VISIT=assign_ct(frame["visit"], ct, "VISIT"),
        LBORRESU=assign_ct(frame["unit"], ct, "UNIT"),
        result_operator=result["operator"],
        result_number=result["number"],
        problem_result=result["problem"],
    )
    converted = assign_unit_conversion(coded, study.unit_conversions)
    # the number in the test's standard unit, for the plausibility check (LB recomputes its own)
    return converted.assign(result_standard=converted["result_number"] * converted["factor"])


def assign_unit_conversion(labs: pd.DataFrame, conversions: pd.DataFrame) -> pd.DataFrame:
    """LBSTRESU and the factor to it for each (test, original unit); both missing where the unit is
    not one the study accepts for that test (the checks hold such rows back)."""
    # A blank unit is a unit ("" in the conversion table: INR is reported without one), so a blank
    # raw unit joins on "" while an unrecognised one (LBORRESU missing, unit sent) joins nothing.
    unit_key = labs["LBORRESU"].where(labs["unit"].notna(), "")
    matched = labs[["LBTESTCD"]].assign(LBORRESU=unit_key).merge(
        conversions[["LBTESTCD", "LBORRESU", "LBSTRESU", "factor"]],
        on=["LBTESTCD", "LBORRESU"], how="left",
    )
    return labs.assign(
        LBSTRESU=matched["LBSTRESU"].to_numpy(), factor=matched["factor"].to_numpy(dtype="float64")
    )


def standardise_assessments(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    out = assign_dates(frame, study.raw_columns, "assessments")
    out = assign_subject_ids(out, study)
    ct = study.terminology
    return out.assign(
        VISIT=assign_ct(frame["visit"], ct, "VISIT"),
        ASCITES=assign_ct(frame["ascites"], ct, "ASCITES"),
        ENCEPH=assign_ct(frame["encephalopathy"], ct, "ENCEPH"),
        dialysis_flag=assign_ct(frame["dialysis"], ct, "NY"),
    )


def assign_dates(frame: pd.DataFrame, raw_columns: pd.DataFrame, sheet: str) -> pd.DataFrame:
    """`dtc_<col>` and `problem_<col>` for every column the contract types as a date."""
    date_columns = raw_columns.loc[
        (raw_columns["sheet"] == sheet) & (raw_columns["kind"] == "date"), "column"
    ]
    added = {}
    for column in date_columns:
        parsed = compute_iso8601_date(frame[column])
        added[f"dtc_{column}"] = parsed["dtc"]
        added[f"problem_{column}"] = parsed["problem"]
    return frame.assign(**added)


def assign_subject_ids(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    """SUBJID as the site writes it; USUBJID = STUDYID-SUBJID (sdtm-reference Part A)."""
    return frame.assign(
        SUBJID=frame["subject"],
        USUBJID=(study.studyid + "-" + frame["subject"]).where(frame["subject"].notna()),
    )


def _time_problem(problem: pd.Series, time: pd.Series, date_dtc: pd.Series) -> pd.Series:
    """Why a time was dropped, only where a time was sent and its date was read: a date that
    cannot be read is its own finding, and the time would only repeat it."""
    return problem.where(time.notna() & date_dtc.notna())


def compute_number(values: pd.Series) -> pd.Series:
    """Plain numbers as float; anything else missing (the checks report the text as sent)."""
    return pd.to_numeric(values, errors="coerce").astype("float64")
