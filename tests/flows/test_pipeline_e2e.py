"""End to end: the bundled sample study through the real Prefect flow, outputs read back by two
independent XPT readers (pyreadstat and R's haven) and compared with the Parquet files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from transforms.spec.study import DEFAULT_STUDY_DIR

pytestmark = pytest.mark.slow

SAMPLE = DEFAULT_STUDY_DIR / "sample_export"

R_DUMP = r"""
library(haven)
args <- commandArgs(trailingOnly = TRUE)
d <- read_xpt(args[1])
label_of <- function(x) { l <- attr(x, "label"); if (is.null(l)) "" else l }
write.csv(data.frame(name = names(d), label = vapply(d, label_of, "")), args[2], row.names = FALSE)
as_text <- function(x) if (is.numeric(x)) ifelse(is.na(x), "NA", sprintf("%.17g", x)) else x
write.csv(as.data.frame(lapply(d, as_text), stringsAsFactors = FALSE), args[3], row.names = FALSE, na = "")
writeLines(c(attr(d, "label"), as.character(nrow(d))), args[4])
"""


def _xpt_files(run: Path) -> list[Path]:
    # The FDA submission folder of the sample study (eCTD m5, study id in lower case).
    return sorted((run / "m5" / "datasets" / "ucmsc-esld" / "tabulations" / "sdtm").glob("*.xpt"))


def _parquet_frame(run: Path, xpt: Path) -> tuple[pd.DataFrame, pq.ParquetFile]:
    parquet = pq.ParquetFile(run / "parquet" / f"{xpt.stem}.parquet")
    return parquet.read().to_pandas(), parquet


def test_run_reconciles_every_raw_row(sample_run):
    counts = pd.read_csv(sample_run / "reconciliation.csv")
    assert (counts["read"] == counts["mapped"] + counts["held_back"]).all()
    assert counts["unaccounted"].sum() == 0 and counts["mapped_with_error"].sum() == 0
    assert counts["read"].sum() == 22 + 58 + 141 + 1289  # every row of the bundled export


def test_planted_errors_are_held_back_with_file_sheet_row(sample_run):
    findings = pd.read_csv(sample_run / "findings.csv", dtype={"row": "Int64"})
    errors = findings[findings["severity"] == "ERROR"]
    labs = errors[errors["file"] == "labs_2026-03-31.csv"]
    held = set(labs["row"])
    # mappings/ucmsc-esld/sample.toml documents the planted errors and their rows
    assert {583, 685, 768} <= held  # duplicate copy, 2026-02-30, Ferritin-X
    assert set(range(1282, 1291)) <= held  # orphan subject 01-099
    lineage = pd.read_csv(sample_run / "lineage.csv")
    mapped_lab_rows = set(lineage.loc[lineage["file"] == "labs_2026-03-31.csv", "row"])
    assert not (held & mapped_lab_rows)
    assert 582 in mapped_lab_rows  # the first copy of the duplicate is kept


def test_every_xpt_matches_its_parquet_in_pyreadstat(sample_run):
    files = _xpt_files(sample_run)
    assert {f.stem for f in files} >= {"dm", "ex", "lb", "rs"}
    for xpt in files:
        data, meta = pyreadstat.read_xport(xpt)
        expected, parquet = _parquet_frame(sample_run, xpt)
        schema = parquet.schema_arrow
        assert list(data.columns) == list(expected.columns)
        assert meta.table_name == xpt.stem.upper()
        labels = [schema.field(c).metadata[b"label"].decode() for c in expected.columns]
        assert meta.column_labels == labels
        for column in expected.columns:
            field = schema.field(column)
            if field.metadata[b"sdtm_type"] == b"Num":
                np.testing.assert_array_equal(data[column].to_numpy(float), expected[column].to_numpy(float))
            else:
                values = expected[column].astype(object).where(expected[column].notna(), "")
                assert data[column].tolist() == values.tolist(), (xpt.name, column)
                longest = max([len(str(v).encode()) for v in values] + [1])
                assert meta.variable_storage_width[column] == longest == int(field.metadata[b"length"])


def test_every_xpt_matches_its_parquet_in_r_haven(sample_run, rscript, tmp_path):
    script = tmp_path / "dump.R"
    script.write_text(R_DUMP)
    for xpt in _xpt_files(sample_run):
        names, values, info = (tmp_path / f"{xpt.stem}_{k}" for k in ("names.csv", "values.csv", "info.txt"))
        subprocess.run([rscript, str(script), str(xpt), str(names), str(values), str(info)], check=True)
        expected, parquet = _parquet_frame(sample_run, xpt)
        schema = parquet.schema_arrow
        label_table = pd.read_csv(names, dtype=str, keep_default_na=False)
        assert label_table["name"].tolist() == list(expected.columns)
        assert label_table["label"].tolist() == [
            schema.field(c).metadata[b"label"].decode() for c in expected.columns
        ]
        dataset_label, rows = info.read_text().splitlines()
        assert dataset_label == schema.metadata[b"dataset_label"].decode()
        assert int(rows) == len(expected)
        haven = pd.read_csv(values, dtype=str, keep_default_na=False)
        for column in expected.columns:
            if schema.field(column).metadata[b"sdtm_type"] == b"Num":
                got = haven[column].replace("NA", "nan").astype(float).to_numpy()
                np.testing.assert_array_equal(got, expected[column].to_numpy(float), err_msg=column)
            else:
                want = expected[column].astype(object).where(expected[column].notna(), "")
                assert haven[column].tolist() == want.tolist(), (xpt.name, column)


def test_initials_appear_in_no_output(prefect_harness, tmp_path):
    """Initials replaced by unmistakable markers, then every byte of every output searched."""
    from flows.pipeline import sdtmflow_run
    from transforms.samples.sample_export import generate_sample_export, write_sample_export

    frames = generate_sample_export()
    marker = "QZXJ"
    frames["Demographics"] = frames["Demographics"].assign(
        Initials=[f"{marker}{i:02d}" for i in range(len(frames["Demographics"]))]
    )
    write_sample_export(frames, tmp_path / "export")
    sdtmflow_run(input_dir=tmp_path / "export", output_dir=tmp_path / "out", study_dir=DEFAULT_STUDY_DIR)
    outputs = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any(p.suffix == ".xpt" for p in outputs)
    leaks = [p.name for p in outputs if marker.encode() in p.read_bytes()]
    assert not leaks


def test_same_input_gives_byte_identical_outputs(sample_run, sample_sdtm, prefect_harness, tmp_path):
    from flows.pipeline import sdtmflow_run

    sdtmflow_run(input_dir=SAMPLE, output_dir=tmp_path, study_dir=DEFAULT_STUDY_DIR)
    again = (tmp_path / "latest").resolve()
    assert again.name == sample_run.name  # content-addressed run id
    for folder in (sample_sdtm.relative_to(sample_run), "parquet", "dataset-json"):
        first = sorted((sample_run / folder).iterdir())
        assert [p.name for p in first] == sorted(p.name for p in (again / folder).iterdir())
        for path in first:
            assert path.read_bytes() == (again / folder / path.name).read_bytes(), path.name


def test_latest_points_at_the_published_run(sample_run):
    latest = sample_run.parent.parent / "latest"
    assert latest.is_symlink() and latest.resolve() == sample_run
    assert not list(sample_run.parent.glob(".staging-*"))


def test_data_docs_show_every_raw_sheet_and_sdtm_domain(sample_run):
    # the raw suites' HTML is written by the one build after the SDTM checks
    validations = sample_run / "validation" / "validations"
    suites = {p.name for p in validations.iterdir()}
    assert {f"raw_{s}" for s in ("demographics", "infusions", "labs", "assessments")} <= suites
    assert {"sdtm_dm", "sdtm_ex", "sdtm_lb", "sdtm_rs"} <= suites
    index = (sample_run / "validation" / "index.html").read_text("utf-8")
    assert "raw_labs" in index and "sdtm_lb" in index


def test_values_that_used_to_stop_or_slip_through_are_findings_and_the_run_publishes(tmp_path):
    """A zero-width space in a subject, a `week4` visit, a 250-character not-done reason, a
    32,000-character cell and a control character: the command exits 0, each is its exact
    finding, the two over-long rows alone are held back, and the rest reaches XPT clean."""
    import sys

    from transforms.samples.sample_export import generate_sample_export, read_sample_spec, write_sample_export

    LABS_CSV_NAME = read_sample_spec().csv_name

    frames = generate_sample_export(subjects=3)
    labs = frames["Labs"].astype("object")
    alt = labs.index[(labs["Test"].isin(["ALT", "ALT (GPT)", "谷丙转氨酶"])) & labs["Result"].notna()]
    zwsp, week4, long_reason, huge, control = (int(i) for i in alt[:5])
    labs.at[zwsp, "Subject"] = labs.at[zwsp, "Subject"] + "\u200b"
    labs.at[week4, "Visit"] = "week4"
    for index, reason in ((long_reason, "r" * 250), (huge, "h" * 32000), (control, "Clotted\x1b")):
        labs.at[index, "Result"] = None
        labs.at[index, "Not done reason"] = reason
    frames["Labs"] = labs
    write_sample_export(frames, tmp_path / "export")

    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--input", str(tmp_path / "export"),
         "--output", str(tmp_path / "out")], capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    run = (tmp_path / "out" / "latest").resolve()
    findings = pd.read_csv(run / "findings.csv", dtype=str, keep_default_na=False)
    mine = findings[findings["rule"].isin(["SF-0129", "SF-0130", "SF-0131", "SF-0132"])]
    row = {i: str(i + 2) for i in (zwsp, week4, long_reason, huge, control)}
    assert sorted(mine[["rule", "severity", "file", "row", "variable", "value"]].values.tolist()) == sorted([
        ["SF-0129", "ERROR", LABS_CSV_NAME, row[long_reason], "not_done_reason",
         "r" * 200 + "... (250 characters)"],
        ["SF-0129", "ERROR", LABS_CSV_NAME, row[huge], "not_done_reason",
         "h" * 200 + "... (32000 characters)"],
        ["SF-0130", "WARNING", LABS_CSV_NAME, row[zwsp], "subject",
         frames["Labs"].at[zwsp, "Subject"].replace("\u200b", "<U+200B>")],
        ["SF-0130", "WARNING", LABS_CSV_NAME, row[control], "not_done_reason", "Clotted<U+001B>"],
    ])
    # week4 is Week 4: no finding at all on its row
    assert findings[(findings["file"] == LABS_CSV_NAME) & (findings["row"] == row[week4])].empty

    counts = pd.read_csv(run / "reconciliation.csv")
    lab_counts = counts[counts["file"] == LABS_CSV_NAME].iloc[0]
    assert lab_counts["read"] == len(labs)
    assert lab_counts["read"] == lab_counts["mapped"] + lab_counts["held_back"]
    # held back: the two over-long rows and the sample's own planted errors, nothing else
    held = set(findings.loc[(findings["file"] == LABS_CSV_NAME) & (findings["severity"] == "ERROR"), "row"])
    assert {row[long_reason], row[huge]} <= held and row[zwsp] not in held and row[control] not in held

    lb, _ = pyreadstat.read_xport(next(run.glob("m5/datasets/*/tabulations/sdtm")) / "lb.xpt")
    subject = frames["Labs"].at[zwsp, "Subject"].replace("\u200b", "")
    assert (lb["USUBJID"].str.endswith("-" + subject)).any()
    assert not lb["USUBJID"].str.contains("\u200b").any()
    assert "Clotted" in set(lb["LBREASND"])
    assert not lb.select_dtypes(include=["object", "str"]).apply(lambda c: c.str.contains(r"[\x00-\x1f\x7f]").any()).any()
    lineage = pd.read_csv(run / "lineage.csv", dtype=str)
    assert row[week4] in set(lineage.loc[lineage.iloc[:, :].eq(LABS_CSV_NAME).any(axis=1), "row"])
