"""EX — Exposure: one record per dose actually given, filled as the study's mapping.csv says."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.core.findings import INFO, make_row_findings
from transforms.domains.sdtm import derive_epoch, derive_seq, derive_study_days
from transforms.domains.spec_map import Sources, build_domain, compute_condition, read_condition
from transforms.spec.study import EXPOSURE, Study

STAGE = "map"
# EX is all plain assigns today: its study days and EPOCH need DM, which needs EX's dates first
EX_DERIVATIONS: dict = {}


def build_ex_records(exposure: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """EX records without study days (DM's reference dates come from these records first).

    A row the spec's `not_given` condition marks is a dose that was not given: EX holds
    administered doses only (SDTMIG EX assumptions), so the row is accounted for by an INFO
    finding instead. Every variable is filled as mapping.csv says.
    """
    settings = study.domain_settings("EX")
    not_given = compute_not_given(exposure, study)
    label = study.label_of(study.sheet_with_role(EXPOSURE))
    findings = make_row_findings(
        exposure[not_given], severity=INFO, stage=STAGE, rule="SF-0301",
        variable=compute_not_given_column(study),
        message=f"dose recorded as not given on this {label} row: no EX record "
        "(EX holds administered doses only)",
    )
    given = exposure[~not_given]
    ex = build_domain(Sources(given, study, "EX"), EX_DERIVATIONS)
    ex = derive_seq(ex, "EXSEQ", list(settings.get("seq_by", ["EXSTDTC"])))
    return ex, findings


def compute_not_given(exposure: pd.DataFrame, study: Study) -> np.ndarray:
    """The exposure rows that record a dose not given (study.toml [domains.EX] not_given)."""
    condition = study.domain_settings("EX").get("not_given", "")
    return compute_condition(exposure, condition) if condition else np.zeros(len(exposure), dtype=bool)


def compute_not_given_column(study: Study) -> str | None:
    """The column the not-given condition reads (the finding names it)."""
    condition = study.domain_settings("EX").get("not_given", "")
    return read_condition(condition)[0] if condition else None


def build_ex(ex_records: pd.DataFrame, dm: pd.DataFrame, epochs: tuple[str, str, str]) -> pd.DataFrame:
    """Finish EX once DM's reference dates exist: study days and EPOCH (Study.epochs)."""
    ex = derive_study_days(ex_records, dm, {"EXSTDY": "EXSTDTC", "EXENDY": "EXENDTC"})
    return derive_epoch(ex, dm, "EXSTDTC", epochs)
