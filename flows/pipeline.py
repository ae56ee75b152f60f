"""The nightly run as one Prefect flow; each task is one stage, nothing more.

ingest -> standardise -> validate -> map -> conform -> reconcile (flows.build, the one
wiring of the stages) -> write (staged; I/O only) -> publish.
The logic lives in transforms/ and expectations/; this module runs build's stages as tasks, names
the run, retries what touches the disk, and turns a broken invariant into a failed run.
"""

from __future__ import annotations

import functools
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
    io_task,
    report_changes,
    timed_task,
)
from transforms.publish.audit import compute_stage_counts
from flows.build import build
from transforms.publish.changes import format_changes
from transforms.conform.stage import Conformed
from transforms.ingest.export import Export
from transforms.outputs.package import DATASET_JSON_DIR, read_transliteration, write_package
from transforms.publish.publish import (
    RunFailed,
    compute_run_identity,
    find_published_run,
    hold_output_lock,
    link_input_snapshot,
    publish_run,
    stage_run_dir,
)
from transforms.ingest.read_files import list_input_entries
from transforms.conform.reconcile import format_reconciliation
from transforms.spec.study import MAPPINGS_DIR, Study, read_study
from transforms.outputs.submission import compute_sdtm_folder


# Frames are large and change every night: hashing them for Prefect's cache costs more than the
# stage itself, so tasks don't cache (a whole unchanged run is detected by its run id instead).
# Only I/O is retried, and only for an OSError that may pass (not a missing folder or a bug).
# Every stage's seconds go to the run log.
stage = timed_task(cache_policy=NONE)
io_stage = io_task  # reading and writing files: retried on a transient I/O error (flows.operations)


@io_stage
def load_study(study_dir: Path) -> Study:
    return read_study(study_dir)


@functools.cache
def _stage_task(name: str, function) -> object:
    """The Prefect task that runs one stage of flows.build: named after the stage (the run
    log's seconds and the UI's task runs carry that name); reading the export is I/O and retried."""

    def run(*arguments):
        return function(*arguments)

    run.__name__ = run.__qualname__ = name
    return (io_stage if name in _IO_STAGES else stage)(run)


_IO_STAGES = {"ingest"}


def run_as_task(name: str, function, *arguments):
    return _stage_task(name, function)(*arguments)


@io_stage
def write(domains, analysis, findings, staging: Path, study: Study, run_id: str, export: Export, counts,
          conformed: Conformed):
    return write_package(
        domains, analysis, findings, staging, study, run_id, export.files, counts, conformed,
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
        # listed once: the files archived and read, and every other entry ingest accounts for
        entries = list_input_entries(input_dir)
        inputs = archive(input_dir, output_dir, entries)
        run_id, versions = compute_run_identity(inputs, input_dir, study_dir, MAPPINGS_DIR, entries)
        published = find_published_run(output_dir, run_id)
        if published is not None:
            return finish_unchanged(output_dir, published, study.studyid)
        try:
            return build_and_publish(inputs, output_dir, study, run_id, versions, seconds, entries)
        except Exception as failure:
            record_failure(output_dir, run_id, failure)
            raise


def build_and_publish(inputs: pd.DataFrame, output_dir: Path, study: Study, run_id: str,
                      versions: dict, seconds: dict[str, float], entries: pd.DataFrame | None = None) -> str:
    """A new run's stages, under the lock: build in a staging folder, publish it by rename.
    Ingest reads the archived copies (through a folder of links), never the live export."""
    started, started_at = time.perf_counter(), datetime.now(timezone.utc)
    transliteration = read_transliteration()
    staging = stage_run_dir(output_dir, run_id)
    snapshot = staging.with_name(staging.name + ".input")
    try:
        built = build(
            link_input_snapshot(inputs, output_dir, snapshot), study, transliteration,
            staging / "validation", run_as_task,
            today=started_at.date().isoformat(),  # UTC: a date after it cannot have happened
            # the snapshot's links point into the archive by design: the folder as the site left
            # it is `entries`, so a link of the site's own is judged there, not here
            entries=entries,
        )
        export, domains, findings, counts = built.export, built.domains, built.findings, built.counts
        # an SDTM suite failing is a mapping bug: like a lost row, nothing is published
        if built.problems:
            raise RunFailed("rows lost or mis-mapped, nothing published:\n" + "\n".join(built.problems))
        manifest = write(domains, built.analysis, findings, staging, study, run_id, export, counts, built.conformed)
        changes, previous = report_changes(staging, output_dir)
        stages = compute_stage_counts(counts, findings, domains)
        log = record_audit(staging, manifest, inputs, versions, stages, previous, changes, started_at, seconds)
        run_dir = publish(staging, output_dir, run_id)
    finally:
        # A failed run leaves no half-written folder behind (publish has moved a successful one).
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(snapshot, ignore_errors=True)
    summary = format_summary(run_dir, domains, findings, counts, time.perf_counter() - started,
                             manifest.get("conformance_by_severity"), run_dir / compute_sdtm_folder(study.studyid))
    summary += "\n" + format_changes(changes, previous)
    finish_published(output_dir, run_dir, summary, counts, findings, changes, study.studyid, log)
    return summary


def format_summary(run_dir: Path, domains, findings: pd.DataFrame, counts: pd.DataFrame, seconds: float,
                   conformance: dict | None = None, sdtm_dir: Path | None = None) -> str:
    """`conformance`: FDA/CDISC conformance findings by severity (the manifest's), also in findings.csv;
    `sdtm_dir`: the submission folder (datasets and define.xml)."""
    sdtm_dir = sdtm_dir or run_dir
    severity = findings["severity"].value_counts()
    records = ", ".join(f"{name} {len(frame)}" for name, frame in domains.items())
    return "\n".join(
        [
            f"published {run_dir} in {seconds:.1f} s",
            f"records: {records}",
            "findings: " + ", ".join(f"{s} {int(severity.get(s, 0))}" for s in ("ERROR", "WARNING", "INFO"))
            + f" (see {run_dir / 'findings.csv'}; site queries: {run_dir / 'queries.xlsx'})",
            f"validation report (Great Expectations Data Docs): {run_dir / 'validation' / 'index.html'}",
            f"analysis report (disposition, scores, labs, data quality): {run_dir / 'report.html'}",
            "conformance (FDA/CDISC rules): "
            + ", ".join(f"{s} {int((conformance or {}).get(s, 0))}" for s in ("ERROR", "WARNING"))
            + f" (see {run_dir / 'conformance.html'}; define.xml: {sdtm_dir / 'define.html'})",
            f"submission (XPT + define.xml): {sdtm_dir}; Dataset-JSON: {run_dir / DATASET_JSON_DIR}",
            format_reconciliation(counts),
        ]
    )
