"""Score inputs, scores and the analysis table, on small inline frames with hand-worked values.

The study: two subjects, three visits with assessments each at most.
  01-001 (female, LOW), first infusion 2026-01-10 (Day 1):
    Screening 2026-01-02 — BILI 34.2, ALB 40, SODIUM 137; no CREAT, no INR
    Baseline  2026-01-10 — BILI 34.2 umol/L (2.0 mg/dL), CREAT 176.8 umol/L (2.0 mg/dL), ALB 40,
                           INR 1.0, SODIUM 137; ascites NONE, encephalopathy NONE
    Week 4    2026-02-07 — BILI 71.82 (4.2 mg/dL) as the latest of three BILI records, CREAT
                           167.96 (1.9 mg/dL), ALB 30 (3.0 g/dL), INR 1.2 (the higher LBSEQ of two
                           at the same time), SODIUM 130; ascites SLIGHT, encephalopathy NONE
    Week 8 has labs but no assessment (its BILI of 500 must pair with nothing).
  01-002 (male, MHIGH), first infusion 2026-01-12:
    Baseline  2026-01-12 — BILI 17.1 (1.0 mg/dL), CREAT 88.4 (1.0 mg/dL), ALB 40, INR 1.0,
                           SODIUM 137, dialysis Y
    Week 4    2026-02-09 — no INR; ascites blank; dialysis blank

Hand-worked scores (natural logs: ln 1.2 = 0.182322, ln 1.9 = 0.641854, ln 2 = 0.693147,
ln 3 = 1.098612, ln 4 = 1.386294, ln 4.2 = 1.435085):
  01-001 Baseline: MELD = 10 × (0.957 ln 2 + 0.378 ln 2 + 0 + 0.643)
                        = 10 × (0.663339 + 0.262010 + 0.643) = 15.683 → 16
                   MELD-Na: Na 137, 137 − 137 = 0 → 16
                   MELD 3.0 (female): 1.33 + 4.56 ln 2 (3.160750) + 11.14 ln 2 (7.721658)
                        + Alb 4.0 g/dL bounded to 3.5 (no albumin terms) + 6 = 18.212 → 18
                   Child-Pugh: BILI 34.2 → 2, ALB 40 → 1, INR 1.0 → 1, NONE 1, NONE 1 = 6, A
  01-001 Week 4:   MELD = 10 × (0.957 × 0.641854 + 0.378 × 1.435085 + 1.120 × 0.182322 + 0.643)
                        = 10 × (0.614254 + 0.542462 + 0.204201 + 0.643) = 20.039 → 20
                   MELD-Na: 20 + 1.32 × 7 − 0.033 × 20 × 7 = 20 + 9.24 − 4.62 = 24.62 → 25
                   MELD 3.0 (female; d = 137 − 130 = 7, a = 3.5 − 3.0 = 0.5):
                        1.33 + 4.56 × 1.435085 (6.543988) + 0.82 × 7 (5.74)
                        − 0.24 × 7 × 1.435085 (2.410943) + 9.09 × 0.182322 (1.657307)
                        + 11.14 × 0.641854 (7.150254) + 1.85 × 0.5 (0.925)
                        − 1.83 × 0.5 × 0.641854 (0.587296) + 6 = 26.348 → 26
                   Child-Pugh: BILI 71.82 > 51.3 → 3, ALB 30 → 2, INR 1.2 → 1, SLIGHT 2, NONE 1
                        = 9, B
  01-002 Baseline: dialysis sets creatinine to 4.0 for MELD: 10 × (0.957 ln 4 + 0.643)
                        = 10 × (1.326684 + 0.643) = 19.697 → 20 (not dialysed: 6.43 → 6)
                   MELD-Na: 20, Na 137 → 20
                   MELD 3.0 (male), dialysis sets creatinine to 3.0: 11.14 ln 3 + 6
                        = 12.238541 + 6 = 18.239 → 18
                   Child-Pugh: 1 + 1 + 1 + 1 + 1 = 5, A
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms.scores.liver_scores import build_liver_scores, derive_score_inputs, derive_scores
from transforms.spec.study import read_study
from transforms.standardise.visits import derive_visit_variables

STUDY = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld"
S1, S2 = "UCMSC-ESLD-01-001", "UCMSC-ESLD-01-002"
UNITS = {"BILI": "umol/L", "CREAT": "umol/L", "ALB": "g/L", "INR": None, "SODIUM": "mmol/L"}
# The first study's score inputs as Study.score_sources gives them (the test below checks that):
# formula input, source the site knows, column the pipeline reads, unit LB holds a lab input in.
SOURCES = pd.DataFrame(
    [
        ("BILI", "BILI", "BILI", "umol/L"), ("CREAT", "CREAT", "CREAT", "umol/L"),
        ("ALB", "ALB", "ALB", "g/L"), ("INR", "INR", "INR", ""),
        ("SODIUM", "SODIUM", "SODIUM", "mmol/L"), ("ASCITES", "ascites", "ASCITES", ""),
        ("ENCEPH", "encephalopathy", "ENCEPH", ""), ("DIALYSIS", "dialysis", "dialysis_flag", ""),
    ],
    columns=["input", "source", "column", "unit"],
)


def make_dm() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": "UCMSC-ESLD",
            "USUBJID": [S1, S2],
            "SUBJID": ["01-001", "01-002"],
            "SEX": ["F", "M"],
            "ARMCD": ["LOW", "MHIGH"],
            "ARM": ["UC-MSC 1x10^6 cells/kg", "UC-MSC 3x10^6 cells/kg"],
            "ACTARMCD": ["LOW", "MHIGH"],
            "RFSTDTC": ["2026-01-10", "2026-01-12"],
            "RFXSTDTC": ["2026-01-10", "2026-01-12"],
            "RFXENDTC": ["2026-01-10", "2026-01-12"],
        }
    )


def make_lb() -> pd.DataFrame:
    rows = [
        # USUBJID, VISITNUM, LBTESTCD, LBSTRESN, LBDTC, LBSEQ
        (S1, 1.0, "BILI", 34.2, "2026-01-02", 1),
        (S1, 1.0, "ALB", 40.0, "2026-01-02", 2),
        (S1, 1.0, "SODIUM", 137.0, "2026-01-02", 3),
        (S1, 2.0, "BILI", 34.2, "2026-01-10", 4),
        (S1, 2.0, "CREAT", 176.8, "2026-01-10", 5),
        (S1, 2.0, "ALB", 40.0, "2026-01-10", 6),
        (S1, 2.0, "INR", 1.0, "2026-01-10", 7),
        (S1, 2.0, "SODIUM", 137.0, "2026-01-10", 8),
        # Week 4: an earlier BILI, the one to use, then a later one without a number (NOT DONE)
        (S1, 4.0, "BILI", 20.0, "2026-02-06", 20),
        (S1, 4.0, "BILI", 71.82, "2026-02-07T09:40", 21),
        (S1, 4.0, "BILI", np.nan, "2026-02-07T15:00", 22),
        # two INR at the same time: the higher LBSEQ wins
        (S1, 4.0, "INR", 1.5, "2026-02-07T09:40", 23),
        (S1, 4.0, "INR", 1.2, "2026-02-07T09:40", 24),
        (S1, 4.0, "CREAT", 167.96, "2026-02-07T09:40", 25),
        (S1, 4.0, "ALB", 30.0, "2026-02-07T09:40", 26),
        (S1, 4.0, "SODIUM", 130.0, "2026-02-07T09:40", 27),
        (S1, 4.0, "ALT", 80.0, "2026-02-07T09:40", 28),  # not a score input
        (S1, 5.0, "BILI", 500.0, "2026-03-07", 29),  # Week 8: no assessment to pair with
        (S2, 2.0, "BILI", 17.1, "2026-01-12", 1),
        (S2, 2.0, "CREAT", 88.4, "2026-01-12", 2),
        (S2, 2.0, "ALB", 40.0, "2026-01-12", 3),
        (S2, 2.0, "INR", 1.0, "2026-01-12", 4),
        (S2, 2.0, "SODIUM", 137.0, "2026-01-12", 5),
        (S2, 4.0, "BILI", 17.1, "2026-02-09", 6),
        (S2, 4.0, "CREAT", 88.4, "2026-02-09", 7),
        (S2, 4.0, "ALB", 40.0, "2026-02-09", 8),
        (S2, 4.0, "SODIUM", 137.0, "2026-02-09", 9),
    ]
    lb = pd.DataFrame(rows, columns=["USUBJID", "VISITNUM", "LBTESTCD", "LBSTRESN", "LBDTC", "LBSEQ"])
    return lb.assign(
        LBSTRESU=lb["LBTESTCD"].map(UNITS).where(lb["LBTESTCD"] != "ALT", "U/L"),
        LBSEQ=lb["LBSEQ"].astype(float),
    )


def make_assessments() -> pd.DataFrame:
    raw = pd.DataFrame(
        [
            # subject, USUBJID, VISIT, date, ASCITES, ENCEPH, dialysis_flag, _row
            ("01-001", S1, "Screening", "2026-01-02", "NONE", "NONE", "N", 2),
            ("01-001", S1, "Baseline", "2026-01-10", "NONE", "NONE", "N", 3),
            ("01-001", S1, "Week 4", "2026-02-07", "SLIGHT", "NONE", "N", 4),
            ("01-002", S2, "Baseline", "2026-01-12", "NONE", "NONE", "Y", 5),
            ("01-002", S2, "Week 4", "2026-02-09", None, "GRADE 1-2", None, 6),
        ],
        columns=[
            "subject", "USUBJID", "VISIT", "dtc_assessment_date", "ASCITES", "ENCEPH",
            "dialysis_flag", "_row",
        ],
    ).assign(_file="site01_export_2026-03-31.xlsx", _sheet="Assessments")
    visits = pd.DataFrame(
        {
            "VISIT": ["Screening", "Baseline", "Week 1", "Week 4", "Week 8"],
            "VISITNUM": [1.0, 2.0, 3.0, 4.0, 5.0],
            "VISITDY": pd.array([pd.NA, 1, 8, 29, 57], dtype="Float64"),
        }
    )
    unscheduled = pd.DataFrame(columns=["USUBJID", "date", "VISITNUM", "VISIT"])
    return derive_visit_variables(raw, "dtc_assessment_date", visits, unscheduled)


def row(frame: pd.DataFrame, usubjid: str, visit: str) -> pd.Series:
    match = frame[(frame["USUBJID"] == usubjid) & (frame["VISIT"] == visit)]
    assert len(match) == 1
    return match.iloc[0]


# ==================================================================================================
# derive_score_inputs
# ==================================================================================================


def test_one_row_per_assessment_with_its_lineage(conversions):
    inputs = derive_score_inputs(make_lb(), make_assessments(), conversions=conversions, sources=SOURCES)
    assert len(inputs) == 5
    assert inputs["_row"].tolist() == [2, 3, 4, 5, 6]
    assert set(inputs["_sheet"]) == {"Assessments"}
    assert inputs["VISITNUM"].tolist() == [1.0, 2.0, 4.0, 2.0, 4.0]


def test_latest_numeric_result_within_the_visit_is_used(conversions):
    week4 = row(derive_score_inputs(make_lb(), make_assessments(), conversions=conversions, sources=SOURCES), S1, "Week 4")
    # BILI: 20.0 (06 Feb) < 71.82 (07 Feb 09:40) < NaN (15:00, no number, not an input)
    assert week4["BILI_UMOLL"] == 71.82 and week4["LBSEQ_BILI"] == 21
    # INR: two at 09:40; LBSEQ 24 (1.2) beats LBSEQ 23 (1.5)
    assert week4["INR"] == 1.2 and week4["LBSEQ_INR"] == 24
    # Week 8's BILI 500 belongs to no assessment
    assert 500.0 not in derive_score_inputs(
        make_lb(), make_assessments(), conversions=conversions, sources=SOURCES
    )["BILI_UMOLL"].tolist()


def test_undated_result_loses_to_a_dated_one(conversions):
    lb = make_lb()
    undated = pd.DataFrame(
        [(S1, 4.0, "BILI", 99.0, None, 99.0, "umol/L")], columns=lb.columns
    )
    week4 = row(
        derive_score_inputs(pd.concat([lb, undated], ignore_index=True), make_assessments(),
                            conversions=conversions, sources=SOURCES),
        S1, "Week 4",
    )
    assert week4["BILI_UMOLL"] == 71.82


def test_inputs_in_si_and_conventional_units(conversions):
    week4 = row(derive_score_inputs(make_lb(), make_assessments(), conversions=conversions, sources=SOURCES), S1, "Week 4")
    # 71.82 / 17.1 = 4.2 mg/dL; 167.96 / 88.4 = 1.9 mg/dL; 30 / 10 = 3.0 g/dL
    assert week4["BILI_MGDL"] == pytest.approx(4.2)
    assert week4["CREAT_MGDL"] == pytest.approx(1.9)
    assert week4["ALB_GDL"] == pytest.approx(3.0)
    assert week4["SODIUM"] == 130.0
    assert (week4["ASCITES"], week4["ENCEPH"], week4["DIALYSIS"]) == ("SLIGHT", "NONE", "N")
    assert week4["DTC"] == "2026-02-07"


def test_missing_inputs_are_named(conversions):
    inputs = derive_score_inputs(make_lb(), make_assessments(), conversions=conversions, sources=SOURCES)
    assert row(inputs, S1, "Screening")["MISSING"] == "CREAT, INR"
    assert row(inputs, S2, "Week 4")["MISSING"] == "INR, ascites"
    assert pd.isna(row(inputs, S1, "Week 4")["MISSING"])


def test_lab_in_an_unexpected_standard_unit_is_a_configuration_error(conversions):
    lb = make_lb()
    lb.loc[lb["LBTESTCD"] == "BILI", "LBSTRESU"] = "mg/dL"
    with pytest.raises(ValueError, match="BILI in umol/L"):
        derive_score_inputs(lb, make_assessments(), conversions=conversions, sources=SOURCES)


def test_inputs_do_not_change_their_arguments(conversions):
    lb, assessments = make_lb(), make_assessments()
    before = lb.copy(), assessments.copy()
    derive_score_inputs(lb, assessments, conversions=conversions, sources=SOURCES)
    pd.testing.assert_frame_equal(lb, before[0])
    pd.testing.assert_frame_equal(assessments, before[1])


# ==================================================================================================
# derive_scores
# ==================================================================================================


def make_scores(scoring, conversions, lb=None, assessments=None) -> pd.DataFrame:
    inputs = derive_score_inputs(
        make_lb() if lb is None else lb,
        make_assessments() if assessments is None else assessments,
        conversions=conversions, sources=SOURCES,
    )
    return derive_scores(inputs, make_dm(), scoring=scoring, sources=SOURCES)


def test_scores_of_complete_visits(scoring, conversions):
    scores = make_scores(scoring, conversions)
    # worked in the module docstring
    base, week4, dialysed = row(scores, S1, "Baseline"), row(scores, S1, "Week 4"), row(scores, S2, "Baseline")
    assert (base["MELD"], base["MELD_NA"], base["MELD3"], base["CP_TOTAL"], base["CP_CLASS"]) == (16, 16, 18, 6, "A")
    assert (week4["MELD"], week4["MELD_NA"], week4["MELD3"]) == (20, 25, 26)
    assert [week4[c] for c in ["CP_BILI", "CP_ALB", "CP_INR", "CP_ASCITES", "CP_ENCEPH"]] == [3, 2, 1, 2, 1]
    assert (week4["CP_TOTAL"], week4["CP_CLASS"]) == (9, "B")
    assert (dialysed["MELD"], dialysed["MELD_NA"], dialysed["MELD3"], dialysed["CP_TOTAL"]) == (20, 20, 18, 5)


def test_dialysis_changes_meld(scoring, conversions):
    # the same labs without dialysis: Cr 1.0, bili 1.0, INR 1.0 → 10 × 0.643 = 6.43 → 6;
    # MELD 3.0 (male) all logs 0, Na 137, Alb 3.5 → 6
    assessments = make_assessments()
    assessments.loc[assessments["_row"] == 5, "dialysis_flag"] = "N"
    not_dialysed = row(make_scores(scoring, conversions, assessments=assessments), S2, "Baseline")
    assert (not_dialysed["MELD"], not_dialysed["MELD3"]) == (6, 6)


def test_incomplete_scores_name_their_missing_inputs(scoring, conversions):
    scores = make_scores(scoring, conversions)
    screening, s2_week4 = row(scores, S1, "Screening"), row(scores, S2, "Week 4")
    assert screening["MELD_MISSING"] == "CREAT, INR"
    assert screening["CP_MISSING"] == "INR"
    assert s2_week4["MELD_MISSING"] == "INR"
    assert s2_week4["MELD3_MISSING"] == "INR"
    assert s2_week4["CP_MISSING"] == "INR, ascites"
    assert np.isnan(s2_week4["MELD"]) and pd.isna(s2_week4["CP_TOTAL"])
    assert scores.loc[scores["MELD"].notna(), "MELD_MISSING"].isna().all()


def test_meld3_needs_sex(scoring, conversions):
    inputs = derive_score_inputs(make_lb(), make_assessments(), conversions=conversions, sources=SOURCES)
    dm = make_dm().assign(SEX=[None, "M"])
    baseline = row(derive_scores(inputs, dm, scoring=scoring, sources=SOURCES), S1, "Baseline")
    assert np.isnan(baseline["MELD3"]) and baseline["MELD3_MISSING"] == "SEX"
    assert baseline["MELD"] == 16


# ==================================================================================================
# build_liver_scores
# ==================================================================================================


def test_analysis_table_baseline_and_change(scoring, conversions):
    table = build_liver_scores(make_scores(scoring, conversions), make_dm())
    assert len(table) == 5
    s1 = table[table["USUBJID"] == S1].set_index("VISIT")
    # baseline = the Day 1 visit (2026-01-10 is the first-dose date itself)
    assert s1["ABLFL"].isna().tolist() == [True, False, True]
    assert s1.loc["Baseline", "ABLFL"] == "Y"
    # Week 4 − Baseline: MELD 20 − 16 = 4, MELD-Na 25 − 16 = 9, MELD 3.0 26 − 18 = 8, CP 9 − 6 = 3
    week4 = s1.loc["Week 4"]
    assert (week4["MELD_CHG"], week4["MELD_NA_CHG"], week4["MELD3_CHG"], week4["CP_TOTAL_CHG"]) == (4, 9, 8, 3)
    assert (week4["MELD_BASE"], week4["CP_TOTAL_BASE"]) == (16, 6)
    # no change on the baseline row or before it
    assert s1.loc[["Screening", "Baseline"], ["MELD_CHG", "CP_TOTAL_CHG"]].isna().all().all()


def test_analysis_table_identifiers_dates_and_units(scoring, conversions):
    table = build_liver_scores(make_scores(scoring, conversions), make_dm())
    week4 = row(table, S1, "Week 4")
    assert (week4["SUBJID"], week4["ARMCD"], week4["ACTARMCD"]) == ("01-001", "LOW", "LOW")
    assert week4["ADT"] == pd.Timestamp("2026-02-07")
    # 2026-01-10 → 2026-02-07 is 28 days: Day 29; Screening 2026-01-02 is 8 days before: Day −8
    assert week4["ADY"] == 29 and row(table, S1, "Screening")["ADY"] == -8
    assert week4["BILI_MGDL"] == pytest.approx(4.2) and week4["BILI_UMOLL"] == 71.82
    assert week4["ALB_GL"] == 30 and week4["ALB_GDL"] == pytest.approx(3.0)
    assert table.columns[:10].tolist() == [
        "STUDYID", "USUBJID", "SUBJID", "ARMCD", "ARM", "ACTARMCD", "VISITNUM", "VISIT", "ADT", "ADY",
    ]


def test_score_missing_at_baseline_takes_the_screening_value(scoring, conversions):
    # 01-001 Baseline loses its CREAT; Screening gains CREAT 88.4 (1.0 mg/dL) and INR 1.0:
    #   Screening MELD = 10 × (0 + 0.378 ln 2 + 0 + 0.643) = 10 × (0.262010 + 0.643) = 9.050 → 9
    lb = make_lb()
    lb = lb[~((lb["USUBJID"] == S1) & (lb["VISITNUM"] == 2.0) & (lb["LBTESTCD"] == "CREAT"))]
    extra = pd.DataFrame(
        [(S1, 1.0, "CREAT", 88.4, "2026-01-02", 30.0, "umol/L"),
         (S1, 1.0, "INR", 1.0, "2026-01-02", 31.0, None)],
        columns=lb.columns,
    )
    table = build_liver_scores(
        make_scores(scoring, conversions, lb=pd.concat([lb, extra], ignore_index=True)), make_dm()
    )
    week4 = row(table, S1, "Week 4")
    assert row(table, S1, "Baseline")["ABLFL"] == "Y"  # the visit flag stays on the Day 1 visit
    assert week4["MELD_BASE"] == 9 and week4["MELD_CHG"] == 20 - 9
    assert week4["CP_TOTAL_BASE"] == 6  # Child-Pugh was complete at Baseline


def test_never_dosed_subject_has_no_baseline(scoring, conversions):
    dm = make_dm().assign(RFSTDTC=["2026-01-10", None], RFXSTDTC=["2026-01-10", None])
    s2 = build_liver_scores(make_scores(scoring, conversions), dm).query("USUBJID == @S2")
    assert s2["ABLFL"].isna().all() and s2["MELD_CHG"].isna().all() and s2["ADY"].isna().all()


# ==================================================================================================
# score inputs are the study's: another study's test codes, units and columns, no code
# ==================================================================================================


def test_the_first_study_names_its_score_inputs_in_its_folder():
    sources = read_study(STUDY).score_sources
    pd.testing.assert_frame_equal(sources.reset_index(drop=True), SOURCES)


# A study that codes bilirubin TBILI and holds it in mg/dL, holds creatinine in mg/dL, calls its
# ascites column `fluid` and does not ask about dialysis. Its unit table links each mg/dL with the
# umol/L the Child-Pugh cut-offs and the analysis table take (LBSTRESN = LBORRES × factor).
OTHER_SOURCES = pd.DataFrame(
    [
        ("BILI", "TBILI", "TBILI", "mg/dL"), ("CREAT", "CREAT", "CREAT", "mg/dL"),
        ("ALB", "ALB", "ALB", "g/L"), ("INR", "INR", "INR", ""),
        ("SODIUM", "SODIUM", "SODIUM", "mmol/L"), ("ASCITES", "fluid", "FLUID", ""),
        ("ENCEPH", "enceph", "ENCEPH", ""),
    ],
    columns=["input", "source", "column", "unit"],
)
OTHER_CONVERSIONS = pd.DataFrame(
    [("TBILI", "umol/L", "mg/dL", 0.0585), ("CREAT", "umol/L", "mg/dL", 0.0113),
     ("ALB", "g/dL", "g/L", 10.0)],
    columns=["LBTESTCD", "LBORRESU", "LBSTRESU", "factor"],
)


def make_other_study():
    lb = pd.DataFrame(
        [
            # Baseline: TBILI 3.5 mg/dL, CREAT 1.5 mg/dL, ALB 30 g/L, INR 1.4, SODIUM 130
            (S1, 2.0, "TBILI", 3.5, "mg/dL", "2026-01-10", 1.0),
            (S1, 2.0, "CREAT", 1.5, "mg/dL", "2026-01-10", 2.0),
            (S1, 2.0, "ALB", 30.0, "g/L", "2026-01-10", 3.0),
            (S1, 2.0, "INR", 1.4, None, "2026-01-10", 4.0),
            (S1, 2.0, "SODIUM", 130.0, "mmol/L", "2026-01-10", 5.0),
            # Week 4: no bilirubin
            (S1, 4.0, "CREAT", 1.5, "mg/dL", "2026-02-07", 6.0),
            (S1, 4.0, "INR", 1.4, None, "2026-02-07", 7.0),
        ],
        columns=["USUBJID", "VISITNUM", "LBTESTCD", "LBSTRESN", "LBSTRESU", "LBDTC", "LBSEQ"],
    )
    assessments = make_assessments().query("USUBJID == @S1 and VISIT != 'Screening'")
    assessments = assessments.drop(columns=["ASCITES", "dialysis_flag"]).assign(
        FLUID=["MODERATE", None]
    )
    return lb, assessments


def test_another_studys_test_codes_units_and_columns_feed_the_same_formulas(scoring):
    lb, assessments = make_other_study()
    inputs = derive_score_inputs(lb, assessments, conversions=OTHER_CONVERSIONS, sources=OTHER_SOURCES)
    scores = derive_scores(inputs, make_dm(), scoring=scoring, sources=OTHER_SOURCES)
    base = row(scores, S1, "Baseline")
    # MELD = 10 × (0.957 ln 1.5 + 0.378 ln 3.5 + 1.120 ln 1.4 + 0.643)
    #      = 10 × (0.388030 + 0.473544 + 0.376849 + 0.643) = 18.814 → 19 (no dialysis asked: not dialysed)
    assert base["MELD"] == 19
    # MELD-Na: 19 + 1.32 × 7 − 0.033 × 19 × 7 = 19 + 9.24 − 4.389 = 23.851 → 24
    assert base["MELD_NA"] == 24
    # bilirubin 3.5 / 0.0585 = 59.83 umol/L, creatinine 1.5 / 0.0113 = 132.74 umol/L
    assert base["BILI_UMOLL"] == pytest.approx(59.829060) and base["BILI_MGDL"] == 3.5
    assert base["CREAT_UMOLL"] == pytest.approx(132.743363) and base["CREAT_MGDL"] == 1.5
    # Child-Pugh: 59.83 > 51.3 → 3, ALB 30 → 2, INR 1.4 → 1, MODERATE → 3, NONE → 1 = 10, C
    assert [base[c] for c in ["CP_BILI", "CP_ALB", "CP_INR", "CP_ASCITES", "CP_ENCEPH"]] == [3, 2, 1, 3, 1]
    assert (base["CP_TOTAL"], base["CP_CLASS"]) == (10, "C")
    assert pd.isna(base["DIALYSIS"])
    # what is missing is named as this study names it
    week4 = row(scores, S1, "Week 4")
    assert week4["MISSING"] == "TBILI, ALB, SODIUM, fluid"
    assert (week4["MELD_MISSING"], week4["CP_MISSING"]) == ("TBILI", "TBILI, ALB, fluid")


def test_a_lab_input_held_in_another_unit_than_the_study_says_is_refused(scoring):
    lb, assessments = make_other_study()
    lb.loc[lb["LBTESTCD"] == "CREAT", "LBSTRESU"] = "umol/L"
    with pytest.raises(ValueError, match="CREAT in mg/dL"):
        derive_score_inputs(lb, assessments, conversions=OTHER_CONVERSIONS, sources=OTHER_SOURCES)
