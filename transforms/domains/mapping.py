"""Map: validated, standardised sheets -> SDTM domain frames (each still carrying lineage).

The order is forced by the derivations: EX records first (they give DM its reference dates), then
DM, then the study-day and epoch of EX, then visit numbering shared by the Findings domains.
"""

from __future__ import annotations

import pandas as pd

from transforms.domains.dm import DM_DERIVATIONS, build_dm
from transforms.domains.ex import EX_DERIVATIONS, build_ex, build_ex_records
from transforms.core.findings import concat_findings
from transforms.domains.lb import LB_DERIVATIONS, build_lb
from transforms.scores.liver_scores import build_liver_scores, derive_score_inputs, derive_scores
from transforms.domains.mh import MH_DERIVATIONS, build_mh
from transforms.scores.rs import build_rs
from transforms.domains.sdtm import derive_subject_variables
from transforms.spec.study import ASSESSMENTS, EXPOSURE, FINDINGS, SUBJECTS, Study
from transforms.domains.sv import SV_DERIVATIONS, build_sv
from transforms.domains.trial_design import build_trial_design
from transforms.core.transliterate import compute_ascii
from transforms.standardise.visits import compute_dated_visits, derive_unscheduled_visits, derive_visit_variables

# The domains mapping.csv fills and the named derivations each may choose (check-study reads it).
DERIVATIONS = {
    "DM": DM_DERIVATIONS, "EX": EX_DERIVATIONS, "LB": LB_DERIVATIONS, "SV": SV_DERIVATIONS,
    "MH": MH_DERIVATIONS,
}


def map_domains(
    valid: dict[str, pd.DataFrame], study: Study, transliteration: pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame | None]:
    """({domain: frame}, {analysis table: frame}, findings, scored) from the rows validation let
    through; `scored` is the assessment rows the scores were computed at, with their visits (the
    conform stage recomputes MELD from them), None when the study has no scores.

    MELD and Child-Pugh go to RS (docs/sdtm-reference.md#scores-home); MELD-Na and MELD 3.0, which
    have no CDISC test codes, only to the analysis table `liver_scores`. Scores are optional: a
    study with no assessments sheet, no score_inputs.csv or no rs_tests.csv rows gets no RS and no
    analysis table (`Study.has_scores`); MH only where mapping.csv has MH rows.
    """
    sheets = {
        sheet: assign_ascii_verbatim(frame, study.raw_columns, sheet, transliteration)
        for sheet, frame in valid.items()
    }
    subjects, exposure, labs = (sheets[study.sheet_with_role(r)] for r in (SUBJECTS, EXPOSURE, FINDINGS))
    # the assessments that scores are computed at: a study without such a sheet has no scores
    scored = study.has_scores
    assessments = sheets[study.sheet_with_role(ASSESSMENTS)] if scored else None
    # a mapping condition may read the subject's planned arm (EXTRT of a placebo arm)
    exposure = derive_subject_variables(exposure, subjects, ["ARMCD"])
    ex_records, ex_findings = build_ex_records(exposure, study)
    dm = build_dm(subjects, ex_records, study)
    ex = build_ex(ex_records, dm, study.epochs)
    dated = [compute_dated_visits(labs, "LBDTC")]
    if scored:
        dated.append(compute_dated_visits(assessments, "dtc_assessment_date"))
    unscheduled = derive_unscheduled_visits(pd.concat(dated, ignore_index=True), study.visits)
    lb = build_lb(labs, dm, study, unscheduled)
    domains, analysis, findings = {"DM": dm, "EX": ex, "LB": lb}, {}, [ex_findings]
    if scored:
        assessments = derive_visit_variables(assessments, "dtc_assessment_date", study.visits, unscheduled)
        sources = study.score_sources
        inputs = derive_score_inputs(lb, assessments, conversions=study.unit_conversions, sources=sources)
        scores = derive_scores(inputs, dm, scoring=study.scores, sources=sources)
        domains["RS"] = build_rs(
            scores, dm, rs_tests=study.rs_tests, studyid=study.studyid, epochs=study.epochs
        )
        analysis["liver_scores"] = build_liver_scores(scores, dm)
    if not study.mapping_of("MH").empty:
        domains["MH"], mh_findings = build_mh(subjects, dm, study, transliteration)
        findings.append(mh_findings)
    domains["SV"] = build_sv({name: domains[name] for name in ("LB", "RS") if name in domains}, dm, study)
    domains.update(build_trial_design(dm, study))
    return domains, analysis, concat_findings(*findings), assessments


def assign_ascii_verbatim(
    frame: pd.DataFrame, raw_columns: pd.DataFrame, sheet: str, transliteration: pd.DataFrame
) -> pd.DataFrame:
    """Transliterate the columns copied verbatim into SDTM (rows that would stay non-ASCII were
    held back by validation, so what remains becomes pure ASCII)."""
    verbatim = raw_columns.loc[(raw_columns["sheet"] == sheet) & (raw_columns["verbatim"] == "Y"), "column"]
    return frame.assign(**{column: compute_ascii(frame[column], transliteration) for column in verbatim})
