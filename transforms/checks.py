"""Row checks that compare rows with each other or with other sheets, beside the Great
Expectations suites (which judge each row on its own): newer exports superseding older ones,
exact duplicate rows, ASCII for what goes into XPT verbatim, and subjects whose Demographics row
was itself held back.
"""

from __future__ import annotations

import pandas as pd

from transforms.findings import (
    ERROR,
    INFO,
    concat_findings,
    empty_findings,
    make_row_findings,
)
from transforms.transliterate import compute_ascii, compute_has_non_ascii

STAGE = "validate"
SUPERSEDED = "SF-0111"

# The record key of each sheet: the same key in a newer export replaces the older row.
RECORD_KEYS = {
    "demographics": ["subject"],
    "infusions": ["subject", "infusion_number"],
    "labs": ["subject", "visit", "test", "collection_date", "collection_time"],
    "assessments": ["subject", "visit"],
}


def check_superseded(frame: pd.DataFrame, sheet: str, file_order: pd.Series) -> pd.DataFrame:
    """INFO findings for rows replaced by the same record key in a newer export file.

    `file_order` maps file name -> order (0 = oldest). The older row is not lost: it stays in the
    raw archive and is named here, with the file that replaced it.
    """
    keys = RECORD_KEYS[sheet]
    order = frame["_file"].map(file_order)
    newest = order.groupby([frame[k].fillna("") for k in keys]).transform("max")
    older = frame[order < newest]
    if older.empty:
        return empty_findings()
    winner = frame.loc[order == newest].drop_duplicates(subset=keys, keep="last")
    replaced_by = older[keys].fillna("").merge(
        winner[keys + ["_file", "_row"]].fillna({k: "" for k in keys}), on=keys, how="left"
    )
    message = (
        "superseded by the newer export " + replaced_by["_file"].astype(str)
        + " row " + replaced_by["_row"].astype(str) + "; this older version is kept in the archive only"
    )
    return make_row_findings(
        older, severity=INFO, stage=STAGE, rule=SUPERSEDED, variable=keys[0],
        message=pd.Series(message.to_numpy(), index=older.index),
    )


def check_exact_duplicates(frame: pd.DataFrame, sheet: str, raw_columns: list[str]) -> pd.DataFrame:
    """ERROR for the second and later copies of a row identical in every raw column within a file."""
    duplicated = frame.duplicated(subset=["_file", *raw_columns], keep="first")
    copies = frame[duplicated]
    first_rows = frame[frame.duplicated(subset=["_file", *raw_columns], keep=False) & ~duplicated]
    first_of = copies[["_file", *raw_columns]].fillna("").merge(
        first_rows[["_file", "_row", *raw_columns]].fillna({c: "" for c in raw_columns}),
        on=["_file", *raw_columns], how="left",
    )
    message = "exact duplicate of row " + first_of["_row"].astype(str) + ": delete the copy"
    return make_row_findings(
        copies, severity=ERROR, stage=STAGE, rule="SF-0112", variable=RECORD_KEYS[sheet][0],
        message=pd.Series(message.to_numpy(), index=copies.index),
    )


def check_ascii(frame: pd.DataFrame, columns: list[str], transliteration: pd.DataFrame) -> pd.DataFrame:
    """ERROR where a value copied verbatim into SDTM keeps characters XPT v5 cannot carry."""
    findings = []
    for column in columns:
        bad = compute_has_non_ascii(compute_ascii(frame[column], transliteration))
        findings.append(
            make_row_findings(
                frame[bad], severity=ERROR, stage=STAGE, rule="SF-0113", variable=column,
                message="text that SAS XPT v5 cannot carry (non-ASCII, e.g. Chinese): "
                "send this value in English or as a number",
            )
        )
    return concat_findings(*findings)


def check_subject_held_back(
    frame: pd.DataFrame, known_subjects: pd.Series, mapped_subjects: pd.Series
) -> pd.DataFrame:
    """ERROR for rows of a subject whose Demographics row exists but was itself held back."""
    held = frame["subject"].isin(known_subjects) & ~frame["subject"].isin(mapped_subjects)
    return make_row_findings(
        frame[held], severity=ERROR, stage=STAGE, rule="SF-0114", variable="subject",
        message="this subject's Demographics row was held back (see its finding): "
        "correct Demographics and this row will follow",
    )
