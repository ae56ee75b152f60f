"""The findings table: one shape for every problem the run meets.

A held-back raw row, a warning, a file that cannot be read and a conformance issue are all rows of
the same table, accumulated through the run and written beside the outputs. Every stage returns its
findings as a frame of FINDING_COLUMNS; nothing is printed or raised for a data problem.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FINDING_COLUMNS = [
    "severity",  # ERROR holds the raw row back; WARNING and INFO let it through
    "stage",  # ingest, validate, standardise, map, derive, conform, write
    "rule",  # a stable id a reviewer can look up (our own SF-xxxx, or FDA/CORE ids)
    "file",
    "sheet",
    "row",  # spreadsheet row number as the site sees it (header = row 1)
    "subject",
    "variable",  # the raw column (or SDTM variable for conformance findings)
    "value",  # the value as sent
    "message",  # what is wrong and what the site should do
]

ERROR, WARNING, INFO = "ERROR", "WARNING", "INFO"

# Lineage columns carried by every raw row from ingest to the final record.
LINEAGE = ["_file", "_sheet", "_row"]


def empty_findings() -> pd.DataFrame:
    """A findings frame with no rows and the canonical columns."""
    # a copy of one built once: building it is milliseconds, and every check that finds nothing
    # returns one
    return _EMPTY_FINDINGS.copy()


_EMPTY_FINDINGS = pd.DataFrame({c: pd.Series(dtype="object") for c in FINDING_COLUMNS}).astype(
    {"row": "Int64"}
)


def select_rows(frame: pd.DataFrame, where, *columns: str) -> pd.DataFrame:
    """The rows of `frame` where the boolean mask `where` is True, with only the columns a finding
    reads (LINEAGE, `subject` and `columns`): three findings on a million-row sheet then copy
    three rows of five columns, not the sheet."""
    wanted = [c for c in dict.fromkeys([*LINEAGE, "subject", *columns]) if c in frame.columns]
    where = np.asarray(where, dtype=bool)
    return frame[wanted][where] if where.any() else frame[wanted].iloc[:0]


def make_row_findings(
    rows: pd.DataFrame,
    *,
    severity: str,
    stage: str,
    rule: str,
    variable: str,
    message: str | pd.Series,
    value: pd.Series | None = None,
) -> pd.DataFrame:
    """One finding per row of `rows` (a raw frame carrying LINEAGE and `subject`).

    `value` defaults to the raw value of `variable` in each row; `message` may be one text for all
    rows or a Series aligned with `rows`.
    """
    if rows.empty:
        return empty_findings()
    if value is None:
        value = rows[variable] if variable in rows.columns else pd.Series(pd.NA, index=rows.index)
    subject = rows["subject"] if "subject" in rows.columns else pd.Series(pd.NA, index=rows.index)
    out = pd.DataFrame(
        {
            "severity": severity,
            "stage": stage,
            "rule": rule,
            "file": rows["_file"].to_numpy(),
            "sheet": rows["_sheet"].to_numpy(),
            "row": rows["_row"].to_numpy(),
            "subject": subject.to_numpy(),
            "variable": variable,
            "value": value.to_numpy(),
            "message": message.to_numpy() if isinstance(message, pd.Series) else message,
        }
    )
    return _conform(out)


def make_finding(
    *,
    severity: str,
    stage: str,
    rule: str,
    message: str,
    file: str | None = None,
    sheet: str | None = None,
    row: int | None = None,
    subject: str | None = None,
    variable: str | None = None,
    value: str | None = None,
) -> pd.DataFrame:
    """A single finding not tied to a row frame (a file-level or dataset-level problem)."""
    return _conform(
        pd.DataFrame(
            [
                {
                    "severity": severity,
                    "stage": stage,
                    "rule": rule,
                    "file": file,
                    "sheet": sheet,
                    "row": row,
                    "subject": subject,
                    "variable": variable,
                    "value": value,
                    "message": message,
                }
            ]
        )
    )


def concat_findings(*frames: pd.DataFrame) -> pd.DataFrame:
    """Stack findings frames (empty ones allowed) into one, in a stable order."""
    frames = [f for f in frames if f is not None and not f.empty]
    if not frames:
        return empty_findings()
    return _conform(pd.concat(frames, ignore_index=True))


def sort_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Deterministic order for reports: by file, sheet, row, then rule and variable."""
    return findings.sort_values(
        ["file", "sheet", "row", "stage", "rule", "variable", "message"],
        na_position="first",
        kind="stable",
    ).reset_index(drop=True)


def _conform(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reindex(columns=FINDING_COLUMNS)
    out["row"] = pd.array(out["row"], dtype="Int64")
    for column in FINDING_COLUMNS:
        if column != "row":
            out[column] = out[column].astype("object").where(out[column].notna(), None)
    return out
