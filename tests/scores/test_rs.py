"""RS records of MELD and Child-Pugh, and the MELD consistency check.

The study frames and their hand-worked scores are those of test_liver_scores.py (see its
docstring): 01-001 Screening incomplete (no CREAT, no INR), Baseline MELD 16 / Child-Pugh 6 A,
Week 4 MELD 20 / Child-Pugh 3+2+1+2+1 = 9 B; 01-002 Baseline dialysed MELD 20 / Child-Pugh 5 A,
Week 4 without INR and ascites.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.scores.test_liver_scores import S1, S2, SOURCES, make_assessments, make_dm, make_lb

from transforms.core.findings import FINDING_COLUMNS
from transforms.scores.liver_scores import derive_score_inputs, derive_scores
from transforms.scores.rs import build_rs, check_meld_consistency

EPOCHS = ("SCREENING", "TREATMENT", "FOLLOW-UP")

STUDY = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld"


@pytest.fixture(scope="module")
def rs_tests() -> pd.DataFrame:
    # as transforms/spec/study.py reads every study table: text, empty cells as ""
    return pd.read_csv(STUDY / "rs_tests.csv", dtype=str, keep_default_na=False)


def make_rs(scoring, rs_tests, conversions, lb=None) -> pd.DataFrame:
    inputs = derive_score_inputs(
        make_lb() if lb is None else lb, make_assessments(), conversions=conversions,
        sources=SOURCES,
    )
    scores = derive_scores(inputs, make_dm(), scoring=scoring, sources=SOURCES)
    return build_rs(scores, make_dm(), rs_tests=rs_tests, studyid="UCMSC-ESLD", epochs=EPOCHS)


@pytest.fixture(scope="module")
def rs(scoring, rs_tests, conversions) -> pd.DataFrame:
    return make_rs(scoring, rs_tests, conversions)


def visit_records(rs: pd.DataFrame, usubjid: str, visit: str) -> pd.DataFrame:
    return rs[(rs["USUBJID"] == usubjid) & (rs["VISIT"] == visit)].reset_index(drop=True)


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as object with None for missing, so str/object/NA spellings compare equal."""
    text = frame.astype({c: "object" for c in frame.columns if c != "RSSTRESN"})
    return text.where(text.notna(), None).astype({"RSSTRESN": "float64"})


def test_complete_visit_gives_meld_and_every_child_pugh_record(rs):
    week4 = visit_records(rs, S1, "Week 4")
    columns = ["RSTESTCD", "RSTEST", "RSCAT", "RSORRES", "RSORRESU", "RSSTRESC", "RSSTRESN", "RSDRVFL", "RSGRPID"]
    cp = "CHILD-PUGH CLASSIFICATION"
    expected = pd.DataFrame(
        [
            ("MELD0101", "MELD01-Score", "MELD", "20", None, "20", 20.0, "Y", "MELD-4"),
            # the items: the input as used, its points in RSSTRESC/RSSTRESN
            ("CPS0101", "CPS01-Encephalopathy Grade", cp, "NONE", None, "1", 1.0, None, "CP-4"),
            ("CPS0102", "CPS01-Ascites", cp, "SLIGHT", None, "2", 2.0, None, "CP-4"),
            # 71.82 umol/L / 17.1 = 4.2 mg/dL > 3 → 3 points
            ("CPS0103", "CPS01-Serum Bilirubin", cp, "4.2", "mg/dL", "3", 3.0, "Y", "CP-4"),
            # 30 g/L / 10 = 3 g/dL, in 2.8–3.5 → 2 points
            ("CPS0104", "CPS01-Serum Albumin", cp, "3", "g/dL", "2", 2.0, "Y", "CP-4"),
            ("CPS0105B", "CPS01-PT, INR", cp, "1.2", None, "1", 1.0, "Y", "CP-4"),
            # 3 + 2 + 1 + 2 + 1 = 9 → B
            ("CPS0106", "CPS01-Total Score", cp, "9", None, "9", 9.0, "Y", "CP-4"),
            ("CPS0107", "CPS01-Grade", cp, "B", None, "B", np.nan, "Y", "CP-4"),
        ],
        columns=columns,
    )
    pd.testing.assert_frame_equal(as_objects(week4[columns]), as_objects(expected))
    assert week4["RSSTAT"].isna().all() and week4["RSREASND"].isna().all()
    # item points add up to the total
    items = week4["RSTESTCD"].isin(["CPS0101", "CPS0102", "CPS0103", "CPS0104", "CPS0105B"])
    assert week4.loc[items, "RSSTRESN"].sum() == 9


def test_records_carry_the_assessment_visit_date_and_lineage(rs):
    week4 = visit_records(rs, S1, "Week 4")
    assert (week4["STUDYID"] == "UCMSC-ESLD").all() and (week4["DOMAIN"] == "RS").all()
    assert (week4["VISITNUM"] == 4.0).all() and (week4["VISITDY"] == 29).all()
    # RSDTC = the assessment date, not the labs' 09:40; 2026-01-10 → 2026-02-07 = Day 29
    assert (week4["RSDTC"] == "2026-02-07").all() and (week4["RSDY"] == 29).all()
    assert (week4["EPOCH"] == "FOLLOW-UP").all()  # after the (single) infusion day
    assert (week4["_row"] == 4).all() and (week4["_sheet"] == "Assessments").all()
    # every assessment row is mapped by some RS record
    assert sorted(rs["_row"].unique()) == [2, 3, 4, 5, 6]


def test_incomplete_visit_gives_one_not_done_record_per_score(rs):
    screening = visit_records(rs, S1, "Screening")
    assert screening["RSTESTCD"].tolist() == ["MELD0101", "CPS0106"]
    assert screening["RSSTAT"].tolist() == ["NOT DONE", "NOT DONE"]
    assert screening["RSREASND"].tolist() == ["CREAT, INR missing", "INR missing"]
    for column in ["RSORRES", "RSORRESU", "RSSTRESC", "RSSTRESN", "RSSTRESU", "RSDRVFL", "RSLOBXFL"]:
        assert screening[column].isna().all(), column
    s2_week4 = visit_records(rs, S2, "Week 4")
    assert s2_week4["RSTESTCD"].tolist() == ["MELD0101", "CPS0106"]
    assert s2_week4["RSREASND"].tolist() == ["INR missing", "INR, ascites missing"]


def test_dialysis_sets_meld_creatinine_to_four(rs):
    # 01-002 Baseline: Cr 1.0 mg/dL dialysed → 4.0: 10 × (0.957 × ln 4 + 0.643) = 19.697 → 20
    meld = visit_records(rs, S2, "Baseline").query("RSTESTCD == 'MELD0101'")
    assert meld["RSSTRESN"].tolist() == [20.0] and meld["RSORRES"].tolist() == ["20"]


def test_lobxfl_on_the_last_result_on_or_before_first_dose(rs):
    flagged = rs[rs["RSLOBXFL"] == "Y"]
    # 01-001: Screening is NOT DONE, Baseline (Day 1) has all eight, Week 4 is after dosing
    assert set(flagged.loc[flagged["USUBJID"] == S1, "VISIT"]) == {"Baseline"}
    assert len(flagged[flagged["USUBJID"] == S1]) == 8
    assert len(flagged[flagged["USUBJID"] == S2]) == 8
    assert not flagged[["USUBJID", "RSTESTCD"]].duplicated().any()  # one flag per subject and test


def test_lobxfl_skips_a_not_done_baseline(scoring, rs_tests, conversions):
    # 01-001 Baseline loses its CREAT (MELD NOT DONE there) and Screening gains CREAT and INR:
    # MELD0101's flag moves to Screening, Child-Pugh's stays at Baseline
    lb = make_lb()
    lb = lb[~((lb["USUBJID"] == S1) & (lb["VISITNUM"] == 2.0) & (lb["LBTESTCD"] == "CREAT"))]
    extra = pd.DataFrame(
        [(S1, 1.0, "CREAT", 88.4, "2026-01-02", 30.0, "umol/L"),
         (S1, 1.0, "INR", 1.0, "2026-01-02", 31.0, None)],
        columns=lb.columns,
    )
    rs = make_rs(scoring, rs_tests, conversions, lb=pd.concat([lb, extra], ignore_index=True))
    flagged = rs[(rs["RSLOBXFL"] == "Y") & (rs["USUBJID"] == S1)].set_index("RSTESTCD")["VISIT"]
    assert flagged["MELD0101"] == "Screening"
    assert flagged["CPS0106"] == "Baseline"


def test_seq_runs_per_subject_in_visit_then_table_order(rs):
    s1 = rs[rs["USUBJID"] == S1]
    assert s1["RSSEQ"].tolist() == list(range(1, 19))  # 2 + 8 + 8 records
    assert s1["VISITNUM"].is_monotonic_increasing
    assert s1.loc[s1["VISIT"] == "Baseline", "RSTESTCD"].tolist() == [
        "MELD0101", "CPS0101", "CPS0102", "CPS0103", "CPS0104", "CPS0105B", "CPS0106", "CPS0107",
    ]


def test_records_pass_the_result_rules_a_validator_applies(rs):
    # SD0016: RSDRVFL = Y → RSSTRESC present; SD0027: RSORRESU only with RSORRES;
    # SD1212: RSSTRESN equals a numeric RSSTRESC; SD1123/SE2310: NOT DONE has no results;
    # CORE-000200: RSORRES present unless NOT DONE
    assert rs.loc[rs["RSDRVFL"] == "Y", "RSSTRESC"].notna().all()
    assert rs.loc[rs["RSORRESU"].notna(), "RSORRES"].notna().all()
    numeric = pd.to_numeric(rs["RSSTRESC"], errors="coerce")
    assert (numeric[numeric.notna()] == rs.loc[numeric.notna(), "RSSTRESN"]).all()
    assert rs.loc[rs["RSSTRESN"].notna(), "RSSTRESC"].notna().all()
    not_done = rs["RSSTAT"] == "NOT DONE"
    assert rs.loc[not_done, ["RSORRES", "RSSTRESC", "RSSTRESN"]].isna().all().all()
    assert rs.loc[~not_done, "RSORRES"].notna().all()
    assert rs["RSTESTCD"].str.len().max() <= 8 and rs["RSTEST"].str.len().max() <= 40
    assert rs["RSGRPID"].notna().all()


def test_rs_tests_table_errors_name_the_fix(scoring, rs_tests, conversions):
    inputs = derive_score_inputs(make_lb(), make_assessments(), conversions=conversions, sources=SOURCES)
    scores = derive_scores(inputs, make_dm(), scoring=scoring, sources=SOURCES)
    broken = rs_tests.assign(orres=rs_tests["orres"].replace("BILI_MGDL", "BILIRUBIN"))
    with pytest.raises(ValueError, match="'BILIRUBIN', not a column"):
        build_rs(scores, make_dm(), rs_tests=broken, studyid="UCMSC-ESLD", epochs=EPOCHS)
    no_carrier = rs_tests.assign(not_done="")
    with pytest.raises(ValueError, match="exactly one row needs not_done = Y"):
        build_rs(scores, make_dm(), rs_tests=no_carrier, studyid="UCMSC-ESLD", epochs=EPOCHS)


# ==================================================================================================
# check_meld_consistency (SF-0401)
# ==================================================================================================


def test_consistency_check_passes_untampered_rs(rs, conversions):
    findings = check_meld_consistency(make_lb(), rs, make_assessments(), conversions=conversions, sources=SOURCES)
    assert findings.empty and findings.columns.tolist() == FINDING_COLUMNS


def test_consistency_check_catches_a_tampered_meld(rs, conversions):
    tampered = rs.copy()
    week4_meld = (tampered["USUBJID"] == S1) & (tampered["VISIT"] == "Week 4") & (tampered["RSTESTCD"] == "MELD0101")
    tampered.loc[week4_meld, "RSSTRESN"] = 21.0
    findings = check_meld_consistency(make_lb(), tampered, make_assessments(), conversions=conversions, sources=SOURCES)
    assert len(findings) == 1
    finding = findings.iloc[0]
    assert (finding["severity"], finding["stage"], finding["rule"]) == ("ERROR", "conform", "SF-0401")
    assert (finding["subject"], finding["variable"], finding["value"]) == ("01-001", "RSSTRESN", "21")
    assert (finding["file"], finding["sheet"]) == ("site01_export_2026-03-31.xlsx", "Assessments")
    assert pd.isna(finding["row"])  # the raw row was mapped; the finding is about the RS record
    for part in [S1, "Week 4", "MELD0101 = 21", "recomputed from LB = 20", "assessment row 4"]:
        assert part in finding["message"], part


def test_consistency_check_catches_lb_that_moved_under_rs(rs, conversions):
    # a newer Week 4 BILI (34.2 umol/L = 2 mg/dL) the RS was not built from:
    #   10 × (0.957 ln 1.9 + 0.378 ln 2 + 1.120 ln 1.2 + 0.643)
    #   = 10 × (0.614254 + 0.262010 + 0.204201 + 0.643) = 17.235 → 17, against RS 20
    lb = make_lb()
    newer = pd.DataFrame([(S1, 4.0, "BILI", 34.2, "2026-02-07T18:00", 40.0, "umol/L")], columns=lb.columns)
    lb = pd.concat([lb, newer], ignore_index=True)
    findings = check_meld_consistency(lb, rs, make_assessments(), conversions=conversions, sources=SOURCES)
    assert len(findings) == 1
    assert "MELD0101 = 20 but recomputed from LB = 17" in findings.iloc[0]["message"]


def test_consistency_check_catches_a_missing_or_extra_meld_record(rs, conversions):
    dropped = rs[~((rs["USUBJID"] == S2) & (rs["VISIT"] == "Baseline") & (rs["RSTESTCD"] == "MELD0101"))]
    findings = check_meld_consistency(make_lb(), dropped, make_assessments(), conversions=conversions, sources=SOURCES)
    assert len(findings) == 1 and "has no MELD0101 record" in findings.iloc[0]["message"]
    assessments = make_assessments()
    fewer = assessments[assessments["_row"] != 4]
    findings = check_meld_consistency(make_lb(), rs, fewer, conversions=conversions, sources=SOURCES)
    assert len(findings) == 1 and "no assessment row" in findings.iloc[0]["message"]


def test_another_studys_sources_feed_rs_and_its_check(scoring, rs_tests):
    # test_liver_scores' other study: TBILI and CREAT in mg/dL, ascites column `fluid`, no
    # dialysis question. Baseline MELD 19, Child-Pugh 10 C (worked there); Week 4 lacks TBILI.
    from tests.scores.test_liver_scores import OTHER_CONVERSIONS, OTHER_SOURCES, make_other_study

    lb, assessments = make_other_study()
    inputs = derive_score_inputs(lb, assessments, conversions=OTHER_CONVERSIONS, sources=OTHER_SOURCES)
    scores = derive_scores(inputs, make_dm(), scoring=scoring, sources=OTHER_SOURCES)
    rs = build_rs(scores, make_dm(), rs_tests=rs_tests, studyid="UCMSC-ESLD", epochs=EPOCHS)
    result = rs.set_index(["VISIT", "RSTESTCD"])
    assert result.loc[("Baseline", "MELD0101"), "RSSTRESN"] == 19
    assert result.loc[("Baseline", "CPS0107"), "RSSTRESC"] == "C"
    assert result.loc[("Baseline", "CPS0102"), "RSORRES"] == "MODERATE"
    assert result.loc[("Week 4", "MELD0101"), "RSREASND"] == "TBILI missing"
    assert result.loc[("Week 4", "CPS0106"), "RSREASND"] == "TBILI, ALB, fluid missing"
    check = dict(conversions=OTHER_CONVERSIONS, sources=OTHER_SOURCES)
    assert check_meld_consistency(lb, rs, assessments, **check).empty
    tampered = rs.assign(RSSTRESN=rs["RSSTRESN"].where(rs["RSTESTCD"] != "MELD0101", 18.0))
    findings = check_meld_consistency(lb, tampered, assessments, **check)
    assert len(findings) == 2  # Baseline 18 against 19; Week 4 18 where TBILI is missing
    assert "MELD0101 = 18 but recomputed from LB = 19" in findings["message"].iloc[0]
