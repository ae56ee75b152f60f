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

from transforms.ct import (
    STUDY_CODELIST_COLUMNS, ControlledTerminology, check_terminology_in_ct, merge_study_ct, read_ct,
)
from transforms.standardise import RESULT_VALUE_COLUMNS, check_result_values

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
    "codelists": "codelists.csv",  # merged over mappings/ct into Study.ct
    "result_values": "result_values.csv",
}
# Tables a study may leave out: absent, they are empty (nothing to add to the shared rules).
_OPTIONAL = {"codelists": STUDY_CODELIST_COLUMNS, "result_values": RESULT_VALUE_COLUMNS}


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
    result_values: pd.DataFrame  # qualitative / censored results the study accepts, as --STRESC/N
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
        if name in _OPTIONAL and not path.is_file():
            tables[name] = pd.DataFrame(columns=_OPTIONAL[name], dtype=object)
            continue
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
    ct = merge_study_ct(read_ct(MAPPINGS_DIR / "ct"), tables.pop("codelists"), study_dir / "codelists.csv")
    for path, problems in ((study_dir / "terminology.csv", check_terminology_in_ct(tables["terminology"], ct)),
                           (study_dir / "result_values.csv", check_result_values(tables["result_values"]))):
        if problems:
            raise ValueError(f"{path}:\n" + "\n".join(f"  - {p}" for p in problems))
    return Study(directory=study_dir, config=config, **tables, trial_design=trial_design, ct=ct)
