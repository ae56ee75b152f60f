"""Validate: decide which standardised raw rows may be mapped, and say why the others may not.

Order matters once: Demographics first, because a row of another sheet can only be mapped for a
subject whose Demographics row is itself fit to map. ERROR findings hold a row back; WARNING and
INFO findings travel with the run and let the row through. Superseded rows (an older version of a
record a newer export replaced) are held back with an INFO finding.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from expectations.raw import check_raw_sheet
from transforms.checks import (
    SUPERSEDED,
    check_ascii,
    check_exact_duplicates,
    check_subject_held_back,
    check_superseded,
)
from transforms.findings import ERROR, concat_findings
from transforms.study import Study
from transforms.visits import UNSCHEDULED

SHEET_ORDER = ("demographics", "infusions", "labs", "assessments")


def validate_export(
    sheets: dict[str, pd.DataFrame],
    files: pd.DataFrame,
    study: Study,
    transliteration: pd.DataFrame,
    data_docs_dir: Path | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """(rows fit to map per sheet, findings)."""
    file_order = files.set_index("name")["order"]
    raw_columns = study.raw_columns
    context = {
        "known_subjects": sorted(sheets["demographics"]["subject"].dropna().unique()),
        "known_visits": sorted(study.visits["VISIT"]) + [UNSCHEDULED],
        "known_tests": sorted(study.lab_tests["LBTESTCD"]),
        "known_units": list(
            zip(study.unit_conversions["LBTESTCD"], study.unit_conversions["LBORRESU"])
        ),
    }
    valid, findings = {}, []
    for sheet in SHEET_ORDER:
        frame = sheets[sheet]
        columns = list(raw_columns.loc[raw_columns["sheet"] == sheet, "column"])
        verbatim = list(
            raw_columns.loc[(raw_columns["sheet"] == sheet) & (raw_columns["verbatim"] == "Y"), "column"]
        )
        duplicates = check_exact_duplicates(frame, sheet, columns)
        # The copies of an exact duplicate are held back above; the suite judges the rest, so the
        # first copy is not also flagged as a repeated record key.
        judged = drop_held_back(frame, duplicates)
        sheet_findings = [
            check_superseded(frame, sheet, file_order),
            duplicates,
            check_ascii(judged, verbatim, transliteration),
            check_raw_sheet(judged, sheet, raw_columns, context, data_docs_dir),
        ]
        if sheet != "demographics":
            sheet_findings.append(
                check_subject_held_back(frame, context["known_subjects"], valid["demographics"]["subject"])
            )
        sheet_findings = concat_findings(*sheet_findings)
        findings.append(sheet_findings)
        valid[sheet] = drop_held_back(frame, sheet_findings)
    return valid, concat_findings(*findings)


def drop_held_back(frame: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """The rows of `frame` that no ERROR finding and no supersession holds back."""
    holds = findings[(findings["severity"] == ERROR) | (findings["rule"] == SUPERSEDED)]
    keys = holds[["file", "sheet", "row"]].dropna().drop_duplicates()
    keys = keys.set_axis(["_file", "_sheet", "_row"], axis=1).astype({"_row": "int64"})
    held = frame[["_file", "_sheet", "_row"]].merge(
        keys.assign(held=True), on=["_file", "_sheet", "_row"], how="left"
    )["held"].fillna(False).to_numpy(dtype=bool)
    return frame[~held].reset_index(drop=True)
