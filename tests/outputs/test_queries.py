"""transforms/outputs/queries.py: site queries in the site's terms, safe to open in Excel."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd

from transforms.core.findings import FINDING_COLUMNS, concat_findings, make_finding
from transforms.outputs.queries import QUERY_COLUMNS, build_queries, compute_neutralised, read_rules, write_queries

ROOT = Path(__file__).resolve().parents[2]


def finding(**values):
    return make_finding(**{"stage": "validate", "message": "m", **values})


FINDINGS = concat_findings(
    finding(severity="ERROR", rule="SF-0103", file="labs.csv", sheet="labs", row=3, subject="01-002",
            variable="collection_date", value="2026-02-30", message="Collection date is not a date"),
    finding(severity="WARNING", rule="SF-0116", file="labs.csv", sheet="labs", row=2, subject="01-002",
            variable="collection_date", value="2025-01-01"),
    finding(severity="INFO", rule="SF-0111", file="labs.csv", sheet="labs", row=4, subject="01-001",
            variable="subject", value="01-001"),
    finding(severity="ERROR", rule="SF-0401", stage="conform", file="labs.csv", sheet="labs", row=5,
            subject="01-001", variable="RSSTRESN"),
    finding(severity="ERROR", rule="SF-0102", file="labs.csv", sheet="labs", row=5, subject="01-001",
            variable="subject", value="01-001"),
    finding(severity="ERROR", rule="SF-0002", stage="ingest", file="site.xlsx", sheet="Infusions",
            variable="Dose (10^6 cells/kg)", message="required column 'Dose' is missing"),
)
SHEETS = {
    "labs": pd.DataFrame({"_file": ["labs.csv"] * 4, "_sheet": ["labs"] * 4, "_row": [2, 3, 4, 5],
                          "visit": ["W4", "Baseline", "Scr", "Week 1"], "subject": ["01-002", "01-002", "01-001", "01-001"]}),
}
HEADERS = pd.DataFrame({"file": ["labs.csv", "labs.csv"], "sheet": ["labs", "labs"],
                        "column": ["collection_date", "subject"], "header": ["Collection Date", "SUBJECT"]})


def test_one_row_per_site_problem_in_the_sites_terms():
    queries = build_queries(FINDINGS, SHEETS, HEADERS)
    assert queries.columns.tolist() == QUERY_COLUMNS
    # INFO and our own conformance findings are not the site's to answer; file-level ones are
    assert queries[["Subject", "Visit", "Row", "Column", "Rule"]].values.tolist() == [
        [None, None, pd.NA, "Dose (10^6 cells/kg)", "SF-0002"],
        ["01-001", "Week 1", 5, "SUBJECT", "SF-0102"],
        ["01-002", "Baseline", 3, "Collection Date", "SF-0103"],
        ["01-002", "W4", 2, "Collection Date", "SF-0116"],
    ]
    first = queries.iloc[2]
    assert first["Value as sent"] == "2026-02-30"
    assert first["What is wrong"] == "Collection date is not a date"
    assert first["What is needed"].startswith("Write the date as YYYY-MM-DD")
    assert first["Status"].startswith("held back")
    assert queries.iloc[3]["Status"].startswith("mapped")


def test_without_sheets_or_headers_the_canonical_names_are_used():
    queries = build_queries(FINDINGS)
    assert queries["Column"].tolist()[1:] == ["subject", "collection_date", "collection_date"]
    assert queries["Visit"].isna().all()


def test_formula_like_values_are_neutralised():
    values = pd.Series(["=1+1", "+5", "-3", "@SUM(A1)", "\tx", "\rx", "ok", None, "a=b"], dtype="object")
    assert compute_neutralised(values).tolist() == [
        "'=1+1", "'+5", "'-3", "'@SUM(A1)", "'\tx", "'\rx", "ok", None, "a=b"
    ]
    numbers = pd.Series([-3, 5], dtype="Int64")
    assert compute_neutralised(numbers).tolist() == [-3, 5]


def test_the_workbook_cannot_execute_formulas(tmp_path):
    hostile = concat_findings(
        finding(severity="ERROR", rule="SF-0117", file="labs.csv", sheet="labs", row=2, subject="=cmd|' /C calc'!A0",
                variable="result", value="=HYPERLINK(\"http://x\")", message="-bad"),
        finding(severity="ERROR", rule="SF-0119", file="labs.csv", sheet="labs", row=3, subject="01-001",
                variable="result", value="-3"),
    )
    xlsx, csv = write_queries(build_queries(hostile), tmp_path)
    sheet = openpyxl.load_workbook(xlsx)["Queries"]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not any(cell.data_type == "f" for cell in cells)
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not any(t.startswith(("=", "+", "-", "@")) for t in texts)
    assert "'=HYPERLINK(\"http://x\")" in texts and "'-3" in texts and "'-bad" in texts
    back = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert not back.apply(lambda c: c.str.match(r"^[=+\-@\t\r]")).to_numpy().any()


def test_workbook_layout_and_deterministic_bytes(tmp_path):
    queries = build_queries(FINDINGS, SHEETS, HEADERS)
    stamp = datetime(2026, 3, 31)
    first = write_queries(queries, tmp_path / "a", stamp)[0].read_bytes()
    second = write_queries(queries, tmp_path / "b", stamp)[0].read_bytes()
    assert first == second
    book = openpyxl.load_workbook(tmp_path / "a" / "queries.xlsx")
    sheet = book["Queries"]
    assert [c.value for c in sheet[1]] == QUERY_COLUMNS
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["H"].width == 80  # What is wrong
    assert book.properties.created == stamp and book.properties.modified == stamp
    assert sheet.max_row == len(queries) + 1


def test_empty_queries_still_write_both_files(tmp_path):
    empty = build_queries(FINDINGS.iloc[0:0])
    xlsx, csv = write_queries(empty, tmp_path)
    assert openpyxl.load_workbook(xlsx)["Queries"].max_row == 1
    assert csv.read_text().strip() == ",".join(QUERY_COLUMNS)


def test_every_rule_the_code_raises_is_in_the_rules_table():
    rules = set(read_rules()["rule"])
    used = set()
    for folder in ("transforms", "expectations", "flows"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"SF-\d{4}", path.read_text(encoding="utf-8")))
    assert used <= rules, sorted(used - rules)
    assert FINDING_COLUMNS  # the findings shape the queries read


def test_status_is_the_rows_fate():
    findings = concat_findings(
        finding(severity="WARNING", rule="SF-0124", file="x.xlsx", sheet="Infusions", row=4, subject="01-005",
                variable="dose", value="2"),
        finding(severity="ERROR", rule="SF-0114", file="x.xlsx", sheet="Infusions", row=4, subject="01-005",
                variable="subject", value="01-005"),
        finding(severity="WARNING", rule="SF-0124", file="x.xlsx", sheet="Infusions", row=5, subject="01-005",
                variable="dose", value="2"),
    )
    status = build_queries(findings).set_index(["Row", "Rule"])["Status"]
    assert status[(4, "SF-0124")].startswith("held back")
    assert status[(5, "SF-0124")].startswith("mapped")



def test_what_is_needed_names_the_not_done_column_as_each_site_wrote_it():
    # rules.csv says '{not_done_reason}': the French site's file calls it Commentaire, the Chinese
    # site's 备注; a subjects row has no such column: the header any file sent (first listed)
    findings = concat_findings(
        finding(severity="ERROR", rule="SF-0101", file="fr.csv", sheet="fr", row=3, subject="02-001", variable="result"),
        finding(severity="ERROR", rule="SF-0101", file="cn.csv", sheet="cn", row=5, subject="03-001", variable="result"),
        finding(severity="ERROR", rule="SF-0101", file="subj.csv", sheet="subj", row=2, subject="01-001", variable="sex"),
    )
    headers = pd.DataFrame({
        "file": ["fr.csv", "cn.csv", "fr.csv"], "sheet": ["fr", "cn", "fr"],
        "column": ["not_done_reason", "not_done_reason", "result"], "header": ["Commentaire", "备注", "Résultat"],
    })
    needed = build_queries(findings, headers=headers).set_index("Subject")["What is needed"]
    assert needed["02-001"] == "Fill in the value (for a lab result not done: the 'Commentaire')."
    assert needed["03-001"] == "Fill in the value (for a lab result not done: the '备注')."
    assert needed["01-001"] == "Fill in the value (for a lab result not done: the 'Commentaire')."


def test_what_is_needed_names_the_sheets_of_this_study_never_the_first_studys():
    """rules.csv is shared: `{sheet:<role>}` and `{sheets}` become this study's sheet names."""
    findings = concat_findings(
        finding(severity="ERROR", rule="SF-0102", file="b.csv", sheet="bloods", row=2, subject="07",
                variable="subject", value="07"),
        finding(severity="WARNING", rule="SF-0004", stage="ingest", file="x.xlsx", sheet="Notes"),
    )
    labels = {"subjects": "Patients", "exposure": "Dosing", "findings": "Bloods"}
    needed = build_queries(findings, sheet_labels=labels).set_index("Rule")["What is needed"]
    assert needed["SF-0102"] == "Correct the subject number, or send the subject's Patients row."
    assert needed["SF-0004"] == (
        "Rename the sheet to one the study expects (Patients, Dosing, Bloods) if it holds study data; "
        "otherwise nothing."
    )
    words = " ".join(read_rules()["what_is_needed"].dropna())
    for first_study in ("Demographics", "Infusions", "infusion", "Labs", "Assessments", "liver"):
        assert first_study not in words
