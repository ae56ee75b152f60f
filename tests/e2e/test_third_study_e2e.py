"""A third study (RNX-205), written from docs/new-study.md and `sdtmflow new-study` alone, through
the real CLI: subcutaneous injections every two weeks, one per row; an active comparator instead of
placebo; three sites writing English, French and Chinese headers in CSV files; no scores, no
medical history; urine protein as dipstick grades; hemoglobin in g/dL from one site.

The export (tests/data/studies/rnx205/sample_export) was written by hand for this test, so every
value below is worked out from its rows, not from the pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from fuzzing import check_xpt_readers_agree
from transforms.spec.study import STANDARDS_DIR
from transforms.outputs.submission import compute_sdtm_folder

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STUDY_DIR = ROOT / "tests" / "data" / "studies" / "rnx205"
SCHEMA = STANDARDS_DIR / "define-xml-2.1" / "schema" / "cdisc-define-2.1" / "define2-1-0.xsd"
# words of the two bundled studies that must not reach this study's site-facing outputs
OTHER_STUDIES_WORDS = ["infusion", "Demographics", "Labs", "Assessments", "liver", "ZX", "Bloods", "Dosing",
                       "Patients", "Not done reason", "placebo", "cells/kg", "transplant"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("rnx_output")
    for command in (["check-study", str(STUDY_DIR)],
                    ["run", "--study", str(STUDY_DIR), "--input", str(STUDY_DIR / "sample_export"), "--output", str(output)]):
        done = subprocess.run([sys.executable, "-m", "flows.cli", *command], capture_output=True, text=True,
                              timeout=900, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stdout + done.stderr
    assert "rows read = mapped + held back: OK" in done.stdout
    return (output / "latest").resolve()


@pytest.fixture(scope="module")
def sdtm(run) -> Path:
    return run / compute_sdtm_folder("RNX-205")


def parquet(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run / "parquet" / f"{name}.parquet")


def test_three_sites_headers_are_all_read_and_every_row_accounted_for(run):
    counts = pd.read_csv(run / "reconciliation.csv").set_index("file")
    assert int(counts["unaccounted"].sum()) == 0
    # site 03 (Chinese headers and file names): 03-001 reached 8 visits x 5 tests, 03-002 only
    # screening (5), plus one unscheduled potassium with a Chinese comment, held back
    assert counts.loc["肾功能_site03_2026-05-31.csv", ["read", "mapped", "held_back"]].tolist() == [46, 45, 1]
    # site 02 (French headers): two subjects x 8 visits x 5 tests
    assert counts.loc["Renal panel_site02_2026-05-31.csv", "mapped"] == 80
    # site 01: 12 + 6 injection rows; the 4th of 01-002 not given: held back by an INFO (no EX record)
    assert counts.loc["Injections_site01_2026-05-31.csv", ["read", "mapped", "held_back"]].tolist() == [18, 17, 1]


def test_only_the_domains_the_spec_has_are_written(sdtm):
    assert sorted(p.stem for p in sdtm.glob("*.xpt")) == ["dm", "ex", "lb", "sv", "ta", "te", "ti", "ts", "tv"]


def test_one_injection_per_row_with_its_time_and_the_comparator_drug(run):
    dm, ex = parquet(run, "dm").set_index("USUBJID"), parquet(run, "ex")
    first = ex[(ex["USUBJID"] == "RNX-205-01-001") & (ex["EXSPID"] == "1")].iloc[0]
    assert (first["EXSTDTC"], first["EXENDTC"], first["EXSTDY"]) == ("2025-09-10T09:30", "2025-09-10T09:30", 1)
    # injection 12 is 11 x 14 = 154 days after 2025-09-10
    assert dm.loc["RNX-205-01-001", ["RFXSTDTC", "RFXENDTC"]].tolist() == ["2025-09-10T09:30", "2026-02-11"]
    assert (ex.groupby("USUBJID").size().to_dict()
            == {"RNX-205-01-001": 12, "RNX-205-01-002": 5, "RNX-205-02-001": 12, "RNX-205-02-002": 12, "RNX-205-03-001": 12})
    comparator = ex["USUBJID"].map(dm["ARMCD"]) == "CPX240"
    assert set(ex.loc[comparator, "EXTRT"]) == {"CPX-4"} and set(ex.loc[~comparator, "EXTRT"]) == {"RNX-17"}
    assert set(ex["EXROUTE"]) == {"SUBCUTANEOUS"} and set(ex["EXDOSFRQ"]) == {"Q2W"}
    # 02-001: 300 mg four times, then the protocol's reduction to 150 mg: still the RNX300 arm
    assert ex.loc[ex["USUBJID"] == "RNX-205-02-001", "EXDOSE"].tolist() == [300.0] * 4 + [150.0] * 8
    assert dm.loc["RNX-205-02-001", "ACTARMCD"] == "RNX300" and pd.isna(dm.loc["RNX-205-02-001", "ARMNRS"])
    assert pd.isna(dm.loc["RNX-205-03-002", "ACTARMCD"]) and dm.loc["RNX-205-03-002", "ARMNRS"] == "ASSIGNED, NOT TREATED"
    findings = pd.read_csv(run / "findings.csv")
    not_given = findings[findings["rule"] == "SF-0301"]
    assert not_given[["severity", "file", "row"]].values.tolist() == [["INFO", "Injections_site01_2026-05-31.csv", 17]]


def test_units_converted_and_dipstick_grades_kept_as_text(run):
    lb = parquet(run, "lb")
    week4 = lb[(lb["USUBJID"] == "RNX-205-02-001") & (lb["VISIT"] == "Week 4")].set_index("LBTESTCD")
    # site 02 writes 12.5 g/dL -> 125 g/L; 1.5 mg/dL creatinine x 88.4 -> 132.6 umol/L; 4.1 mEq/L = 4.1 mmol/L
    assert week4.loc["HGB", ["LBORRES", "LBORRESU", "LBSTRESC", "LBSTRESN", "LBSTRESU"]].tolist() == ["12.5", "g/dL", "125", 125.0, "g/L"]
    assert week4.loc["HGB", ["LBSTNRLO", "LBSTNRHI", "LBNRIND"]].tolist() == [120.0, 160.0, "NORMAL"]
    assert week4.loc["CREAT", "LBSTRESN"] == pytest.approx(132.6) and week4.loc["CREAT", "LBSTRESU"] == "umol/L"
    assert week4.loc["K", ["LBSTRESN", "LBSTRESU"]].tolist() == [4.1, "mmol/L"]
    prot = lb[(lb["USUBJID"] == "RNX-205-01-001") & (lb["LBTESTCD"] == "PROT")].set_index("VISIT")
    assert prot.loc["Screening", ["LBORRES", "LBSTRESC", "LBSPEC", "LBCAT"]].tolist() == ["2+", "2+", "URINE", "URINALYSIS"]
    assert prot.loc["Week 12", ["LBORRES", "LBSTRESC"]].tolist() == ["NEG", "NEGATIVE"]
    assert prot["LBSTRESN"].isna().all() and prot["LBORRESU"].isna().all()
    # site 03's Chinese visit and test names, and its unit with a superscript two
    chinese = lb[(lb["USUBJID"] == "RNX-205-03-001") & (lb["VISIT"] == "Week 4") & (lb["LBTESTCD"] == "EGFR")]
    assert chinese[["VISITNUM", "LBORRESU", "EPOCH"]].values.tolist() == [[4.0, "mL/min/1.73m2", "TREATMENT"]]
    day1 = lb[(lb["USUBJID"] == "RNX-205-01-001") & (lb["VISIT"] == "Day 1")]
    assert set(day1["LBLOBXFL"]) == {"Y"} and set(day1["LBDTC"]) == {"2025-09-10"}


def test_site_queries_use_this_studys_words_and_headers(run):
    queries = pd.read_csv(run / "queries.csv", dtype=str, keep_default_na=False)
    chinese = queries[queries["Rule"] == "SF-0113"]
    assert chinese[["Subject", "Column", "Value as sent"]].values.tolist() == [["03-001", "备注", "样本溶血"]]
    text = (run / "queries.csv").read_text(encoding="utf-8") + (run / "findings.csv").read_text(encoding="utf-8")
    text += parquet(run, "sv").to_csv(index=False)
    assert [w for w in OTHER_STUDIES_WORDS if w.lower() in text.lower()] == []


def test_define_is_valid_and_conformance_has_no_error(run, sdtm):
    document = etree.parse(str(sdtm / "define.xml"))
    assert etree.XMLSchema(etree.parse(str(SCHEMA))).validate(document)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["conformance_by_severity"].get("ERROR", 0) == 0
    # terms added in the study's codelists.csv without an NCI code are sponsor extensions
    assert b'ExtendedValue="Yes"' in (sdtm / "define.xml").read_bytes()


def test_haven_reads_every_xpt_as_pyreadstat_does(sdtm, rscript):
    # names, labels, types, rows and every value (numbers to the exact double), as the fuzzing checks
    assert check_xpt_readers_agree(sdtm) == []
