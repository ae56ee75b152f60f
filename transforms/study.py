"""Read a study folder under mappings/ into plain data the transforms take as arguments.

A study is a folder: `study.toml` (identifiers, arms, treatment constants) and CSV tables
(raw columns, terminology, visits, lab tests, unit conversions, variable spec). Nothing about a
particular study lives in code; a second study is a second folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pandas as pd

from transforms.ct import ControlledTerminology, read_ct

MAPPINGS_DIR = Path(str(files("mappings")))
STANDARDS_DIR = MAPPINGS_DIR / "standards"
DEFAULT_STUDY_DIR = MAPPINGS_DIR / "ucmsc-esld"

_TABLES = {
    "raw_columns": "raw_columns.csv",
    "terminology": "terminology.csv",
    "visits": "visits.csv",
    "lab_tests": "lab_tests.csv",
    "unit_conversions": "unit_conversions.csv",
    "scores": "scores.csv",
    "rs_tests": "rs_tests.csv",
    "explained_issues": "explained_issues.csv",  # conformance issues the study explains (cSDRG)
}


@dataclass(frozen=True)
class Study:
    """Everything the pipeline knows about one study, as loaded data."""

    directory: Path
    config: dict
    raw_columns: pd.DataFrame
    terminology: pd.DataFrame
    visits: pd.DataFrame
    lab_tests: pd.DataFrame
    unit_conversions: pd.DataFrame
    scores: pd.DataFrame
    rs_tests: pd.DataFrame
    explained_issues: pd.DataFrame
    # trial_design.toml (TS, TE, TA, TV, TI, MH settings) and mappings/ct; empty/None when absent
    trial_design: dict = field(default_factory=dict)
    ct: ControlledTerminology | None = None

    @property
    def studyid(self) -> str:
        return self.config["study"]["studyid"]

    @property
    def arms(self) -> pd.DataFrame:
        return pd.DataFrame(self.config["arms"])


def read_study(study_dir: Path) -> Study:
    """Load a study folder; a missing file or key is a configuration error with a fix."""
    study_dir = Path(study_dir)
    config_path = study_dir / "study.toml"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{config_path} not found: a study folder needs a study.toml "
            f"(copy {DEFAULT_STUDY_DIR / 'study.toml'} and edit it)"
        )
    with config_path.open("rb") as handle:
        config = tomllib.load(handle)
    for key in ("study", "arms", "treatment"):
        if key not in config:
            raise ValueError(f"{config_path}: section [{key}] is missing")
    tables = {}
    for name, filename in _TABLES.items():
        path = study_dir / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: every study folder needs {filename}")
        # keep_default_na=False: an empty cell is "" (e.g. INR's empty unit), never the text "NA"
        tables[name] = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    tables["visits"] = tables["visits"].assign(
        VISITNUM=lambda v: v["VISITNUM"].astype(float),
        VISITDY=lambda v: pd.to_numeric(v["VISITDY"].replace("", None)).astype("Float64"),
    )
    tables["unit_conversions"] = tables["unit_conversions"].assign(
        factor=lambda u: u["factor"].astype(float)
    )
    design_path = study_dir / "trial_design.toml"
    trial_design = {}
    if design_path.is_file():
        with design_path.open("rb") as handle:
            trial_design = tomllib.load(handle)
    return Study(
        directory=study_dir, config=config, **tables,
        trial_design=trial_design, ct=read_ct(MAPPINGS_DIR / "ct"),
    )
