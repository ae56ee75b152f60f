"""A study is a folder: no sheet name or raw header of a bundled study is written in the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

from transforms.spec.study import MAPPINGS_DIR

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted(p.parent for p in MAPPINGS_DIR.glob("*/sheets.csv"))
# Words that are the product's own report vocabulary (the column titles of queries.xlsx and of
# the define.xml's value lists), the same for every study, which some site also uses as a header.
OWN_LABELS = {"Subject", "Visit", "Value"}


def study_words(study: Path) -> set[str]:
    sheets = pd.read_csv(study / "sheets.csv", dtype=str, keep_default_na=False)
    columns = pd.read_csv(study / "raw_columns.csv", dtype=str, keep_default_na=False)
    names = {name.strip() for names in sheets["names"] for name in names.split("|")}
    headers = set(columns["header"]) | {a.strip() for aliases in columns["aliases"] for a in aliases.split("|")}
    return {w for w in names | headers if w} - OWN_LABELS


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


def test_both_bundled_studies_are_found():
    assert {s.name for s in STUDIES} >= {"ucmsc-esld", "zx101-liv2"}


@pytest.mark.parametrize("study", STUDIES, ids=lambda s: s.name)
def test_no_code_names_a_sheet_or_header_of_the_study(study):
    words = study_words(study)
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
