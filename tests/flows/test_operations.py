"""Nightly operations through the real flow: an unchanged rerun, a byte-identical rebuild, a
corrected export with its changes report, a run killed while writing, two runs at once.

Runs go through `prefect_test_harness`; the killed and the concurrent run are separate Python
processes pointed at the harness's server, with a function of transforms.outputs.package patched in the
child only (no test hook in the pipeline's code).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from flows.cli import main
from transforms.spec.study import DEFAULT_STUDY_DIR

SAMPLE = DEFAULT_STUDY_DIR / "sample_export"
# The first labs row of the sample (01-001, Screening, ALT = 57) sent again, corrected, in a
# later export: ALT is in no liver score, so only that LB record changes.
CORRECTION = "labs_2026-04-07.csv"
CORRECTED_ROW = "01-001,Screening,11-Mar-2025,08:05,ALT,63,IU/L,7,40,\n"


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError(28, "No space left on device"), True),
        (TimeoutError("share did not answer"), True),
        (FileNotFoundError(2, "No such file or directory"), False),
        (PermissionError(13, "Permission denied"), False),
        (ValueError("bad study table"), False),
    ],
)
def test_only_an_oserror_that_may_pass_is_retried(error, retried):
    from prefect.states import Failed

    from flows.operations import retry_transient_io

    assert retry_transient_io(None, None, Failed(data=error)) is retried


def test_artifact_keys_are_what_prefect_accepts():
    from flows.operations import artifact_key

    assert artifact_key("UCMSC-ESLD", "summary") == "sdtmflow-ucmsc-esld-summary"
    assert artifact_key("Study 2 (pilot)", "rows") == "sdtmflow-study-2-pilot-rows"


def _run(input_dir: Path, output_dir: Path) -> str:
    from flows.pipeline import sdtmflow_run

    return sdtmflow_run(input_dir=input_dir, output_dir=output_dir, study_dir=DEFAULT_STUDY_DIR)


def _tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """relative path -> sha256 (or link target) of everything under root, `skip` names excepted."""
    tree = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if any(part in skip for part in path.relative_to(root).parts):
            continue
        if path.is_symlink():
            tree[relative] = "-> " + os.readlink(path)
        elif path.is_file():
            tree[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


def _copy_output(published: Path, tmp_path: Path) -> Path:
    output = tmp_path / "out"
    shutil.copytree(published, output, symlinks=True)
    return output


def _corrected_export(tmp_path: Path) -> Path:
    export = tmp_path / "export"
    shutil.copytree(SAMPLE, export)
    header = (SAMPLE / "labs_2026-03-31.csv").read_text().splitlines(keepends=True)[0]
    (export / CORRECTION).write_text(header + CORRECTED_ROW)
    return export


def _history(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def published(prefect_harness, tmp_path_factory) -> Path:
    """The sample export published once into a fresh output folder (copy it before changing it)."""
    output = tmp_path_factory.mktemp("ops") / "out"
    _run(SAMPLE, output)
    return output


@pytest.mark.slow
def test_a_rerun_is_unchanged_and_writes_nothing(published, tmp_path):
    output = _copy_output(published, tmp_path)
    run_id = os.readlink(output / "latest").split("/")[-1]
    before = _tree(output, skip=("history.jsonl",))

    summary = _run(SAMPLE, output)

    assert summary.startswith(f"unchanged since run {run_id}; nothing republished")
    assert _tree(output, skip=("history.jsonl",)) == before
    assert _history(output)[-1]["outcome"] == "unchanged"


@pytest.mark.slow
def test_a_published_run_not_in_latest_is_pointed_to_again_not_rebuilt(published, tmp_path):
    # As after a crash between the rename into runs/ and the swap of `latest`.
    from transforms.publish.publish import point_latest

    output = _copy_output(published, tmp_path)
    run_id = os.readlink(output / "latest").split("/")[-1]
    older = output / "runs" / "20260101-000000000000"
    older.mkdir()
    point_latest(output, older)

    summary = _run(SAMPLE, output)

    assert summary.startswith(f"inputs, mappings and code identical to run {run_id}")
    assert "(was 20260101-000000000000)" in summary
    assert os.readlink(output / "latest") == f"runs/{run_id}"


@pytest.mark.slow
def test_a_rebuild_elsewhere_is_byte_identical(published, sample_run):
    # Two independent builds of the same export: every file but the run log (when, how long)
    # and Great Expectations' Data Docs (GX stamps its HTML with the time) is the same.
    skip = ("run_log.json", "validation")
    ours = (published / "latest").resolve()
    assert ours.name == sample_run.name
    assert _tree(ours, skip) == _tree(sample_run, skip)
    assert len(_tree(ours, skip)) > 10


@pytest.mark.slow
def test_the_manifest_names_archived_inputs_versions_and_outputs(published):
    run = (published / "latest").resolve()
    manifest = json.loads((run / "manifest.json").read_text())
    for entry in manifest["inputs"]:
        archived = published / entry["archive"]
        assert hashlib.sha256(archived.read_bytes()).hexdigest() == entry["sha256"]
        assert archived.stat().st_size == entry["size"] == (SAMPLE / entry["name"]).stat().st_size
    assert set(manifest["versions"]) >= {"code_sha256", "study_sha256", "shared_mappings_sha256", "libraries"}
    for output in manifest["outputs"]:
        assert hashlib.sha256((run / output["path"]).read_bytes()).hexdigest() == output["sha256"]
    assert "changes.csv" in {o["path"] for o in manifest["outputs"]}
    assert manifest["stages"]["ingest"]["rows_read"] == sum(r["read"] for r in manifest["reconciliation"])
    log = json.loads((run / "run_log.json").read_text())
    assert {"ingest", "validate", "write"} <= set(log["seconds_per_stage"])


@pytest.mark.slow
def test_a_corrected_export_wins_and_its_changes_are_reported(published, tmp_path):
    output = _copy_output(published, tmp_path)
    previous = os.readlink(output / "latest").split("/")[-1]

    summary = _run(_corrected_export(tmp_path), output)

    run = (output / "latest").resolve()
    assert run.name.startswith("20260407-") and run.name != previous
    assert f"changes since run {previous}: changed" in summary
    changes = pd.read_csv(run / "changes.csv", dtype=str, keep_default_na=False)
    assert set(changes["change"]) == {"changed"}
    assert set(changes["key"]) == {
        "USUBJID=UCMSC-ESLD-01-001; LBTESTCD=ALT; VISITNUM=1; LBDTC=2025-03-11T08:05"
    }
    by_variable = changes.set_index("variable")
    assert by_variable.loc["LBORRES", ["old", "new"]].tolist() == ["57", "63"]
    assert by_variable.loc["LBSTRESN", ["old", "new"]].tolist() == ["57", "63"]
    assert set(changes["file"]) == {CORRECTION} and set(changes["row"]) == {"2"}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["changes_since"] == previous
    assert [i["name"] for i in manifest["inputs"]][-1] == CORRECTION
    findings = pd.read_csv(run / "findings.csv", dtype=str, keep_default_na=False)
    superseded = findings[findings["rule"] == "SF-0111"]
    assert superseded[["file", "row"]].values.tolist() == [["labs_2026-03-31.csv", "2"]]


# --- separate processes ------------------------------------------------------------------------

CHILD = r"""
import os, signal, sys, time
from pathlib import Path
import transforms.outputs.package as package

mode, ready, release = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
real = package.write_parquet_dataset
calls = []

def patched(*args, **kwargs):
    real(*args, **kwargs)
    calls.append(1)
    if len(calls) == 2:
        ready.touch()
        if mode == "kill":           # die like `kill -9`, mid-package, second domain written
            os.kill(os.getpid(), signal.SIGKILL)
        deadline = time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

package.write_parquet_dataset = patched
from flows.cli import main
sys.exit(main(["run", "--input", sys.argv[4], "--output", sys.argv[5]]))
"""


def _child(mode: str, input_dir: Path, output: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """A pipeline run in its own process, against the harness's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    ready, release = tmp_path / f"{mode}.ready", tmp_path / f"{mode}.release"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_HOME=str(tmp_path / "prefect-home"))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(ready), str(release), str(input_dir), str(output)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return child, ready, release


def _wait_for(path: Path, child: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if child.poll() is not None:
            pytest.fail(f"child exited {child.returncode} early:\n{child.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"child did not reach the write stage in {seconds} s")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_run_killed_while_writing_leaves_the_published_package_untouched(published, tmp_path):
    output = _copy_output(published, tmp_path)
    previous = os.readlink(output / "latest")
    runs_before = _tree(output / "runs")
    export = _corrected_export(tmp_path)

    child, ready, _ = _child("kill", export, output, tmp_path)
    child.wait(180)

    assert child.returncode == -signal.SIGKILL, child.stdout.read()[-3000:]
    assert ready.exists()
    assert os.readlink(output / "latest") == previous
    leftovers = [p.name for p in (output / "runs").iterdir() if p.name.startswith(".staging-")]
    assert leftovers, "the child should have died with its package half-written"
    runs_after = {k: v for k, v in _tree(output / "runs").items() if not k.startswith(".staging-")}
    assert runs_after == runs_before

    summary = _run(export, output)  # the next night

    assert summary.startswith("published ")
    assert os.readlink(output / "latest") != previous
    assert not [p for p in (output / "runs").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_two_runs_at_once_one_publishes_the_other_is_told_who_holds_the_lock(prefect_harness, tmp_path, capsys):
    output = tmp_path / "out"
    child, ready, release = _child("hold", SAMPLE, output, tmp_path)
    try:
        _wait_for(ready, child)  # the child holds OUT/.lock and is half-way through writing

        code = main(["run", "--input", str(SAMPLE), "--output", str(output)])

        message = capsys.readouterr().err
        assert code == 3
        assert f"is locked by another sdtmflow run (pid {child.pid} on " in message
        assert not (output / "latest").exists()
    finally:
        release.touch()
        child.wait(180)
    assert child.returncode == 0, child.stdout.read()[-3000:]
    assert (output / "latest" / "manifest.json").is_file()
    assert [h["outcome"] for h in _history(output)] == ["published"]
