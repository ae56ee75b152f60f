"""Write a run's package into its staging folder: XPT v5 + Parquet per domain, the lineage of every
record, the findings, the reconciliation and a manifest (what went in, what came out, hashes).

Layout (OUT/runs/<run id>/): xpt/<domain>.xpt, parquet/<domain>.parquet, lineage.csv,
findings.csv, reconciliation.csv, manifest.json, validation/ (Great Expectations Data Docs).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.findings import LINEAGE, concat_findings, sort_findings
from transforms.metadata import read_dataset_metadata, read_variable_metadata
from transforms.publish import compute_file_sha256
from transforms.queries import build_queries, write_queries
from transforms.study import MAPPINGS_DIR, STANDARDS_DIR, Study
from transforms.submission import write_conformance, write_csdrg, write_define
from transforms.write import apply_variable_metadata, write_parquet, write_xpt


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
    sheets: dict[str, pd.DataFrame] | None = None,
    headers: pd.DataFrame | None = None,
) -> dict:
    """Write every output of the run into `run_dir`; returns the manifest it wrote.

    `sheets` (the raw sheets, for the visit as typed) and `headers` (the site's column headers,
    from ingest) let the site queries speak the site's language; without them the queries name
    canonical columns and no visit."""
    run_dir = Path(run_dir)
    variables = read_variable_metadata(STANDARDS_DIR, study.directory)
    datasets = read_dataset_metadata(STANDARDS_DIR).set_index("dataset")
    timestamp = compute_package_timestamp(files)
    outputs = []
    lengths, written = {}, {}  # what the XPT writer wrote: define.xml and conformance read these
    for name, frame in domains.items():
        meta = variables[variables["dataset"] == name]
        label = datasets.loc[name, "label"]
        xpt = run_dir / "xpt" / f"{name.lower()}.xpt"
        parquet = run_dir / "parquet" / f"{name.lower()}.parquet"
        xpt.parent.mkdir(parents=True, exist_ok=True)
        parquet.parent.mkdir(parents=True, exist_ok=True)
        lengths[name] = write_xpt(frame, meta, name, label, xpt, timestamp)
        written[name] = apply_variable_metadata(frame, meta)
        write_parquet(frame, meta, name, label, parquet, run_id)
        outputs += [_describe(run_dir, xpt, len(frame)), _describe(run_dir, parquet, len(frame))]
    for name, frame in analysis.items():
        path = run_dir / "parquet" / f"{name}.parquet"
        write_analysis_parquet(frame.drop(columns=LINEAGE, errors="ignore"), path, run_id)
        outputs.append(_describe(run_dir, path, len(frame)))
    submission = write_define(run_dir, written, lengths, variables, datasets.reset_index(), study, timestamp)
    conformance, reports = write_conformance(run_dir, written, variables, datasets.reset_index(), study, timestamp)
    reports += write_csdrg(run_dir, written, datasets.reset_index(), study, conformance)  # the reviewer's guide
    outputs += [_describe(run_dir, path, 0) for path in submission + reports]
    findings = concat_findings(findings, conformance)
    lineage = derive_lineage(domains)
    tables = {
        "lineage.csv": lineage,
        "findings.csv": sort_findings(findings),
        "reconciliation.csv": counts,
    }
    for filename, table in tables.items():
        table.to_csv(run_dir / filename, index=False, lineterminator="\n")
        outputs.append(_describe(run_dir, run_dir / filename, len(table)))
    queries = build_queries(findings, sheets, headers)
    outputs += [_describe(run_dir, path, len(queries)) for path in write_queries(queries, run_dir, timestamp)]
    manifest = {
        "run_id": run_id,
        "study": study.studyid,
        "sdtmig_version": study.config["study"].get("sdtmig_version", "3.4"),
        "inputs": files.to_dict(orient="records"),
        "outputs": outputs,
        "reconciliation": counts.to_dict(orient="records"),
        "findings_by_severity": findings["severity"].value_counts().sort_index().to_dict(),
        "conformance_by_severity": conformance["severity"].value_counts().sort_index().to_dict(),
        "site_queries": len(queries),
        # Great Expectations Data Docs of every raw and SDTM suite (written by the checks)
        "data_docs": "validation/index.html" if (run_dir / "validation" / "index.html").is_file() else None,
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


def write_analysis_parquet(frame: pd.DataFrame, path: Path, run_id: str) -> None:
    """An analysis table as Parquet, deterministic: no pandas index metadata, run id in the schema."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({"run_id": run_id, "table": path.stem})
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temporary)
    temporary.replace(path)


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
    dates = files["export_date"][files["export_date"] != "00000000"]
    if dates.empty:
        return datetime(1960, 1, 1)
    return datetime.strptime(dates.max(), "%Y%m%d")


def _describe(run_dir: Path, path: Path, rows: int) -> dict:
    return {
        "path": path.relative_to(run_dir).as_posix(),
        "sha256": compute_file_sha256(path),
        "bytes": path.stat().st_size,
        "rows": rows,
    }
