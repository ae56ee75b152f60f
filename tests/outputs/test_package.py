"""The run folder: the FDA submission folder (eCTD m5) holds the datasets and define.xml and nothing
else; a dataset without records is written nowhere and described nowhere."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
from lxml import etree

from transforms.outputs.define import check_define_schema
from transforms.conform.stage import conform_package, derive_datasets_as_written, build_submission_as_written
from transforms.core.findings import empty_findings
from transforms.core.metadata import read_dataset_metadata, read_variable_metadata
from transforms.outputs.package import compute_package_timestamp, write_package
from transforms.spec.study import DEFAULT_STUDY_DIR, STANDARDS_DIR, read_study
from transforms.outputs.submission import DEFINE_SCHEMA

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
# eCTD module 5, study id UCMSC-ESLD in lower case (FDA Study Data Technical Conformance Guide).
SDTM = Path("m5/datasets/ucmsc-esld/tabulations/sdtm")
SUBMISSION_FILES = {"define.xml", "define2-1.xsl", "define.html"}


def _conformed(domains, study, files):
    """What the conform stage finds in `domains` (its CORE rules; the GX gate is not needed here)."""
    variables, dataset_meta = read_variable_metadata(STANDARDS_DIR, study.directory), read_dataset_metadata(STANDARDS_DIR)
    datasets = derive_datasets_as_written(domains, variables, dataset_meta, study)
    sizes, define = build_submission_as_written(datasets, variables, dataset_meta, study, compute_package_timestamp(files))
    conformed = conform_package({name: d.data for name, d in datasets.items()}, variables, dataset_meta, study,
                                sizes, define)
    return replace(conformed, datasets=datasets, define_xml=define)


def _sample_domains(sample_run: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """The published sample's domains (from its Parquet files, with lineage keys as the mapping
    stage hands them over), its inputs and its reconciliation."""
    manifest = json.loads((sample_run / "manifest.json").read_text())
    names = [Path(o["path"]).stem.upper() for o in manifest["outputs"] if o["path"].endswith(".xpt")]
    domains = {name: pq.read_table(sample_run / "parquet" / f"{name.lower()}.parquet").to_pandas() for name in names}
    domains = {name: frame.assign(_file="export.xlsx", _sheet="sheet", _row=range(2, len(frame) + 2))
               if "USUBJID" in frame.columns else frame for name, frame in domains.items()}
    return domains, pd.DataFrame(manifest["inputs"]), pd.read_csv(sample_run / "reconciliation.csv")


def test_conform_checks_the_files_the_writer_then_writes(sample_run, tmp_path):
    """The conform stage runs before anything is written: the XPT sizes and the define.xml it
    checks must be those the writer writes (read back from disk here)."""
    study = read_study(DEFAULT_STUDY_DIR)
    domains, files, counts = _sample_domains(sample_run)
    variables, dataset_meta = read_variable_metadata(STANDARDS_DIR, study.directory), read_dataset_metadata(STANDARDS_DIR)
    sizes, define = build_submission_as_written(derive_datasets_as_written(domains, variables, dataset_meta, study),
                                                variables, dataset_meta, study, compute_package_timestamp(files))
    write_package(domains, {}, empty_findings(), tmp_path, study, "test-run", files, counts,
                  _conformed(domains, study, files))
    on_disk = {p.relative_to(tmp_path).as_posix(): p.stat().st_size
               for p in sorted((tmp_path / SDTM).iterdir()) if p.suffix == ".xpt" or p.name == "define.xml"}
    assert sizes == on_disk
    assert define == (tmp_path / SDTM / "define.xml").read_bytes()


def test_the_writer_checks_nothing(sample_run, tmp_path, monkeypatch):
    """write_package writes the conformance report and the datasets it is given; a rule run inside
    it, a CORE rule or an XPT rule, would fail."""
    import transforms.conform.rules
    import transforms.conform.xpt_rules

    study = read_study(DEFAULT_STUDY_DIR)
    domains, files, counts = _sample_domains(sample_run)
    conformed = _conformed(domains, study, files)

    def refuse(*arguments, **options):
        raise AssertionError("a check ran inside the writer")

    monkeypatch.setattr(transforms.conform.rules, "check_conformance", refuse)
    monkeypatch.setattr(transforms.conform.rules, "run_rules", refuse)
    for checker in ("derive_xpt_dataset", "check_xpt_rules", "_check_rules"):
        monkeypatch.setattr(transforms.conform.xpt_rules, checker, refuse)
    written = write_package(domains, {}, conformed.findings, tmp_path, study, "test-run", files, counts, conformed)
    assert written["conformance_by_severity"] == conformed.core["severity"].value_counts().sort_index().to_dict()
    assert written["findings_by_severity"] == conformed.findings["severity"].value_counts().sort_index().to_dict()
    reported = pd.read_csv(tmp_path / "findings.csv", dtype=str, keep_default_na=False)
    assert sorted(reported["rule"]) == sorted(conformed.findings["rule"])


def _leaves(define_xml: Path) -> list[str]:
    root = etree.parse(str(define_xml)).getroot()
    return [leaf.get(f"{{{NS['xlink']}}}href") for leaf in root.iterfind(".//def:leaf", NS)]


def test_submission_folder_holds_the_datasets_and_define_xml(sample_run):
    folder = sample_run / SDTM
    names = {p.name for p in folder.iterdir()}
    assert SUBMISSION_FILES <= names
    assert all(n.endswith(".xpt") for n in names - SUBMISSION_FILES), names
    # nothing else of the run is under m5/, and no dataset is anywhere but there
    assert {p.relative_to(sample_run) for p in (sample_run / "m5").rglob("*") if p.is_file()} == {SDTM / n for n in names}
    assert sorted(p.relative_to(sample_run) for p in sample_run.rglob("*.xpt")) == sorted(SDTM / n for n in names if n.endswith(".xpt"))
    assert check_define_schema((folder / "define.xml").read_bytes(), DEFINE_SCHEMA) == []
    leaves = _leaves(folder / "define.xml")
    assert sorted(leaves) == sorted(n for n in names if n.endswith(".xpt"))  # every dataset, once
    for href in leaves:
        assert "/" not in href and (folder / href).is_file(), href
    for name in names - SUBMISSION_FILES:
        assert pyreadstat.read_xport(folder / name)[0].shape[0] > 0, name  # no zero-record dataset
    latest = sample_run.parent.parent / "latest"
    assert (latest / SDTM / "define.xml").is_file()  # latest is the whole run


def test_a_dataset_without_records_is_not_written_nor_defined(sample_run, tmp_path):
    study = read_study(DEFAULT_STUDY_DIR)
    manifest = json.loads((sample_run / "manifest.json").read_text())
    names = [Path(o["path"]).stem.upper() for o in manifest["outputs"] if o["path"].endswith(".xpt")]
    domains = {name: pq.read_table(sample_run / "parquet" / f"{name.lower()}.parquet").to_pandas() for name in names}
    # lineage keys, as the mapping stage hands them over (trial design has none: it is protocol)
    domains = {name: frame.assign(_file="export.xlsx", _sheet="sheet", _row=range(2, len(frame) + 2))
               if "USUBJID" in frame.columns else frame for name, frame in domains.items()}
    domains["MH"] = domains["MH"].iloc[0:0]
    files = pd.DataFrame(manifest["inputs"])
    counts = pd.read_csv(sample_run / "reconciliation.csv")
    written = write_package(domains, {}, empty_findings(), tmp_path, study, "test-run", files, counts,
                            _conformed(domains, study, files))

    assert written["datasets_without_records"] == ["MH"]
    folder = tmp_path / SDTM
    assert not (folder / "mh.xpt").exists()
    assert not list(tmp_path.rglob("mh.*"))  # no Parquet, no Dataset-JSON either
    assert "mh.xpt" not in _leaves(folder / "define.xml")
    groups = {g.get("Name") for g in etree.parse(str(folder / "define.xml")).getroot().iterfind(".//odm:ItemGroupDef", NS)}
    assert groups == set(names) - {"MH"}
    assert check_define_schema((folder / "define.xml").read_bytes(), DEFINE_SCHEMA) == []
    assert all(not o["path"].startswith(f"{SDTM}/mh") for o in written["outputs"])
