"""Read a study folder under mappings/ into plain data the transforms take as arguments.

A study is a folder: `study.toml` (identifiers, arms, treatment constants) and CSV tables
(raw columns, terminology, visits, lab tests, unit conversions, variable spec). Nothing about a
particular study lives in code; a second study is a second folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from transforms.spec.ct import (
    STUDY_CODELIST_COLUMNS, ControlledTerminology, check_terminology_in_ct, merge_study_ct, read_ct,
)
from transforms.conform.report import EXPLAINED_COLUMNS
from transforms.scores.liver_scores import SCORE_INPUT_COLUMNS, derive_score_sources
from transforms.spec.locations import DEFAULT_STUDY_DIR, MAPPINGS_DIR, STANDARDS_DIR  # also named from here
from transforms.standardise.values import RESULT_VALUE_COLUMNS, check_result_values

# Sheet roles (sheets.csv `role`): what the pipeline does with a sheet's rows. The subjects sheet
# has one row per subject and comes first; the others are the study's record sheets.
SUBJECTS, EXPOSURE, FINDINGS, ASSESSMENTS = "subjects", "exposure", "findings", "assessments"
ROLES = (SUBJECTS, EXPOSURE, FINDINGS, ASSESSMENTS)

# eligibility.csv: a value of a raw column that means the subject is not eligible; `reason` is
# the protocol's words the finding (SF-0122) gives the site.
ELIGIBILITY_COLUMNS = ["sheet", "column", "value", "reason"]

TABLE_FILES = {
    "sheets": "sheets.csv",
    "raw_columns": "raw_columns.csv",
    "terminology": "terminology.csv",
    "visits": "visits.csv",
    "lab_tests": "lab_tests.csv",
    "unit_conversions": "unit_conversions.csv",
    "scores": "scores.csv",
    "rs_tests": "rs_tests.csv",
    "score_inputs": "score_inputs.csv",  # which LB test / assessment column feeds each score input
    "eligibility": "eligibility.csv",  # raw answers that make a subject ineligible (SF-0122)
    "mapping": "mapping.csv",
    "codelists": "codelists.csv",  # merged over mappings/ct into Study.ct
    "result_values": "result_values.csv",
    "explained_issues": "explained_issues.csv",  # conformance issues the study explains (cSDRG)
}
# Tables a study may leave out: absent, they are empty (nothing to add to the shared rules).
OPTIONAL_TABLES = {
    "codelists": STUDY_CODELIST_COLUMNS, "result_values": RESULT_VALUE_COLUMNS,
    "explained_issues": EXPLAINED_COLUMNS, "score_inputs": SCORE_INPUT_COLUMNS,
    "eligibility": ELIGIBILITY_COLUMNS,
}


@dataclass(frozen=True)
class Study:
    """Everything the pipeline knows about one study, as loaded data."""

    directory: Path
    config: dict
    # sheets.csv: the sheets the site sends (sheet id, role, names, what one row is, record key)
    sheets: pd.DataFrame
    raw_columns: pd.DataFrame
    terminology: pd.DataFrame
    visits: pd.DataFrame
    lab_tests: pd.DataFrame
    unit_conversions: pd.DataFrame
    scores: pd.DataFrame
    rs_tests: pd.DataFrame
    score_inputs: pd.DataFrame  # score_inputs.csv: formula input -> source (empty: no scores)
    eligibility: pd.DataFrame  # eligibility.csv (empty: no eligibility answer to check)
    # mapping.csv: how each SDTM variable is filled (transforms.domains.spec_map)
    mapping: pd.DataFrame
    result_values: pd.DataFrame  # qualitative / censored results the study accepts, as --STRESC/N
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

    @property
    def sheet_ids(self) -> list[str]:
        """The study's sheet ids in the order they are validated: the subjects sheet first (a row
        of another sheet can only be mapped for a subject whose own row is fit to map)."""
        order = self.sheets.assign(_first=self.sheets["role"] != SUBJECTS)
        return list(order.sort_values("_first", kind="stable")["sheet"])

    @property
    def score_sources(self) -> pd.DataFrame:
        """score_inputs.csv resolved: per formula input its source, the column the pipeline reads
        and the unit LB holds a lab input in (transforms.scores.liver_scores.derive_score_sources)."""
        return derive_score_sources(
            self.score_inputs, self.raw_columns, self.lab_tests, self.sheet_with_role(ASSESSMENTS)
        )

    @property
    def has_scores(self) -> bool:
        """Scores are optional: computed where the study has an assessments sheet (the rows they
        are computed at), names their inputs and declares their RS tests."""
        return (
            self.sheet_with_role(ASSESSMENTS) is not None
            and not self.score_inputs.empty and not self.rs_tests.empty
        )

    def sheet_with_role(self, role: str) -> str | None:
        """The id of the sheet that plays `role` (sheets.csv), None when the study has none."""
        match = self.sheets.loc[self.sheets["role"] == role, "sheet"]
        return match.iloc[0] if len(match) else None

    def role_of(self, sheet: str) -> str:
        return self.sheets.set_index("sheet").at[sheet, "role"]

    @property
    def record_keys(self) -> dict[str, list[str]]:
        """{sheet: record key columns}: the same key in a newer export replaces the older row; twice
        in one file it is a repeated key. Standardised columns may stand in for raw text, so `W4`
        in one export and `Week 4` in the next are the same visit."""
        return {row.sheet: row.record_key.split() for row in self.sheets.itertuples()}

    @property
    def sheet_names(self) -> dict[str, list[str]]:
        """{sheet: the names a workbook sheet or CSV file may carry for it}, from sheets.csv."""
        return {
            row.sheet: [name.strip() for name in row.names.split("|") if name.strip()]
            for row in self.sheets.itertuples()
        }

    def mapping_of(self, domain: str) -> pd.DataFrame:
        """The mapping.csv rows of one domain, in the file's order."""
        return self.mapping[self.mapping["domain"] == domain]

    def domain_settings(self, domain: str) -> dict:
        """study.toml [domains.<domain>]: where the domain's records come from."""
        return self.config.get("domains", {}).get(domain, {})

    @property
    def epochs(self) -> tuple[str, str, str]:
        """(before the first dose, from first to last dose, after it): the EPOCH of the first
        trial element, of the arms' own (treatment) elements, and of the last element
        (trial_design.toml [[elements]], ordered by TAETORD)."""
        elements = sorted(self.trial_design.get("elements", []), key=lambda e: e.get("TAETORD", 0))
        treatment = [e["EPOCH"] for e in elements if e.get("arm")]
        if len(elements) < 3 or not treatment:
            raise ValueError(
                f"{self.directory / 'trial_design.toml'}: EPOCH is derived from the trial elements: "
                "give at least a first (before treatment) element, one treatment element per arm "
                "(with `arm`) and a last (after treatment) element, each with its EPOCH"
            )
        return elements[0]["EPOCH"], treatment[0], elements[-1]["EPOCH"]

    def dose_date_columns(self) -> tuple[str, str | None]:
        """The raw date columns a dose starts and ends on: those mapping.csv assigns EXSTDTC and
        EXENDTC from, as `dtc_<column>` or as a date-time a time column combines with its date
        (raw_columns.csv standard_as / combine_with). End None when the spec gives none."""
        spec = self.mapping_of("EX")
        combined = self.raw_columns[self.raw_columns["combine_with"].fillna("") != ""]
        dates_of = dict(zip(combined["standard_as"], combined["combine_with"]))

        def source(variable: str) -> str | None:
            for name in spec.loc[spec["variable"] == variable, "source"]:
                if name.startswith("dtc_"):
                    return name[len("dtc_"):]
                if name in dates_of:
                    return dates_of[name]
            return None

        start = source("EXSTDTC")
        if start is None:
            raise ValueError(
                f"{self.directory / 'mapping.csv'}: assign EXSTDTC from a date column (dtc_<column>)"
            )
        return start, source("EXENDTC")

    def label_of(self, sheet: str) -> str:
        """The name the site knows a sheet by (its first name in sheets.csv): every message
        that names a sheet uses it."""
        return self.sheet_names[sheet][0]

    def headers_of(self, sheet: str) -> dict[str, str]:
        """{column: the header the site is told about} for one sheet (raw_columns.csv `header`)."""
        columns = self.raw_columns[self.raw_columns["sheet"] == sheet]
        return dict(zip(columns["column"], columns["header"]))


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
    for name, filename in TABLE_FILES.items():
        path = study_dir / filename
        if name in OPTIONAL_TABLES and not path.is_file():
            tables[name] = pd.DataFrame(columns=OPTIONAL_TABLES[name], dtype=object)
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
