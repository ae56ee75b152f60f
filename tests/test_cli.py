"""The command line as an operator meets it: exit codes and one-line messages, no tracebacks."""

import subprocess
import sys
from pathlib import Path

import pandas as pd


def sdtmflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True)


def test_missing_input_folder_is_a_configuration_error_with_its_fix(tmp_path):
    done = sdtmflow("run", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "input folder" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "out").exists()


def test_broken_study_folder_names_the_file_to_fix(tmp_path):
    done = sdtmflow("run", "--study", str(tmp_path), "--output", str(tmp_path / "out"))
    assert done.returncode == 2 and "study.toml" in done.stderr and "Traceback" not in done.stderr


def test_sample_writes_a_workbook_and_a_csv(tmp_path):
    done = sdtmflow("sample", "--output", str(tmp_path), "--subjects", "4", "--seed", "3")
    assert done.returncode == 0
    written = sorted(Path(line).name for line in done.stdout.split())
    assert written == ["labs_2026-03-31.csv", "site01_export_2026-03-31.xlsx"]
    demographics = pd.read_excel(tmp_path / written[1], sheet_name="Demographics", dtype=str, engine="calamine")
    assert len(demographics) == 4
