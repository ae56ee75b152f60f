"""A study is a folder: no sheet name, raw header, visit, arm or drug of a bundled study (nor of the
third study written from the docs, tests/data/studies/) is written in the code."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from transforms.spec.study import MAPPINGS_DIR

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted(p.parent for p in MAPPINGS_DIR.glob("*/sheets.csv")) + sorted(
    p.parent for p in (ROOT / "tests" / "data" / "studies").glob("*/sheets.csv")
)
# Words that are the product's own report vocabulary (the column titles of queries.xlsx and of
# the define.xml's value lists, "Subjects ... differ only in case", the report's "Subjects seen"),
# the same for every study, which some site also uses as a header or sheet name.
OWN_LABELS = {"Subject", "Subjects", "Visit", "Value"}


def study_words(study: Path) -> set[str]:
    sheets = pd.read_csv(study / "sheets.csv", dtype=str, keep_default_na=False)
    columns = pd.read_csv(study / "raw_columns.csv", dtype=str, keep_default_na=False)
    names = {name.strip() for names in sheets["names"] for name in names.split("|")}
    headers = set(columns["header"]) | {a.strip() for aliases in columns["aliases"] for a in aliases.split("|")}
    return {w for w in names | headers if w} - OWN_LABELS


def protocol_words(study: Path) -> set[str]:
    """The study's visits, arms (codes and names) and drug; CDISC submission values left out, which
    are the product's vocabulary (an arm coded LOW is also NRIND's LOW)."""
    config = tomllib.loads((study / "study.toml").read_text(encoding="utf-8"))
    visits = set(pd.read_csv(study / "visits.csv", dtype=str, keep_default_na=False)["VISIT"])
    arms = {a[key] for a in config.get("arms", []) for key in ("ARMCD", "ARM")}
    cdisc = set(pd.read_csv(MAPPINGS_DIR / "ct" / "codelists.csv", dtype=str, keep_default_na=False)["value"])
    return {w for w in visits | arms | {config["treatment"]["EXTRT"]} if w} - cdisc


def code_literals(path: Path):
    """(line, text) of every string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_every_study_is_found():
    assert {s.name for s in STUDIES} >= {"ucmsc-esld", "zx101-liv2", "rnx205"}


@pytest.mark.parametrize("study", STUDIES, ids=lambda s: s.name)
def test_no_code_names_a_sheet_header_visit_arm_or_drug_of_the_study(study):
    words = study_words(study) | protocol_words(study)
    patterns = {w: re.compile(r"(?<![A-Za-z0-9_])" + re.escape(w) + r"(?![A-Za-z0-9_])") for w in words}
    hits = [
        f"{path.relative_to(ROOT)}:{line}: {word!r}"
        for top in ("flows", "transforms", "expectations")
        for path in sorted((ROOT / top).rglob("*.py"))
        for line, text in code_literals(path)
        for word, pattern in patterns.items()
        if pattern.search(text)
    ]
    assert hits == [], "study words in code:\n" + "\n".join(hits)


def test_the_grep_would_catch_a_planted_header(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('MESSAGE = "check the Infusion date"\n', encoding="utf-8")
    words = study_words(MAPPINGS_DIR / "ucmsc-esld")
    assert any(re.search(re.escape(w), text) for _, text in code_literals(planted) for w in words)


def test_the_grep_would_catch_a_planted_visit_or_drug(tmp_path):
    planted = tmp_path / "planted.py"
    drug = tomllib.loads((MAPPINGS_DIR / "zx101-liv2" / "study.toml").read_text())["treatment"]["EXTRT"]
    planted.write_text(f'MESSAGE = "the {drug} dose at Week 4"\n', encoding="utf-8")
    words = protocol_words(MAPPINGS_DIR / "zx101-liv2")
    found = {w for _, text in code_literals(planted) for w in words if re.search(re.escape(w), text)}
    assert {drug, "Week 4"} <= found
