"""Property-based fuzzing: mutated copies of the bundled sample export are run as the flow runs
them (flows.build's stages, then the package written and published: tests/fuzzing.py
run_in_process) into an output folder that already holds a published `latest`, and every run
keeps issue 11's invariants (tests/fuzzing.py check_example). The bounded number of examples
here keeps the suite fast; bench/fuzz_exports.py runs hundreds. A handful more go through the
real `sdtmflow run` (a subprocess, Prefect and all)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fuzzing import (
    check_example,
    check_xpt_readers_agree,
    compute_output_state,
    count_rows_present,
    make_previous_output,
    mutation_plans,
    Outcome,
    run_in_process,
    sample_frames,
    write_mutated_export,
)
from transforms.outputs.package import read_transliteration
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study
from transforms.outputs.submission import compute_sdtm_folder

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

STUDY = read_study(DEFAULT_STUDY_DIR)
TRANSLITERATION = read_transliteration()
FRAMES = sample_frames()
TODAY = "2026-04-01"  # the run's day, fixed: the sample's export is dated 2026-03-31


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> Path:
    """An output folder whose `latest` is a published run of the unmutated export."""
    return make_previous_output(FRAMES, tmp_path_factory.mktemp("previous") / "out", STUDY, TRANSLITERATION, TODAY)


def run_example(plan, previous: Path, scratch: Path) -> list[str]:
    folder, output = scratch / "in", scratch / "out"
    write_mutated_export(FRAMES, plan, folder)
    shutil.copytree(previous, output, symlinks=True)
    before = compute_output_state(output)
    outcome = run_in_process(folder, output, STUDY, TRANSLITERATION, TODAY)
    return check_example(folder, output, outcome, before, STUDY.studyid)


# no shrinking: a failing plan is already small (one to three mutations), and shrinking reruns
# the whole chain hundreds of times
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(plan=mutation_plans)
def test_mutated_exports_keep_the_invariants(previous, plan):
    with tempfile.TemporaryDirectory() as scratch:
        assert run_example(plan, previous, Path(scratch)) == [], plan


# --- the checks themselves can fail ------------------------------------------------------------


def test_the_previous_package_is_read_alike_by_haven_and_pyreadstat(previous):
    sdtm = previous / "latest" / compute_sdtm_folder(STUDY.studyid)
    assert {"dm.xpt", "lb.xpt", "ex.xpt"} <= {p.name for p in sdtm.glob("*.xpt")}
    assert check_xpt_readers_agree(sdtm) == []


def test_a_run_that_publishes_nothing_but_touches_latest_breaks_the_invariant(previous, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(previous, output, symlinks=True)
    before = compute_output_state(output)
    failed = Outcome(1, "run failed: rows lost", None, None)
    assert check_example(tmp_path, output, failed, before, STUDY.studyid) == []
    findings = output / "latest" / "findings.csv"
    os.chmod(findings, 0o644)
    findings.write_text(findings.read_text() + "\n", encoding="utf-8")
    assert check_example(tmp_path, output, failed, before, STUDY.studyid) == [
        "nothing published (exit 1) but latest changed"]
    internal = Outcome(1, "internal error — please report; details in x.log", None, None)
    assert check_example(tmp_path, output, internal, compute_output_state(output), STUDY.studyid) == [
        "internal error — please report; details in x.log: "]


def test_an_xpt_two_readers_read_apart_is_caught(previous, monkeypatch):
    import fuzzing

    sdtm = previous / "latest" / compute_sdtm_folder(STUDY.studyid)
    read = fuzzing.read_xpts_with_haven(sdtm)
    read["dm.xpt"]["values"]["SUBJID"][1] += " "  # as a reader that kept a trailing blank would
    read["lb.xpt"]["label"] = "Lab"
    monkeypatch.setattr(fuzzing, "read_xpts_with_haven", lambda folder: read)
    subject = fuzzing.read_xpts_with_pyreadstat(sdtm)["dm.xpt"]["values"]["SUBJID"][1]
    assert fuzzing.check_xpt_readers_agree(sdtm) == [
        f"dm.xpt SUBJID row 2: haven [{subject + ' '!r}], pyreadstat [{subject!r}]",
        "lb.xpt: label differs: haven 'Lab', pyreadstat 'Laboratory Test Results'",
    ]


# --- a handful through the real command line ---------------------------------------------------

CLI_PLANS = [
    [("duplicate_file", 2)],  # maybe the workbook or the labs copied under another name
    [("truncate_csv", 5), ("stray_file", 11)],
    [("drop_column", 7), ("garble_cell", 3)],
    [("encode_csv", 1), ("title_row", 4)],
]


@pytest.mark.parametrize("plan", CLI_PLANS, ids=lambda plan: "+".join(m for m, _ in plan))
def test_mutated_exports_through_the_command_line_keep_the_invariants(previous, tmp_path, plan):
    folder, output = tmp_path / "in", tmp_path / "out"
    write_mutated_export(FRAMES, plan, folder)
    shutil.copytree(previous, output, symlinks=True)
    before = compute_output_state(output)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--input", str(folder), "--output", str(output)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    console = done.stdout + done.stderr
    assert done.returncode in {0, 1, 2}, console
    assert "Traceback" not in console and "internal error" not in console, console
    if done.returncode != 0:
        assert compute_output_state(output) == before, console
        return
    latest = (output / "latest").resolve()
    assert latest.parent == output / "runs" and latest.name != before["latest"].split("/")[-1], console
    counts = pd.read_csv(latest / "reconciliation.csv")
    assert (counts["read"] == counts["mapped"] + counts["held_back"]).all(), counts.to_string()
    assert (counts["unaccounted"] == 0).all(), counts.to_string()
    assert int(counts["read"].sum()) == count_rows_present(folder)
    assert check_xpt_readers_agree(latest / compute_sdtm_folder(STUDY.studyid)) == []
