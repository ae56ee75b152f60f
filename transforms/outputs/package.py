"""Write a run's package into its staging folder: XPT v5, Dataset-JSON and Parquet per domain, the
lineage of every record, the findings, the reconciliation and a manifest (what went in, what came
out, hashes).

Layout (OUT/runs/<run id>/): m5/datasets/<studyid>/tabulations/sdtm/ (the FDA submission folder:
<domain>.xpt, define.xml, define2-1.xsl, define.html), dataset-json/<domain>.json and .ndjson,
parquet/<domain>.parquet, lineage.csv, findings.csv, reconciliation.csv, report.html (analysis
report), manifest.json, validation/ (Great Expectations Data Docs). A dataset without records is
written nowhere.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.outputs.dataset_json import DatasetJsonHeader, build_dataset_json_metadata, write_dataset_json
from transforms.outputs.define import compute_metadata_version_oid, compute_study_oid
from transforms.conform.stage import Conformed
from transforms.core.files import write_atomically
from transforms.ingest.read_files import compute_newest_export_date
from transforms.core.findings import LINEAGE, sort_findings
from transforms.core.metadata import read_dataset_metadata
from transforms.publish.publish import compute_file_sha256
from transforms.outputs.queries import build_queries, write_queries
from transforms.outputs.report import write_report
from transforms.spec.study import MAPPINGS_DIR, STANDARDS_DIR, Study
from transforms.outputs.submission import (
    compute_sdtm_folder, read_study_table, write_conformance, write_csdrg, write_define,
)
from transforms.outputs.write import write_parquet_dataset, write_xpt_dataset


PARQUET_DIR = "parquet"
DATASET_JSON_DIR = "dataset-json"


def read_transliteration() -> pd.DataFrame:
    return pd.read_csv(MAPPINGS_DIR / "transliteration.csv", dtype=str, keep_default_na=False)


def write_package(
    domains: dict[str, pd.DataFrame],
    analysis: dict[str, pd.DataFrame],
    findings: pd.DataFrame,
    run_dir: Path,
    study: Study,
    run_id: str,
    files: pd.DataFrame,
    counts: pd.DataFrame,
    conformed: Conformed,
    sheets: dict[str, pd.DataFrame] | None = None,
    headers: pd.DataFrame | None = None,
) -> dict:
    """Write every output of the run into `run_dir`; returns the manifest it wrote.

    `findings` are every finding of the run, the conform stage's included; `conformed` is what
    that stage found (its conformance report is written here, nothing is checked here).
    `sheets` (the raw sheets, for the visit as typed) and `headers` (the site's column headers,
    from ingest) let the site queries speak the site's language; without them the queries name
    canonical columns and no visit."""
    run_dir = Path(run_dir)
    datasets = read_dataset_metadata(STANDARDS_DIR).set_index("dataset")
    timestamp = compute_package_timestamp(files)
    sdtm_dir = run_dir / compute_sdtm_folder(study.studyid)
    json_header = compute_dataset_json_header(study, timestamp)
    keys = read_dataset_keys(study)
    outputs = []
    # FDA: a dataset without records is not submitted (nor described in define.xml).
    empty = sorted(name for name, frame in domains.items() if frame.empty)
    # typed, checked and measured once, by the conform stage, for every file of the dataset
    for name, prepared in conformed.datasets.items():
        xpt = sdtm_dir / f"{name.lower()}.xpt"
        parquet = run_dir / PARQUET_DIR / f"{name.lower()}.parquet"
        jsons = [run_dir / DATASET_JSON_DIR / f"{name.lower()}{suffix}" for suffix in (".json", ".ndjson")]
        for path in (xpt, parquet, *jsons):
            path.parent.mkdir(parents=True, exist_ok=True)
        write_xpt_dataset(prepared, xpt, timestamp)
        write_parquet_dataset(prepared, parquet, run_id)
        metadata = build_dataset_json_metadata(prepared.data, prepared.meta, name, prepared.label, prepared.lengths,
                                               keys.get(name, []), json_header)
        write_dataset_json(prepared.data, metadata, *jsons)
        outputs += [_describe(run_dir, path, len(prepared.data)) for path in (xpt, parquet, *jsons)]
    for name, frame in analysis.items():
        path = run_dir / PARQUET_DIR / f"{name}.parquet"
        write_analysis_parquet(frame.drop(columns=LINEAGE, errors="ignore"), path, run_id)
        outputs.append(_describe(run_dir, path, len(frame)))
    # the define.xml conform built and checked is the one written
    submission = write_define(sdtm_dir, conformed.define_xml)
    reports = write_conformance(run_dir, conformed.report, conformed.summary, conformed.explained, conformed.rules,
                                study.studyid, timestamp)
    written = {name: prepared.data for name, prepared in conformed.datasets.items()}
    reports += write_csdrg(run_dir, written, datasets.reset_index(), study, conformed.core)  # the reviewer's guide
    outputs += [_describe(run_dir, path, 0) for path in submission + reports]
    lineage = derive_lineage(domains)
    tables = {
        "lineage.csv": lineage,
        "findings.csv": sort_findings(findings),
        "reconciliation.csv": counts,
    }
    for filename, table in tables.items():
        write_atomically(run_dir / filename, lambda tmp, table=table: table.to_csv(tmp, index=False, lineterminator="\n"))
        outputs.append(_describe(run_dir, run_dir / filename, len(table)))
    # the analysis report reads what was just written: the Parquet files and the findings
    report = write_report(run_dir / PARQUET_DIR, tables["findings.csv"], run_dir / "report.html")
    outputs.append(_describe(run_dir, report, 0))
    labels = {role: study.label_of(sheet) for sheet, role in study.sheets[["sheet", "role"]].itertuples(index=False)}
    queries = build_queries(findings, sheets, headers, sheet_labels=labels)
    outputs += [_describe(run_dir, path, len(queries)) for path in write_queries(queries, run_dir, timestamp)]
    manifest = {
        "run_id": run_id,
        "study": study.studyid,
        "sdtmig_version": study.config["study"].get("sdtmig_version", "3.4"),
        "inputs": files.to_dict(orient="records"),
        "outputs": outputs,
        "reconciliation": counts.to_dict(orient="records"),
        "findings_by_severity": findings["severity"].value_counts().sort_index().to_dict(),
        "conformance_by_severity": conformed.core["severity"].value_counts().sort_index().to_dict(),
        "site_queries": len(queries),
        "datasets_without_records": empty,  # not written, not in define.xml
        # Great Expectations Data Docs of every raw and SDTM suite (written by the checks)
        "data_docs": "validation/index.html" if (run_dir / "validation" / "index.html").is_file() else None,
    }
    text = json.dumps(manifest, indent=2, default=str) + "\n"
    write_atomically(run_dir / "manifest.json", lambda tmp: tmp.write_text(text))
    return manifest


def compute_dataset_json_header(study: Study, timestamp: datetime) -> DatasetJsonHeader:
    """The file-level attributes of the run's Dataset-JSON files: define.xml's study and metadata
    version OIDs, the way back to define.xml (metaDataRef, relative to dataset-json/), and the
    export date as both creation and last-modified date-time (as in the XPT header)."""
    sdtmig = study.config["study"].get("sdtmig_version", "3.4")
    return DatasetJsonHeader(
        created=timestamp,
        modified=timestamp,
        source_system=("sdtmflow", version("sdtmflow")),
        study_oid=compute_study_oid(study.studyid),
        metadata_version_oid=compute_metadata_version_oid(study.studyid, sdtmig),
        metadata_ref=(Path("..") / compute_sdtm_folder(study.studyid) / "define.xml").as_posix(),
    )


def read_dataset_keys(study: Study) -> dict[str, list[str]]:
    """Key variables per dataset, in order, from the study's datasets.csv (define.xml's KeySequence)."""
    table = read_study_table(study, "datasets.csv")
    return {row.dataset: row.keys.split() for row in table.itertuples()}


def write_analysis_parquet(frame: pd.DataFrame, path: Path, run_id: str) -> None:
    """An analysis table as Parquet, deterministic: no pandas index metadata, run id in the schema."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({"run_id": run_id, "table": path.stem})
    write_atomically(path, lambda tmp: pq.write_table(table, tmp))


def derive_lineage(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per SDTM record built from raw rows: DOMAIN, USUBJID, --SEQ (DM has none) and the
    raw file/sheet/row."""
    parts = []
    for name, frame in domains.items():
        if not set(LINEAGE) <= set(frame.columns):
            continue  # trial design datasets come from the protocol, not from raw rows
        seq = f"{name}SEQ"
        parts.append(
            pd.DataFrame(
                {
                    "DOMAIN": name,
                    "USUBJID": frame["USUBJID"],
                    "SEQ": frame[seq] if seq in frame.columns else pd.NA,
                    "file": frame["_file"],
                    "sheet": frame["_sheet"],
                    "row": frame["_row"],
                }
            )
        )
    return pd.concat(parts, ignore_index=True).astype({"SEQ": "Int64"})


def compute_package_timestamp(files: pd.DataFrame) -> datetime:
    """The date stamped into XPT headers: the newest export's date (from its file name), so the
    same input always gives the same bytes; 1960-01-01 (SAS day 0) when no file name has a date."""
    newest = compute_newest_export_date(files)
    return datetime(1960, 1, 1) if newest is None else datetime.strptime(newest, "%Y%m%d")


def _describe(run_dir: Path, path: Path, rows: int) -> dict:
    return {
        "path": path.relative_to(run_dir).as_posix(),
        "sha256": compute_file_sha256(path),
        "bytes": path.stat().st_size,
        "rows": rows,
    }
