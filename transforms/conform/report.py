"""Explained issues and the conformance report: which findings the study explains
(explained_issues.csv), the run's severities for them, and the per-rule summary and HTML report.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from transforms.conform.rules import COVERED, IMPLEMENTED, NOT_APPLICABLE, NOT_IMPLEMENTED


EXPLAINED_COLUMNS = ["rule", "dataset", "variable", "where", "explanation"]
EXPLAINED, UNEXPLAINED = "EXPLAINED", "UNEXPLAINED"


def check_explained_issues(explained: pd.DataFrame, rules: pd.DataFrame) -> list[str]:
    """Every problem of a study's explained_issues.csv, one sentence each with the fix.

    A row explains the findings of `rule` (or of a rule whose check also cites it, so CORE-000892
    explains SD0022) in `dataset`, on `variable` if given, and on the records `where` selects:
    `COLUMN=value|value` (the record's COLUMN is one of the values), blank for every record."""
    missing = [c for c in EXPLAINED_COLUMNS if c not in explained.columns]
    if missing:
        return [f"missing column(s) {missing}: the header must be {','.join(EXPLAINED_COLUMNS)}"]
    known = set(rules["rule"])
    problems = [f"line {i + 2}: rule {r!r} is not in mappings/conformance_rules.csv"
                for i, r in enumerate(explained["rule"]) if r not in known]
    problems += [f"line {i + 2}: explanation is empty: say why the issue is left in the data"
                 for i, e in enumerate(explained["explanation"]) if not str(e).strip()]
    problems += [f"line {i + 2}: dataset is empty: name the dataset (e.g. LB)"
                 for i, d in enumerate(explained["dataset"]) if not str(d).strip()]
    problems += [f"line {i + 2}: where {w!r} is not COLUMN=value|value"
                 for i, w in enumerate(explained["where"]) if w and not re.match(r"^[A-Z][A-Z0-9_]{0,7}=.+$", w)]
    return problems


def compute_explanations(findings: pd.DataFrame, explained: pd.DataFrame, datasets: dict[str, pd.DataFrame],
                         rules: pd.DataFrame) -> pd.Series:
    """The explanation (citing its rule id) of each conformance finding, None where there is none."""
    explanation = pd.Series(None, index=findings.index, dtype=object)
    cites = {r.rule: {r.rule, *r.also_cites.split()} for r in rules.itertuples()}
    for issue in explained.itertuples():  # a handful of declared issues, not data rows
        covering = {issue.rule} | {rule for rule, cited in cites.items() if issue.rule in cited}
        mask = findings["rule"].isin(covering) & (findings["sheet"] == issue.dataset) & explanation.isna()
        if issue.variable:
            mask &= findings["variable"] == issue.variable
        if issue.where:
            frame = datasets.get(issue.dataset, pd.DataFrame())
            column, values = issue.where.split("=", 1)
            chosen = frame[column].isin(values.split("|")) if column in frame.columns else pd.Series(False, index=frame.index)
            records = set((np.flatnonzero(chosen.to_numpy()) + 1).tolist())
            mask &= findings["row"].isin(records).fillna(False).astype(bool)
        explanation[mask] = f"{issue.rule}: {issue.explanation}"
    return explanation


def derive_report_findings(findings: pd.DataFrame, explanation: pd.Series) -> pd.DataFrame:
    """The findings as the conformance report shows them: EXPLAINED / UNEXPLAINED and the explanation."""
    return findings.assign(
        explained=np.where(explanation.notna(), EXPLAINED, UNEXPLAINED), explanation=explanation.to_numpy()
    )


def derive_explained_findings(findings: pd.DataFrame, explanation: pd.Series) -> pd.DataFrame:
    """The findings the run carries on: an explained issue is INFO (it no longer counts against the
    run) and its message ends with the explanation; the conformance report keeps the rule's severity."""
    known = explanation.notna()
    return findings.assign(
        severity=findings["severity"].where(~known, "INFO"),
        message=findings["message"].where(~known, findings["message"] + " [explained: " + explanation.fillna("") + "]"),
    )


def summarise_conformance(findings: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """One row per rule of the table: status, severity, how many findings it raised."""
    counts = findings.groupby("rule").size() if not findings.empty else pd.Series(dtype="int64")
    explained = (findings.loc[findings["explained"] == EXPLAINED].groupby("rule").size()
                 if "explained" in findings.columns and not findings.empty else pd.Series(dtype="int64"))
    summary = rules[["rule", "catalogue", "title", "status", "severity", "applies_to", "also_cites", "covered_by", "reason"]].copy()
    summary.insert(4, "findings", summary["rule"].map(counts).fillna(0).astype("int64"))
    summary.insert(5, "explained", summary["rule"].map(explained).fillna(0).astype("int64"))
    summary["result"] = np.select(
        [summary["status"] != IMPLEMENTED, summary["findings"] > summary["explained"], summary["findings"] > 0],
        ["-", "FAIL", EXPLAINED], "PASS",
    )
    order = {IMPLEMENTED: 0, COVERED: 1, NOT_IMPLEMENTED: 2, NOT_APPLICABLE: 3}
    return summary.sort_values(["status", "rule"], key=lambda c: c.map(order) if c.name == "status" else c, kind="stable").reset_index(drop=True)


def format_conformance_html(summary: pd.DataFrame, findings: pd.DataFrame, studyid: str) -> str:
    """A self-contained HTML report: counts, findings, then every rule with its status."""
    implemented = summary[summary["status"] == IMPLEMENTED]
    open_ = findings[findings["explained"] != EXPLAINED] if "explained" in findings.columns else findings
    severity = open_["severity"].value_counts() if not open_.empty else pd.Series(dtype="int64")
    n_explained = len(findings) - len(open_)
    counts = summary["status"].value_counts()

    def table(frame: pd.DataFrame) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
        body = "\n".join(
            "<tr>" + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in row) + "</tr>"
            for row in frame.itertuples(index=False)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"

    failed = implemented[implemented["result"] == "FAIL"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(studyid)} conformance report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}}th{{background:#eee}}</style></head>
<body>
<h1>{html.escape(studyid)}: SDTM conformance report</h1>
<p>FDA Validator Rules v1.3 and CDISC CORE rules (catalogues in mappings/standards/conformance-rules/;
which rules are checked: mappings/conformance_rules.csv).</p>
<p>Rules checked: {int(counts.get(IMPLEMENTED, 0))} implemented, {int(counts.get(COVERED, 0))} more covered by
those checks; not applicable: {int(counts.get(NOT_APPLICABLE, 0))}; not implemented: {int(counts.get(NOT_IMPLEMENTED, 0))}.
Unexplained findings: ERROR {int(severity.get("ERROR", 0))}, WARNING {int(severity.get("WARNING", 0))};
explained: {n_explained} (the study's explained_issues.csv; each explanation cites its rule id).
Rules failed: {len(failed)} of {len(implemented)}; explained: {int((implemented["result"] == EXPLAINED).sum())}.</p>
<h2>Findings</h2>
{table(findings) if not findings.empty else "<p>None.</p>"}
<h2>Rules</h2>
{table(summary)}
</body></html>
"""
