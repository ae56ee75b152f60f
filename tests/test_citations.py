"""Every citation in the tree leads to a file (and section) a clone has.

The finder (`docs/tools/citations.py`) is first shown to find planted bad citations in a small
tree built here, so that the check of the real tree can fail; then the rewrite tool
(`docs/tools/rewrite_citations.py`) is shown to turn the old forms into ones the finder accepts
while leaving code alone.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "tools"))

import citations  # noqa: E402
import rewrite_citations  # noqa: E402

DOC = """# Reference

## Study decisions

### Scores' home

### MELD 3.0

### Define-XML 2.1

## Notes

```
# not a heading
```

## Notes
<a id="kept"></a>
"""


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tiny repository: one cited document, one study file, and files citing them."""
    write(tmp_path, "README.md", "# Readme\n")
    write(tmp_path, "docs/ref.md", DOC)
    write(tmp_path, "mappings/study-a/visits.csv", "VISIT,VISITNUM\n")
    return tmp_path


def problems(root: Path) -> set[tuple[str, int, str]]:
    return {(c.path, c.line, c.text) for c in citations.check_tree(root)}


# --- the anchors a document offers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("MELD 3.0", "meld-30"),
        ("Scores' home", "scores-home"),
        ("Sex, race and ethnicity", "sex-race-and-ethnicity"),
        ("Define-XML 2.1", "define-xml-21"),
        ("The `latest` pointer", "the-latest-pointer"),
        ("[DM](#dm) notes", "dm-notes"),
    ],
)
def test_compute_slug_is_githubs_anchor(heading, slug):
    assert citations.compute_slug(heading) == slug


def test_compute_anchors_numbers_repeats_skips_code_and_reads_explicit_ids():
    assert citations.compute_anchors(DOC) == {
        "reference",
        "study-decisions",
        "scores-home",
        "meld-30",
        "define-xml-21",
        "notes",
        "notes-1",
        "kept",
    }


# --- the finder on planted citations ------------------------------------------------------------------


def test_good_citations_are_not_problems(tree):
    write(
        tree,
        "transforms/good.py",
        '"""Rules from docs/ref.md#scores-home and docs/ref.md#notes-1."""\n'
        "# See mappings/study-a/visits.csv and mappings/<study>/visits.csv, docs/ref.md#kept.\n"
        "# transforms/good.py and README.md#readme; bench/results/ is where benchmarks write.\n"
        "X = 1\n",
    )
    write(tree, "docs/guide.md", "See [the scores](ref.md#meld-30), [top](#guide) and [w](https://x.org/a).\n# Guide\n")
    write(tree, "mappings/rules.csv", "id,description\nR1,Part A - Raise an error when the value is null\n")
    assert problems(tree) == set()


def test_planted_bad_citations_are_each_found_where_they_are(tree):
    write(
        tree,
        "transforms/bad.py",
        '"""DM (sdtm-reference Part A)."""\n'  # 1: two old forms
        "# MELD (Part B §4.1)\n"  # 2: two old forms + a section sign
        "# docs/ref.md#no-such-section, docs/missing.md, transforms/gone.py\n"  # 3: anchor, files
        'X = "mappings/<study>/absent.csv"\n'  # 4: a placeholder path nothing matches
        "# /work/shared/design.md\n",  # 5: a path on a machine, a design doc outside docs/
    )
    write(tree, "docs/bad.md", "Text\n\nSee [this](ref.md#gone) and [that](../../outside.md).\n")
    write(tree, "mappings/study-a/spec.csv", "# from the style guide\nA,B\nPart B,1\n")
    write(tree, "mappings/study-a/study.toml", 'name = "x"  # raw-data-contract.md\n')
    assert problems(tree) == {
        ("transforms/bad.py", 1, "sdtm-reference"),
        ("transforms/bad.py", 1, "Part A"),
        ("transforms/bad.py", 2, "Part B"),
        ("transforms/bad.py", 2, "§"),
        ("transforms/bad.py", 3, "docs/ref.md#no-such-section"),
        ("transforms/bad.py", 3, "docs/missing.md"),
        ("transforms/bad.py", 3, "transforms/gone.py"),
        ("transforms/bad.py", 4, "mappings/<study>/absent.csv"),
        ("transforms/bad.py", 5, "/work/shared/design.md"),
        ("transforms/bad.py", 5, "design.md"),
        ("docs/bad.md", 3, "ref.md#gone"),
        ("docs/bad.md", 3, "../../outside.md"),
        ("mappings/study-a/spec.csv", 1, "style guide"),
        ("mappings/study-a/study.toml", 1, "raw-data-contract"),
    }


def test_problem_names_what_is_wrong(tree):
    write(tree, "tests/test_x.py", "# docs/ref.md#nowhere, Part A\n")
    by_text = {c.text: c.problem for c in citations.check_tree(tree)}
    assert by_text["docs/ref.md#nowhere"] == "docs/ref.md has no section #nowhere"
    assert "docs/tools/rewrite_citations.py" in by_text["Part A"]


def test_vendored_standards_and_the_tools_themselves_are_not_scanned(tree):
    write(tree, "mappings/standards/rules.csv", "# Part A\n")
    write(tree, "mappings/standards/README.md", "From docs/ref.md#scores-home.\n")
    write(tree, "docs/tools/citations.py", "# Part A\n")
    assert citations.scanned_files(tree) == [
        "README.md",
        "docs/ref.md",
        "mappings/standards/README.md",
        "mappings/study-a/visits.csv",
    ]


# --- the real tree -----------------------------------------------------------------------------------


def test_every_citation_in_the_repository_leads_to_a_file_and_section():
    bad = citations.check_tree(ROOT)
    assert not bad, "\n".join(f"{c.path}:{c.line}: {c.problem}" for c in bad)


def test_the_scan_covers_the_folders_that_cite():
    scanned = citations.scanned_files(ROOT)
    for expected in ("README.md", "docs/sdtm-reference.md", "transforms/scores/formulas.py", "mappings/README.md"):
        assert expected in scanned
    assert not [path for path in scanned if path.startswith("mappings/standards/") and path.endswith(".csv")]


# --- the rewrite ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("(Part B §4.1)", "(docs/sdtm-reference.md#meld)"),
        ("sdtm-reference.md Part B §4.3.", "docs/sdtm-reference.md#meld-30."),
        ("(sdtm-reference Part B §2-§5)", "(docs/sdtm-reference.md#controlled-terminology to docs/sdtm-reference.md#trial-design)"),
        ('Pairing rule (sdtm-reference Part A, "score inputs")', "Pairing rule (docs/sdtm-reference.md#score-inputs)"),
        ("USUBJID = STUDYID-SUBJID (sdtm-reference Part A).", "USUBJID = STUDYID-SUBJID (docs/sdtm-reference.md#identifiers)."),
        ("in date order (sdtm-reference\nPart A) and VISITDY null", "in date order (docs/sdtm-reference.md#visits) and VISITDY null"),
        ("What sdtm-reference.md Part A says", "What docs/sdtm-reference.md#study-decisions says"),
        ("# SDTMIG 3.4 §4.4: a date", "# SDTMIG 3.4 section 4.4 (docs/sdtm-reference.md#dtc): a date"),
        ("(style guide §7)", "(docs/style.md#two-channels-for-problems)"),
        ("follows `raw-data-contract.md` exactly", "follows `docs/raw-data-contract.md` exactly"),
        ("docs/sdtm-reference.md#meld", "docs/sdtm-reference.md#meld"),
    ],
)
def test_rewrite_text_turns_old_forms_into_sections(old, new):
    assert rewrite_citations.rewrite_text(old) == new


def test_rewrite_file_touches_comments_and_docstrings_only_and_is_idempotent():
    source = (
        '"""MELD (Part B §4.1)."""\n'
        "\n"
        "def f():\n"
        '    """USUBJID = STUDYID-SUBJID (sdtm-reference Part A)."""\n'
        '    return "Part B §4.1"  # Part B §4.2\n'
    )
    rewritten = rewrite_citations.rewrite_file("transforms/x.py", source)
    assert rewritten == (
        '"""MELD (docs/sdtm-reference.md#meld)."""\n'
        "\n"
        "def f():\n"
        '    """USUBJID = STUDYID-SUBJID (docs/sdtm-reference.md#identifiers)."""\n'
        '    return "Part B §4.1"  # docs/sdtm-reference.md#meld-na\n'
    )
    assert rewrite_citations.rewrite_file("transforms/x.py", rewritten) == rewritten


def test_rewrite_leaves_toml_values_and_csv_rows_alone():
    toml = '# Eligibility (raw-data-contract.md).\nnote = "Part A"\n'
    assert rewrite_citations.rewrite_file("mappings/s/study.toml", toml) == (
        '# Eligibility (docs/raw-data-contract.md).\nnote = "Part A"\n'
    )
    csv = "id,text\nR1,Part A - Raise an error\n"
    assert rewrite_citations.rewrite_file("mappings/rules.csv", csv) == csv


def test_a_line_made_too_long_is_wrapped_into_its_paragraph():
    source = (
        "# " + "word " * 16 + "(Part B §4.1) and then the\n"
        "# sentence goes on here.\n"
        "X = 1\n"
    )
    rewritten = rewrite_citations.rewrite_file("transforms/x.py", source)
    lines = rewritten.splitlines()
    assert max(len(line) for line in lines) <= rewrite_citations.WIDTH
    assert lines[-1] == "X = 1"
    words = " ".join(line.removeprefix("# ") for line in lines[:-1]).split()
    assert words == ("word " * 16 + "(docs/sdtm-reference.md#meld) and then the sentence goes on here.").split()


def test_rewritten_tree_passes_the_finder(tree):
    write(tree, "docs/sdtm-reference.md", "# R\n## Score formulas\n### MELD\n## Study decisions\n")
    write(tree, "docs/raw-data-contract.md", "# C\n")
    source = '"""Scores (Part B §4.1); DM (sdtm-reference Part A)."""\n# raw-data-contract.md\nX = "keep"\n'
    write(tree, "transforms/old.py", source)
    assert problems(tree)
    new = rewrite_citations.rewrite_file("transforms/old.py", source)
    write(tree, "transforms/old.py", new)
    assert problems(tree) == set()
    assert ast.dump(ast.parse(source).body[-1]) == ast.dump(ast.parse(new).body[-1])


def test_every_section_the_rewrite_can_produce_exists():
    reference = citations.compute_anchors((ROOT / rewrite_citations.REF).read_text(encoding="utf-8"))
    style = citations.compute_anchors((ROOT / rewrite_citations.STYLE).read_text(encoding="utf-8"))
    tables = (rewrite_citations.PART_B, rewrite_citations.PART_A_ROWS, rewrite_citations.SDTMIG)
    assert {anchor for table in tables for anchor in table.values()} - reference == set()
    assert set(rewrite_citations.STYLE_RULES.values()) - style == set()
