"""The audit trail of a run: what went in, which code and mappings made it, what came out.

Two records, kept apart on purpose:

- `manifest.json` (in the run folder) describes the package and nothing else, so it is
  byte-identical on a rerun: inputs (name, sha256, size, archived copy), code, mappings and
  library versions, outputs (sha256, rows), counts per stage, findings by severity. An auditor
  reruns the same inputs in a clean folder and compares the two manifests.
- `run_log.json` (in the run folder) and `OUT/history.jsonl` (one line per run attempt, published
  or unchanged) record how a run went: when, how long per stage, which Prefect flow run. These
  differ on every run by nature.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from transforms.core.files import write_atomically
from transforms.core.findings import ERROR, INFO, WARNING
from transforms.publish.publish import compute_file_sha256

MANIFEST = "manifest.json"
RUN_LOG = "run_log.json"
HISTORY = "history.jsonl"
SEVERITIES = (ERROR, WARNING, INFO)


def compute_stage_counts(
    counts: pd.DataFrame, findings: pd.DataFrame, domains: dict[str, pd.DataFrame]
) -> dict:
    """Rows in and out of each stage, and findings per stage by severity (deterministic)."""
    by_stage = (
        findings.groupby(["stage", "severity"]).size().unstack(fill_value=0)
        if not findings.empty
        else pd.DataFrame()
    )
    stages = {
        "ingest": {"files": int(counts["file"].nunique()), "rows_read": int(counts["read"].sum())},
        "reconcile": {
            "rows_mapped": int(counts["mapped"].sum()),
            "rows_held_back": int(counts["held_back"].sum()),
        },
        "map": {"records": {name: int(len(frame)) for name, frame in domains.items()}},
    }
    for stage in by_stage.index:
        stages.setdefault(stage, {})["findings"] = {
            s: int(by_stage.loc[stage].get(s, 0)) for s in SEVERITIES
        }
    return stages


def complete_manifest(
    run_dir: Path,
    manifest: dict,
    inputs: pd.DataFrame,
    versions: dict,
    stages: dict,
    previous_run: str | None,
    extra_outputs: list[dict],
) -> dict:
    """Add the audit fields to the manifest the package writer made, and write it again.

    `inputs` replaces the writer's file list with the archived one (name, sha256, size,
    archive path, export date, order); `extra_outputs` are files written after the package
    (the changes report), described like the others.
    """
    described = {o["path"] for o in manifest.get("outputs", [])}
    completed = {
        **manifest,
        "inputs": [
            {k: _plain(v) for k, v in row.items()}
            for row in inputs[["name", "sha256", "size", "archive", "export_date", "order"]].to_dict(orient="records")
        ],
        "versions": versions,
        "stages": stages,
        "changes_since": previous_run,
        "outputs": manifest.get("outputs", []) + [o for o in extra_outputs if o["path"] not in described],
    }
    write_json(Path(run_dir) / MANIFEST, completed)
    return completed


def write_run_log(run_dir: Path, run_id: str, started: datetime, seconds: dict[str, float], flow_run: dict) -> dict:
    """run_log.json: when the run happened, where, how long each stage took (not reproducible)."""
    log = {
        "run_id": run_id,
        "started_at": started.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "flow_run": flow_run,
        "seconds_per_stage": {k: round(v, 3) for k, v in seconds.items()},
        "seconds_total": round(sum(seconds.values()), 3),
    }
    write_json(Path(run_dir) / RUN_LOG, log)
    return log


def append_history(output_dir: Path, run_id: str, outcome: str, message: str, flow_run: dict) -> None:
    """One JSON line per run attempt in OUT/history.jsonl (call while holding OUT/.lock)."""
    line = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run_id,
        "outcome": outcome,
        "message": message,
        "flow_run": flow_run,
    }
    with (Path(output_dir) / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")


def describe_output(run_dir: Path, path: Path, rows: int) -> dict:
    """A manifest output entry: path relative to the run, sha256, bytes, rows."""
    return {
        "path": Path(path).relative_to(run_dir).as_posix(),
        "sha256": compute_file_sha256(path),
        "bytes": Path(path).stat().st_size,
        "rows": rows,
    }


def write_json(path: Path, data: dict) -> None:
    """JSON the way every run writes it (indent 2, trailing newline), replaced by rename."""
    text = json.dumps(data, indent=2, default=str) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _plain(value):
    """numpy scalars -> Python (json cannot write numpy.int64)."""
    return value.item() if hasattr(value, "item") else value
