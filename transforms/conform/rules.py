"""Conformance: the FDA Validator and CDISC CORE rules that apply to the package, as checks.

Which rules exist, which are implemented (and by which function), their severity and why the
others do not apply is data: `mappings/conformance_rules.csv` (one row per rule id of the two
catalogues in `mappings/standards/conformance-rules/`). An implemented row of a known kind (A
requires B, unique, one to one, not a word, a maximum length, a subset) is data: its `predicate`
names the kind (PREDICATES, transforms/conform/kinds.py) and `parameters` its variables. Any other implemented row names a
function of CHECKS (transforms/conform/registry.py, a dispatch table: names map to functions, nothing is evaluated). Both take a
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

from pathlib import Path

import numpy as np
import pandas as pd

from transforms.conform.hits import Package
from transforms.conform.kinds import PREDICATES, check_predicate_parameters
from transforms.conform.predicates import remembering_columns
from transforms.conform.registry import CHECKS
from transforms.core.findings import FINDING_COLUMNS, empty_findings


STAGE = "conform"
RULE_COLUMNS = [
    "rule", "catalogue", "title", "implemented", "status", "severity", "applies_to", "function", "also_cites",
    "covered_by", "reason", "predicate", "parameters",
]


IMPLEMENTED, COVERED, NOT_APPLICABLE, NOT_IMPLEMENTED = "implemented", "covered", "not applicable", "not implemented"
STATUSES = (IMPLEMENTED, COVERED, NOT_APPLICABLE, NOT_IMPLEMENTED)


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
        f"{r.rule}: function {r.function!r} is not a check (see transforms/conform/registry.py)"
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
    with remembering_columns(package.datasets.values()):
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
    mapped = names.map(written).astype("object")  # all-missing maps to float64: keep it text
    file = np.where(dataset != "", mapped.where(mapped.notna(), names), None)
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
