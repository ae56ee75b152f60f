"""Map: validated, standardised sheets -> SDTM domain frames (each still carrying lineage).

The order is forced by the derivations: EX records first (they give DM its reference dates), then
DM, then the study-day and epoch of EX, then visit numbering shared by the Findings domains.
"""

from __future__ import annotations

import pandas as pd

from transforms.dm import build_dm
from transforms.ex import build_ex, build_ex_records
from transforms.findings import concat_findings
from transforms.lb import build_lb
from transforms.study import Study
from transforms.transliterate import compute_ascii
from transforms.visits import compute_dated_visits, derive_unscheduled_visits


def map_domains(
    valid: dict[str, pd.DataFrame], study: Study, transliteration: pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """({domain: frame}, findings) from the rows validation let through."""
    sheets = {
        sheet: assign_ascii_verbatim(frame, study.raw_columns, sheet, transliteration)
        for sheet, frame in valid.items()
    }
    ex_records, ex_findings = build_ex_records(sheets["infusions"], study)
    dm = build_dm(sheets["demographics"], ex_records, study)
    ex = build_ex(ex_records, dm)
    dated = pd.concat(
        [
            compute_dated_visits(sheets["labs"], "LBDTC"),
            compute_dated_visits(sheets["assessments"], "dtc_assessment_date"),
        ],
        ignore_index=True,
    )
    unscheduled = derive_unscheduled_visits(dated, study.visits)
    lb = build_lb(sheets["labs"], dm, study, unscheduled)
    return {"DM": dm, "EX": ex, "LB": lb}, concat_findings(ex_findings)


def assign_ascii_verbatim(
    frame: pd.DataFrame, raw_columns: pd.DataFrame, sheet: str, transliteration: pd.DataFrame
) -> pd.DataFrame:
    """Transliterate the columns copied verbatim into SDTM (rows that would stay non-ASCII were
    held back by validation, so what remains becomes pure ASCII)."""
    verbatim = raw_columns.loc[(raw_columns["sheet"] == sheet) & (raw_columns["verbatim"] == "Y"), "column"]
    return frame.assign(**{column: compute_ascii(frame[column], transliteration) for column in verbatim})
