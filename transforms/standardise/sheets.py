"""Standardise each raw sheet: add the coded, ISO 8601 and numeric columns the checks and the
SDTM builders read, beside the untouched raw text.

Nothing is dropped or overwritten here: each raw column keeps the value as sent (for findings and
LBORRES), and each derived column sits next to it. A date column `x` gains `dtc_x` (ISO 8601 or
missing) and `problem_x` (why it would not parse); coded columns take their SDTM name (SEX, ARMCD,
LBTESTCD, VISIT ...), missing where the raw value is not in the study's terminology.
"""

from __future__ import annotations

import pandas as pd

from transforms.standardise.values import (
    assign_ct,
    compute_age,
    compute_iso8601_date,
    compute_iso8601_datetime,
    compute_numeric_result,
    compute_scaled_result,
)
from transforms.spec.study import FINDINGS, SUBJECTS, Study


def standardise_export(sheets: dict[str, pd.DataFrame], study: Study) -> dict[str, pd.DataFrame]:
    """Every sheet of the export, standardised (a new dict of new frames).

    What each raw column becomes is declared in raw_columns.csv: its `kind` (dates and numbers are
    parsed), its `codelist` (coded into `coded_as`), its `standard_as` (the name of the parsed
    value; a time combines with its `combine_with` date into one --DTC). Then the sheet's role
    (sheets.csv) adds what only that role has: ages for the subjects, results for the findings.
    """
    role_steps = {SUBJECTS: assign_age_at_consent, FINDINGS: assign_results}
    out = {}
    for sheet, frame in sheets.items():
        columns = study.raw_columns[study.raw_columns["sheet"] == sheet]
        standard = assign_standard_columns(frame, columns, study)
        step = role_steps.get(study.role_of(sheet))
        out[sheet] = step(standard, study) if step else standard
    return out


def assign_standard_columns(frame: pd.DataFrame, columns: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Dates, subject ids, codes, numbers and date-times of one sheet, as raw_columns.csv declares."""
    out = assign_dates(frame, columns)
    if "subject" in frame.columns:
        out = assign_subject_ids(out, study)
    added = {}
    for row in columns.itertuples():
        target = getattr(row, "standard_as", "") or ""
        if row.codelist and row.coded_as:
            added[row.coded_as] = assign_ct(frame[row.column], study.terminology, row.codelist)
        if row.kind == "time" and target:
            date = row.combine_with
            when = compute_iso8601_datetime(frame[date], frame[row.column])
            added[target] = when["dtc"]
            added[f"problem_{row.column}"] = _time_problem(
                when["problem"], frame[row.column], out[f"dtc_{date}"]
            )
        elif row.kind == "number" and target:
            added[target] = compute_number(frame[row.column])
        elif row.kind == "date" and target:
            # a date named as a --DTC (a sheet with no time: LBDTC from the collection date) is
            # the ISO 8601 date, never the text as the site typed it
            added[target] = out[f"dtc_{row.column}"]
        elif target:
            added[target] = frame[row.column]
    return out.assign(**added)


def assign_age_at_consent(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    # completed years at consent (as DM's AGE); the eligibility check reads it
    return frame.assign(age_at_consent=compute_age(frame["dtc_birth_date"], frame["dtc_consent_date"]))


def assign_results(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Operator, number and problem of each result (the study's declared qualitative results
    too), its conversion to the standard unit and its standard result.

    The result text is parsed here once: the plausibility check reads `result_standard` and LB
    publishes `result_stresc` / `result_stresn`, all three made from the one parse, so the value
    checked is bit for bit the value published.
    """
    result = compute_numeric_result(frame["result"], study.result_values)
    coded = frame.assign(
        result_operator=result["operator"],
        result_number=result["number"],
        problem_result=result["problem"],
    )
    converted = assign_unit_conversion(coded, study.unit_conversions)
    standard = compute_scaled_result(result, pd.Series(converted["factor"].to_numpy(), index=result.index))
    return converted.assign(
        result_standard=standard["scaled"].to_numpy(),
        result_stresc=standard["LBSTRESC"].array,
        result_stresn=standard["LBSTRESN"].to_numpy(),
    )


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


def assign_dates(frame: pd.DataFrame, columns: pd.DataFrame) -> pd.DataFrame:
    """`dtc_<col>` and `problem_<col>` for every column of the sheet typed as a date."""
    date_columns = columns.loc[columns["kind"] == "date", "column"]
    added = {}
    for column in date_columns:
        parsed = compute_iso8601_date(frame[column])
        added[f"dtc_{column}"] = parsed["dtc"]
        added[f"problem_{column}"] = parsed["problem"]
    return frame.assign(**added)


def assign_subject_ids(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    """SUBJID as the site writes it; USUBJID = STUDYID-SUBJID
    (docs/sdtm-reference.md#identifiers)."""
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
