"""transforms/validate/checks.py: the cross-row and cross-sheet checks beside the GX suites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.validate.checks import (
    check_after_death,
    check_consent_after_first_dose,
    check_date_window,
    check_text_length,
    check_planned_dose,
    check_superseded,
    check_total_cells,
    compute_date_parts,
    compute_is_later_parts,
)

DATES = pd.DataFrame({"column": ["infusion_date"], "header": ["Infusion date"]})


def rows(**columns):
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame(columns)
    return frame.assign(_file="export_2026-03-31.xlsx", _sheet="Infusions", _row=range(2, n + 2))


@pytest.mark.parametrize(
    "first, second, later",
    [
        ("2026-04-01", "2026-03-31", True),
        ("2026-03-31T23:59", "2026-03-31", False),  # same day: a time does not make it later
        ("2026-04", "2026-03-31", True),  # every day of April is later
        ("2026-03", "2026-03-31", False),  # some day of March may not be
        ("2027", "2026-03-31", True),
        ("2026", "2026-03-31", False),
        (None, "2026-03-31", False),
        ("2026-04-01", None, False),
    ],
)
def test_is_later_compares_at_the_precision_both_have(first, second, later):
    result = compute_is_later_parts(
        compute_date_parts(pd.Series([first], dtype="str")),
        compute_date_parts(pd.Series([second], dtype="str")),
    )
    assert result.tolist() == [later]


def test_future_dates_are_errors_and_dates_before_consent_warnings():
    frame = rows(
        subject=["01-001", "01-002", "01-003", "01-004"],
        infusion_date=["2026-03-01", "2026-04-02", "2025-01-01", "2025-02"],
        dtc_infusion_date=["2026-03-01", "2026-04-02", "2025-01-01", "2025-02"],
    )
    consent = pd.Series(["2025-02-10"] * 4, dtype="str")
    findings = check_date_window(frame, DATES, "2026-03-31", consent)
    assert findings[["rule", "severity", "row", "variable", "value"]].values.tolist() == [
        ["SF-0115", "ERROR", 3, "infusion_date", "2026-04-02"],
        ["SF-0116", "WARNING", 4, "infusion_date", "2025-01-01"],
    ]
    assert "after the date of this export (2026-03-31)" in findings["message"].iloc[0]
    assert "before the subject's informed consent (2025-02-10)" in findings["message"].iloc[1]


def test_no_run_date_means_no_future_check_and_unknown_consent_no_consent_check():
    frame = rows(subject=["01-001"], infusion_date=["2099-01-01"], dtc_infusion_date=["2099-01-01"])
    consent = pd.Series([None], dtype="str")
    assert check_date_window(frame, DATES, None, consent).empty


def test_birth_and_consent_dates_are_not_held_against_consent():
    dates = pd.DataFrame({"column": ["birth_date", "consent_date"], "header": ["Date of birth", "Consent date"]})
    frame = rows(subject=["01-001"], birth_date=["1960-01-01"], dtc_birth_date=["1960-01-01"],
                 consent_date=["2025-01-01"], dtc_consent_date=["2025-01-01"])
    assert check_date_window(frame, dates, "2026-03-31", frame["dtc_consent_date"]).empty


def test_a_date_after_the_run_day_is_an_error_without_an_export_date_in_any_file_name():
    frame = rows(
        subject=["01-001", "01-002", "01-003", "01-004"],
        infusion_date=["2099-01-01", "2026-05-01", "2026-04-30", "2026-04"],
        dtc_infusion_date=["2099-01-01", "2026-05-01", "2026-04-30", "2026-04"],
    )
    consent = pd.Series([None] * 4, dtype="str")
    findings = check_date_window(frame, DATES, None, consent, today="2026-04-30")
    assert findings[["rule", "severity", "file", "sheet", "row", "variable", "value"]].values.tolist() == [
        ["SF-0128", "ERROR", "export_2026-03-31.xlsx", "Infusions", 2, "infusion_date", "2099-01-01"],
        ["SF-0128", "ERROR", "export_2026-03-31.xlsx", "Infusions", 3, "infusion_date", "2026-05-01"],
    ]  # the run's own day and its month are not in the future
    assert findings["message"].iloc[0] == (
        "Infusion date is after today (2026-04-30, the day of this run): a date in the future "
        "cannot be right; correct it"
    )


def test_the_export_date_stays_the_tighter_bound_and_one_finding_is_given():
    frame = rows(subject=["01-001", "01-002"], infusion_date=["2026-04-02", "2099-01-01"],
                 dtc_infusion_date=["2026-04-02", "2099-01-01"])
    consent = pd.Series([None] * 2, dtype="str")
    findings = check_date_window(frame, DATES, "2026-03-31", consent, today="2026-04-30")
    assert findings[["rule", "row"]].values.tolist() == [["SF-0115", 2], ["SF-0115", 3]]


LAB_DATES = pd.DataFrame({"column": ["collection_date"], "header": ["Collection date"]})


def test_dates_after_death_are_warnings_and_infusions_after_death_errors():
    labs = rows(
        subject=["01-001", "01-001", "01-001", "01-002"],
        collection_date=["2025-06-01", "2025-06-02", "2025-07", "2025-09-09"],
        dtc_collection_date=["2025-06-01", "2025-06-02", "2025-07", "2025-09-09"],
    )
    death = pd.Series(["2025-06-01", "2025-06-01", "2025-06-01", None], dtype="str")
    findings = check_after_death(labs, False, LAB_DATES, death)
    # the day of death itself is not after it; a subject without a death date is not judged
    assert findings[["rule", "severity", "row", "variable", "value"]].values.tolist() == [
        ["SF-0134", "WARNING", 3, "collection_date", "2025-06-02"],
        ["SF-0134", "WARNING", 4, "collection_date", "2025-07"],
    ]
    assert findings["message"].iloc[0] == (
        "Collection date is after the subject's date of death (2025-06-01): correct one of the "
        "two dates, or confirm both (a post-mortem sample)"
    )
    infusions = rows(subject=["01-001"], infusion_date=["2025-06-02"], dtc_infusion_date=["2025-06-02"])
    findings = check_after_death(infusions, True, DATES, death[:1])
    assert findings[["rule", "severity", "row", "value"]].values.tolist() == [
        ["SF-0135", "ERROR", 2, "2025-06-02"]
    ]


def test_consent_after_the_first_infusion_given_is_a_warning_on_demographics():
    demographics = rows(
        subject=["01-001", "01-002", "01-003"],
        consent_date=["2025-03-10", "2025-03-01", "2025-03-20"],
        dtc_consent_date=["2025-03-10", "2025-03-01", "2025-03-20"],
    ).assign(_sheet="Demographics")
    infusions = rows(
        subject=["01-001", "01-001", "01-002", "01-003"],
        dtc_infusion_date=["2025-03-12", "2025-03-05", "2025-03-01", "2025-03-02"],
        not_given_reason=[None, None, None, "Fever"],  # 01-003 was never infused
    )
    findings = check_consent_after_first_dose(
        demographics, infusions, {"consent_date": "Consent date"},
        infusions["not_given_reason"].isna().to_numpy(), "dtc_infusion_date",
    )
    assert findings[["rule", "severity", "sheet", "row", "variable", "value"]].values.tolist() == [
        ["SF-0136", "WARNING", "Demographics", 2, "consent_date", "2025-03-10"]
    ]
    assert findings["message"].iloc[0] == (
        "Consent date (2025-03-10) is after the subject's first dose (2025-03-05, "
        "export_2026-03-31.xlsx row 3): correct the date that is wrong; if both are right, "
        "record the protocol deviation"
    )


def test_text_over_200_bytes_after_transliteration_is_held_back():
    table = pd.DataFrame({"character": ["±"], "ascii": ["+/-"], "why": [""]})
    labs = rows(
        subject=["01-001", "01-001", "01-001", "01-001"],
        not_done_reason=["x" * 200, "x" * 250, "±" * 67, "y" * 32000],  # ± is 3 bytes as +/-
    )
    findings = check_text_length(labs, ["not_done_reason"], table, {"not_done_reason": "Not done reason"})
    assert findings[["rule", "severity", "row", "variable"]].values.tolist() == [
        ["SF-0129", "ERROR", 3, "not_done_reason"],
        ["SF-0129", "ERROR", 4, "not_done_reason"],
        ["SF-0129", "ERROR", 5, "not_done_reason"],
    ]
    assert findings["message"].tolist() == [
        f"Not done reason is {n} bytes long; SAS XPT v5 holds at most 200 in a text value: "
        "shorten it to 200 characters (the row waits for it)" for n in (250, 201, 32000)
    ]
    assert findings["value"].iloc[2] == "y" * 200 + "... (32000 characters)"


ARMS = pd.DataFrame({"ARMCD": ["LOW", "MHIGH"], "ARM": ["low", "high"], "dose": [1, 3]})


def test_dose_of_the_other_arm_is_a_warning():
    demographics = pd.DataFrame({"subject": ["01-001", "01-002"], "ARMCD": ["LOW", "MHIGH"],
                                 "weight": ["60", "70"]})
    infusions = rows(
        subject=["01-001", "01-001", "01-002", "01-002"],
        dose=["1", "3", "2", "3"],
        EXDOSE=[1.0, 3.0, 2.0, 3.0],
        not_given_reason=[None, None, None, None],
    )
    given = infusions["not_given_reason"].isna().to_numpy()
    findings = check_planned_dose(infusions, demographics, ARMS, {"dose": "Dose (10^6 cells/kg)"}, given)
    # the dose 2 of no arm at all is the suite's SF-0124, not this one
    assert findings[["rule", "severity", "row", "value"]].values.tolist() == [
        ["SF-0125", "WARNING", 3, "3"]
    ]
    assert "dose of arm MHIGH but the subject was randomised to LOW (1)" in findings["message"].iloc[0]


def test_a_reduction_the_randomised_arm_allows_is_no_warning():
    arms = ARMS.assign(doses=[None, [1]])  # the high arm may be reduced to the low arm's dose
    demographics = pd.DataFrame({"subject": ["01-002"], "ARMCD": ["MHIGH"], "weight": ["70"]})
    infusions = rows(subject=["01-002", "01-002"], dose=["3", "1"], EXDOSE=[3.0, 1.0],
                     not_given_reason=[None, None])
    assert check_planned_dose(infusions, demographics, arms, {}, np.array([True, True])).empty
    with_low = check_planned_dose(infusions, demographics, ARMS, {}, np.array([True, True]))
    assert with_low["row"].tolist() == [3]


def test_total_cells_off_by_more_than_the_tolerance_is_a_warning():
    demographics = pd.DataFrame({"subject": ["01-001"], "ARMCD": ["LOW"], "weight": ["60"]})
    infusions = rows(
        subject=["01-001"] * 4,
        total_cells=["66", "67", "60", "120"],
        number_total_cells=[66.0, 67.0, 60.0, 120.0],
        EXDOSE=[1.0, 1.0, 1.0, 1.0],
        number_weight=[None, None, 60.0, 60.0],  # blank weight: the baseline weight, 60 kg
        not_given_reason=[None, None, None, "Fever"],
    )
    findings = check_total_cells(
        infusions, demographics, 0.10, {}, infusions["not_given_reason"].isna().to_numpy()
    )
    assert findings[["rule", "severity", "row", "value"]].values.tolist() == [
        ["SF-0126", "WARNING", 3, "67"]
    ]
    assert "dose x body weight (60) by more than 10%" in findings["message"].iloc[0]


def test_a_newer_export_supersedes_the_same_lab_record_spelled_differently():
    labs = pd.DataFrame(
        {
            "subject": ["01-001", "01-001", "01-001"],
            "visit": ["W4", "Week 4", "Week 4"],
            "VISIT": ["Week 4", "Week 4", "Week 4"],
            "test": ["TBIL", "Total bilirubin", "ALT"],
            "LBTESTCD": ["BILI", "BILI", "ALT"],
            "dtc_collection_date": ["2025-05-01"] * 3,
            "_file": ["labs_2026-03-01.csv", "labs_2026-03-31.csv", "labs_2026-03-31.csv"],
            "_sheet": "labs",
            "_row": [2, 5, 6],
        }
    )
    order = pd.Series({"labs_2026-03-01.csv": 0, "labs_2026-03-31.csv": 1})
    findings = check_superseded(labs, ["subject", "VISIT", "LBTESTCD", "dtc_collection_date"], order)
    # W4/TBIL in the older file is the same record as Week 4/Total bilirubin in the newer one
    assert findings[["rule", "file", "row"]].values.tolist() == [["SF-0111", "labs_2026-03-01.csv", 2]]
    assert "labs_2026-03-31.csv row 5" in findings.loc[0, "message"]
