"""EX — Exposure: one record per infusion actually given (sdtm-reference Part A)."""

from __future__ import annotations

import pandas as pd

from transforms.findings import INFO, LINEAGE, make_row_findings
from transforms.sdtm import derive_epoch, derive_seq, derive_study_days
from transforms.study import Study

STAGE = "map"


def build_ex_records(infusions: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """EX records without study days (DM's reference dates come from these records first).

    A row with a 'Not given reason' is an infusion that did not happen: EX holds administered
    doses only (SDTMIG EX assumptions), so the row is accounted for by an INFO finding instead.
    """
    not_given = infusions["not_given_reason"].notna()
    findings = make_row_findings(
        infusions[not_given], severity=INFO, stage=STAGE, rule="SF-0301",
        variable="not_given_reason",
        message="infusion recorded as not given: no EX record (EX holds administered doses only)",
    )
    given = infusions[~not_given]
    treatment = study.config["treatment"]
    ex = pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "DOMAIN": "EX",
            "USUBJID": given["USUBJID"],
            # The site's infusion number, kept so a reviewer can match the CRF page.
            "EXSPID": given["infusion_number"],
            "EXTRT": treatment["EXTRT"],
            "EXDOSE": given["EXDOSE"],
            "EXDOSU": treatment["EXDOSU"],
            "EXDOSFRM": treatment["EXDOSFRM"],
            "EXDOSFRQ": treatment["EXDOSFRQ"],
            "EXROUTE": given["EXROUTE"].fillna(treatment["EXROUTE"]),
            "EXSTDTC": given["EXSTDTC"],
            # A single administration: with no end time collected, end = start (CDISC EX note).
            "EXENDTC": given["EXENDTC"].where(given["end_time"].notna(), given["EXSTDTC"]),
            **{column: given[column] for column in LINEAGE},
        }
    )
    ex = derive_seq(ex, "EXSEQ", ["EXSTDTC", "EXSPID"])
    return ex, findings


def build_ex(ex_records: pd.DataFrame, dm: pd.DataFrame) -> pd.DataFrame:
    """Finish EX once DM's reference dates exist: study days and EPOCH."""
    ex = derive_study_days(ex_records, dm, {"EXSTDY": "EXSTDTC", "EXENDY": "EXENDTC"})
    return derive_epoch(ex, dm, "EXSTDTC")
