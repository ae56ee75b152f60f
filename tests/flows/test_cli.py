"""The command line as an operator meets it: exit codes and one-line messages, no tracebacks.

Every case runs the real CLI in a fresh process. Permission cases need the kernel to refuse:
as root (a container) the child drops the capabilities that let root read and write anything
(setpriv), otherwise chmod is enough.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from transforms.spec.study import DEFAULT_STUDY_DIR

SAMPLE = DEFAULT_STUDY_DIR / "sample_export"
AS_ROOT = os.geteuid() == 0
DROP_ROOT_POWERS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def sdtmflow(*args: str, obey_permissions: bool = False, code: str | None = None) -> subprocess.CompletedProcess:
    """`python -m flows.cli ARGS`, or `code` (which calls flows.cli.main) with ARGS in sys.argv."""
    prefix = []
    if obey_permissions and AS_ROOT:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be made to bite")
        prefix = DROP_ROOT_POWERS
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "flows.cli", *args]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return subprocess.run([*prefix, *command], capture_output=True, text=True, env=env, timeout=600)


def assert_one_clear_line(done: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    console = done.stdout + done.stderr
    assert "Traceback" not in console, console
    assert done.returncode == code, console
    lines = [line for line in done.stderr.splitlines() if line.startswith("sdtmflow: ")]
    assert len(lines) == 1, console
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _tree(root: Path) -> dict[str, str]:
    """Everything a run publishes (logs and the history aside): path -> size or link target."""
    return {
        p.relative_to(root).as_posix(): (os.readlink(p) if p.is_symlink() else str(p.stat().st_size))
        for p in sorted(root.rglob("*")) if p.relative_to(root).parts[0] not in ("logs", "history.jsonl")
    }


def test_missing_input_folder_is_a_configuration_error_with_its_fix(tmp_path):
    done = sdtmflow("run", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"))
    assert_one_clear_line(done, 2, "input folder", str(tmp_path / "nowhere"), "does not exist", "--input")
    assert not (tmp_path / "out").exists()


def test_input_that_is_a_file_says_to_give_the_folder(tmp_path):
    done = sdtmflow("run", "--input", str(SAMPLE / "labs_2026-03-31.csv"), "--output", str(tmp_path / "out"))
    assert_one_clear_line(done, 2, "labs_2026-03-31.csv is a file, not a folder (--input)")
    assert not (tmp_path / "out").exists()


def test_unreadable_input_folder_names_it(tmp_path):
    export = tmp_path / "export"
    shutil.copytree(SAMPLE, export)
    export.chmod(0)
    try:
        done = sdtmflow("run", "--input", str(export), "--output", str(tmp_path / "out"), obey_permissions=True)
    finally:
        export.chmod(0o755)
    assert_one_clear_line(done, 2, f"cannot use {export} (--input): permission denied")


def test_output_that_is_a_file_is_refused_untouched(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    done = sdtmflow("run", "--output", str(tmp_path / "out"))
    assert_one_clear_line(done, 2, f"output {tmp_path / 'out'} is a file, not a folder (--output)")
    assert (tmp_path / "out").read_text() == "not a folder"


def test_output_in_a_read_only_folder_names_it(tmp_path):
    parent = tmp_path / "readonly"
    parent.mkdir(mode=0o555)
    done = sdtmflow("run", "--output", str(parent / "out"), obey_permissions=True)
    assert_one_clear_line(done, 2, f"cannot use {parent / 'out'} (--output): permission denied")
    assert list(parent.iterdir()) == []


def test_broken_study_folder_names_the_file_to_fix(tmp_path):
    done = sdtmflow("run", "--study", str(tmp_path), "--output", str(tmp_path / "out"))
    assert_one_clear_line(done, 2, "study.toml")
    assert not (tmp_path / "out").exists()  # the study is checked before a first run creates OUT


def test_a_missing_study_folder_is_named_once_and_creates_nothing(tmp_path):
    done = sdtmflow("run", "--study", str(tmp_path / "nostudy"), "--output", str(tmp_path / "out"))
    line = assert_one_clear_line(done, 2, f"study {tmp_path / 'nostudy'} is not a folder (--study)")
    assert line.count("nostudy") == 1, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "damage"),
    [("study.toml", b'\nstudyid = = "x\n'), ("lab_tests.csv", b'\n"an unterminated quote,\n')],
)
def test_a_broken_study_file_is_named_with_the_parser_message(tmp_path, name, damage):
    study = tmp_path / "study"
    shutil.copytree(DEFAULT_STUDY_DIR, study, ignore=shutil.ignore_patterns("sample_export"))
    with (study / name).open("ab") as handle:
        handle.write(damage)
    done = sdtmflow("run", "--study", str(study), "--output", str(tmp_path / "out"))
    # check-study reads the folder whole before anything runs, and names the file and the parser's word
    assert_one_clear_line(done, 2, f"{study / name}: cannot be read", "(--study)")


def test_sample_writes_a_workbook_and_a_csv(tmp_path):
    done = sdtmflow("sample", "--output", str(tmp_path), "--subjects", "4", "--seed", "3")
    assert done.returncode == 0
    written = sorted(Path(line).name for line in done.stdout.split())
    assert written == ["labs_2026-03-31.csv", "site01_export_2026-03-31.xlsx"]
    demographics = pd.read_excel(tmp_path / written[1], sheet_name="Demographics", dtype=str, engine="calamine")
    assert len(demographics) == 4


# --- through Prefect: one real publication, then what goes wrong after it -------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The bundled sample published by `sdtmflow run` (copy the folder before changing it)."""
    output = tmp_path_factory.mktemp("cli") / "out"
    done = sdtmflow("run", "--output", str(output))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert done.stdout.startswith("published ")
    return output


def _copy(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path / "out", symlinks=True)
    return tmp_path / "out"


def _changed_export(tmp_path: Path) -> Path:
    """The sample with one more, blank, line in the lab file: new bytes, so a new run id."""
    export = tmp_path / "export"
    shutil.copytree(SAMPLE, export)
    with (export / "labs_2026-03-31.csv").open("a") as handle:
        handle.write("\n")
    return export


UNCHANGED_PROBE = """
import json, sys
from flows.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("prefect", "great_expectations") or m == "transforms.spec.study_check")
print(json.dumps({"code": code, "heavy": heavy}))
"""


@pytest.mark.slow
def test_an_unchanged_night_is_decided_without_prefect_gx_or_the_study_check_and_matches_the_flows_run_id(published, tmp_path):
    output = _copy(published, tmp_path)
    run_id = os.readlink(output / "latest").rsplit("/", 1)[-1]  # the id the flow computed
    before = _tree(output)

    done = sdtmflow("run", "--output", str(output), code=UNCHANGED_PROBE)

    first, probe = done.stdout.splitlines()[0], json.loads(done.stdout.splitlines()[-1])
    assert probe == {"code": 0, "heavy": []}, done.stderr
    assert first.startswith(f"unchanged since run {run_id}; nothing republished")
    assert _tree(output) == before
    last = json.loads((output / "history.jsonl").read_text().splitlines()[-1])
    assert (last["run_id"], last["outcome"]) == (run_id, "unchanged")


BUG_IN_A_TASK = """
import sys
import flows.build
def broken(*args, **kwargs):
    return {}["a bug of ours"]
flows.build.map_domains = broken
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_bug_of_ours_is_an_internal_error_with_the_traceback_in_the_log(published, tmp_path):
    output = _copy(published, tmp_path)
    latest, runs = os.readlink(output / "latest"), sorted(p.name for p in (output / "runs").iterdir())

    done = sdtmflow("run", "--input", str(_changed_export(tmp_path)), "--output", str(output), code=BUG_IN_A_TASK)

    line = assert_one_clear_line(done, 1, "internal error — please report; details in ")
    log = Path(line.rsplit("details in ", 1)[1])
    assert log.parent == output / "logs"
    assert "Traceback" in log.read_text() and "a bug of ours" in log.read_text()
    assert os.readlink(output / "latest") == latest
    assert sorted(p.name for p in (output / "runs").iterdir()) == runs
    assert json.loads((output / "history.jsonl").read_text().splitlines()[-1])["outcome"] == "failed"


@pytest.mark.slow
def test_a_read_only_output_folder_fails_in_one_line_and_leaves_latest(published, tmp_path):
    output = _copy(published, tmp_path)
    before = _tree(output)
    for folder in (output, output / "runs", output / "archive"):
        folder.chmod(0o555)
    try:
        done = sdtmflow("run", "--input", str(_changed_export(tmp_path)), "--output", str(output),
                        obey_permissions=True)
    finally:
        for folder in (output, output / "runs", output / "archive"):
            folder.chmod(0o755)
    assert_one_clear_line(done, 2, f"cannot use {output}", "(--output): permission denied")
    assert _tree(output) == before


def _tiny_filesystem(path: Path, kilobytes: int) -> bool:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(path)],
                             capture_output=True)
    return mounted.returncode == 0


@pytest.mark.slow
def test_a_full_disk_fails_in_one_line_and_publishes_nothing(tmp_path):
    disk = tmp_path / "disk"
    if not (AS_ROOT and _tiny_filesystem(disk, 600)):
        pytest.skip("cannot mount a tiny tmpfs here (needs root)")
    try:
        done = sdtmflow("run", "--output", str(disk / "out"))
        assert_one_clear_line(done, 1, f"cannot use {disk / 'out'} (--output): no space left on device")
        assert not (disk / "out" / "latest").exists()
        assert [p.name for p in (disk / "out" / "runs").iterdir()] == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)
