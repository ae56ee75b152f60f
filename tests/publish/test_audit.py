"""The manifest's audit fields and the run history, on small hand-made inputs."""

from __future__ import annotations

import json

import pandas as pd

from transforms.publish.audit import append_history, complete_manifest, compute_stage_counts, describe_output
from transforms.core.findings import FINDING_COLUMNS


def _findings(rows):
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


COUNTS = pd.DataFrame(
    {
        "kind": ["labs", "demographics"], "file": ["labs.csv", "site.xlsx"], "sheet": ["labs", "Demographics"],
        "read": [10, 3], "mapped": [8, 3], "held_back": [2, 0],
    }
)


def test_stage_counts_add_up_rows_and_findings_per_stage():
    findings = _findings([
        ["ERROR", "validate", "SF-0102", "labs.csv", "labs", 2, "01", "result", "x", "m"],
        ["ERROR", "validate", "SF-0102", "labs.csv", "labs", 3, "01", "result", "y", "m"],
        ["INFO", "ingest", "SF-0003", "site.xlsx", "Demographics", None, None, "extra", None, "m"],
    ])
    domains = {"DM": pd.DataFrame({"USUBJID": ["a", "b", "c"]}), "LB": pd.DataFrame({"USUBJID": ["a"] * 8})}

    stages = compute_stage_counts(COUNTS, findings, domains)

    assert stages == {
        "ingest": {"files": 2, "rows_read": 13, "findings": {"ERROR": 0, "WARNING": 0, "INFO": 1}},
        "reconcile": {"rows_mapped": 11, "rows_held_back": 2},
        "map": {"records": {"DM": 3, "LB": 8}},
        "validate": {"findings": {"ERROR": 2, "WARNING": 0, "INFO": 0}},
    }
    json.dumps(stages)  # plain Python numbers only


def test_complete_manifest_adds_archived_inputs_versions_and_late_outputs(tmp_path):
    (tmp_path / "changes.csv").write_text("domain\n")
    manifest = {"run_id": "R", "inputs": [{"name": "labs.csv"}], "outputs": [{"path": "lineage.csv"}]}
    inputs = pd.DataFrame(
        {"name": ["labs.csv"], "sha256": ["ab" * 32], "size": [10], "archive": ["archive/ab/abab.csv"],
         "export_date": ["20260331"], "order": [0]}
    )

    completed = complete_manifest(
        tmp_path, manifest, inputs, {"code_sha256": "c"}, {"ingest": {}}, "P",
        [describe_output(tmp_path, tmp_path / "changes.csv", 0)],
    )

    written = json.loads((tmp_path / "manifest.json").read_text())
    assert written == completed
    assert written["inputs"] == [
        {"name": "labs.csv", "sha256": "ab" * 32, "size": 10, "archive": "archive/ab/abab.csv",
         "export_date": "20260331", "order": 0}
    ]
    assert written["changes_since"] == "P" and written["versions"] == {"code_sha256": "c"}
    assert [o["path"] for o in written["outputs"]] == ["lineage.csv", "changes.csv"]
    assert written["outputs"][1]["rows"] == 0 and len(written["outputs"][1]["sha256"]) == 64


def test_history_appends_one_json_line_per_run(tmp_path):
    append_history(tmp_path, "R1", "published", "published runs/R1", {"id": "f1", "name": "S-2026-03-31"})
    append_history(tmp_path, "R1", "unchanged", "unchanged since run R1", {"id": "f2", "name": "S-2026-03-31"})
    lines = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [(line["run_id"], line["outcome"]) for line in lines] == [("R1", "published"), ("R1", "unchanged")]
