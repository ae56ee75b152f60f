"""The nightly run as one Prefect flow; each task is one stage of design.md, nothing more.

ingest -> standardise -> validate -> map -> write (staged) -> reconcile -> publish.
The logic lives in transforms/ and expectations/; this module only orders the stages, names the
run, retries what touches the disk, and turns a broken invariant into a failed run.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from prefect import flow
from prefect.cache_policies import NONE

from flows.operations import (
    archive,
    clear_leftovers,
    finish_published,
    finish_unchanged,
    name_flow_run,
    record_audit,
    record_failure,
    record_stage_seconds,
    report_changes,
    retry_transient_io,
    timed_task,
)
from expectations.sdtm import check_sdtm_domains, format_conformance_errors
from transforms.audit import compute_stage_counts
from transforms.changes import format_changes
from transforms.findings import concat_findings
from transforms.ingest import Export, read_export
from transforms.mapping import map_domains
from transforms.package import read_transliteration, write_package
from transforms.publish import (
    RunFailed,
    compute_run_identity,
    find_published_run,
    hold_output_lock,
    link_input_snapshot,
    publish_run,
    stage_run_dir,
)
from transforms.reconcile import check_reconciliation, format_reconciliation, reconcile_rows
from transforms.standardise_sheets import standardise_export
from transforms.study import MAPPINGS_DIR, Study, read_study
from transforms.validate import validate_export


# Frames are large and change every night: hashing them for Prefect's cache costs more than the
# stage itself, so tasks don't cache (a whole unchanged run is detected by its run id instead).
# Only I/O is retried, and only for an OSError that may pass (not a missing folder or a bug).
# Every stage's seconds go to the run log.
stage = timed_task(cache_policy=NONE)
io_stage = timed_task(cache_policy=NONE, retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient_io)


@io_stage
def load_study(study_dir: Path) -> Study:
    return read_study(study_dir)


@io_stage
def ingest(input_dir: Path, study: Study) -> Export:
    return read_export(input_dir, study.raw_columns)


@stage
def standardise(export: Export, study: Study) -> dict[str, pd.DataFrame]:
    return standardise_export(export.sheets, study)


@stage
def validate(sheets, export: Export, study: Study, transliteration, docs_dir: Path):
    # the SDTM checks, which always follow, write the folder's Data Docs once for both: each
    # build renders every page of the folder again
    return validate_export(
        sheets, export.files, study, transliteration, docs_dir, build_docs=False
    )


@stage
def map_to_sdtm(valid, study: Study, transliteration):
    return map_domains(valid, study, transliteration)


@stage
def check_sdtm(domains, study: Study, docs_dir: Path):
    return check_sdtm_domains(domains, study, docs_dir)


@io_stage
def write(domains, analysis, findings, staging: Path, study: Study, run_id: str, export: Export, counts):
    return write_package(
        domains, analysis, findings, staging, study, run_id, export.files, counts,
        sheets=export.sheets, headers=export.headers,
    )


@io_stage
def publish(staging: Path, output_dir: Path, run_id: str) -> Path:
    return publish_run(staging, output_dir, run_id)


@flow(name="sdtmflow-run", flow_run_name=name_flow_run, log_prints=True)
def sdtmflow_run(input_dir: Path, output_dir: Path, study_dir: Path) -> str:
    """Build, check and publish one SDTM package from one site export. Returns the summary.

    One run at a time per output folder (OUT/.lock: a second run raises OutputLocked at once).
    The raw files are archived by content first; inputs, mappings, code and libraries already
    published under the same run id are not rebuilt ("unchanged since run X").
    """
    input_dir, output_dir, study_dir = Path(input_dir), Path(output_dir), Path(study_dir)
    with hold_output_lock(output_dir), record_stage_seconds() as seconds:
        clear_leftovers(output_dir)
        study = load_study(study_dir)
        inputs = archive(input_dir, output_dir)
        run_id, versions = compute_run_identity(inputs, input_dir, study_dir, MAPPINGS_DIR)
        published = find_published_run(output_dir, run_id)
        if published is not None:
            return finish_unchanged(output_dir, published, study.studyid)
        try:
            return build_and_publish(inputs, output_dir, study, run_id, versions, seconds)
        except Exception as failure:
            record_failure(output_dir, run_id, failure)
            raise


def build_and_publish(inputs: pd.DataFrame, output_dir: Path, study: Study, run_id: str,
                      versions: dict, seconds: dict[str, float]) -> str:
    """A new run's stages, under the lock: build in a staging folder, publish it by rename.
    Ingest reads the archived copies (through a folder of links), never the live export."""
    started, started_at = time.perf_counter(), datetime.now(timezone.utc)
    transliteration = read_transliteration()
    staging = stage_run_dir(output_dir, run_id)
    snapshot = staging.with_name(staging.name + ".input")
    try:
        export = ingest(link_input_snapshot(inputs, output_dir, snapshot), study)
        sheets = standardise(export, study)
        valid, validation_findings = validate(sheets, export, study, transliteration, staging / "validation")
        domains, analysis, map_findings = map_to_sdtm(valid, study, transliteration)
        conform_findings = check_sdtm(domains, study, staging / "validation")
        findings = concat_findings(export.findings, validation_findings, map_findings, conform_findings)
        counts = reconcile_rows(sheets, export.inventory, findings, domains)
        # an SDTM suite failing is a mapping bug: like a lost row, nothing is published
        problems = check_reconciliation(counts) + format_conformance_errors(conform_findings)
        if problems:
            raise RunFailed("rows lost or mis-mapped, nothing published:\n" + "\n".join(problems))
        manifest = write(domains, analysis, findings, staging, study, run_id, export, counts)
        changes, previous = report_changes(staging, output_dir)
        stages = compute_stage_counts(counts, findings, domains)
        log = record_audit(staging, manifest, inputs, versions, stages, previous, changes, started_at, seconds)
        run_dir = publish(staging, output_dir, run_id)
    finally:
        # A failed run leaves no half-written folder behind (publish has moved a successful one).
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(snapshot, ignore_errors=True)
    summary = format_summary(run_dir, domains, findings, counts, time.perf_counter() - started,
                             manifest.get("conformance_by_severity"))
    summary += "\n" + format_changes(changes, previous)
    finish_published(output_dir, run_dir, summary, counts, findings, changes, study.studyid, log)
    return summary


def format_summary(run_dir: Path, domains, findings: pd.DataFrame, counts: pd.DataFrame, seconds: float,
                   conformance: dict | None = None) -> str:
    """`conformance`: FDA/CDISC conformance findings by severity (the manifest's), also in findings.csv."""
    severity = findings["severity"].value_counts()
    records = ", ".join(f"{name} {len(frame)}" for name, frame in domains.items())
    return "\n".join(
        [
            f"published {run_dir} in {seconds:.1f} s",
            f"records: {records}",
            "findings: " + ", ".join(f"{s} {int(severity.get(s, 0))}" for s in ("ERROR", "WARNING", "INFO"))
            + f" (see {run_dir / 'findings.csv'}; site queries: {run_dir / 'queries.xlsx'})",
            f"validation report (Great Expectations Data Docs): {run_dir / 'validation' / 'index.html'}",
            "conformance (FDA/CDISC rules): "
            + ", ".join(f"{s} {int((conformance or {}).get(s, 0))}" for s in ("ERROR", "WARNING"))
            + f" (see {run_dir / 'conformance.html'}; define.xml: {run_dir / 'define.html'})",
            format_reconciliation(counts),
        ]
    )
