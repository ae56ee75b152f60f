"""Nightly-operations plumbing for the flow: run names, stage timing, which failures to retry,
the audit tasks (archive, changes, manifest) and the Prefect artifacts a run leaves in the UI.

The rules live in transforms/ (publish, changes, audit); this module only turns them into tasks
and reports.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from transforms.publish.audit import append_history, complete_manifest, describe_output, write_run_log
from transforms.publish.changes import compute_changes, read_lineage, read_published_domains
from transforms.ingest.export import list_input_files
from transforms.ingest.read_files import compute_file_order
from transforms.publish.publish import (
    archive_inputs, clear_stale_staging, point_latest, read_latest_run_id, repoint_unchanged,
)
from transforms.spec.study import read_study

_STAGE_SECONDS: ContextVar[dict[str, float] | None] = ContextVar("sdtmflow_stage_seconds", default=None)
# An OSError of these kinds will not go away by waiting: a configuration problem, not a glitch.
_PERMANENT_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def name_flow_run() -> str:
    """`<STUDYID>-<newest export date>`, e.g. UCMSC-ESLD-2026-03-31 (flow_run_name callable).

    Falls back to the study folder's name when the study or the export cannot be read yet; the
    run itself then fails with the real message.
    """
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    try:
        studyid = read_study(Path(parameters["study_dir"])).studyid
    except Exception:  # noqa: BLE001 — a name must never be why a run fails
        studyid = Path(str(parameters.get("study_dir", "sdtmflow"))).name
    try:
        newest = list_input_files(Path(parameters["input_dir"]))["export_date"].max()
        date = f"{newest[:4]}-{newest[4:6]}-{newest[6:]}" if isinstance(newest, str) else "no-export"
    except Exception:  # noqa: BLE001
        date = "no-export"
    return f"{studyid}-{date}"


def retry_transient_io(task, task_run, state) -> bool:
    """Retry an I/O task only for an OSError that may pass (a busy share, a full disk being
    cleared); a missing folder, a bad study table or a bug fails at once."""
    try:
        state.result()
    except _PERMANENT_OS_ERRORS:
        return False
    except OSError:
        return True
    except BaseException:  # noqa: BLE001
        return False
    return False


def timed_task(**options) -> Callable:
    """`task(**options)` that also adds each call's seconds to the current run's stage timings."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds = _STAGE_SECONDS.get()
                if seconds is not None:
                    seconds[fn.__name__] = seconds.get(fn.__name__, 0.0) + time.perf_counter() - started

        return task(**options)(timed)

    return decorate


@contextmanager
def record_stage_seconds() -> Iterator[dict[str, float]]:
    """Collect the seconds per stage of the run inside this block."""
    seconds: dict[str, float] = {}
    token = _STAGE_SECONDS.set(seconds)
    try:
        yield seconds
    finally:
        _STAGE_SECONDS.reset(token)


io_task = timed_task(cache_policy=NONE, retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient_io)


@io_task
def archive(input_dir: Path, output_dir: Path, entries: pd.DataFrame | None = None) -> pd.DataFrame:
    """List the export and archive each file by content (OUT/archive); returns the file table
    with sha256 and archive path. `entries` (list_input_entries): the listing to archive from,
    so ingest accounts for exactly the folder that was archived."""
    files = list_input_files(input_dir) if entries is None else compute_file_order(entries)
    return archive_inputs(files.drop(columns="path"), input_dir, output_dir)


@io_task
def report_changes(staging: Path, output_dir: Path) -> tuple[pd.DataFrame, str | None]:
    """changes.csv in the staged run: every SDTM value that differs from `latest`'s.
    Returns (changes, previous run id or None on a first publication)."""
    previous = read_latest_run_id(output_dir)
    previous_dir = Path(output_dir) / "runs" / previous if previous else None
    new_lineage = read_lineage(staging)
    if previous_dir is None or not previous_dir.is_dir():
        changes = compute_changes({}, {}, read_lineage(None), new_lineage)  # header only
        previous = None
    else:
        changes = compute_changes(
            read_published_domains(previous_dir),
            read_published_domains(staging),
            read_lineage(previous_dir),
            new_lineage,
        )
    changes.to_csv(Path(staging) / "changes.csv", index=False, lineterminator="\n")
    return changes, previous


@io_task
def record_audit(staging: Path, manifest: dict, inputs: pd.DataFrame, versions: dict, stages: dict,
                 previous_run: str | None, changes: pd.DataFrame, started: datetime,
                 seconds: dict[str, float]) -> dict:
    """Complete manifest.json (inputs with archive paths, versions, stage counts, changes.csv)
    and write run_log.json (timings) in the staged run, before it is published."""
    described = describe_output(Path(staging), Path(staging) / "changes.csv", len(changes))
    complete_manifest(staging, manifest, inputs, versions, stages, previous_run, [described])
    return write_run_log(staging, manifest["run_id"], started, dict(seconds), current_flow_run())


def current_flow_run() -> dict:
    """Id and name of the Prefect flow run we are in (for the run log and history)."""
    from prefect.runtime import flow_run

    return {"id": str(flow_run.id) if flow_run.id else None, "name": flow_run.name}


def finish_unchanged(output_dir: Path, run_dir: Path, studyid: str) -> str:
    """The run id is already published: say so, make sure `latest` points at it, write nothing
    else. Returns the summary line."""
    message = repoint_unchanged(output_dir, run_dir)
    append_history(output_dir, run_dir.name, "unchanged", message, current_flow_run())
    create_markdown_artifact(
        markdown=f"# {studyid}: unchanged\n\n{message}\n", key=artifact_key(studyid, "summary"),
        description="sdtmflow run summary",
    )
    return message


def clear_leftovers(output_dir: Path) -> None:
    """Remove what killed runs left in OUT (see clear_stale_staging), each with a warning in the
    run's log: an operator should know a previous run did not finish."""
    from prefect import get_run_logger

    for path in clear_stale_staging(output_dir):
        get_run_logger().warning("removed %s, left by an interrupted run", path)


def record_failure(output_dir: Path, run_id: str, failure: Exception) -> None:
    """The history line of a run that failed (nothing was published)."""
    message = f"{type(failure).__name__}: {failure}".splitlines()[0]
    append_history(output_dir, run_id, "failed", message, current_flow_run())


def finish_published(output_dir: Path, run_dir: Path, summary: str, counts: pd.DataFrame,
                     findings: pd.DataFrame, changes: pd.DataFrame, studyid: str, log: dict) -> None:
    """After publication: the history line and the run's Prefect artifacts."""
    append_history(output_dir, run_dir.name, "published", f"published {run_dir}", current_flow_run())
    create_published_artifacts(studyid, run_dir, summary, counts, findings, changes, log)


def create_published_artifacts(studyid: str, run_dir: Path, summary: str, counts: pd.DataFrame,
                               findings: pd.DataFrame, changes: pd.DataFrame, log: dict) -> None:
    """A markdown summary and two tables (rows per sheet; findings by severity, stage and rule)."""
    timings = " · ".join(f"{k} {v:.1f} s" for k, v in log["seconds_per_stage"].items())
    create_markdown_artifact(
        markdown=(
            f"# {studyid}: published {run_dir.name}\n\n```\n{summary}\n```\n\n"
            f"Stage timings: {timings}\n\nPackage: `{run_dir}`\n\n"
            f"Analysis report: [{run_dir / 'report.html'}]({(run_dir / 'report.html').resolve().as_uri()})\n"
        ),
        key=artifact_key(studyid, "summary"),
        description="sdtmflow run summary",
    )
    create_table_artifact(
        table=counts[["kind", "file", "sheet", "read", "mapped", "held_back"]].to_dict(orient="records"),
        key=artifact_key(studyid, "rows"),
        description="rows read = mapped + held back, per sheet",
    )
    by_rule = (
        findings.groupby(["severity", "stage", "rule"]).size().rename("count").reset_index()
        if not findings.empty
        else pd.DataFrame(columns=["severity", "stage", "rule", "count"])
    )
    create_table_artifact(
        table=[{k: (int(v) if k == "count" else v) for k, v in row.items()} for row in by_rule.to_dict(orient="records")],
        key=artifact_key(studyid, "findings"),
        description="findings by severity, stage and rule",
    )


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(["sdtmflow", *parts]).lower()).strip("-")
