"""DM, EX and LB builders on small standardised sheets, expected values worked out by hand."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from transforms.domains.dm import build_dm
from transforms.domains.ex import build_ex, build_ex_records
from transforms.domains.lb import build_lb
from transforms.standardise.sheets import standardise_export
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study
from transforms.standardise.visits import derive_unscheduled_visits

STUDY = read_study(DEFAULT_STUDY_DIR)
NO_UNSCHEDULED = derive_unscheduled_visits(
    pd.DataFrame({"USUBJID": [], "VISIT": [], "date": []}), STUDY.visits
)


def standardise(sheet: str, frame: pd.DataFrame) -> pd.DataFrame:
    return standardise_export({sheet: frame}, STUDY)[sheet]


def raw(sheet: str, rows: list[dict]) -> pd.DataFrame:
    """A raw sheet as ingest hands it on: every canonical column as text, plus lineage."""
    columns = STUDY.raw_columns.loc[STUDY.raw_columns["sheet"] == sheet, "column"]
    frame = pd.DataFrame(rows).reindex(columns=list(columns)).astype("str")
    return frame.assign(_file="e.xlsx", _sheet=sheet.title(), _row=range(2, len(rows) + 2))


DEMOGRAPHICS = raw(
    "demographics",
    [
        {"site": "01", "subject": "01-001", "birth_date": "1961-08-14", "sex": "男", "race": "Han",
         "consent_date": "2025-03-01", "randomisation_date": "2025-03-05", "arm": "LD",
         "initials": "ZWL"},
        {"site": "01", "subject": "01-002", "birth_date": "1970-03", "sex": "Female", "race": "Asian",
         "consent_date": "05MAR2025", "randomisation_date": "2025-03-06", "arm": "MHD",
         "death_date": "2025-09-01"},
        {"site": "01", "subject": "01-003", "birth_date": "1980-01-01", "sex": "F",
         "consent_date": "2025-03-07", "randomisation_date": "2025-03-08", "arm": "High"},
    ],
)
INFUSIONS = raw(
    "infusions",
    [
        {"subject": "01-001", "infusion_number": "2", "infusion_date": "2025-03-24", "dose": "1", "route": "IV"},
        {"subject": "01-001", "infusion_number": "1", "infusion_date": "2025/3/10", "start_time": "09:40",
         "end_time": "10:10", "dose": "1", "route": "Peripheral vein"},
        {"subject": "01-002", "infusion_number": "1", "infusion_date": "2025-03-12", "dose": "3"},
        {"subject": "01-002", "infusion_number": "2", "infusion_date": "2025-03-26", "dose": "1"},
        {"subject": "01-003", "infusion_number": "1", "infusion_date": "2025-03-20", "dose": "3",
         "not_given_reason": "Fever"},
    ],
)


@pytest.fixture(scope="module")
def domains():
    ex_records, findings = build_ex_records(standardise("infusions", INFUSIONS), STUDY)
    dm = build_dm(standardise("demographics", DEMOGRAPHICS), ex_records, STUDY)
    return dm.set_index("SUBJID"), build_ex(ex_records, dm, STUDY.epochs), findings


def test_dm_reference_dates_come_from_the_infusions_given(domains):
    dm, _, _ = domains
    assert dm.loc["01-001", ["RFSTDTC", "RFXSTDTC"]].tolist() == ["2025-03-10T09:40"] * 2
    assert dm.loc["01-001", ["RFENDTC", "RFXENDTC"]].tolist() == ["2025-03-24"] * 2
    assert dm.loc["01-001", "USUBJID"] == "UCMSC-ESLD-01-001"
    assert pd.isna(dm.loc["01-003", "RFSTDTC"])  # never infused


def test_dm_age_sex_race_death(domains):
    dm, _, _ = domains
    # born 1961-08-14, consented 2025-03-01: 63 completed years (64th birthday not yet reached)
    assert dm.loc["01-001", ["AGE", "AGEU", "SEX", "RACE"]].tolist() == [63, "YEARS", "M", "ASIAN"]
    # a partial birth date gives no age (and no unit)
    assert pd.isna(dm.loc["01-002", "AGE"]) and pd.isna(dm.loc["01-002", "AGEU"])
    assert dm.loc["01-002", ["SEX", "DTHDTC", "DTHFL", "RFPENDTC", "RFICDTC"]].tolist() == [
        "F", "2025-09-01", "Y", "2025-09-01", "2025-03-05"]


def test_dm_actual_arm_from_doses(domains):
    dm, _, _ = domains
    assert dm.loc["01-001", ["ARMCD", "ACTARMCD", "ACTARM"]].tolist() == ["LOW", "LOW", "UC-MSC 1x10^6 cells/kg"]
    # planned MHIGH but given 3 then 1: unplanned treatment
    assert dm.loc["01-002", "ARMCD"] == "MHIGH" and pd.isna(dm.loc["01-002", "ACTARMCD"])
    assert dm.loc["01-002", ["ARMNRS", "ACTARMUD"]].tolist() == [
        "UNPLANNED TREATMENT", "Doses given: 1 and 3 10^6 cells/kg"]
    # randomised, never infused
    assert dm.loc["01-003", "ARMCD"] == "MHIGH" and pd.isna(dm.loc["01-003", "ACTARMCD"])
    assert dm.loc["01-003", "ARMNRS"] == "ASSIGNED, NOT TREATED"


def test_dm_carries_no_initials(domains):
    dm, _, _ = domains
    assert "ZWL" not in dm.astype(str).to_numpy().ravel().tolist()


def test_ex_one_record_per_infusion_given(domains):
    _, ex, findings = domains
    s1 = ex[ex["USUBJID"] == "UCMSC-ESLD-01-001"]
    assert s1[["EXSEQ", "EXSPID", "EXSTDTC", "EXENDTC", "EXSTDY", "EXROUTE", "EPOCH"]].values.tolist() == [
        [1.0, "1", "2025-03-10T09:40", "2025-03-10T10:10", 1, "INTRAVENOUS", "TREATMENT"],
        [2.0, "2", "2025-03-24", "2025-03-24", 15, "INTRAVENOUS", "TREATMENT"],
    ]
    assert set(ex["EXDOSU"]) == {"10^6 cells/kg"} and set(ex["EXDOSFRM"]) == {"INJECTION, SUSPENSION"}
    # the not-given infusion is no EX record but a finding pointing at its row
    assert "UCMSC-ESLD-01-003" not in set(ex["USUBJID"])
    assert findings[["rule", "row", "value"]].values.tolist() == [["SF-0301", 6, "Fever"]]


def test_lb_units_results_and_flags(domains):
    dm = domains[0].reset_index()
    labs = raw(
        "labs",
        [
            {"subject": "01-001", "visit": "Screening", "collection_date": "2025-03-01", "test": "Total bilirubin",
             "result": "2.0", "unit": "mg/dL", "normal_low": "0.2", "normal_high": "1.2"},
            {"subject": "01-001", "visit": "Baseline", "collection_date": "2025-03-10", "test": "ALT (GPT)",
             "result": "<5", "unit": "IU/L"},
            {"subject": "01-001", "visit": "W1", "collection_date": "2025-03-17", "test": "谷丙转氨酶",
             "result": "35", "unit": "U/L", "normal_low": "7", "normal_high": "40"},
            {"subject": "01-001", "visit": "Wk 1", "collection_date": "2025-03-17", "test": "Alb",
             "result": "3.5", "unit": "g/dL"},
            {"subject": "01-001", "visit": "Baseline", "collection_date": "2025-03-10", "test": "INR",
             "result": "1.7"},
            {"subject": "01-001", "visit": "Baseline", "collection_date": "2025-03-10", "test": "Creatinine",
             "not_done_reason": "Haemolysed"},
        ],
    )
    lb = build_lb(standardise("labs", labs), dm, STUDY, NO_UNSCHEDULED).set_index("LBTESTCD")
    # bilirubin 2.0 mg/dL x 17.1 = 34.2 umol/L; range 0.2-1.2 mg/dL -> 3.42-20.52 umol/L: HIGH
    assert lb.loc["BILI", ["LBORRES", "LBORRESU", "LBSTRESC", "LBSTRESN", "LBSTRESU"]].tolist() == [
        "2.0", "mg/dL", "34.2", 34.2, "umol/L"]
    assert lb.loc["BILI", ["LBSTNRLO", "LBSTNRHI", "LBNRIND"]].tolist() == [3.42, 20.52, "HIGH"]
    assert lb.loc["BILI", ["VISITNUM", "LBDY", "EPOCH", "LBCAT", "LBSPEC"]].tolist() == [
        1.0, -9, "SCREENING", "CHEMISTRY", "SERUM"]
    # albumin 3.5 g/dL x 10 = 35 g/L
    assert lb.loc["ALB", ["LBSTRESC", "LBSTRESN", "LBSTRESU", "VISIT", "VISITDY", "LBDY"]].tolist() == [
        "35", 35.0, "g/L", "Week 1", 8.0, 8]
    # "<5" keeps its operator; no numeric result
    alt = lb.loc["ALT"].set_index("VISIT")
    assert alt.loc["Baseline", "LBSTRESC"] == "<5" and pd.isna(alt.loc["Baseline", "LBSTRESN"])
    assert alt.loc["Week 1", ["LBSTRESN", "LBNRIND"]].tolist() == [35.0, "NORMAL"]
    # INR: no unit at all; COAGULATION on plasma
    assert pd.isna(lb.loc["INR", "LBORRESU"]) and pd.isna(lb.loc["INR", "LBSTRESU"])
    assert lb.loc["INR", ["LBCAT", "LBSPEC"]].tolist() == ["COAGULATION", "PLASMA"]
    assert lb.loc["CREAT", ["LBSTAT", "LBREASND"]].tolist() == ["NOT DONE", "Haemolysed"]
    assert pd.isna(lb.loc["CREAT", "LBORRES"])
    # last non-missing result on or before the first-dose day (2025-03-10): BILI from Screening,
    # INR from Baseline; ALT "<5" on Day 1 is a result too; nothing after Day 1, nothing not done
    flagged = lb[lb["LBLOBXFL"] == "Y"]
    assert sorted(zip(flagged.index, flagged["VISIT"])) == [
        ("ALT", "Baseline"), ("BILI", "Screening"), ("INR", "Baseline")]


def test_lb_keeps_the_collected_range_but_no_standard_range_for_a_result_beyond_the_limits(domains):
    # CORE-000298/299: LBORRES `<5` / `>1000` is not a continuous result, so LBSTNRLO/HI are null;
    # the range the lab sent stays in LBORNRLO/HI (CORE-000289/290, an explained issue).
    dm = domains[0].reset_index()
    labs = raw(
        "labs",
        [
            {"subject": "01-001", "visit": "Baseline", "collection_date": "2025-03-10", "test": "ALT (GPT)",
             "result": result, "unit": "U/L", "normal_low": "7", "normal_high": "40"}
            for result in ("<5", ">1000", "35")
        ],
    )
    lb = build_lb(standardise("labs", labs), dm, STUDY, NO_UNSCHEDULED).set_index("LBORRES")
    assert lb.loc[["<5", ">1000"], ["LBORNRLO", "LBORNRHI"]].values.tolist() == [["7", "40"], ["7", "40"]]
    assert lb.loc[["<5", ">1000"], ["LBSTNRLO", "LBSTNRHI"]].isna().all().all()
    assert lb.loc["35", ["LBSTNRLO", "LBSTNRHI", "LBNRIND"]].tolist() == [7.0, 40.0, "NORMAL"]


def test_lb_publishes_the_result_standardise_parsed_and_checked(domains):
    # 0.9 mg/dL bilirubin x 17.1 is 15.39 umol/L; in binary 0.9 * 17.1 is 15.390000000000002. The
    # plausibility check reads `result_standard` and LB publishes LBSTRESN: one parse, one value.
    dm = domains[0].reset_index()
    labs = standardise("labs", raw("labs", [
        {"subject": "01-001", "visit": "Screening", "collection_date": "2025-03-01", "test": "Total bilirubin",
         "result": "0.9", "unit": "mg/dL"},
        {"subject": "01-001", "visit": "Screening", "collection_date": "2025-03-01", "test": "ALT",
         "result": "<5", "unit": "U/L"},
    ]))
    assert 0.9 * 17.1 != 15.39
    assert labs["result_standard"].tolist() == [15.39, 5.0]  # `<5` is checked as its bound
    lb = build_lb(labs, dm, STUDY, NO_UNSCHEDULED).set_index("LBTESTCD")
    assert lb.loc["BILI", "LBSTRESN"] == 15.39 and lb.loc["BILI", "LBSTRESC"] == "15.39"
    assert lb.loc["ALT", "LBSTRESC"] == "<5" and pd.isna(lb.loc["ALT", "LBSTRESN"])


def test_lb_follows_the_spec_not_code(domains):
    # a data manager's edit of mapping.csv: LBSPEC hard-coded, the unit kept on a not-done record
    dm = domains[0].reset_index()
    mapping = STUDY.mapping.copy()
    spec = mapping["domain"] == "LB"
    mapping.loc[spec & (mapping["variable"] == "LBSPEC"), ["algorithm", "value"]] = ["hardcode_ct", "BLOOD"]
    mapping.loc[spec & (mapping["variable"] == "LBORRESU"), "condition"] = ""
    edited = dataclasses.replace(STUDY, mapping=mapping)
    labs = standardise("labs", raw("labs", [
        {"subject": "01-001", "visit": "Screening", "collection_date": "2025-03-01", "test": "ALT",
         "unit": "U/L", "not_done_reason": "Haemolysed"},
    ]))
    lb = build_lb(labs, dm, edited, NO_UNSCHEDULED)
    assert lb[["LBSPEC", "LBORRESU", "LBSTAT"]].values.tolist() == [["BLOOD", "U/L", "NOT DONE"]]
    assert pd.isna(build_lb(labs, dm, STUDY, NO_UNSCHEDULED).loc[0, "LBORRESU"])


def test_lb_flags_no_baseline_for_a_subject_never_dosed(domains):
    # Baseline is the last result before first exposure: with no RFXSTDTC there is none. Before
    # the date part had one home, the missing first dose compared as the text "nan", which sorts
    # after every date, so a never-dosed subject's last result was flagged.
    dm = domains[0].reset_index()
    dm.loc[dm["USUBJID"].str.endswith("01-001"), "RFXSTDTC"] = None
    labs = raw(
        "labs",
        [
            {"subject": "01-001", "visit": visit, "collection_date": date, "test": "ALT (GPT)",
             "result": "35", "unit": "U/L"}
            for visit, date in (("Screening", "2025-03-01"), ("Baseline", "2025-03-10"))
        ],
    )
    lb = build_lb(standardise("labs", labs), dm, STUDY, NO_UNSCHEDULED)
    assert len(lb) == 2 and lb["LBLOBXFL"].isna().all()
