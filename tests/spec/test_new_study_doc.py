"""docs/new-study.md is followed as written: each `$ sdtmflow ...` line of its console blocks is
run in order, in a fresh folder, and what the page says of the outcome is checked."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "new-study.md"

pytestmark = pytest.mark.slow


def doc_commands() -> list[list[str]]:
    blocks = re.findall(r"```console\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [shlex.split(line[2:]) for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_the_page_has_the_steps_in_order():
    verbs = [command[1] for command in doc_commands()]
    assert verbs == ["new-study", "check-study", "check-study", "sample", "run"]


def test_following_the_page_publishes_a_package(tmp_path):
    # the broken folder of step 4: the page's example mistake, planted in a copy of the skeleton
    outcomes = []
    for command in doc_commands():
        if command[1:3] == ["check-study", "broken-study"]:
            shutil.copytree(tmp_path / "mystudy", tmp_path / "broken-study")
            sheets = tmp_path / "broken-study" / "sheets.csv"
            sheets.write_text(sheets.read_text().replace("Dosing|Dosing periods", "Dosing|Bloods"))
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", *command[1:]], cwd=tmp_path,
            capture_output=True, text=True, timeout=600,
        )
        assert "Traceback" not in done.stderr
        outcomes.append(done)
    new, check, broken, sample, run = outcomes
    assert new.returncode == 0 and "no problem found" in new.stdout
    assert check.returncode == 0
    assert broken.returncode == 2
    assert "sheets.csv row 4 column names: 'Bloods' is also a name of sheet 'dosing'" in broken.stderr
    assert sample.returncode == 0 and (tmp_path / "mystudy-export").is_dir()
    assert run.returncode == 0, run.stderr
    assert "rows read = mapped + held back: OK" in run.stdout
    latest = tmp_path / "mystudy-output" / "latest"
    for name in ("findings.csv", "queries.xlsx", "conformance.html", "csdrg.html", "report.html"):
        assert (latest / name).is_file(), name
    assert (latest / "m5" / "datasets" / "mystudy-01" / "tabulations" / "sdtm" / "define.xml").is_file()
