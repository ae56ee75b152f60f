"""Ingest: sheets and headers recognised loosely, lineage exact, bad files become findings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from transforms.ingest import export as ingest
from transforms.ingest.export import compute_header_key, list_input_files, match_sheet_kind
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

DATA = Path(__file__).parents[1] / "data" / "workbooks"


STUDY = read_study(DEFAULT_STUDY_DIR)


@pytest.fixture(scope="module")
def raw_columns():
    return STUDY.raw_columns


def read_export(folder, raw_columns):
    return ingest.read_export(folder, raw_columns, STUDY.sheet_names)


def _workbook(path, sheets: dict[str, list[list]]):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


LAB_HEADER = ["Subject", "Visit", "Collection date", "Test", "Result", "Unit"]


def test_header_key_ignores_case_space_punctuation_and_unit():
    assert compute_header_key(["Weight (kg)", " WEIGHT ", "Dose (10^6 cells/kg)", "Date of birth"]) == [
        "weight", "weight", "dose", "dateofbirth",
    ]


def test_header_key_keeps_letters_of_every_script_and_drops_accents():
    # Worked by hand: NFKD splits é into e + U+0301, the mark goes with the punctuation;
    # Chinese characters are letters and stay; the full-width bracket folds to "(" and drops "mg"; the degree sign ° is a symbol and goes.
    keys = compute_header_key(["受试者编号", "访视", "Date de prélèvement", "date de prelevement", "剂量（mg）", "N° patient"])
    assert keys == ["受试者编号", "访视", "datedeprelevement", "datedeprelevement", "剂量", "npatient"]


@pytest.mark.parametrize(
    "name, kind",
    [("Labs", "labs"), ("labs_2026-03-01", "labs"), ("LABS 20260301", "labs"), (" Demo graphics ", "demographics"),
     ("Assessments", "assessments"), ("Labsheet", None), ("Notes", None),
     # named after its sheet with a suffix that is not a date (the contract allows it)
     ("labs_final", "labs"), ("Labs (2)", "labs"), ("ｌａｂｓ", "labs")],
)
def test_sheet_names_match_case_and_space_insensitively(name, kind):
    assert match_sheet_kind(name, STUDY.sheet_names) == kind


def test_sheet_names_come_from_the_study_and_the_longest_name_wins():
    names = {"visits": ["Lab"], "results": ["Lab results", "Dosing|x"]}
    assert match_sheet_kind("Lab results 2026", names) == "results"
    assert match_sheet_kind("Lab_2026", names) == "visits"
    assert match_sheet_kind("Labs", names) is None


def test_rows_keep_lineage_as_the_site_numbers_them(tmp_path, raw_columns):
    _workbook(
        tmp_path / "export.xlsx",
        {"Labs": [LAB_HEADER, ["01-001", "Baseline", "2026-03-05", "ALT", "35", "U/L"], [None] * 6,
                  ["01-002", "W4", dt.datetime(2026, 3, 9), "TBIL", "<5", "µmol/L"]]},
    )
    export = read_export(tmp_path, raw_columns)
    labs = export.sheets["labs"]
    # The blank spreadsheet row 3 is not data; the next row keeps its own number, 4.
    assert list(labs["_row"]) == [2, 4]
    assert list(labs["subject"]) == ["01-001", "01-002"]
    assert labs.loc[1, "collection_date"] == "2026-03-09 00:00:00"
    assert labs.loc[1, "result"] == "<5"
    assert set(labs["_file"]) == {"export.xlsx"} and set(labs["_sheet"]) == {"Labs"}
    assert export.inventory.to_dict(orient="records") == [
        {"file": "export.xlsx", "sheet": "Labs", "kind": "labs", "rows": 2, "loaded": True,
         "held_back": 0, "status": "read"}
    ]


def test_ids_stay_text(tmp_path, raw_columns):
    (tmp_path / "labs.csv").write_text(
        "Subject,Visit,Collection date,Test,Result\n007,Baseline,2026-03-05,ALT,35.0\n", encoding="utf-8"
    )
    labs = read_export(tmp_path, raw_columns).sheets["labs"]
    assert labs.loc[0, "subject"] == "007" and labs.loc[0, "result"] == "35.0"


def test_missing_required_column_names_file_sheet_and_column(tmp_path, raw_columns):
    (tmp_path / "labs.csv").write_text("Subject,Visit,Test,Result\n01-001,Baseline,ALT,35\n", encoding="utf-8")
    export = read_export(tmp_path, raw_columns)
    errors = export.findings[export.findings["severity"] == "ERROR"]
    assert errors[["file", "sheet", "variable"]].values.tolist() == [["labs.csv", "labs", "Collection date"]]
    assert export.sheets["labs"].empty
    assert export.inventory["loaded"].tolist() == [False] and export.inventory["rows"].tolist() == [1]


def test_unknown_sheet_and_extra_column_are_reported_and_ignored(tmp_path, raw_columns):
    _workbook(
        tmp_path / "e.xlsx",
        {"Notes": [["anything"], ["x"]],
         "Labs": [LAB_HEADER + ["Comment"], ["01-001", "Baseline", "2026-03-05", "ALT", "35", "U/L", "ok"]]},
    )
    export = read_export(tmp_path, raw_columns)
    rules = export.findings.set_index("rule")
    assert rules.loc["SF-0004", "sheet"] == "Notes"
    assert rules.loc["SF-0003", "variable"] == "Comment"
    assert "Comment" not in export.sheets["labs"].columns and len(export.sheets["labs"]) == 1


def test_corrupt_encrypted_empty_and_undecodable_files_are_findings_not_crashes(tmp_path, raw_columns):
    (tmp_path / "broken.xlsx").write_bytes(b"this is not a workbook")
    (tmp_path / "locked.xlsx").write_bytes((DATA / "password.xlsx").read_bytes())
    (tmp_path / "empty.csv").write_bytes(b"")
    # 0xFF starts no character in UTF-8 nor in GB18030
    (tmp_path / "labs_bad.csv").write_bytes(b"Subject,Visit,Collection date,Test,Result\n01-001,\xff\xff,x,ALT,35\n")
    (tmp_path / "labs.csv").write_text(
        "Subject,Visit,Collection date,Test,Result\n01-001,Baseline,2026-03-05,ALT,35\n", encoding="utf-8"
    )
    export = read_export(tmp_path, raw_columns)
    by_file = export.findings.set_index("file")
    assert by_file["rule"].to_dict() == {
        "broken.xlsx": "SF-0001", "empty.csv": "SF-0001", "labs_bad.csv": "SF-0001", "locked.xlsx": "SF-0001"}
    assert (by_file["severity"] == "ERROR").all()
    assert "content is not one" in by_file.at["broken.xlsx", "message"]
    assert "password-protected" in by_file.at["locked.xlsx", "message"]
    assert "empty" in by_file.at["empty.csv", "message"]
    assert "not UTF-8, UTF-16 or GB18030" in by_file.at["labs_bad.csv", "message"]
    assert len(export.sheets["labs"]) == 1  # the good file still arrived
    # every file is in the inventory, the unreadable ones with no sheet
    assert sorted(export.inventory[["file", "sheet", "loaded"]].values.tolist(), key=str) == [
        ["broken.xlsx", None, False], ["empty.csv", None, False], ["labs.csv", "labs", True],
        ["labs_bad.csv", None, False], ["locked.xlsx", None, False]]


def test_files_are_ordered_by_the_date_in_their_name(tmp_path):
    for name in ["labs_2026-03-02.csv", "labs_2026-02-28.csv"]:
        (tmp_path / name).write_text("a,b\n1,2\n")
    _workbook(tmp_path / "site01_20260301.xlsx", {"Labs": [["a"]]})
    files = list_input_files(tmp_path)
    assert files["name"].tolist() == ["labs_2026-02-28.csv", "site01_20260301.xlsx", "labs_2026-03-02.csv"]
    assert files["order"].tolist() == [0, 1, 2]


def test_a_workbook_with_headers_only_is_one_finding_naming_its_sheets(tmp_path, raw_columns):
    _workbook(tmp_path / "site01_2026-03-31.xlsx", {"Labs": [LAB_HEADER], "Notes": []})
    (tmp_path / "labs.csv").write_text(
        "Subject,Visit,Collection date,Test,Result\n01-001,Baseline,2026-03-05,ALT,35\n", encoding="utf-8"
    )
    export = read_export(tmp_path, raw_columns)
    empty = export.findings[export.findings["rule"] == "SF-0005"]
    assert empty[["severity", "file", "sheet", "row"]].values.tolist() == [
        ["ERROR", "site01_2026-03-31.xlsx", None, pd.NA]
    ]
    assert "no data rows in 'Labs'" in empty["message"].iloc[0]
    assert len(export.sheets["labs"]) == 1


def test_a_blank_sheet_is_not_a_list_of_missing_columns(tmp_path, raw_columns):
    _workbook(tmp_path / "site01.xlsx", {"Demographics": [], "Labs": [LAB_HEADER, ["01-001", "Baseline", "2026-03-05", "ALT", "35", "U/L"]]})
    export = read_export(tmp_path, raw_columns)
    assert export.findings.empty
    assert export.inventory[["sheet", "rows", "loaded"]].values.tolist() == [
        ["Demographics", 0, True], ["Labs", 1, True]
    ]


def test_only_unknown_sheets_is_a_file_finding(tmp_path, raw_columns):
    _workbook(tmp_path / "site01.xlsx", {"Sheet1": [["a"], ["b"]]})
    export = read_export(tmp_path, raw_columns)
    assert sorted(export.findings["rule"]) == ["SF-0004", "SF-0005"]


def test_headers_are_kept_as_the_site_wrote_them(tmp_path, raw_columns):
    (tmp_path / "labs.csv").write_text(
        "SUBJECT , visit,Collection Date (yyyy-mm-dd),Test,Result\n01-001,Baseline,2026-03-05,ALT,35\n",
        encoding="utf-8",
    )
    headers = read_export(tmp_path, raw_columns).headers.set_index("column")["header"]
    assert headers["subject"] == "SUBJECT "
    assert headers["collection_date"] == "Collection Date (yyyy-mm-dd)"
