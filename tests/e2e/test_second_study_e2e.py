"""The second bundled study (ZX101-LIV2) end to end through the real flow: a study that differs from
the first in every structural way publishes from its folder alone, and what it publishes is right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from fuzzing import check_xpt_readers_agree
from transforms.spec.study import MAPPINGS_DIR, STANDARDS_DIR, read_study
from transforms.outputs.submission import compute_sdtm_folder

pytestmark = pytest.mark.slow

STUDY_DIR = MAPPINGS_DIR / "zx101-liv2"
SCHEMA = STANDARDS_DIR / "define-xml-2.1" / "schema" / "cdisc-define-2.1" / "define2-1-0.xsd"


@pytest.fixture(scope="module")
def run(prefect_harness, tmp_path_factory) -> Path:
    from flows.pipeline import sdtmflow_run

    output = tmp_path_factory.mktemp("zx_output")
    sdtmflow_run(input_dir=STUDY_DIR / "sample_export", output_dir=output, study_dir=STUDY_DIR)
    return (output / "latest").resolve()


@pytest.fixture(scope="module")
def sdtm(run) -> Path:
    return run / compute_sdtm_folder(read_study(STUDY_DIR).studyid)


def parquet(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run / "parquet" / f"{name}.parquet")


def test_every_row_of_both_sites_is_mapped_or_held_back_with_a_finding(run):
    counts = pd.read_csv(run / "reconciliation.csv")
    assert int(counts["unaccounted"].sum()) == 0
    # both sites' workbooks, the second written with its own header spellings (the aliases)
    by_file = counts.groupby("file")["mapped"].sum()
    assert by_file["site02_export_2026-06-30.xlsx"] == 9 + 18
    findings = pd.read_csv(run / "findings.csv")
    planted = findings[findings["severity"] == "ERROR"].groupby("rule")["row"].apply(list).to_dict()
    assert planted["SF-0104"][0] == 7 and planted["SF-0103"] == [13]  # unknown visit, impossible date
    assert len(planted["SF-0102"]) == 8  # the orphan subject's eight tests


def test_only_the_domains_the_spec_has_are_written(sdtm):
    assert sorted(p.stem for p in sdtm.glob("*.xpt")) == ["dm", "ex", "lb", "sv", "ta", "te", "ti", "ts", "tv"]


def test_exposure_periods_placebo_and_a_protocol_dose_reduction(run):
    dm, ex = parquet(run, "dm").set_index("USUBJID"), parquet(run, "ex")
    placebo = ex["USUBJID"].map(dm["ARMCD"]) == "PBO"
    assert set(ex.loc[placebo, "EXTRT"]) == {"PLACEBO"} and set(ex.loc[~placebo, "EXTRT"]) == {"ZX-101"}
    assert set(ex["EXROUTE"]) == {"ORAL"} and set(ex["EXDOSFRQ"]) == {"BID"} and set(ex["EXDOSU"]) == {"mg"}
    # a period has its own end: 28 days, then 141
    assert sorted((ex["EXENDY"] - ex["EXSTDY"] + 1).unique().tolist()) == [28.0, 141.0]
    reduced = ex[(ex["EXDOSE"] == 50) & (ex["USUBJID"].map(dm["ARMCD"]) == "ZX100")]["USUBJID"].unique()
    assert len(reduced) >= 1
    assert set(dm.loc[reduced, "ACTARMCD"]) == {"ZX100"} and dm.loc[reduced, "ARMNRS"].isna().all()
    first = ex.groupby("USUBJID")["EXSTDTC"].min()
    last = ex.groupby("USUBJID")["EXENDTC"].max()
    assert (dm.loc[first.index, "RFXSTDTC"] == first).all() and (dm.loc[last.index, "RFXENDTC"] == last).all()


def test_epochs_follow_the_dosing_periods(run):
    lb = parquet(run, "lb")
    epochs = lb.groupby("VISIT")["EPOCH"].agg(set).to_dict()
    assert epochs["Screening"] == {"SCREENING"}
    assert epochs["Week 24"] == {"TREATMENT"}  # the last day of the second period
    assert epochs["Follow-up"] == {"FOLLOW-UP"}


def test_qualitative_and_scientific_results(run):
    lb = parquet(run, "lb")
    hbv = lb[lb["LBTESTCD"] == "HBVDNA"]
    tnd = hbv[hbv["LBORRES"] == "TND"]
    assert len(tnd) > 0 and set(tnd["LBSTRESC"]) == {"NOT DETECTED"} and tnd["LBSTRESN"].isna().all()
    sci = hbv[hbv["LBORRES"].str.contains("E+", regex=False, na=False)]
    assert len(sci) > 0
    assert (sci["LBSTRESN"] == sci["LBORRES"].astype(float)).all()


def test_define_is_valid_and_marks_the_sponsor_terms(sdtm):
    document = etree.parse(str(sdtm / "define.xml"))
    assert etree.XMLSchema(etree.parse(str(SCHEMA))).validate(document)
    leaves = document.getroot().findall(".//{http://www.cdisc.org/ns/def/v2.1}leaf")
    assert leaves and all((sdtm / leaf.get("{http://www.w3.org/1999/xlink}href")).is_file() for leaf in leaves)
    assert b'ExtendedValue="Yes"' in (sdtm / "define.xml").read_bytes()


def test_no_conformance_error(run):
    import json

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["conformance_by_severity"].get("ERROR", 0) == 0


def test_haven_reads_every_xpt_as_pyreadstat_does(sdtm, rscript):
    # names, labels, types, rows and every value (numbers to the exact double), as the fuzzing checks
    assert check_xpt_readers_agree(sdtm) == []


def test_the_bundled_sample_is_what_sample_study_writes(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "sample", "--study", str(STUDY_DIR), "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    for bundled in sorted((STUDY_DIR / "sample_export").iterdir()):
        assert (tmp_path / bundled.name).read_bytes() == bundled.read_bytes(), bundled.name
