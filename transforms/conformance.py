"""Conformance: the FDA Validator and CDISC CORE rules that apply to the package, as checks.

Which rules exist, which are implemented (and by which function), their severity and why the
others do not apply is data: `mappings/conformance_rules.csv` (one row per rule id of the two
catalogues in `mappings/standards/conformance-rules/`). An implemented row of a known kind (A
requires B, unique, one to one, not a word, a maximum length, a subset) is data: its `predicate`
names the kind (PREDICATES) and `parameters` its variables. Any other implemented row names a
function of CHECKS (a dispatch table: names map to functions, nothing is evaluated). Both take a
target:

* a dataset list (`LB RS`) or `all` for checks that run over each dataset that has the variables;
* `TS.<TSPARMCD>` for the trial-summary parameter rules (one function, many parameters);
* a file name for the package-file rules (`dm.xpt define.xml`).

A check is a vectorised function `(Package, target) -> hits` (HIT_COLUMNS: dataset, record,
subject, variable, value, message); `check_conformance` turns hits into findings of stage
`conform` citing the rule id, with the dataset file and the 1-based record number, so a reviewer
can find the record. Checks run on the typed frames as written (Char: str or None, Num: float).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.conform.predicates import (
    COMPLETE_DATE_PATTERN,
    ISO8601_DTC_PATTERN,
    ISO8601_DURATION_PATTERN,
    NUMBER_PATTERN,
    TESTCD_PATTERN,
    compute_filled,
    compute_is_word,
    compute_not_in,
    compute_not_one_to_one,
    compute_not_unique,
    compute_over_length,
    compute_requires,
)
from transforms.findings import FINDING_COLUMNS, empty_findings

STAGE = "conform"
RULE_COLUMNS = [
    "rule", "catalogue", "title", "implemented", "status", "severity", "applies_to", "function", "also_cites",
    "covered_by", "reason", "predicate", "parameters",
]
HIT_COLUMNS = ["dataset", "record", "subject", "variable", "value", "message"]
IMPLEMENTED, COVERED, NOT_APPLICABLE, NOT_IMPLEMENTED = "implemented", "covered", "not applicable", "not implemented"
STATUSES = (IMPLEMENTED, COVERED, NOT_APPLICABLE, NOT_IMPLEMENTED)

# one home for what a valid value is, shared with the GX SDTM gate (expectations/sdtm.py)
_ISO8601_DTC = ISO8601_DTC_PATTERN
_ISO8601_DURATION = ISO8601_DURATION_PATTERN
_COMPLETE_DATE = COMPLETE_DATE_PATTERN
_NUMBER = NUMBER_PATTERN
_TESTCD = TESTCD_PATTERN
_NULL_FLAVOR_WORDS = {"NA", "N/A", "UNK", "UNKNOWN", "NI", "NASK", "ASKU", "NAV", "OTH", "PINF", "NINF", "MSK", "NP", "NULL", "NONE GIVEN"}
_VALUE_TYPE_PATTERNS = {
    "integer": r"^\d+$",
    "float": _NUMBER,
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "durationDatetime": _ISO8601_DURATION,
}
NOT_TREATED_ARMS = {"SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN"}


@dataclass(frozen=True)
class Package:
    """What the checks see: the datasets as written, their metadata and the files of the run."""

    datasets: dict[str, pd.DataFrame]
    variables: pd.DataFrame
    files: dict[str, int]  # path in the run folder -> size in bytes
    ts_parameters: pd.DataFrame
    codelists: pd.DataFrame
    dataset_labels: dict[str, str] = field(default_factory=dict)  # every SDTMIG dataset
    define_xml: bytes | None = None

    def frame(self, name: str) -> pd.DataFrame | None:
        return self.datasets.get(name)

    def meta(self, name: str) -> pd.DataFrame:
        return self.variables[self.variables["dataset"] == name]


# --- running -------------------------------------------------------------------------------------


def read_conformance_rules(path: Path) -> pd.DataFrame:
    """The rule table; raises ValueError naming the fix for any inconsistent row."""
    rules = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8").astype(object)
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    problems = check_rule_table(rules)
    if problems:
        raise ValueError(f"{path}:\n" + "\n".join(f"  - {p}" for p in problems))
    return rules[RULE_COLUMNS]


def check_rule_table(rules: pd.DataFrame) -> list[str]:
    """Every inconsistency of the rule table, one sentence each."""
    problems = [f"{r} is listed twice" for r in rules.loc[rules["rule"].duplicated(), "rule"]]
    problems += [
        f"{r.rule}: status {r.status!r} is not one of {', '.join(STATUSES)}"
        for r in rules[~rules["status"].isin(STATUSES)].itertuples()
    ]
    checked = rules["status"].isin([IMPLEMENTED, COVERED])
    problems += [
        f"{r.rule}: implemented must be {'Y' if c else 'N'} for status {r.status!r}"
        for r, c in zip(rules.itertuples(), checked) if r.implemented != ("Y" if c else "N")
    ]
    implemented = rules[rules["status"] == IMPLEMENTED]
    primary = set(implemented["rule"])
    problems += [
        f"{r.rule}: covered_by {r.covered_by!r} is not an implemented rule"
        for r in rules[rules["status"] == COVERED].itertuples() if r.covered_by not in primary
    ]
    by_function = implemented["predicate"] == ""
    problems += [
        f"{r.rule}: function {r.function!r} is not a check (see transforms/conformance.py CHECKS)"
        for r in implemented[by_function & ~implemented["function"].isin(CHECKS)].itertuples()
    ]
    problems += [
        f"{r.rule}: give a function or a predicate, not both" for r in implemented[~by_function & (implemented["function"] != "")].itertuples()
    ]
    problems += [
        f"{r.rule}: {p}" for r in implemented[~by_function].itertuples()
        for p in check_predicate_parameters(r.predicate, r.parameters)
    ]
    problems += [
        f"{r.rule}: severity {r.severity!r} must be ERROR or WARNING"
        for r in implemented[~implemented["severity"].isin(["ERROR", "WARNING"])].itertuples()
    ]
    problems += [
        f"{r.rule}: a rule without its own check needs a reason"
        for r in rules[(rules["status"] != IMPLEMENTED) & (rules["reason"] == "")].itertuples()
    ]
    return problems


def build_package(datasets, variables, study, files, dataset_labels=None, define_xml=None) -> Package:
    return Package(
        datasets=dict(datasets),
        variables=variables,
        files=dict(files),
        ts_parameters=study.ct.ts_parameters,
        codelists=study.ct.codelists,
        dataset_labels=dict(dataset_labels or {}),
        define_xml=define_xml,
    )


def check_conformance(datasets, variables, study, rules: pd.DataFrame, files, dataset_labels=None,
                      define_xml: bytes | None = None) -> pd.DataFrame:
    """Findings (FINDING_COLUMNS, stage conform) of every implemented rule over the package.

    `files`: {path relative to the run folder: size in bytes}; `dataset_labels`: every SDTMIG
    dataset's label (read_dataset_metadata); `define_xml`: the define.xml written."""
    package = build_package(datasets, variables, study, files, dataset_labels, define_xml)
    return run_rules(package, rules)


def run_rules(package: Package, rules: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for rule in rules[rules["status"] == IMPLEMENTED].itertuples():
        hits = run_rule(package, rule)
        if hits is None or hits.empty:
            continue
        parts.append(_as_findings(hits, rule, package))
    if not parts:
        return empty_findings()
    findings = pd.concat(parts, ignore_index=True)
    return findings.sort_values(["severity", "rule", "file", "row"], kind="stable", na_position="first").reset_index(drop=True)


def run_rule(package: Package, rule) -> pd.DataFrame:
    """The hits (HIT_COLUMNS) of one implemented rule: its predicate kind with its parameters, or
    its function of CHECKS."""
    if rule.predicate:
        return PREDICATES[rule.predicate](package, rule.applies_to, rule.parameters.split())
    return CHECKS[rule.function](package, rule.applies_to)


def _as_findings(hits: pd.DataFrame, rule, package: Package) -> pd.DataFrame:
    dataset = hits["dataset"].fillna("")
    # The dataset's path in the run folder as written (the submission folder), else its file name.
    written = {Path(f).name: f for f in package.files if f.endswith(".xpt")}
    names = dataset.str.lower() + ".xpt"
    file = np.where(dataset != "", names.map(written).fillna(names), None)
    record = pd.array(hits["record"], dtype="Int64") + 1
    out = pd.DataFrame(
        {
            "severity": rule.severity,
            "stage": STAGE,
            "rule": rule.rule,
            "file": file,
            "sheet": hits["dataset"].to_numpy(),
            "row": record,
            "subject": hits["subject"].to_numpy(),
            "variable": hits["variable"].to_numpy(),
            "value": hits["value"].astype(object).where(hits["value"].isna(), hits["value"].astype(str))
            .where(hits["value"].notna(), None).to_numpy(),
            "message": (rule.rule + ": " + hits["message"].astype(str)).to_numpy(),
        }
    )
    return out[FINDING_COLUMNS]


# --- explained issues ----------------------------------------------------------------------------

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


# --- helpers -------------------------------------------------------------------------------------


def _datasets(package: Package, target: str) -> list[str]:
    if target in ("", "all"):
        return sorted(package.datasets)
    return [name for name in target.split() if name in package.datasets]


def _hits(frame: pd.DataFrame, dataset: str, mask, variable: str | None, message) -> pd.DataFrame:
    mask = pd.Series(mask, index=frame.index).fillna(False).astype(bool)
    rows = frame[mask]
    subject = rows["USUBJID"] if "USUBJID" in rows.columns else pd.Series(None, index=rows.index, dtype=object)
    if variable is not None and variable in rows.columns:
        value = rows[variable]
    else:
        value = pd.Series(None, index=rows.index, dtype=object)
    message = message[mask] if isinstance(message, pd.Series) else message
    return pd.DataFrame(
        {
            "dataset": dataset,
            "record": np.flatnonzero(mask.to_numpy()),
            "subject": subject.to_numpy(),
            "variable": variable,
            "value": value.to_numpy(dtype=object),
            "message": message.to_numpy() if isinstance(message, pd.Series) else message,
        }
    )


def _dataset_hit(dataset: str | None, variable: str | None, value, message: str) -> pd.DataFrame:
    """A hit about a dataset or the package rather than a record."""
    return pd.DataFrame([{"dataset": dataset, "record": pd.NA, "subject": None, "variable": variable,
                          "value": value, "message": message}])


def _concat(parts) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        return pd.DataFrame(columns=HIT_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _suffix_columns(frame: pd.DataFrame, dataset: str, suffix: str) -> list[str]:
    """Columns --SUFFIX of a dataset: the domain-prefixed name only (LBTESTCD for TESTCD)."""
    name = f"{dataset}{suffix}"
    return [name] if name in frame.columns else []


def _text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), None)


_filled = compute_filled


def _date_part(series: pd.Series) -> pd.Series:
    text = series.astype("str")
    return text.str.slice(0, 10).where(series.notna() & text.str.match(_COMPLETE_DATE))


def _dm_column(package: Package, frame: pd.DataFrame, column: str) -> pd.Series:
    dm = package.frame("DM")
    if dm is None or "USUBJID" not in frame.columns or column not in dm.columns:
        return pd.Series(None, index=frame.index, dtype=object)
    lookup = dm.drop_duplicates("USUBJID").set_index("USUBJID")[column]
    return frame["USUBJID"].map(lookup)


# --- package and structure -----------------------------------------------------------------------


def check_files_present(package: Package, target: str) -> pd.DataFrame:
    """FDA TRC 1736: dm.xpt and define.xml are part of the package."""
    present = {Path(f).name for f in package.files}
    return _concat(
        _dataset_hit(None, None, name, f"{name} is missing from the package")
        for name in target.split() if name not in present
    )


def check_dataset_present(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, None, None, f"dataset {name} is missing") for name in target.split()
        if name not in package.datasets
    )


def check_study_start_date(package: Package, target: str) -> pd.DataFrame:
    """FDA TRC 1734: ts.xpt with a TSPARMCD SSTDTC record whose TSVAL is an ISO 8601 date."""
    ts = package.frame("TS")
    if ts is None or "ts.xpt" not in {Path(f).name for f in package.files}:
        return _dataset_hit("TS", None, None, "ts.xpt is missing: it must hold the study start date (SSTDTC)")
    sstdtc = ts[ts["TSPARMCD"] == "SSTDTC"]
    if sstdtc.empty:
        return _dataset_hit("TS", "TSPARMCD", "SSTDTC", "no SSTDTC record in TS")
    valid = sstdtc["TSVAL"].astype("str").str.match(r"^\d{4}-\d{2}-\d{2}$") & sstdtc["TSVAL"].notna()
    return _hits(ts, "TS", ts.index.isin(sstdtc.index[~valid]), "TSVAL", "SSTDTC TSVAL is not a complete ISO 8601 date")


def _core_variables(package: Package, core: str, target: str):
    for name in _datasets(package, target):
        meta = package.meta(name)
        yield name, package.datasets[name], meta[meta["core"] == core]["variable"]


def check_required_present(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, v, None, f"Req variable {v} is not in {name}")
        for name, frame, required in _core_variables(package, "Req", target) for v in required if v not in frame.columns
    )


def check_expected_present(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, v, None, f"Exp variable {v} is not in {name}")
        for name, frame, expected in _core_variables(package, "Exp", target) for v in expected if v not in frame.columns
    )


def check_required_not_null(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(frame, name, ~_filled(frame[v]), v, f"Req variable {v} is null")
        for name, frame, required in _core_variables(package, "Req", target) for v in required if v in frame.columns
    )


def check_permissible_not_all_null(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, v, None, f"Perm variable {v} is null in every record of {name}: drop it")
        for name, frame, perm in _core_variables(package, "Perm", target)
        for v in perm if v in frame.columns and len(frame) and not _filled(frame[v]).any()
    )


def check_variable_order(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        expected = [v for v in package.meta(name).sort_values("order")["variable"] if v in package.datasets[name].columns]
        actual = [c for c in package.datasets[name].columns if c in set(expected)]
        if actual != expected:
            parts.append(_dataset_hit(name, None, None, f"variables are not in SDTMIG order ({', '.join(expected)})"))
    return _concat(parts)


def check_domain_value(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(frame, name, frame["DOMAIN"] != name, "DOMAIN", f"DOMAIN is not {name}")
        for name in _datasets(package, target) if "DOMAIN" in (frame := package.datasets[name]).columns
    )


def check_domain_length(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(frame, name, frame["DOMAIN"].astype("str").str.len() != 2, "DOMAIN", "DOMAIN is not 2 characters")
        for name in _datasets(package, target) if "DOMAIN" in (frame := package.datasets[name]).columns
    )


def check_studyid_consistent(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    if dm is None or dm.empty:
        return _concat([])
    studyid = dm["STUDYID"].iloc[0]
    return _concat(
        _hits(frame, name, frame["STUDYID"] != studyid, "STUDYID", f"STUDYID differs from DM ({studyid})")
        for name in _datasets(package, target) if "STUDYID" in (frame := package.datasets[name]).columns
    )


# --- values --------------------------------------------------------------------------------------


def check_iso8601_dtc(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for column in [c for c in frame.columns if c.endswith("DTC")]:
            bad = _filled(frame[column]) & ~frame[column].astype("str").str.match(_ISO8601_DTC)
            parts.append(_hits(frame, name, bad, column, f"{column} is not ISO 8601"))
    if "TS" in _datasets(package, target):
        ts = package.datasets["TS"]
        dates = ts["TSPARMCD"].astype("str").str.endswith("DTC") & _filled(ts["TSVAL"])
        bad = dates & ~ts["TSVAL"].astype("str").str.match(_ISO8601_DTC)
        parts.append(_hits(ts, "TS", bad, "TSVAL", "date parameter TSVAL is not ISO 8601"))
    return _concat(parts)


def check_iso8601_duration(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for column in [c for c in frame.columns if c.endswith(("DUR", "ELTM", "EVLINT"))]:
            bad = _filled(frame[column]) & ~frame[column].astype("str").str.match(_ISO8601_DURATION)
            parts.append(_hits(frame, name, bad, column, f"{column} is not an ISO 8601 duration"))
    return _concat(parts)



def check_ascii(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for column in frame.columns[frame.dtypes == object]:
            bad = frame[column].astype("str").str.contains(r"[^\x20-\x7e]", regex=True) & frame[column].notna()
            parts.append(_hits(frame, name, bad, column, f"{column} holds non-ASCII or non-printable characters"))
    return _concat(parts)


def check_leading_space_or_period(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for column in frame.columns[frame.dtypes == object]:
            text = frame[column].astype("str")
            bad = frame[column].notna() & (text.str.startswith(" ") | (text == "."))
            parts.append(_hits(frame, name, bad, column, f"{column} starts with a space or is only '.'"))
    return _concat(parts)



# --- findings class ------------------------------------------------------------------------------


def _findings_pairs(package: Package, target: str, *suffixes: str):
    """(dataset, frame, [<dataset><suffix> ...]) for each dataset that has all the variables."""
    for name in _datasets(package, target):
        frame = package.datasets[name]
        columns = [f"{name}{s}" for s in suffixes]
        if all(c in frame.columns for c in columns):
            yield name, frame, columns


def check_derived_has_stresc(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, (f[drvfl] == "Y") & ~_filled(f[stresc]), stresc, f"{drvfl} = Y but {stresc} is null")
        for n, f, (drvfl, stresc) in _findings_pairs(package, target, "DRVFL", "STRESC")
    )



def check_testcd_format(package: Package, target: str) -> pd.DataFrame:
    """--TESTCD (and TI's IETESTCD): at most 8 of A-Z, 0-9, _, not starting with a digit."""
    pairs = [(n, f, (f"{n}TESTCD",)) for n, f, _ in _findings_pairs(package, target, "TESTCD")]
    if "TI" in _datasets(package, target) and "IETESTCD" in package.datasets["TI"].columns:
        pairs.append(("TI", package.datasets["TI"], ("IETESTCD",)))
    return _concat(
        _hits(f, n, _filled(f[testcd]) & ~f[testcd].astype("str").str.match(_TESTCD), testcd,
              f"{testcd} is over 8 characters, starts with a digit or holds other than A-Z, 0-9, _")
        for n, f, (testcd,) in pairs
    )


def check_reasnd_has_stat(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, _filled(f[reasnd]) & (f[stat] != "NOT DONE"), stat, f"{reasnd} is given but {stat} is not NOT DONE")
        for n, f, (reasnd, stat) in _findings_pairs(package, target, "REASND", "STAT")
    )


def check_not_done_has_reasnd(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, (f[stat] == "NOT DONE") & ~_filled(f[reasnd]), reasnd, f"{stat} is NOT DONE but {reasnd} is null")
        for n, f, (stat, reasnd) in _findings_pairs(package, target, "STAT", "REASND")
    )


def check_not_done_has_no_result(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, (f[stat] == "NOT DONE") & (_filled(f[orres]) | _filled(f[stresc])), orres,
              f"{stat} is NOT DONE but a result is given")
        for n, f, (stat, orres, stresc) in _findings_pairs(package, target, "STAT", "ORRES", "STRESC")
    )



def check_normal_range_order(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, f[high] < f[low], high, f"{high} is below {low}")
        for n, f, (low, high) in _findings_pairs(package, target, "STNRLO", "STNRHI")
    )


def check_missing_orres_explained(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (orres, stat) in _findings_pairs(package, target, "ORRES", "STAT"):
        derived = f[f"{n}DRVFL"] == "Y" if f"{n}DRVFL" in f.columns else False
        bad = ~_filled(f[orres]) & (f[stat] != "NOT DONE") & ~derived
        parts.append(_hits(f, n, bad, orres, f"{orres} is null but {stat} is not NOT DONE and the record is not derived"))
    return _concat(parts)


def _numeric(series: pd.Series) -> pd.Series:
    text = series.astype("str")
    return pd.to_numeric(text.where(series.notna() & text.str.match(_NUMBER)), errors="coerce")


def check_stresn_matches_stresc(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (stresc, stresn) in _findings_pairs(package, target, "STRESC", "STRESN"):
        number = _numeric(f[stresc])
        bad = number.notna() & ~np.isclose(number.fillna(0), f[stresn].fillna(np.inf), rtol=1e-9, atol=0)
        parts.append(_hits(f, n, bad, stresn, f"{stresc} is numeric but {stresn} is null or differs"))
    return _concat(parts)


def check_stresn_needs_numeric_stresc(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, f[stresn].notna() & _numeric(f[stresc]).isna(), stresn, f"{stresn} is given but {stresc} is not a number")
        for n, f, (stresc, stresn) in _findings_pairs(package, target, "STRESC", "STRESN")
    )


def check_lobxfl_has_stresc(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, (f[lobxfl] == "Y") & ~_filled(f[stresc]), stresc, f"{lobxfl} = Y but {stresc} is null")
        for n, f, (lobxfl, stresc) in _findings_pairs(package, target, "LOBXFL", "STRESC")
    )


def check_flag_values(package: Package, target: str) -> pd.DataFrame:
    """--LOBXFL, --DRVFL, DTHFL: Y or null."""
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for column in [c for c in frame.columns if c.endswith(("LOBXFL", "DRVFL", "BLFL")) or c == "DTHFL"]:
            parts.append(_hits(frame, name, _filled(frame[column]) & (frame[column] != "Y"), column, f"{column} is neither Y nor null"))
    return _concat(parts)


def _one_to_one(frame: pd.DataFrame, dataset: str, key: str, other: str) -> pd.DataFrame:
    pairs = frame[[key, other]].dropna().drop_duplicates()
    many = pairs[pairs.duplicated(key, keep=False)][key]
    bad = frame[key].isin(many)
    return _hits(frame, dataset, bad, other, f"one {key} has more than one {other}")




def check_paired_codes(package: Package, target: str) -> pd.DataFrame:
    """CT2003: --TESTCD and --TEST (TSPARMCD and TSPARM) carry terms with the same NCI code."""
    codes = package.codelists[package.codelists["nci_code"] != ""]
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for code_var, name_var in ((f"{name}TESTCD", f"{name}TEST"), ("TSPARMCD", "TSPARM")):
            if code_var not in frame.columns or name_var not in frame.columns:
                continue
            code_of_code = frame[code_var].map(codes.drop_duplicates("value").set_index("value")["nci_code"])
            code_of_name = frame[name_var].map(codes.drop_duplicates("value").set_index("value")["nci_code"])
            bad = code_of_code.notna() & code_of_name.notna() & (code_of_code != code_of_name)
            parts.append(_hits(frame, name, bad, name_var, f"{code_var} and {name_var} are different CT terms"))
    return _concat(parts)


def check_baseline_present(package: Package, target: str) -> pd.DataFrame:
    """SD0006 read for SDTMIG 3.4 (LOBXFL replaces BLFL): every treated subject of DM has at least
    one --LOBXFL = Y record in the domain."""
    dm = package.frame("DM")
    if dm is None:
        return _concat([])
    treated = dm[_filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS)] if "ACTARMCD" in dm.columns else dm
    parts = []
    for name in _datasets(package, target):
        frame, flag = package.datasets[name], f"{name}LOBXFL"
        if flag not in frame.columns:
            continue
        with_baseline = set(frame.loc[frame[flag] == "Y", "USUBJID"])
        parts.append(_hits(dm, "DM", dm.index.isin(treated.index) & ~dm["USUBJID"].isin(with_baseline), "USUBJID",
                           f"treated subject has no {flag} = Y record in {name}"))
    return _concat(parts)


# --- timing --------------------------------------------------------------------------------------


def _start_end_pairs(frame: pd.DataFrame, dataset: str, start: str, end: str):
    for column in frame.columns:
        if column.endswith(start) and column.startswith(dataset):
            partner = column[: -len(start)] + end
            if partner in frame.columns:
                yield column, partner


def check_start_before_end(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for start, end in _start_end_pairs(frame, name, "STDTC", "ENDTC"):
            a, b = _date_part(frame[start]), _date_part(frame[end])
            parts.append(_hits(frame, name, a.notna() & b.notna() & (a > b), start, f"{start} is after {end}"))
    dm = package.frame("DM")
    if dm is not None and "DM" in _datasets(package, target):
        for start, end in (("RFSTDTC", "RFENDTC"), ("RFXSTDTC", "RFXENDTC")):
            a, b = _date_part(dm[start]), _date_part(dm[end])
            parts.append(_hits(dm, "DM", a.notna() & b.notna() & (a > b), start, f"{start} is after {end}"))
    return _concat(parts)


def check_study_day_order(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for start, end in _start_end_pairs(frame, name, "STDY", "ENDY"):
            parts.append(_hits(frame, name, frame[start] > frame[end], start, f"{start} is after {end}"))
    return _concat(parts)


def check_study_day_not_zero(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(frame, name, frame[column] == 0, column, f"{column} is 0 (there is no day 0)")
        for name in _datasets(package, target) for frame in [package.datasets[name]]
        for column in frame.columns if column.endswith("DY") and column != "VISITDY"
    )


def _study_day_pairs(frame: pd.DataFrame):
    """(--DY variable, its --DTC) pairs: LBDY/LBDTC, EXSTDY/EXSTDTC, SVENDY/SVENDTC ..."""
    for column in frame.columns:
        if column.endswith("DY") and column != "VISITDY":
            dtc = column[:-2] + "DTC"
            if dtc in frame.columns:
                yield column, dtc


def compute_expected_study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """SDTMIG 4.4.4 study day from complete dates, independently of the mapping's own code."""
    date = pd.to_datetime(_date_part(dtc), errors="coerce", format="%Y-%m-%d")
    reference = pd.to_datetime(_date_part(rfstdtc), errors="coerce", format="%Y-%m-%d")
    days = (date - reference).dt.days
    return (days + (days >= 0)).astype("Float64")


def check_study_day_value(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        rfstdtc = _dm_column(package, frame, "RFSTDTC")
        for day, dtc in _study_day_pairs(frame):
            expected = compute_expected_study_day(frame[dtc], rfstdtc)
            bad = expected.notna() & (frame[day].isna() | (frame[day] != expected.astype("float64")))
            parts.append(_hits(frame, name, bad.fillna(False), day, f"{day} is not the SDTMIG study day of {dtc} from DM.RFSTDTC"))
    return _concat(parts)


def check_study_day_partial(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        rfstdtc = _dm_column(package, frame, "RFSTDTC")
        for day, dtc in _study_day_pairs(frame):
            incomplete = _date_part(frame[dtc]).isna() | _date_part(rfstdtc).isna()
            parts.append(_hits(frame, name, incomplete & frame[day].notna(), day,
                               f"{day} is given although {dtc} or DM.RFSTDTC is not a complete date"))
    return _concat(parts)


def check_study_day_present(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        for dtc in [c for c in frame.columns if c.startswith(name) and c.endswith("DTC")]:
            day = dtc[:-3] + "DY"
            if day not in frame.columns:
                parts.append(_dataset_hit(name, day, None, f"{dtc} is in {name} but {day} is not"))
    return _concat(parts)


def check_epoch_present(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, "EPOCH", None, f"EPOCH is not in {name}")
        for name in _datasets(package, target) if "EPOCH" not in package.datasets[name].columns
    )


# --- visits --------------------------------------------------------------------------------------


def _visit_frames(package: Package, target: str):
    for name in _datasets(package, target):
        frame = package.datasets[name]
        if {"VISITNUM", "VISIT"} <= set(frame.columns):
            yield name, frame


def _one_to_one_across(frames, key: str, other: str, message: str) -> pd.DataFrame:
    """Records whose `key` has more than one `other` anywhere in `frames` [(name, frame)]."""
    pairs = pd.concat([f[[key, other]] for _, f in frames] or [pd.DataFrame(columns=[key, other])]).dropna().drop_duplicates()
    many = set(pairs.loc[pairs.duplicated(key, keep=False), key])
    return _concat(_hits(f, n, f[key].isin(many), other, message) for n, f in frames)


def check_visit_within_visitnum(package: Package, target: str) -> pd.DataFrame:
    """One VISIT per VISITNUM across every dataset (TV, SV and the Findings)."""
    return _one_to_one_across(list(_visit_frames(package, target)), "VISITNUM", "VISIT", "one VISITNUM has more than one VISIT")


def check_visitnum_within_visit(package: Package, target: str) -> pd.DataFrame:
    return _one_to_one_across(list(_visit_frames(package, target)), "VISIT", "VISITNUM", "one VISIT has more than one VISITNUM")


def _tv(package: Package) -> pd.DataFrame:
    tv = package.frame("TV")
    return tv if tv is not None else pd.DataFrame(columns=["VISITNUM", "VISIT", "VISITDY"])


def check_planned_visits_match_tv(package: Package, target: str) -> pd.DataFrame:
    """SD1023 / SD1018: a planned visit (its VISITNUM in TV) has TV's VISIT and VISITDY."""
    tv = _tv(package).drop_duplicates("VISITNUM").set_index("VISITNUM")
    parts = []
    for name, frame in _visit_frames(package, target):
        if name == "TV":
            continue
        planned = frame["VISITNUM"].isin(tv.index)
        visit = frame["VISITNUM"].map(tv["VISIT"])
        bad = planned & (frame["VISIT"] != visit)
        if "VISITDY" in frame.columns:
            visitdy = frame["VISITNUM"].map(tv["VISITDY"])
            bad |= planned & ~((frame["VISITDY"] == visitdy) | (frame["VISITDY"].isna() & visitdy.isna()))
        parts.append(_hits(frame, name, bad, "VISIT", "VISITNUM/VISIT/VISITDY of a planned visit differ from TV"))
    return _concat(parts)


def check_visitdy_only_planned(package: Package, target: str) -> pd.DataFrame:
    tv = _tv(package)
    return _concat(
        _hits(f, n, f["VISITDY"].notna() & ~f["VISITNUM"].isin(tv["VISITNUM"]), "VISITDY", "VISITDY is given for a visit not in TV")
        for n, f in _visit_frames(package, target) if n != "TV" and "VISITDY" in f.columns
    )


def check_unplanned_visitdy_null(package: Package, target: str) -> pd.DataFrame:
    sv = package.frame("SV")
    if sv is None:
        return _concat([])
    return _hits(sv, "SV", _filled(sv["SVUPDES"]) & sv["VISITDY"].notna(), "VISITDY", "VISITDY is given for an unplanned visit (SVUPDES)")


def check_sv_visitnum_unique(package: Package, target: str) -> pd.DataFrame:
    sv = package.frame("SV")
    if sv is None:
        return _concat([])
    return _hits(sv, "SV", sv.duplicated(["USUBJID", "VISITNUM"], keep=False), "VISITNUM", "VISITNUM occurs twice for the subject")


def check_visits_in_sv(package: Package, target: str) -> pd.DataFrame:
    sv = package.frame("SV")
    if sv is None:
        return _dataset_hit("SV", None, None, "SV is missing")
    known = sv[["USUBJID", "VISITNUM", "VISIT"]].drop_duplicates().assign(_in_sv=True)
    parts = []
    for name, frame in _visit_frames(package, target):
        if name in ("SV", "TV") or "USUBJID" not in frame.columns:
            continue
        merged = frame[["USUBJID", "VISITNUM", "VISIT"]].merge(known, how="left", on=["USUBJID", "VISITNUM", "VISIT"])
        bad = frame["VISITNUM"].notna().to_numpy() & merged["_in_sv"].isna().to_numpy()
        parts.append(_hits(frame, name, bad, "VISITNUM", "USUBJID/VISITNUM/VISIT is not in SV"))
    return _concat(parts)


def _sv_rule(condition: Callable[[pd.DataFrame, pd.DataFrame], pd.Series], variable: str, message: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        sv = package.frame("SV")
        if sv is None:
            return _concat([])
        return _hits(sv, "SV", condition(sv, _tv(package)), variable, message)
    check.__doc__ = message
    return check


check_svpresp_values = _sv_rule(lambda sv, tv: _filled(sv["SVPRESP"]) & (sv["SVPRESP"] != "Y"), "SVPRESP", "SVPRESP is neither Y nor null")
check_svoccur_needs_presp = _sv_rule(lambda sv, tv: _filled(sv["SVOCCUR"]) & (sv["SVPRESP"] != "Y"), "SVOCCUR", "SVOCCUR is given but SVPRESP is not Y")
check_presp_visit_in_tv = _sv_rule(lambda sv, tv: (sv["SVPRESP"] == "Y") & ~sv["VISITNUM"].isin(tv["VISITNUM"]), "VISITNUM", "SVPRESP = Y but VISITNUM is not in TV")
check_unplanned_visit_not_in_tv = _sv_rule(lambda sv, tv: ~_filled(sv["SVPRESP"]) & sv["VISITNUM"].isin(tv["VISITNUM"]), "SVPRESP", "VISITNUM is a TV visit but SVPRESP is null")
check_svpresp_visitdy = _sv_rule(lambda sv, tv: ~_filled(sv["SVPRESP"]) & sv["VISITDY"].notna(), "VISITDY", "SVPRESP is null but VISITDY is given")


# --- subjects, arms, exposure --------------------------------------------------------------------


def check_subject_in_dm(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    subjects = set(dm["USUBJID"]) if dm is not None else set()
    return _concat(
        _hits(frame, name, ~frame["USUBJID"].isin(subjects), "USUBJID", "USUBJID is not in DM")
        for name in _datasets(package, target) if name != "DM" and "USUBJID" in (frame := package.datasets[name]).columns
    )


def _dm_rule(condition: Callable[[pd.DataFrame, Package], pd.Series], variable: str, message: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        dm = package.frame("DM")
        if dm is None:
            return _concat([])
        return _hits(dm, "DM", condition(dm, package), variable, message)
    check.__doc__ = message
    return check


def _ta_values(package: Package, column: str) -> set:
    ta = package.frame("TA")
    return set() if ta is None else set(ta[column].dropna())


def _rfx_from_ex(dm: pd.DataFrame, package: Package, how: str) -> pd.Series:
    ex = package.frame("EX")
    if ex is None:
        return pd.Series(None, index=dm.index, dtype=object)
    column = "EXSTDTC" if how == "min" else "EXENDTC"
    values = ex.dropna(subset=[column]).groupby("USUBJID")[column].agg(how)
    return dm["USUBJID"].map(values)


check_age_not_negative = _dm_rule(lambda dm, p: dm["AGE"] < 0, "AGE", "AGE is negative")
check_dthfl_values = _dm_rule(lambda dm, p: _filled(dm["DTHFL"]) & (dm["DTHFL"] != "Y"), "DTHFL", "DTHFL is neither Y nor null")
check_dthdtc_has_dthfl = _dm_rule(lambda dm, p: _filled(dm["DTHDTC"]) & (dm["DTHFL"] != "Y"), "DTHFL", "DTHDTC is given but DTHFL is not Y")
check_dthfl_has_dthdtc = _dm_rule(lambda dm, p: (dm["DTHFL"] == "Y") & ~_filled(dm["DTHDTC"]), "DTHDTC", "DTHFL = Y but DTHDTC is null")
check_armcd_in_ta = _dm_rule(
    lambda dm, p: _filled(dm["ARMCD"]) & ~dm["ARMCD"].isin(NOT_TREATED_ARMS) & ~dm["ARMCD"].isin(_ta_values(p, "ARMCD")),
    "ARMCD", "ARMCD is not in TA.ARMCD")
check_actarmcd_in_ta = _dm_rule(
    lambda dm, p: _filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS) & ~dm["ACTARMCD"].isin(_ta_values(p, "ARMCD")),
    "ACTARMCD", "ACTARMCD is not in TA.ARMCD")
check_armnrs_when_arm_null = _dm_rule(lambda dm, p: ~_filled(dm["ARMCD"]) & ~_filled(dm["ARMNRS"]), "ARMNRS", "ARMCD is null but ARMNRS is not given")
check_armnrs_when_actarm_null = _dm_rule(lambda dm, p: ~_filled(dm["ACTARMCD"]) & ~_filled(dm["ARMNRS"]), "ARMNRS", "ACTARMCD is null but ARMNRS is not given")
check_armnrs_when_arms_given = _dm_rule(lambda dm, p: _filled(dm["ARMCD"]) & _filled(dm["ACTARMCD"]) & _filled(dm["ARMNRS"]), "ARMNRS", "ARMCD and ACTARMCD are given but ARMNRS is too")
check_arm_needs_armcd = _dm_rule(lambda dm, p: _filled(dm["ARM"]) & ~_filled(dm["ARMCD"]), "ARMCD", "ARM is given but ARMCD is null")
check_actarm_needs_actarmcd = _dm_rule(lambda dm, p: _filled(dm["ACTARM"]) & ~_filled(dm["ACTARMCD"]), "ACTARMCD", "ACTARM is given but ACTARMCD is null")
check_rfstdtc_for_treated = _dm_rule(lambda dm, p: _filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS) & ~_filled(dm["RFSTDTC"]), "RFSTDTC", "treated subject (ACTARMCD given) without RFSTDTC")
check_rfstdtc_null_not_treated = _dm_rule(
    lambda dm, p: _filled(dm["ARMNRS"]) & (dm["ARMNRS"] != "UNPLANNED TREATMENT") & _filled(dm["RFSTDTC"]),
    "RFSTDTC", "subject not treated (ARMNRS) but RFSTDTC is given")
check_rfxendtc_present = _dm_rule(lambda dm, p: _filled(dm["RFXSTDTC"]) & ~_filled(dm["RFXENDTC"]), "RFXENDTC", "RFXSTDTC is given but RFXENDTC is null")
check_rfxstdtc_is_first_exposure = _dm_rule(
    lambda dm, p: _filled(_rfx_from_ex(dm, p, "min")) & (dm["RFXSTDTC"] != _rfx_from_ex(dm, p, "min")),
    "RFXSTDTC", "RFXSTDTC is not the earliest EXSTDTC")
check_rfxendtc_is_last_exposure = _dm_rule(
    lambda dm, p: _filled(_rfx_from_ex(dm, p, "max")) & (dm["RFXENDTC"] != _rfx_from_ex(dm, p, "max")),
    "RFXENDTC", "RFXENDTC is not the latest EXENDTC")
check_actual_arm_is_planned = _dm_rule(
    lambda dm, p: _filled(dm["ACTARMCD"]) & _filled(dm["ARMCD"]) & (dm["ACTARMCD"] != dm["ARMCD"]),
    "ACTARMCD", "ACTARMCD differs from ARMCD (subject treated other than randomised)")


def check_treated_have_exposure(package: Package, target: str) -> pd.DataFrame:
    dm, ex = package.frame("DM"), package.frame("EX")
    if dm is None:
        return _concat([])
    exposed = set(ex["USUBJID"]) if ex is not None else set()
    treated = _filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS)
    return _hits(dm, "DM", treated & ~dm["USUBJID"].isin(exposed), "USUBJID", "treated subject has no EX record")


def check_arm_one_to_one(package: Package, target: str) -> pd.DataFrame:
    """SD1033 / SD1034: ARMCD and ARM one to one within and across DM, TA (and TV)."""
    parts = []
    frames = [(n, package.datasets[n]) for n in ("DM", "TA", "TV") if n in package.datasets]
    pairs = pd.concat([f[["ARMCD", "ARM"]] for n, f in frames if {"ARMCD", "ARM"} <= set(f.columns)] or
                      [pd.DataFrame(columns=["ARMCD", "ARM"])]).dropna().drop_duplicates()
    bad_codes = set(pairs.loc[pairs.duplicated("ARMCD", keep=False), "ARMCD"])
    bad_names = set(pairs.loc[pairs.duplicated("ARM", keep=False), "ARM"])
    for name, frame in frames:
        if {"ARMCD", "ARM"} <= set(frame.columns):
            parts.append(_hits(frame, name, frame["ARMCD"].isin(bad_codes) | frame["ARM"].isin(bad_names), "ARM",
                               "ARMCD and ARM are not one to one across DM and TA"))
    return _concat(parts)


def check_actarm_one_to_one(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    if dm is None:
        return _concat([])
    return _concat([_one_to_one(dm, "DM", "ACTARMCD", "ACTARM"), _one_to_one(dm, "DM", "ACTARM", "ACTARMCD")])


def check_exposure_within_treatment(package: Package, target: str) -> pd.DataFrame:
    """SD1205 / SD1206: EXSTDTC on or after RFXSTDTC and on or before RFXENDTC (dates)."""
    ex = package.frame("EX")
    if ex is None:
        return _concat([])
    start = _date_part(ex["EXSTDTC"])
    first = _date_part(_dm_column(package, ex, "RFXSTDTC"))
    last = _date_part(_dm_column(package, ex, "RFXENDTC"))
    if target == "before":
        return _hits(ex, "EX", start.notna() & first.notna() & (start < first), "EXSTDTC", "EXSTDTC is before DM.RFXSTDTC")
    return _hits(ex, "EX", start.notna() & last.notna() & (start > last), "EXSTDTC", "EXSTDTC is after DM.RFXENDTC")


def _dose_frames(package: Package, target: str):
    for name in _datasets(package, target):
        frame = package.datasets[name]
        if f"{name}DOSE" in frame.columns:
            yield name, frame


def check_dose_not_negative(package: Package, target: str) -> pd.DataFrame:
    return _concat(_hits(f, n, f[f"{n}DOSE"] < 0, f"{n}DOSE", f"{n}DOSE is negative") for n, f in _dose_frames(package, target))


def check_dose_has_unit(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, f[f"{n}DOSE"].notna() & ~_filled(f.get(f"{n}DOSU", pd.Series(None, index=f.index))), f"{n}DOSU",
              f"{n}DOSE is given but {n}DOSU is null")
        for n, f in _dose_frames(package, target)
    )


def check_exposure_days_not_negative(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, f[c] < 0, c, f"{c} is negative for a study treatment")
        for n, f in _dose_frames(package, target) for c in (f"{n}STDY", f"{n}ENDY") if c in f.columns
    )


# --- events (MH): pre-specified questions ---------------------------------------------------------


def check_occur_needs_presp(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, _filled(f[occur]) & (f[presp] != "Y"), occur, f"{occur} is given but {presp} is not Y")
        for n, f, (occur, presp) in _findings_pairs(package, target, "OCCUR", "PRESP")
    )


def check_occur_needs_presp_variable(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(n, f"{n}PRESP", None, f"{n}OCCUR is in {n} but {n}PRESP is not")
        for n in _datasets(package, target) if f"{n}OCCUR" in package.datasets[n].columns and f"{n}PRESP" not in package.datasets[n].columns
    )


def check_presp_has_occur_or_status(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (presp, occur) in _findings_pairs(package, target, "PRESP", "OCCUR"):
        stat = f[f"{n}STAT"] if f"{n}STAT" in f.columns else pd.Series(None, index=f.index, dtype=object)
        parts.append(_hits(f, n, (f[presp] == "Y") & ~_filled(f[occur]) & (stat != "NOT DONE"), occur,
                           f"{presp} = Y and {occur} is null but {n}STAT is not NOT DONE"))
    return _concat(parts)


def check_presp_values(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, _filled(f[presp]) & (f[presp] != "Y"), presp, f"{presp} is neither Y nor null")
        for n, f, (presp,) in _findings_pairs(package, target, "PRESP")
    )


def check_enrtpt_has_entpt(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, _filled(f[enrtpt]) & ~_filled(f[entpt]), entpt, f"{enrtpt} is given but {entpt} is null")
        for n, f, (enrtpt, entpt) in _findings_pairs(package, target, "ENRTPT", "ENTPT")
    )


# --- trial design --------------------------------------------------------------------------------


def check_epoch_in_ta(package: Package, target: str) -> pd.DataFrame:
    epochs = _ta_values(package, "EPOCH")
    return _concat(
        _hits(frame, name, _filled(frame["EPOCH"]) & ~frame["EPOCH"].isin(epochs), "EPOCH", "EPOCH is not in TA.EPOCH")
        for name in _datasets(package, target) if name != "TA" and "EPOCH" in (frame := package.datasets[name]).columns
    )


def _trial_design_rule(dataset: str, condition: Callable[[pd.DataFrame, Package], pd.Series], variable: str, message: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        frame = package.frame(dataset)
        if frame is None:
            return _concat([])
        return _hits(frame, dataset, condition(frame, package), variable, message)
    check.__doc__ = message
    return check


def _te_values(package: Package, column: str) -> set:
    te = package.frame("TE")
    return set() if te is None else set(te[column].dropna())


check_taetord_unique = _trial_design_rule("TA", lambda ta, p: ta.duplicated(["ARMCD", "TAETORD"], keep=False), "TAETORD", "TAETORD is not unique within ARMCD")
check_taetord_integer = _trial_design_rule("TA", lambda ta, p: ta["TAETORD"].notna() & (ta["TAETORD"] != np.round(ta["TAETORD"])), "TAETORD", "TAETORD is not an integer")
check_etcd_in_te = _trial_design_rule("TA", lambda ta, p: ~ta["ETCD"].isin(_te_values(p, "ETCD")), "ETCD", "TA.ETCD is not in TE")
check_element_unique = _trial_design_rule("TE", lambda te, p: te.duplicated("ELEMENT", keep=False), "ELEMENT", "ELEMENT is not unique in TE")
check_te_end_rule = _trial_design_rule("TE", lambda te, p: ~_filled(te["TEENRL"]) & ~_filled(te["TEDUR"]), "TEENRL", "neither TEENRL nor TEDUR is given")
check_te_rules_unique = _trial_design_rule("TE", lambda te, p: te.duplicated(["TESTRL", "TEENRL", "TEDUR"], keep=False), "TESTRL", "TESTRL/TEENRL/TEDUR repeat another element's")
check_tsseq_unique = _trial_design_rule("TS", lambda ts, p: ts.duplicated(["TSPARMCD", "TSSEQ"], keep=False), "TSSEQ", "TSSEQ is not unique within TSPARMCD")
check_tsval_or_null_flavor = _trial_design_rule("TS", lambda ts, p: _filled(ts["TSVAL"]) == _filled(ts["TSVALNF"]), "TSVALNF", "exactly one of TSVAL and TSVALNF must be given")
check_tsvcdver_has_tsvcdref = _trial_design_rule("TS", lambda ts, p: _filled(ts["TSVCDVER"]) & ~_filled(ts["TSVCDREF"]), "TSVCDREF", "TSVCDVER is given but TSVCDREF is null")
check_tsval_not_null_flavor = _trial_design_rule("TS", lambda ts, p: ts["TSVAL"].astype("str").str.upper().isin(_NULL_FLAVOR_WORDS) & ts["TSVAL"].notna(), "TSVAL", "TSVAL holds a null flavour: use TSVALNF")


def check_etcd_element_one_to_one(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        [_one_to_one(package.datasets[n], n, "ETCD", "ELEMENT") for n in ("TA", "TE") if n in package.datasets]
        + [_one_to_one(package.datasets[n], n, "ELEMENT", "ETCD") for n in ("TA", "TE") if n in package.datasets]
    )


def check_tsparm_one_to_one(package: Package, target: str) -> pd.DataFrame:
    ts = package.frame("TS")
    if ts is None:
        return _concat([])
    return _concat([_one_to_one(ts, "TS", "TSPARMCD", "TSPARM"), _one_to_one(ts, "TS", "TSPARM", "TSPARMCD")])


def check_tsval_tsvalcd_one_to_one(package: Package, target: str) -> pd.DataFrame:
    ts = package.frame("TS")
    if ts is None:
        return _concat([])
    coded = ts[_filled(ts["TSVALCD"])]
    return _concat([_one_to_one(coded, "TS", "TSVAL", "TSVALCD"), _one_to_one(coded, "TS", "TSVALCD", "TSVAL")])


def _ts_parameter(target: str) -> str:
    return target.split(".", 1)[1] if target.startswith("TS.") else target


def check_ts_parameter_present(package: Package, target: str) -> pd.DataFrame:
    """A TS record for the parameter (CURTRT only when ADDON = Y, TDIGRP only when HLTSUBJI = N)."""
    ts, parameter = package.frame("TS"), _ts_parameter(target)
    if ts is None:
        return _dataset_hit("TS", "TSPARMCD", parameter, "TS is missing")
    condition = {"CURTRT": ("ADDON", "Y"), "TDIGRP": ("HLTSUBJI", "N")}.get(parameter)
    if condition is not None and not ((ts["TSPARMCD"] == condition[0]) & (ts["TSVAL"] == condition[1])).any():
        return _concat([])
    if (ts["TSPARMCD"] == parameter).any():
        return _concat([])
    return _dataset_hit("TS", "TSPARMCD", parameter, f"no {parameter} record in TS")


def check_ts_parameter_single(package: Package, target: str) -> pd.DataFrame:
    ts, parameter = package.frame("TS"), _ts_parameter(target)
    if ts is None:
        return _concat([])
    rows = ts["TSPARMCD"] == parameter
    return _hits(ts, "TS", rows & (rows.sum() > 1), "TSPARMCD", f"more than one {parameter} record")


def check_ts_value_format(package: Package, target: str) -> pd.DataFrame:
    """The TSVAL of the parameter has the type mappings/ct/ts_parameters.csv gives it."""
    ts, parameter = package.frame("TS"), _ts_parameter(target)
    if ts is None:
        return _concat([])
    types = package.ts_parameters.set_index("TSPARMCD")["value_type"]
    pattern = _VALUE_TYPE_PATTERNS.get(types.get(parameter, "text"))
    if pattern is None:
        return _concat([])
    rows = (ts["TSPARMCD"] == parameter) & _filled(ts["TSVAL"])
    return _hits(ts, "TS", rows & ~ts["TSVAL"].astype("str").str.match(pattern), "TSVAL",
                 f"{parameter} TSVAL is not {types.get(parameter)}")


def check_ts_yes_no(package: Package, target: str) -> pd.DataFrame:
    ts, parameter = package.frame("TS"), _ts_parameter(target)
    if ts is None:
        return _concat([])
    rows = (ts["TSPARMCD"] == parameter) & _filled(ts["TSVAL"])
    return _hits(ts, "TS", rows & ~ts["TSVAL"].isin(["Y", "N"]), "TSVAL", f"{parameter} TSVAL is not Y or N")


# --- more structure, define.xml and package checks ------------------------------------------------


def check_dataset_not_empty(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, None, None, f"{name} has no records") for name in _datasets(package, target)
        if package.datasets[name].empty
    )


def check_dataset_absent(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, None, None, f"dataset {name} must not be submitted") for name in target.split()
        if name in package.datasets
    )


def check_variable_absent(package: Package, target: str) -> pd.DataFrame:
    """The variables (or --suffixes) of `target` appear in no dataset."""
    parts = []
    for name, frame in package.datasets.items():
        for column in frame.columns:
            if column in target.split() or any(t.startswith("--") and column == name + t[2:] for t in target.split()):
                parts.append(_dataset_hit(name, column, None, f"{column} must not be present"))
    return _concat(parts)


def check_variables_in_model(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        known = set(package.meta(name)["variable"])
        parts += [_dataset_hit(name, c, None, f"{c} is not an SDTMIG variable of {name}")
                  for c in package.datasets[name].columns if c not in known]
    return _concat(parts)


def check_label_length(package: Package, target: str) -> pd.DataFrame:
    meta = package.variables[package.variables["dataset"].isin(_datasets(package, target))]
    long = meta[meta["label"].str.len() > 40]
    return _concat(_dataset_hit(r.dataset, r.variable, r.label, f"label of {r.variable} is over 40 characters") for r in long.itertuples())


def check_variable_name_format(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, c, None, f"variable name {c} is over 8 characters or not A-Z, 0-9, _")
        for name in _datasets(package, target) for c in package.datasets[name].columns
        if not re.match(r"^[A-Z][A-Z0-9_]{0,7}$", c)
    )


def check_dataset_name_format(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, None, name, f"dataset name {name} is over 8 characters or not letters and digits")
        for name in package.datasets if not re.match(r"^[A-Z][A-Z0-9]{0,7}$", name)
    )


def check_dataset_name_prefix(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame = package.datasets[name]
        if "DOMAIN" not in frame.columns:
            continue
        wrong = [d for d in frame["DOMAIN"].dropna().unique() if not name.startswith(str(d))]  # distinct values
        parts.append(_hits(frame, name, frame["DOMAIN"].isin(wrong), "DOMAIN", f"dataset name {name} does not begin with DOMAIN"))
    return _concat(parts)


def check_domain_code_known(package: Package, target: str) -> pd.DataFrame:
    known = set(package.dataset_labels)
    return _concat(
        _hits(frame, name, _filled(frame["DOMAIN"]) & ~frame["DOMAIN"].isin(known), "DOMAIN", "DOMAIN is not a CDISC domain code")
        for name in _datasets(package, target) if "DOMAIN" in (frame := package.datasets[name]).columns
    )


def check_file_size(package: Package, target: str) -> pd.DataFrame:
    limit = int(target)
    return _concat(
        _dataset_hit(Path(path).stem.upper(), None, size, f"{path} is {size} bytes, over {limit}")
        for path, size in sorted(package.files.items()) if path.endswith(".xpt") and size > limit
    )


def _define_tree(package: Package):
    if package.define_xml is None:
        return None
    from lxml import etree  # define.xml parsing only

    return etree.fromstring(package.define_xml)


_ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def _define_variables(root) -> dict[str, list[tuple[str, str]]]:
    """{dataset: [(variable, DataType)]} of define.xml, in ItemRef order."""
    items = {i.get("OID"): (i.get("Name"), i.get("DataType")) for i in root.iter(f"{_ODM}ItemDef")}
    return {
        group.get("Name"): [items[ref.get("ItemOID")] for ref in group.iter(f"{_ODM}ItemRef")]
        for group in root.iter(f"{_ODM}ItemGroupDef")
    }


def check_define_datasets(package: Package, target: str) -> pd.DataFrame:
    """SD0061 / SD1063: every dataset is in define.xml and every define.xml dataset is submitted."""
    root = _define_tree(package)
    if root is None:
        return _dataset_hit(None, None, "define.xml", "define.xml is missing")
    defined = set(_define_variables(root))
    return _concat(
        [_dataset_hit(n, None, None, f"{n} is not in define.xml") for n in sorted(set(package.datasets) - defined)]
        + [_dataset_hit(n, None, None, f"define.xml describes {n} but it is not submitted") for n in sorted(defined - set(package.datasets))]
    )


def check_define_variables(package: Package, target: str) -> pd.DataFrame:
    """SD0054 / SD0060: define.xml and each dataset have the same variables."""
    root = _define_tree(package)
    if root is None:
        return _concat([])
    parts = []
    for name, items in _define_variables(root).items():
        if name not in package.datasets:
            continue
        defined, present = [v for v, _ in items], list(package.datasets[name].columns)
        parts += [_dataset_hit(name, v, None, f"{v} is in define.xml but not in {name}") for v in defined if v not in present]
        parts += [_dataset_hit(name, v, None, f"{v} is in {name} but not in define.xml") for v in present if v not in defined]
    return _concat(parts)


def check_define_types(package: Package, target: str) -> pd.DataFrame:
    """SD0059: Num variables are integer/float in define.xml, Char variables are not."""
    root = _define_tree(package)
    if root is None:
        return _concat([])
    parts = []
    for name, items in _define_variables(root).items():
        frame = package.datasets.get(name)
        if frame is None:
            continue
        for variable, data_type in items:
            if variable not in frame.columns:
                continue
            numeric = pd.api.types.is_numeric_dtype(frame[variable])
            if numeric != (data_type in ("integer", "float")):
                parts.append(_dataset_hit(name, variable, data_type, f"{variable} is {'Num' if numeric else 'Char'} but define.xml says {data_type}"))
    return _concat(parts)


# --- more value and timing checks -----------------------------------------------------------------


def check_screen_failure_arms(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    if dm is None:
        return _concat([])
    return _hits(dm, "DM", dm["ACTARMCD"].isin(["SCRNFAIL", "NOTASSGN"]) & (dm["ACTARMCD"] != dm["ARMCD"]), "ACTARMCD",
                 "ACTARMCD is SCRNFAIL/NOTASSGN but differs from ARMCD")


def _timepoint_check(kind: str):
    columns = {"end": ("ENDTC", "ENRF", "ENRTPT", "DUR"), "start": ("STDTC", "STRF", "STRTPT")}[kind]

    def check(package: Package, target: str) -> pd.DataFrame:
        parts = []
        for name in _datasets(package, target):
            frame = package.datasets[name]
            present = [f"{name}{c}" for c in columns if f"{name}{c}" in frame.columns]
            given = pd.Series(False, index=frame.index)
            for column in present:
                given |= _filled(frame[column])
            if f"{name}OCCUR" in frame.columns:
                given |= frame[f"{name}OCCUR"] == "N"
            if kind == "end" and f"{name}STAT" in frame.columns:
                given |= _filled(frame[f"{name}STAT"])
            parts.append(_hits(frame, name, ~given, present[0] if present else None,
                               f"no {kind} time point ({', '.join('--' + c for c in columns)}) for an event or intervention that occurred"))
        return _concat(parts)
    check.__doc__ = f"SD002{'1' if kind == 'end' else '2'}: an {kind} time point is expected for an occurred event or intervention."
    return check


check_end_timepoint_present = _timepoint_check("end")
check_start_timepoint_present = _timepoint_check("start")


def check_stresc_when_done(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, ~_filled(f[stat]) & ~_filled(f[stresc]), stresc, f"{stresc} is null but {stat} is not NOT DONE")
        for n, f, (stat, stresc) in _findings_pairs(package, target, "STAT", "STRESC")
    )


def check_lobxfl_has_orres(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (lobxfl, orres) in _findings_pairs(package, target, "LOBXFL", "ORRES"):
        derived = f[f"{n}DRVFL"] == "Y" if f"{n}DRVFL" in f.columns else False
        parts.append(_hits(f, n, (f[lobxfl] == "Y") & ~derived & ~_filled(f[orres]), orres, f"{lobxfl} = Y on a collected record but {orres} is null"))
    return _concat(parts)


def check_entpt_has_enrtpt(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, _filled(f[entpt]) & ~_filled(f[enrtpt]), enrtpt, f"{entpt} is given but {enrtpt} is null")
        for n, f, (entpt, enrtpt) in _findings_pairs(package, target, "ENTPT", "ENRTPT")
    )


def check_entpt_enrtpt_pair_present(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        columns = set(package.datasets[name].columns)
        for have, need in (("ENRTPT", "ENTPT"), ("ENTPT", "ENRTPT")):
            if f"{name}{have}" in columns and f"{name}{need}" not in columns:
                parts.append(_dataset_hit(name, f"{name}{need}", None, f"{name}{have} is in {name} but {name}{need} is not"))
    return _concat(parts)


def check_enrtpt_values(package: Package, target: str) -> pd.DataFrame:
    allowed = {"BEFORE", "COINCIDENT", "ONGOING", "UNKNOWN"}
    return _concat(
        _hits(f, n, _filled(f[enrtpt]) & ~f[enrtpt].isin(allowed), enrtpt, f"{enrtpt} is not BEFORE, COINCIDENT, ONGOING or UNKNOWN")
        for n, f, (enrtpt,) in _findings_pairs(package, target, "ENRTPT")
    )


def check_findings_no_stdtc(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _dataset_hit(name, f"{name}STDTC", None, f"{name}STDTC is in a Findings dataset")
        for name in _datasets(package, target) if f"{name}STDTC" in package.datasets[name].columns
    )


def check_cat_not_redundant(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame, cat = package.datasets[name], f"{name}CAT"
        if cat not in frame.columns:
            continue
        label = package.dataset_labels.get(name, "")
        redundant = frame[cat].astype("str").str.upper().isin({name, label.upper()})
        for other in (f"{name}TERM", f"{name}TEST", f"{name}TRT", f"{name}DECOD"):
            if other in frame.columns:
                redundant |= frame[cat] == frame[other]
        parts.append(_hits(frame, name, _filled(frame[cat]) & redundant, cat, f"{cat} repeats the domain, its label or the topic"))
    return _concat(parts)


# CORE-000289/290/298/299's own test for "a continuous measurement" (the rule's regex, verbatim):
# `<5` and `>1000` are not one.
_CONTINUOUS_RESULT = r"^-?(\d+(\.\d+)?$)|(\.\d+$)"


def check_range_needs_continuous_result(package: Package, target: str) -> pd.DataFrame:
    """target `<dataset>.<range suffix>` (LB.ORNRHI): the range variable is empty wherever --ORRES
    is populated but not a continuous measurement."""
    dataset, suffix = target.split(".", 1)
    frame = package.frame(dataset)
    orres, limit = f"{dataset}ORRES", f"{dataset}{suffix}"
    if frame is None or not {orres, limit} <= set(frame.columns):
        return _concat([])
    not_continuous = _filled(frame[orres]) & ~frame[orres].astype("str").str.match(_CONTINUOUS_RESULT)
    message = orres + " " + frame[orres].astype("str") + f" is not a continuous result but {limit} is given"
    return _hits(frame, dataset, not_continuous & _filled(frame[limit]), limit, message)


def check_original_range_order(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, _numeric(f[high]) < _numeric(f[low]), high, f"{high} is below {low}")
        for n, f, (low, high) in _findings_pairs(package, target, "ORNRLO", "ORNRHI")
    )


def check_seq_chronological(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        frame, seq, start = package.datasets[name], f"{name}SEQ", f"{name}STDTC"
        if not {seq, start, "USUBJID"} <= set(frame.columns):
            continue
        ordered = frame.sort_values(["USUBJID", seq], kind="stable")
        dates = ordered[start].astype("str").where(ordered[start].notna())
        previous = dates.groupby(ordered["USUBJID"]).shift(1)
        earlier = (dates < previous).reindex(frame.index).fillna(False)
        parts.append(_hits(frame, name, earlier, seq, f"{seq} is not in {start} order within USUBJID"))
    return _concat(parts)


def check_timing_variable_present(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        meta = package.meta(name)
        timing = set(meta.loc[meta["role"] == "Timing", "variable"])
        if not timing & set(package.datasets[name].columns):
            parts.append(_dataset_hit(name, None, None, f"{name} has no timing variable"))
    return _concat(parts)


def check_standard_units_consistent(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (testcd, stresu) in _findings_pairs(package, target, "TESTCD", "STRESU"):
        keys = [testcd] + [c for c in (f"{n}CAT", f"{n}SCAT", f"{n}SPEC", f"{n}METHOD") if c in f.columns]
        units = f[keys + [stresu]].dropna(subset=[stresu]).astype(str).drop_duplicates()
        mixed = units[units.duplicated(keys, keep=False)][keys].drop_duplicates()
        bad = f[keys].astype(str).merge(mixed.assign(_mixed=True), how="left", on=keys)["_mixed"].fillna(False).to_numpy()
        parts.append(_hits(f, n, bad & f[stresu].notna().to_numpy(), stresu, f"{stresu} differs within one test ({', '.join(keys)})"))
    return _concat(parts)


def check_dtc_present_for_dy(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in _datasets(package, target):
        columns = set(package.datasets[name].columns)
        for column in sorted(columns):
            if column.startswith(name) and column.endswith("DY") and column[:-2] + "DTC" not in columns:
                parts.append(_dataset_hit(name, column[:-2] + "DTC", None, f"{column} is in {name} but {column[:-2]}DTC is not"))
    return _concat(parts)


def check_dtc_or_dy(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(f, n, ~_filled(f[dtc]) & f[dy].isna(), dtc, f"neither {dtc} nor {dy} is given")
        for n, f, (dtc, dy) in _findings_pairs(package, target, "DTC", "DY")
    )


def check_after_participation_end(package: Package, target: str) -> pd.DataFrame:
    """SD1202-SD1204: --STDTC / --DTC / --ENDTC (target) not after DM.RFPENDTC (dates)."""
    parts = []
    for name in package.datasets:
        frame, column = package.datasets[name], f"{name}{target}"
        if column not in frame.columns or name == "DM":
            continue
        date, end = _date_part(frame[column]), _date_part(_dm_column(package, frame, "RFPENDTC"))
        parts.append(_hits(frame, name, date.notna() & end.notna() & (date > end), column, f"{column} is after DM.RFPENDTC"))
    return _concat(parts)


def check_exposure_end_within_treatment(package: Package, target: str) -> pd.DataFrame:
    ex = package.frame("EX")
    if ex is None:
        return _concat([])
    end, last = _date_part(ex["EXENDTC"]), _date_part(_dm_column(package, ex, "RFXENDTC"))
    return _hits(ex, "EX", end.notna() & last.notna() & (end > last), "EXENDTC", "EXENDTC is after DM.RFXENDTC")


check_age_given = _dm_rule(lambda dm, p: dm["AGE"].isna() & ~dm["ARMCD"].isin(["SCRNFAIL"]), "AGE", "AGE is null")


def check_age_variable_present(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    if dm is None or "AGE" in dm.columns or "AGETXT" in dm.columns:
        return _concat([])
    return _dataset_hit("DM", "AGE", None, "neither AGE nor AGETXT is in DM")


check_tdigrp_healthy = _trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "TDIGRP") & _filled(ts["TSVAL"]) & ((ts["TSPARMCD"] == "HLTSUBJI") & (ts["TSVAL"] == "Y")).any(),
    "TSVAL", "TDIGRP is given for a healthy-subject study")
check_curtrt_value = _trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "CURTRT") & ~_filled(ts["TSVAL"]) & ((ts["TSPARMCD"] == "ADDON") & (ts["TSVAL"] == "Y")).any(),
    "TSVAL", "ADDON = Y but CURTRT has no TSVAL")
check_indic_snomed = _trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "INDIC") & (ts["TSVCDREF"] != "SNOMED"), "TSVCDREF", "INDIC TSVCDREF is not SNOMED")


def check_ts_reference(package: Package, target: str) -> pd.DataFrame:
    """target `TS.<TSPARMCD>=<reference>`: a populated TSVCDREF of the parameter is that reference."""
    ts = package.frame("TS")
    if ts is None:
        return _concat([])
    parameter, reference = _ts_parameter(target).split("=", 1)
    bad = (ts["TSPARMCD"] == parameter) & _filled(ts["TSVCDREF"]) & (ts["TSVCDREF"] != reference)
    return _hits(ts, "TS", bad, "TSVCDREF", f"{parameter} TSVCDREF is not {reference}")


def _presp_needed(suffix: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        return _concat(
            _dataset_hit(n, f"{n}PRESP", None, f"{n}{suffix} is in {n} but {n}PRESP is not")
            for n in _datasets(package, target)
            if f"{n}{suffix}" in package.datasets[n].columns and f"{n}PRESP" not in package.datasets[n].columns
        )
    check.__doc__ = f"--{suffix} only in a dataset that has --PRESP (events and interventions)."
    return check


check_stat_needs_presp = _presp_needed("STAT")
check_reasnd_needs_presp = _presp_needed("REASND")


# --- CORE rules of the engine's SDTMIG 3.4 list (cdisc-rules-engine resources/cache) -------------

_NO_ARM_REASONS = {"SCREEN FAILURE", "NOT ASSIGNED", "UNPLANNED TREATMENT", "NOT TREATED"}


def check_arm_not_a_reason(package: Package, target: str) -> pd.DataFrame:
    """CORE-000115: ARM / ACTARM do not carry why a subject has no arm (SDTMIG 3.4: ARMNRS)."""
    return _concat(
        _hits(frame, name, frame[column].astype("str").str.upper().isin(_NO_ARM_REASONS) & frame[column].notna(),
              column, f"{column} is a reason for no arm: it belongs in ARMNRS")
        for name in _datasets(package, target) for column in ("ARM", "ACTARM")
        if column in (frame := package.datasets[name]).columns
    )


def check_ts_parameters_valued(package: Package, target: str) -> pd.DataFrame:
    """target `TS.<TSPARMCD> <TSPARMCD> ...`: each parameter has a record with TSVAL populated."""
    ts = package.frame("TS")
    parameters = _ts_parameter(target).split()
    valued = set() if ts is None else set(ts.loc[_filled(ts["TSVAL"]), "TSPARMCD"])
    return _concat(
        _dataset_hit("TS", "TSPARMCD", p, f"no {p} record with a TSVAL in TS") for p in parameters if p not in valued
    )


def check_cat_not_all_records(package: Package, target: str) -> pd.DataFrame:
    """CORE-000365: --CAT does not put every record of the dataset in one category."""
    parts = []
    for name in _datasets(package, target):
        frame, cat = package.datasets[name], f"{name}CAT"
        if cat in frame.columns and len(frame) > 1 and _filled(frame[cat]).all() and frame[cat].nunique() == 1:
            parts.append(_dataset_hit(name, cat, frame[cat].iloc[0], f"{cat} groups every record: drop it"))
    return _concat(parts)


def check_epoch_populated(package: Package, target: str) -> pd.DataFrame:
    return _concat(
        _hits(frame, name, ~_filled(frame["EPOCH"]), "EPOCH", "EPOCH is null")
        for name in _datasets(package, target) if "EPOCH" in (frame := package.datasets[name]).columns
    )


def check_lobxfl_unique(package: Package, target: str) -> pd.DataFrame:
    """CORE-000915: one --LOBXFL = Y record (with --STRESC) per subject and test/category/specimen/method."""
    parts = []
    for n, f, (testcd, lobxfl, stresc) in _findings_pairs(package, target, "TESTCD", "LOBXFL", "STRESC"):
        keys = ["USUBJID", testcd] + [c for c in (f"{n}CAT", f"{n}SCAT", f"{n}SPEC", f"{n}METHOD") if c in f.columns]
        flagged = (f[lobxfl] == "Y") & _filled(f[stresc])
        repeated = f.loc[flagged, keys].astype(str).duplicated(keep=False).reindex(f.index, fill_value=False)
        parts.append(_hits(f, n, repeated, lobxfl, f"more than one {lobxfl} = Y record for the same test"))
    return _concat(parts)


def check_ietest_one_to_one(package: Package, target: str) -> pd.DataFrame:
    ti = package.frame("TI")
    if ti is None:
        return _concat([])
    return _concat([_one_to_one(ti, "TI", "IETESTCD", "IETEST"), _one_to_one(ti, "TI", "IETEST", "IETESTCD")])


def _exposed(dm: pd.DataFrame, package: Package) -> pd.Series:
    ex = package.frame("EX")
    return dm["USUBJID"].isin(set() if ex is None else set(ex["USUBJID"]))


def _cdisc_reference(ts: pd.DataFrame) -> pd.Series:
    return ts["TSVCDREF"].isin(["CDISC", "CDISC CT"])


check_arm_matches_actarm = _dm_rule(
    lambda dm, p: _filled(dm["ARM"]) & _filled(dm["ACTARM"]) & (dm["ARM"] != dm["ACTARM"]), "ACTARM", "ACTARM differs from ARM")
check_consent_before_first_treatment = _dm_rule(
    lambda dm, p: _date_part(dm["RFICDTC"]) > _date_part(dm["RFXSTDTC"]), "RFICDTC", "RFICDTC is after RFXSTDTC")
check_consent_before_reference_start = _dm_rule(
    lambda dm, p: _date_part(dm["RFICDTC"]) > _date_part(dm["RFSTDTC"]), "RFICDTC", "RFICDTC is after RFSTDTC")
check_multiple_race_has_suppdm = _dm_rule(
    lambda dm, p: (dm["RACE"] == "MULTIPLE") & ("SUPPDM" not in p.datasets), "RACE",
    "RACE is MULTIPLE but there is no SUPPDM with the races")
check_unexposed_have_armnrs = _dm_rule(
    lambda dm, p: ~_exposed(dm, p) & ~_filled(dm["ARMNRS"]), "ARMNRS", "no EX record and ARMNRS is null")
check_exposed_have_arm = _dm_rule(
    lambda dm, p: _exposed(dm, p) & ~_filled(dm["ARM"]), "ARM", "subject has EX records but no ARM")
check_tsval_and_null_flavour = _trial_design_rule(
    "TS", lambda ts, p: _filled(ts["TSVAL"]) & _filled(ts["TSVALNF"]), "TSVALNF", "both TSVAL and TSVALNF are populated")
check_indic_null_flavour_not_na = _trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "INDIC") & (ts["TSVALNF"] == "NA"), "TSVALNF", "INDIC TSVALNF is NA")
check_cdisc_version_is_a_date = _trial_design_rule(
    "TS", lambda ts, p: _cdisc_reference(ts) & ~ts["TSVCDVER"].astype("str").str.match(r"^\d{4}-\d{2}-\d{2}$"),
    "TSVCDVER", "TSVCDREF is CDISC CT but TSVCDVER is not a CT package date")
check_cdisc_code_known = _trial_design_rule(
    "TS", lambda ts, p: _cdisc_reference(ts) & _filled(ts["TSVALCD"]) & ~ts["TSVALCD"].isin(set(p.codelists["nci_code"])),
    "TSVALCD", "TSVALCD is not a code of the CDISC CT package")


# --- rules as data: the predicate kinds of the rule table ------------------------------------------
#
# A rule of a known kind is a row of mappings/conformance_rules.csv: `predicate` names the kind,
# `parameters` its variables (and a number or word), space-separated. `--X` is the dataset's own
# variable (LBX in LB); a bare name is that variable (AGE); `DS.X` is variable X of dataset DS.
# The datasets are the rule's `applies_to`, as for a function; a dataset lacking a variable is
# not checked. The message of each kind is fixed, so two rules of one kind read alike.


def _variable(dataset: str, parameter: str) -> str:
    return f"{dataset}{parameter[2:]}" if parameter.startswith("--") else parameter


def _predicate_frames(package: Package, target: str, parameters: list[str]):
    """(dataset, frame, [variables]) for each target dataset holding every variable."""
    for name in _datasets(package, target):
        frame = package.datasets[name]
        columns = [_variable(name, p) for p in parameters]
        if all(c in frame.columns for c in columns):
            yield name, frame, columns


def check_requires(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A B`: where A is given, B is given too."""
    return _concat(
        _hits(f, n, compute_requires(f[a], f[b]), b, f"{a} is given but {b} is null")
        for n, f, (a, b) in _predicate_frames(package, target, parameters)
    )


def check_unique(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`KEY ...`: no two records share the combination of the keys (the last one is reported)."""
    def message(name: str, keys: list[str]) -> str:
        if len(keys) == 1:
            return f"{keys[0]} is not unique in {name}"
        return f"{keys[-1]} is not unique within {' '.join(keys[:-1])}"

    return _concat(
        _hits(f, n, compute_not_unique(f, keys), keys[-1], message(n, keys))
        for n, f, keys in _predicate_frames(package, target, parameters)
    )


def check_one_to_one(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`KEY OTHER`: each KEY goes with one OTHER."""
    return _concat(
        _hits(f, n, compute_not_one_to_one(f, key, other), other, f"one {key} has more than one {other}")
        for n, f, (key, other) in _predicate_frames(package, target, parameters)
    )


def check_not_word(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A WORD`: A is never WORD, in any case (--TESTCD is not OTHER)."""
    variable, word = parameters
    return _concat(
        _hits(f, n, compute_is_word(f[a], word), a, f"{a} is '{word}'")
        for n, f, (a,) in _predicate_frames(package, target, [variable])
    )


def check_max_length(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A N`: A is at most N characters."""
    variable, limit = parameters
    return _concat(
        _hits(f, n, compute_over_length(f[a], int(limit)), a, f"{a} is over {limit} characters")
        for n, f, (a,) in _predicate_frames(package, target, [variable])
    )


def check_subset(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A DS.B`: a given A is one of the values of B in dataset DS (none when DS is missing)."""
    variable, reference = parameters
    dataset, column = reference.split(".", 1)
    other = package.frame(dataset)
    allowed = set() if other is None or column not in other.columns else set(other[column].dropna())
    return _concat(
        _hits(f, n, compute_not_in(f[a], allowed), a, f"{a} is not in {reference}")
        for n, f, (a,) in _predicate_frames(package, target, [variable])
    )


PREDICATES: dict[str, Callable[[Package, str, list[str]], pd.DataFrame]] = {
    "requires": check_requires,
    "unique": check_unique,
    "one_to_one": check_one_to_one,
    "not_word": check_not_word,
    "max_length": check_max_length,
    "subset": check_subset,
}
_ARITY = {"requires": 2, "one_to_one": 2, "not_word": 2, "max_length": 2, "subset": 2}


def check_predicate_parameters(predicate: str, parameters: str) -> list[str]:
    """What is wrong with a rule row's predicate and parameters, one sentence each."""
    if predicate not in PREDICATES:
        return [f"predicate {predicate!r} is not one of {', '.join(PREDICATES)}"]
    given = parameters.split()
    arity = _ARITY.get(predicate)
    if not given or (arity is not None and len(given) != arity):
        return [f"predicate {predicate} takes {arity or 'one or more'} parameter(s), not {parameters!r}"]
    if predicate == "max_length" and not given[1].isdigit():
        return [f"max_length's second parameter is a number of characters, not {given[1]!r}"]
    if predicate == "subset" and "." not in given[1]:
        return [f"subset's second parameter is DATASET.VARIABLE, not {given[1]!r}"]
    return []


# --- dispatch table ------------------------------------------------------------------------------

CHECKS: dict[str, Callable[[Package, str], pd.DataFrame]] = {
    name: function
    for name, function in globals().items()
    if name.startswith("check_") and callable(function)
    and name not in {"check_rule_table", "check_conformance", "check_predicate_parameters"}
    and function not in PREDICATES.values()
}
