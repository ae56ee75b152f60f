"""Validate: decide which standardised raw rows may be mapped, and say why the others may not.

Order matters once: Demographics first, because a row of another sheet can only be mapped for a
subject whose Demographics row is itself fit to map. ERROR findings hold a row back; WARNING and
INFO findings travel with the run and let the row through. Superseded rows (an older version of a
record a newer export replaced) are held back with an INFO finding.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from expectations.engine import build_data_docs
from expectations.raw import check_raw_sheet
from transforms.validate.checks import (
    SUPERSEDED,
    check_after_death,
    check_ascii,
    check_consent_after_first_dose,
    check_date_window,
    check_exact_duplicates,
    check_planned_dose,
    check_subject_held_back,
    check_superseded,
    check_text_length,
    check_total_cells,
)
from transforms.core.distinct import compute_per_distinct
from transforms.core.findings import ERROR, concat_findings
from transforms.domains.dm import compute_allowed_doses
from transforms.ingest.read_files import compute_newest_export_date
from transforms.domains.ex import compute_not_given, compute_not_given_column
from transforms.spec.study import EXPOSURE, SUBJECTS, Study
from transforms.standardise.visits import UNSCHEDULED

# Up to this many rows are dropped by slicing around them (drop_rows); more by a boolean filter.
SLICED_DROP_LIMIT = 1000


def validate_export(
    sheets: dict[str, pd.DataFrame],
    files: pd.DataFrame,
    study: Study,
    transliteration: pd.DataFrame,
    data_docs_dir: Path | None = None,
    build_docs: bool = True,
    today: str | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """(rows fit to map per sheet, findings). The results are kept for the Data Docs of
    `data_docs_dir`, whose HTML is written now, or with `build_docs` False by the next build of
    that folder (expectations.engine.build_data_docs). `today`: the run's day (YYYY-MM-DD, UTC;
    the flow passes its clock's, tests a fixed one); None reads the clock here."""
    today = today or datetime.now(timezone.utc).date().isoformat()
    context = build_context(sheets, study)
    valid, findings = {}, []
    subjects = study.sheet_with_role(SUBJECTS)
    for sheet in study.sheet_ids:
        sheet_findings = validate_sheet(
            sheets[sheet], sheet, study, context, files, transliteration,
            valid.get(subjects), data_docs_dir, today=today,
        )
        findings.append(sheet_findings)
        valid[sheet] = drop_held_back(sheets[sheet], sheet_findings)
    # across sheets, once both are known; a WARNING, so nothing more is held back
    exposure = study.sheet_with_role(EXPOSURE)
    findings.append(check_consent_after_first_dose(
        valid[subjects], valid[exposure], study.headers_of(subjects),
        ~compute_not_given(valid[exposure], study), "dtc_" + study.dose_date_columns()[0],
    ))
    if data_docs_dir is not None and build_docs:
        build_data_docs(data_docs_dir)
    return valid, concat_findings(*findings)


def validate_sheet(
    frame: pd.DataFrame,
    sheet: str,
    study: Study,
    context: dict,
    files: pd.DataFrame,
    transliteration: pd.DataFrame,
    demographics: pd.DataFrame | None,
    data_docs_dir: Path | None = None,
    *,
    today: str | None = None,
) -> pd.DataFrame:
    """The findings of one standardised sheet. `demographics`: the Demographics rows fit to map
    (None while validating Demographics itself); `context`: build_context's value sets; `today`:
    the run's day (check_date_window)."""
    raw_columns = study.raw_columns
    sheet_columns = raw_columns[raw_columns["sheet"] == sheet]
    headers = dict(zip(sheet_columns["column"], sheet_columns["header"]))
    verbatim = list(sheet_columns.loc[sheet_columns["verbatim"] == "Y", "column"])
    # what reaches SDTM as text: verbatim values, and free text no codelist replaces
    free_text = (sheet_columns["kind"] == "text") & (sheet_columns["codelist"].fillna("") == "")
    texts = list(sheet_columns.loc[(sheet_columns["verbatim"] == "Y") | free_text, "column"])
    dates = sheet_columns[sheet_columns["kind"] == "date"]
    codes: dict = {}  # the sheet's value-code cache (transforms.core.distinct)
    keys = study.record_keys[sheet]
    duplicates = check_exact_duplicates(frame, keys, list(sheet_columns["column"]), codes)
    # The copies of an exact duplicate are held back by that finding and judged by nothing
    # else (so the first copy is not also a repeated record key). They are skipped rather than
    # dropped: removing rows copies a million-row sheet, skipping them costs nothing.
    copies = compute_held(frame, duplicates)
    row_checks = [
        check_ascii(frame, verbatim, transliteration, codes),
        check_text_length(frame, texts, transliteration, headers, codes),
        check_date_window(
            frame, dates, compute_run_date(files),
            compute_subject_date(frame, sheet, demographics, "dtc_consent_date", codes), codes,
            today=today,
        ),
        check_after_death(
            frame, study.role_of(sheet) == EXPOSURE, dates,
            compute_subject_date(frame, sheet, demographics, "dtc_death_date", codes), codes,
        ),
    ]
    if study.role_of(sheet) == EXPOSURE and "EXDOSE" in frame.columns:
        given = ~compute_not_given(frame, study)
        row_checks.append(check_planned_dose(frame, demographics, study.arms, headers, given))
        # a dose per kg checked against the total given: only a study that records both says so
        tolerance = study.config["treatment"].get("total_cells_tolerance")
        if tolerance is not None:
            row_checks.append(check_total_cells(frame, demographics, float(tolerance), headers, given))
    sheet_findings = [
        check_superseded(frame, keys, files.set_index("name")["order"]),
        duplicates,
        drop_findings_on(concat_findings(*row_checks), frame[copies]),
        check_raw_sheet(
            frame, sheet, raw_columns, context, data_docs_dir, build_docs=False, skip=copies,
            codes=codes,
        ),
    ]
    if demographics is not None:
        sheet_findings.append(
            check_subject_held_back(
                frame, context["known_subjects"], demographics["subject"], codes,
                context["subjects_label"],
            )
        )
    return concat_findings(*sheet_findings)


def build_context(sheets: dict[str, pd.DataFrame], study: Study) -> dict:
    """The study's value sets and limits the raw suites are built from (expectations.raw)."""
    tests = study.lab_tests
    limited = tests[(tests["plausible_low"] != "") & (tests["plausible_high"] != "")] if (
        {"plausible_low", "plausible_high"} <= set(tests.columns)) else tests.iloc[0:0]
    terminology = study.terminology
    return {
        "known_subjects": sorted(sheets[study.sheet_with_role(SUBJECTS)]["subject"].dropna().unique()),
        # what each sheet is (sheets.csv): the suites are built from a sheet's role and key
        "roles": dict(zip(study.sheets["sheet"], study.sheets["role"])),
        "record_keys": study.record_keys,
        "labels": {sheet: study.label_of(sheet) for sheet in study.sheet_ids},
        "subjects_label": study.label_of(study.sheet_with_role(SUBJECTS)),
        "known_visits": sorted(study.visits["VISIT"]) + [UNSCHEDULED],
        "known_tests": sorted(tests["LBTESTCD"]),
        "known_units": list(
            zip(study.unit_conversions["LBTESTCD"], study.unit_conversions["LBORRESU"])
        ),
        "plausible_ranges": list(
            zip(limited["LBTESTCD"], limited["plausible_low"].astype(float),
                limited["plausible_high"].astype(float), limited["LBSTRESU"])
        ),
        "age_range": (study.config["study"]["age_min"], study.config["study"]["age_max"]),
        "arm_doses": sorted(compute_allowed_doses(study.arms)["EXDOSE"].unique()),
        "not_given_column": compute_not_given_column(study),
        "spellings": terminology.groupby("codelist", sort=False)["raw"].agg(list).to_dict(),
        "result_values": list(study.result_values["raw"]),
        "eligibility": study.eligibility[["sheet", "column", "value", "reason"]].to_dict("records"),
    }


def compute_run_date(files: pd.DataFrame) -> str | None:
    """The newest export's date as YYYY-MM-DD (from the file names, never the clock, so a rerun
    of the same export judges dates the same way); None when no file name carries a date."""
    newest = compute_newest_export_date(files)
    return None if newest is None else f"{newest[:4]}-{newest[4:6]}-{newest[6:8]}"


def compute_subject_date(
    frame: pd.DataFrame, sheet: str, demographics: pd.DataFrame | None, column: str,
    codes: dict | None = None,
) -> pd.Series:
    """Each row's subject date `column` of the subjects sheet (`dtc_consent_date`,
    `dtc_death_date`): a subjects row's own, else the subject's from the subjects rows fit to map
    (missing for a subject without one, or where the study collects no such date; categorical).
    `codes`: the sheet's value-code cache (transforms.core.distinct)."""
    source = frame if demographics is None else demographics  # None: the subjects sheet itself
    if column not in source.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="str")
    if demographics is None:
        return frame[column]
    dates = demographics.drop_duplicates("subject", keep="last").set_index("subject")[column]
    per_row = compute_per_distinct(
        lambda subject: subject.map(dates).astype("str"), frame["subject"], cache=codes
    )
    return per_row.rename(None)  # derived, not a column of the sheet (see transforms.core.distinct)


def drop_held_back(frame: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """The rows of `frame` that no ERROR finding and no supersession holds back."""
    return drop_rows(frame, compute_held(frame, findings)).reset_index(drop=True)


def drop_rows(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """`frame` without the rows where `mask` is True.

    A few rows held back out of a million are cut out by slicing around them: the slices share
    the sheet's memory and are joined without copying text, where a boolean filter copies every
    value of every column (a quarter of a second per million lab rows).
    """
    cuts = np.flatnonzero(mask)
    if len(cuts) == 0:
        return frame
    if len(cuts) > SLICED_DROP_LIMIT:
        return frame[~mask]
    starts, ends = np.r_[0, cuts + 1], np.r_[cuts, len(frame)]
    kept = [frame.iloc[start:end] for start, end in zip(starts, ends) if end > start]
    return pd.concat(kept) if kept else frame.iloc[:0]


def drop_findings_on(findings: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`findings` without those about the raw rows in `rows` (matched by lineage)."""
    if rows.empty or findings.empty:
        return findings
    keys = rows[["_file", "_sheet", "_row"]].set_axis(["file", "sheet", "row"], axis=1)
    keys = keys.astype({"file": "object", "sheet": "object", "row": "Int64"}).assign(_drop=True)
    marked = findings.merge(keys, on=["file", "sheet", "row"], how="left")
    return findings[marked["_drop"].isna().to_numpy()].reset_index(drop=True)


def compute_held(frame: pd.DataFrame, findings: pd.DataFrame) -> np.ndarray:
    """Which rows of `frame` an ERROR finding or a supersession holds back (a boolean mask)."""
    holds = findings[(findings["severity"] == ERROR) | (findings["rule"] == SUPERSEDED)]
    keys = holds[["file", "sheet", "row"]].dropna().drop_duplicates()
    if keys.empty:
        return np.zeros(len(frame), dtype=bool)
    keys = keys.set_axis(["_file", "_sheet", "_row"], axis=1).astype({"_row": "int64"})
    # the row number first (integers, cheap), the full key only for the rows it leaves
    candidate = frame["_row"].isin(keys["_row"]).to_numpy(dtype=bool)
    held = candidate.copy()
    held[candidate] = frame.loc[candidate, ["_file", "_sheet", "_row"]].merge(
        keys.assign(held=True), on=["_file", "_sheet", "_row"], how="left"
    )["held"].fillna(False).to_numpy(dtype=bool)
    return held
