"""Validate: decide which standardised raw rows may be mapped, and say why the others may not.

Order matters once: Demographics first, because a row of another sheet can only be mapped for a
subject whose Demographics row is itself fit to map. ERROR findings hold a row back; WARNING and
INFO findings travel with the run and let the row through. Superseded rows (an older version of a
record a newer export replaced) are held back with an INFO finding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from expectations.engine import build_data_docs
from expectations.raw import check_raw_sheet
from transforms.checks import (
    SUPERSEDED,
    check_ascii,
    check_date_window,
    check_exact_duplicates,
    check_planned_dose,
    check_subject_held_back,
    check_superseded,
    check_total_cells,
)
from transforms.distinct import compute_per_distinct
from transforms.findings import ERROR, concat_findings
from transforms.study import Study
from transforms.visits import UNSCHEDULED

SHEET_ORDER = ("demographics", "infusions", "labs", "assessments")
# Up to this many rows are dropped by slicing around them (drop_rows); more by a boolean filter.
SLICED_DROP_LIMIT = 1000


def validate_export(
    sheets: dict[str, pd.DataFrame],
    files: pd.DataFrame,
    study: Study,
    transliteration: pd.DataFrame,
    data_docs_dir: Path | None = None,
    build_docs: bool = True,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """(rows fit to map per sheet, findings). The results are kept for the Data Docs of
    `data_docs_dir`, whose HTML is written now, or with `build_docs` False by the next build of
    that folder (expectations.engine.build_data_docs)."""
    context = build_context(sheets, study)
    valid, findings = {}, []
    for sheet in SHEET_ORDER:
        sheet_findings = validate_sheet(
            sheets[sheet], sheet, study, context, files, transliteration,
            valid.get("demographics"), data_docs_dir,
        )
        findings.append(sheet_findings)
        valid[sheet] = drop_held_back(sheets[sheet], sheet_findings)
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
) -> pd.DataFrame:
    """The findings of one standardised sheet. `demographics`: the Demographics rows fit to map
    (None while validating Demographics itself); `context`: build_context's value sets."""
    raw_columns = study.raw_columns
    sheet_columns = raw_columns[raw_columns["sheet"] == sheet]
    headers = dict(zip(sheet_columns["column"], sheet_columns["header"]))
    verbatim = list(sheet_columns.loc[sheet_columns["verbatim"] == "Y", "column"])
    codes: dict = {}  # the sheet's value-code cache (transforms.distinct)
    duplicates = check_exact_duplicates(frame, sheet, list(sheet_columns["column"]), codes)
    # The copies of an exact duplicate are held back by that finding and judged by nothing
    # else (so the first copy is not also a repeated record key). They are skipped rather than
    # dropped: removing rows copies a million-row sheet, skipping them costs nothing.
    copies = compute_held(frame, duplicates)
    row_checks = [
        check_ascii(frame, verbatim, transliteration, codes),
        check_date_window(
            frame, sheet_columns[sheet_columns["kind"] == "date"], compute_run_date(files),
            compute_consent(frame, sheet, demographics, codes), codes,
        ),
    ]
    if sheet == "infusions":
        tolerance = float(study.config["treatment"]["total_cells_tolerance"])
        row_checks += [
            check_planned_dose(frame, demographics, study.arms, headers),
            check_total_cells(frame, demographics, tolerance, headers),
        ]
    sheet_findings = [
        check_superseded(frame, sheet, files.set_index("name")["order"]),
        duplicates,
        drop_findings_on(concat_findings(*row_checks), frame[copies]),
        check_raw_sheet(
            frame, sheet, raw_columns, context, data_docs_dir, build_docs=False, skip=copies,
            codes=codes,
        ),
    ]
    if demographics is not None:
        sheet_findings.append(
            check_subject_held_back(frame, context["known_subjects"], demographics["subject"], codes)
        )
    return concat_findings(*sheet_findings)


def build_context(sheets: dict[str, pd.DataFrame], study: Study) -> dict:
    """The study's value sets and limits the raw suites are built from (expectations.raw)."""
    tests = study.lab_tests
    limited = tests[(tests["plausible_low"] != "") & (tests["plausible_high"] != "")] if (
        {"plausible_low", "plausible_high"} <= set(tests.columns)) else tests.iloc[0:0]
    terminology = study.terminology
    return {
        "known_subjects": sorted(sheets["demographics"]["subject"].dropna().unique()),
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
        "arm_doses": sorted(float(d) for d in study.arms["dose"]),
        "spellings": terminology.groupby("codelist", sort=False)["raw"].agg(list).to_dict(),
        "result_values": list(study.result_values["raw"]),
    }


def compute_run_date(files: pd.DataFrame) -> str | None:
    """The newest export's date as YYYY-MM-DD (from the file names, never the clock, so a rerun
    of the same export judges dates the same way); None when no file name carries a date."""
    dates = files["export_date"][files["export_date"] != "00000000"]
    if dates.empty:
        return None
    newest = dates.max()
    return f"{newest[:4]}-{newest[4:6]}-{newest[6:8]}"


def compute_consent(
    frame: pd.DataFrame, sheet: str, demographics: pd.DataFrame | None, codes: dict | None = None
) -> pd.Series:
    """Each row's informed-consent date: a Demographics row's own, else the subject's from the
    Demographics rows fit to map (missing for a subject without one; categorical). `codes`: the
    sheet's value-code cache (transforms.distinct)."""
    if sheet == "demographics":
        return frame["dtc_consent_date"]
    consent = demographics.drop_duplicates("subject", keep="last").set_index("subject")["dtc_consent_date"]
    per_row = compute_per_distinct(
        lambda subject: subject.map(consent).astype("str"), frame["subject"], cache=codes
    )
    return per_row.rename(None)  # derived, not a column of the sheet (see transforms.distinct)


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
