"""The reviewer's guide: PHUSE cSDRG sections in order, every remaining issue with its explanation."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from transforms.outputs.csdrg import NOT_EXPLAINED, SECTION_TITLES
from transforms.core.metadata import read_dataset_metadata, read_variable_metadata
from transforms.spec.study import DEFAULT_STUDY_DIR, STANDARDS_DIR, read_study
from transforms.conform.stage import conform_package
from transforms.outputs.submission import write_conformance, write_csdrg
from transforms.domains.trial_design import build_trial_design
from transforms.outputs.write import apply_variable_metadata

STUDY = read_study(DEFAULT_STUDY_DIR)
VARIABLES = read_variable_metadata(STANDARDS_DIR, DEFAULT_STUDY_DIR)
DATASET_META = read_dataset_metadata(STANDARDS_DIR)
S1 = "UCMSC-ESLD-01-001"


def _datasets() -> dict[str, pd.DataFrame]:
    """DM and LB of one subject: ALT '<5' with its collected range (CORE-000289/290) and ALT 'POS'
    with a range (an unexplained CORE-000289/290), plus the trial design of the bundled study."""
    dm = pd.DataFrame({"STUDYID": "UCMSC-ESLD", "DOMAIN": "DM", "USUBJID": [S1], "SUBJID": ["01-001"],
                       "RFICDTC": ["2025-03-10"], "AGE": [53.0], "AGEU": "YEARS", "SEX": "M", "ARMCD": "LOW",
                       "ARM": "UC-MSC 1x10^6 cells/kg", "COUNTRY": "CHN", "SITEID": "01"})
    lb = pd.DataFrame({"STUDYID": "UCMSC-ESLD", "DOMAIN": "LB", "USUBJID": [S1] * 3, "LBSEQ": [1.0, 2.0, 3.0],
                       "LBTESTCD": "ALT", "LBTEST": "Alanine Aminotransferase", "LBORRES": ["35", "<5", "POS"],
                       "LBORNRLO": "7", "LBORNRHI": "40", "LBSTRESC": ["35", "<5", "POS"],
                       "LBSTRESN": [35.0, np.nan, np.nan], "LBDTC": "2025-04-01"})
    domains = {"DM": dm, "LB": lb, **build_trial_design(dm, STUDY)}
    return {n: apply_variable_metadata(f, VARIABLES[VARIABLES["dataset"] == n]) for n, f in domains.items()}


def _guide(tmp_path):
    explained = pd.DataFrame(
        [["CORE-000289", "LB", "LBORNRHI", "LBORRES=<5", "beyond the assay's limits"],
         ["CORE-000741", "TS", "TSPARMCD", "", "PCLAS is CT's code"]],
        columns=["rule", "dataset", "variable", "where", "explanation"],
    ).astype(object)
    study = dataclasses.replace(STUDY, explained_issues=explained)
    datasets = _datasets()
    conformed = conform_package(datasets, VARIABLES, DATASET_META, study, {}, None)
    write_conformance(tmp_path, conformed.report, conformed.summary, conformed.explained, conformed.rules,
                      study.studyid, datetime(2026, 3, 31))
    conformance = conformed.core
    write_csdrg(tmp_path, datasets, DATASET_META, study, conformance)
    return (tmp_path / "csdrg.md").read_text(), (tmp_path / "csdrg.html").read_text(), conformance


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    """(markdown, html, conformance) of one guide, shared by the tests that only read it: each
    build runs every conformance rule, seconds of CPU."""
    return _guide(tmp_path_factory.mktemp("guide"))


def _issue_rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    """4.2's table: (rule, explanation prefix) -> the row's cells."""
    section = markdown.split("### 4.2 Issues Summary")[1].split("### 4.3")[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return {(r[0].strip(), r[5].strip()[:40]): [c.strip() for c in r] for r in rows[1:]}


def test_sections_in_the_phuse_order(guide):
    markdown, html, _ = guide
    headings = [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("## ") or line.startswith("### ")]
    assert headings == SECTION_TITLES
    positions = [html.index(f">{t}</h") for t in SECTION_TITLES]
    assert positions == sorted(positions)


def test_every_remaining_issue_with_its_explanation_or_not_explained(guide):
    markdown, _, conformance = guide
    rows = _issue_rows(markdown)
    # LB record 2 ('<5') is explained; record 3 ('POS') is not, for both range rules
    assert rows[("CORE-000289", "CORE-000289: beyond the assay's limits")][1:4] == ["LB", "ERROR", "1"]
    assert rows[("CORE-000289", NOT_EXPLAINED)][1:4] == ["LB", "ERROR", "1"]
    assert rows[("CORE-000290", NOT_EXPLAINED)][1:4] == ["LB", "ERROR", "2"]
    # every rule the conformance findings name appears in 4.2 and in Appendix II
    assert {rule for rule, _ in rows} == set(conformance["rule"])
    appendix = markdown.split("## Appendix II: Conformance Issues Details")[1]
    assert all(f"{rule} (" in appendix for rule in set(conformance["rule"]))
    # the explained issue no check of this run raises is listed for the other validators (4.3)
    details = markdown.split("### 4.3 Additional Conformance Details")[1].split("## Appendix I")[0]
    assert "| CORE-000741 | TS | TSPARMCD | all | PCLAS is CT's code |" in details
    # (the small package fails other rules too, e.g. no dm.xpt file: the count is of the table)
    open_errors = sum(1 for (_, e), r in rows.items() if r[2] == "ERROR" and e == NOT_EXPLAINED)
    assert open_errors >= 2 and f"unexplained ERROR issues: {open_errors}." in markdown


def test_study_standards_and_datasets_from_the_spec_and_the_run(guide):
    markdown, _, _ = guide
    assert f"| Protocol Title | {STUDY.config['study']['title']} |" in markdown
    assert "| SDTMIG | 3.4 |" in markdown and "| SDTM | 2.0 |" in markdown
    assert f"| Controlled Terminology | SDTM CT {STUDY.ct.version} |" in markdown
    assert "| Data Definitions | Define-XML 2.1 |" in markdown
    assert "| LB | Laboratory Test Results | xpt/lb.xpt | 3 | 1 |" in markdown
    assert "| TI | Trial Inclusion/Exclusion Criteria | xpt/ti.xpt | 5 |  |" in markdown
    assert "| INCL01 | INCLUSION | Age 18 to 80 years at informed consent |" in markdown


def test_guide_is_deterministic_and_self_contained(guide, tmp_path):
    first = guide[:2]
    second = _guide(tmp_path)[:2]  # written again, into a folder of its own
    assert first == second
    html = first[1]
    assert "<script" not in html and "http://" not in html and "https://" not in html and "<link" not in html


@pytest.mark.slow
def test_sample_run_writes_the_guide_with_no_unexplained_error(sample_run):
    markdown = (sample_run / "csdrg.md").read_text()
    assert (sample_run / "csdrg.html").is_file()
    headings = [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("## ") or line.startswith("### ")]
    assert headings == SECTION_TITLES
    report = pd.read_excel(sample_run / "conformance.xlsx", sheet_name="findings", engine="openpyxl")
    rows = _issue_rows(markdown)
    assert {rule for rule, _ in rows} == set(report["rule"])
    assert re.search(r"unexplained ERROR issues: 0\b", markdown)
    assert "CORE-000741" in markdown.split("### 4.3")[1]


@pytest.mark.slow
def test_the_guide_renders_offline_in_a_browser(sample_run, offline_chromium):
    """Rendered in headless chromium with no network: every section, in order, and no remote
    resource it would have waited for."""
    page = sample_run / "csdrg.html"
    assert not re.search(r"""(src|href)=["']https?://""", page.read_text(encoding="utf-8"))
    dom = offline_chromium(page, "--dump-dom")
    positions = [dom.index(title) for title in SECTION_TITLES]
    assert positions == sorted(positions)
