"""Write the submission documents of a run: define.xml, define.html (+ the CDISC stylesheet) and
the conformance report (conformance.xlsx, conformance.html); and where the submission lives.

The SDTM tabulations follow the eCTD module 5 layout FDA expects (Study Data Technical
Conformance Guide): `m5/datasets/<studyid lower-case>/tabulations/sdtm/` holds every dataset
(.xpt), define.xml and its stylesheet, and define.xml names each dataset by its bare file name.

The I/O edge around the pure builders in transforms.outputs.define and transforms.conform: it reads
the study's datasets.csv and methods.csv, writes the files atomically (temp file + rename, as the
dataset writers do) and hands back what it wrote.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from transforms.core.files import write_atomically
from transforms.outputs.csdrg import GuideInputs, build_csdrg, format_csdrg_html, format_csdrg_markdown
from transforms.core.xlsx import Sheet, compute_tables_xlsx_bytes
from transforms.conform.report import check_explained_issues, compute_explanations, format_conformance_html
from transforms.conform.rules import read_conformance_rules
from transforms.outputs.define import (
    STYLESHEET,
    DefineStudy,
    build_define_xml,
    build_sponsor_codelists,
    check_define_schema,
    render_define_html,
)
from transforms.spec.study import MAPPINGS_DIR, STANDARDS_DIR, Study

DEFINE_DIR = STANDARDS_DIR / "define-xml-2.1"
DEFINE_SCHEMA = DEFINE_DIR / "schema" / "cdisc-define-2.1" / "define2-1-0.xsd"
CONFORMANCE_RULES = MAPPINGS_DIR / "conformance_rules.csv"
SDTM_FOLDER = "m5/datasets/{study}/tabulations/sdtm"
# Runs published before the eCTD layout kept their datasets here.
LEGACY_XPT_FOLDER = "xpt"


def compute_sdtm_folder(studyid: str) -> Path:
    """The SDTM submission folder of a study, relative to the run folder."""
    return Path(SDTM_FOLDER.format(study=studyid.lower()))


def find_sdtm_datasets(run_dir: Path) -> list[Path]:
    """The XPT datasets a published run submitted (either layout), sorted by path."""
    run_dir = Path(run_dir)
    found = run_dir.glob(f"{SDTM_FOLDER.format(study='*')}/*.xpt")
    return sorted([*found, *run_dir.glob(f"{LEGACY_XPT_FOLDER}/*.xpt")])


class DefineSchemaError(ValueError):
    """define.xml does not validate against the Define-XML 2.1 schema: a bug, never published."""


def read_study_table(study: Study, filename: str) -> pd.DataFrame:
    path = study.directory / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: define.xml needs it (copy it from mappings/ucmsc-esld/)")
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8").astype(object)


def build_define_document(
    datasets: dict[str, pd.DataFrame],
    lengths: dict[str, dict[str, int]],
    variables: pd.DataFrame,
    dataset_meta: pd.DataFrame,
    study: Study,
    created: datetime,
) -> bytes:
    """define.xml's bytes for the typed `datasets` and their XPT `lengths` (pure: the writer writes
    them, the conform stage checks them); raises DefineSchemaError when the document is not valid
    Define-XML 2.1."""
    ct = study.ct
    value_types = {("TS", row.TSPARMCD): row.value_type for row in ct.ts_parameters.itertuples()}
    document = build_define_xml(
        datasets, lengths, variables, dataset_meta,
        read_study_table(study, "datasets.csv"), read_study_table(study, "methods.csv"), ct,
        build_sponsor_codelists(study.arms),
        DefineStudy(study.studyid, study.config["study"]["title"], study.config["study"].get("sdtmig_version", "3.4")),
        created, value_types,
    )
    errors = check_define_schema(document, DEFINE_SCHEMA)
    if errors:
        raise DefineSchemaError("define.xml is not valid Define-XML 2.1:\n" + "\n".join(errors[:20]))
    return document


def write_define(folder: Path, document: bytes) -> list[Path]:
    """define.xml (`document`: the conform stage built and checked it, build_define_document),
    define.html and the stylesheet in `folder`, the one holding the datasets."""
    folder = Path(folder)
    paths = [folder / "define.xml", folder / STYLESHEET, folder / "define.html"]
    _write_bytes(paths[0], document)
    _write_bytes(paths[1], (DEFINE_DIR / STYLESHEET).read_bytes())
    _write_bytes(paths[2], render_define_html(document, DEFINE_DIR / STYLESHEET))
    return paths


def write_conformance(
    run_dir: Path,
    report: pd.DataFrame,
    summary: pd.DataFrame,
    explained: pd.DataFrame,
    rules: pd.DataFrame,
    studyid: str,
    created: datetime,
) -> list[Path]:
    """conformance.xlsx and conformance.html in `run_dir`, from what the conform stage found
    (transforms.conform.stage.Conformed: its report, summary, explained issues and rule table);
    returns the paths written. Nothing is checked here."""
    run_dir = Path(run_dir)
    xlsx, html = run_dir / "conformance.xlsx", run_dir / "conformance.html"
    sheets = {"summary": summary, "findings": report, "explained issues": explained, "rules": rules}
    _write_bytes(xlsx, compute_workbook_bytes(sheets, created))
    _write_bytes(html, format_conformance_html(summary, report, studyid).encode("utf-8"))
    return [xlsx, html]


def write_csdrg(
    run_dir: Path,
    datasets: dict[str, pd.DataFrame],
    dataset_meta: pd.DataFrame,
    study: Study,
    conformance: pd.DataFrame,
) -> list[Path]:
    """csdrg.md and csdrg.html in `run_dir`: the reviewer's guide of the package, from the study
    spec, the datasets as written and the conformance findings the conform stage returned (Conformed.core)."""
    run_dir = Path(run_dir)
    rules = read_conformance_rules(CONFORMANCE_RULES)
    explained = read_explained_issues(study, rules)
    # the explanations are recomputed from the findings (same rule/dataset/record keys), and each
    # issue is shown with its rule's severity, not the INFO the run carries an explained one as
    explanation = compute_explanations(conformance, explained, datasets, rules)
    findings = conformance.assign(
        message=conformance["message"].str.replace(r" \[explained: .*\]$", "", regex=True),
        rule_severity=conformance["rule"].map(dict(zip(rules["rule"], rules["severity"]))).fillna(conformance["severity"]),
        explanation=explanation.to_numpy(),
    )
    config = study.config["study"]
    inputs = GuideInputs(
        studyid=study.studyid,
        title=config["title"],
        sdtmig_version=str(config.get("sdtmig_version", "3.4")),
        sdtm_version=str(study.trial_design.get("standards", {}).get("sdtm_version", "")),
        ct_version=study.ct.version,
        define_version="2.1",
        datasets=datasets,
        dataset_labels=dict(zip(dataset_meta["dataset"], dataset_meta["label"])),
        findings=findings,
        rules=rules,
        explained=explained,
        protocol_version=str(study.trial_design.get("protocol", {}).get("TIVERS", "")),
    )
    sections = build_csdrg(inputs)
    paths = [run_dir / "csdrg.md", run_dir / "csdrg.html"]
    _write_bytes(paths[0], format_csdrg_markdown(sections, study.studyid).encode("utf-8"))
    _write_bytes(paths[1], format_csdrg_html(sections, study.studyid).encode("utf-8"))
    return paths


def read_explained_issues(study: Study, rules: pd.DataFrame) -> pd.DataFrame:
    """The study's explained_issues.csv, checked; raises ValueError listing every problem."""
    explained = study.explained_issues.astype(object)
    problems = check_explained_issues(explained, rules)
    if problems:
        path = study.directory / "explained_issues.csv"
        raise ValueError(f"{path}:\n" + "\n".join(f"  - {p}" for p in problems))
    return explained


def compute_workbook_bytes(sheets: dict[str, pd.DataFrame], timestamp: datetime) -> bytes:
    """An xlsx of `sheets` (header row frozen) whose bytes depend only on the tables and
    `timestamp`."""
    return compute_tables_xlsx_bytes([Sheet(name, table) for name, table in sheets.items()], timestamp)


def _write_bytes(path: Path, data: bytes) -> None:
    write_atomically(path, lambda tmp: tmp.write_bytes(data))
