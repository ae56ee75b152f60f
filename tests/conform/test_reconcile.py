"""Reconciliation: rows read = mapped + held back, and it notices when that breaks."""

import pandas as pd

from transforms.core.findings import ERROR, concat_findings, make_finding
from transforms.conform.reconcile import check_reconciliation, reconcile_rows

SHEETS = {"labs": pd.DataFrame({"_file": ["l.csv"] * 4, "_sheet": ["l"] * 4, "_row": [2, 3, 4, 5]})}
INVENTORY = pd.DataFrame(
    {"file": ["l.csv", "d.csv"], "sheet": ["l", "d"], "kind": ["labs", "demographics"],
     "rows": [4, 7], "loaded": [True, False]}
)


def lb(rows):
    return {"LB": pd.DataFrame({"_file": "l.csv", "_sheet": "l", "_row": rows})}


def finding(row, severity=ERROR, file="l.csv", sheet="l"):
    return make_finding(severity=severity, stage="validate", rule="SF-0000", message="m", file=file, sheet=sheet, row=row)


def test_balanced_run_counts_read_mapped_held_back():
    findings = concat_findings(finding(4), finding(None, file="d.csv", sheet="d"))
    # row 5 maps to two records (it counts once); row 4 is held back; d.csv was rejected whole
    counts = reconcile_rows(SHEETS, INVENTORY, findings, lb([2, 3, 5, 5]))
    assert counts[["file", "read", "mapped", "held_back"]].values.tolist() == [
        ["d.csv", 7, 0, 7], ["l.csv", 4, 3, 1]]
    assert check_reconciliation(counts) == []


def test_a_row_with_neither_record_nor_finding_breaks_the_invariant():
    counts = reconcile_rows(SHEETS, INVENTORY, finding(4), lb([2, 3]))
    problems = check_reconciliation(counts)
    assert len(problems) == 1 and "1 rows have neither a record nor a finding" in problems[0]


def test_a_mapped_row_with_an_error_breaks_the_invariant():
    counts = reconcile_rows(SHEETS, INVENTORY, finding(4), lb([2, 3, 4, 5]))
    assert any("despite an ERROR" in p for p in check_reconciliation(counts))


def test_a_warning_does_not_hold_a_row_back():
    counts = reconcile_rows(SHEETS, INVENTORY, finding(4, severity="WARNING"), lb([2, 3, 4, 5]))
    assert counts.loc[counts["file"] == "l.csv", ["mapped", "held_back"]].values.tolist() == [[4, 0]]
