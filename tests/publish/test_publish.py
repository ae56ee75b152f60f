"""Run identity, the content-addressed archive, the output lock and atomic publication (no Prefect)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from transforms.publish.publish import (
    OutputLocked,
    archive_inputs,
    clear_stale_staging,
    compute_run_id,
    compute_run_identity,
    compute_shared_mappings_sha256,
    find_published_run,
    hold_output_lock,
    link_input_snapshot,
    point_latest,
    publish_run,
    read_latest_run_id,
    repoint_unchanged,
    stage_run_dir,
)

VERSIONS = {"code_sha256": "c0de", "study_sha256": "57d", "libraries": {"pandas": "3.1.1"}}


def _export(folder: Path, files: dict[str, bytes]) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return pd.DataFrame(
        {"name": list(files), "size": [len(c) for c in files.values()], "export_date": ["20260331"] * len(files)}
    )


def test_run_id_depends_on_bytes_names_and_versions(tmp_path):
    files = _export(tmp_path / "in", {"labs_2026-03-31.csv": b"a,b\n1,2\n", "site.xlsx": b"xx"})
    run_id = compute_run_id(files, tmp_path / "in", VERSIONS)
    assert run_id.startswith("20260331-") and len(run_id) == 9 + 12
    assert compute_run_id(files, tmp_path / "in", dict(VERSIONS)) == run_id
    # A sha256 column (from the archive) gives the same id as hashing the files.
    archived = archive_inputs(files, tmp_path / "in", tmp_path / "out")
    assert compute_run_id(archived, tmp_path / "in", VERSIONS) == run_id
    assert compute_run_id(files, tmp_path / "in", {**VERSIONS, "libraries": {"pandas": "3.2"}}) != run_id
    (tmp_path / "in" / "site.xlsx").write_bytes(b"xy")
    assert compute_run_id(files, tmp_path / "in", VERSIONS) != run_id


def test_run_identity_is_the_same_from_the_files_and_from_the_archive(tmp_path):
    # The CLI hashes the export as it lies (before Prefect); the flow uses the archive's digests.
    from transforms.ingest.export import list_input_files
    from transforms.spec.study import DEFAULT_STUDY_DIR, MAPPINGS_DIR

    files = _export(tmp_path / "in", {"labs_2026-03-31.csv": b"a,b\n1,2\n", "site_2026-03-30.csv": b"x,y\n3,4\n"})
    listed = list_input_files(tmp_path / "in").drop(columns="path")
    archived = archive_inputs(listed, tmp_path / "in", tmp_path / "out")
    from_files, versions = compute_run_identity(listed, tmp_path / "in", DEFAULT_STUDY_DIR, MAPPINGS_DIR)
    from_archive, _ = compute_run_identity(archived, tmp_path / "in", DEFAULT_STUDY_DIR, MAPPINGS_DIR)
    assert from_files == from_archive
    assert from_files.startswith("20260331-")
    digest = hashlib.sha256()
    for name, content in (("site_2026-03-30.csv", b"x,y\n3,4\n"), ("labs_2026-03-31.csv", b"a,b\n1,2\n")):
        digest.update(name.encode() + hashlib.sha256(content).hexdigest().encode())
    digest.update(json.dumps(versions, sort_keys=True).encode())
    assert from_files == "20260331-" + digest.hexdigest()[:12]


def test_an_unchanged_run_repoints_latest_only_when_it_moved(tmp_path):
    first, second = tmp_path / "runs" / "R1", tmp_path / "runs" / "R2"
    first.mkdir(parents=True), second.mkdir()
    point_latest(tmp_path, first)
    assert repoint_unchanged(tmp_path, first).startswith("unchanged since run R1; nothing republished")
    assert "latest points to it again (was R1)" in repoint_unchanged(tmp_path, second)
    assert read_latest_run_id(tmp_path) == "R2"


def test_archive_is_content_addressed_read_only_and_written_once(tmp_path):
    files = _export(tmp_path / "in", {"labs_2026-03-31.csv": b"a,b\n1,2\n"})
    archived = archive_inputs(files, tmp_path / "in", tmp_path / "out")
    sha = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert archived.loc[0, "sha256"] == sha
    assert archived.loc[0, "archive"] == f"archive/{sha[:2]}/{sha}.csv"
    copy = tmp_path / "out" / archived.loc[0, "archive"]
    assert copy.read_bytes() == b"a,b\n1,2\n"
    assert oct(copy.stat().st_mode & 0o777) == "0o444"
    # The same bytes under another name (tomorrow's export) are not stored twice.
    renamed = _export(tmp_path / "in2", {"labs_2026-04-01.csv": b"a,b\n1,2\n"})
    again = archive_inputs(renamed, tmp_path / "in2", tmp_path / "out")
    assert again.loc[0, "archive"] == archived.loc[0, "archive"]
    stored = [p for p in (tmp_path / "out" / "archive").rglob("*") if p.is_file()]
    assert stored == [copy]


def test_snapshot_links_original_names_to_the_archive(tmp_path):
    files = _export(tmp_path / "in", {"labs_2026-03-31.csv": b"a\n1\n"})
    archived = archive_inputs(files, tmp_path / "in", tmp_path / "out")
    snapshot = link_input_snapshot(archived, tmp_path / "out", tmp_path / "out" / "runs" / ".staging-x-1.input")
    (tmp_path / "in" / "labs_2026-03-31.csv").write_bytes(b"a\n2\n")  # the site overwrites its export
    assert (snapshot / "labs_2026-03-31.csv").read_bytes() == b"a\n1\n"


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    with hold_output_lock(tmp_path):
        with pytest.raises(OutputLocked, match=rf"pid {os.getpid()} on .*nothing was done"):
            with hold_output_lock(tmp_path):
                pass
    with hold_output_lock(tmp_path):  # released: free again
        pass


def test_lock_is_released_when_its_holder_is_killed(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom transforms.publish.publish import hold_output_lock\n"
         f"with hold_output_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputLocked, match=rf"pid {holder.pid} "):
            with hold_output_lock(tmp_path):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with hold_output_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_publish_is_by_rename_and_idempotent(tmp_path):
    staging = stage_run_dir(tmp_path, "20260331-aaaaaaaaaaaa")
    (staging / "dm.xpt").write_bytes(b"one")
    run_dir = publish_run(staging, tmp_path, "20260331-aaaaaaaaaaaa")
    assert run_dir == tmp_path / "runs" / "20260331-aaaaaaaaaaaa"
    assert not staging.exists()
    assert read_latest_run_id(tmp_path) == "20260331-aaaaaaaaaaaa"
    assert (tmp_path / "latest" / "dm.xpt").read_bytes() == b"one"
    assert os.readlink(tmp_path / "latest") == "runs/20260331-aaaaaaaaaaaa"  # relative: the tree moves
    # The same run id again: the published folder is kept, the new staging discarded.
    staging = stage_run_dir(tmp_path, "20260331-aaaaaaaaaaaa")
    (staging / "dm.xpt").write_bytes(b"two")
    publish_run(staging, tmp_path, "20260331-aaaaaaaaaaaa")
    assert (tmp_path / "latest" / "dm.xpt").read_bytes() == b"one"
    assert find_published_run(tmp_path, "20260331-aaaaaaaaaaaa") == run_dir
    assert find_published_run(tmp_path, "20260401-bbbbbbbbbbbb") is None
    assert read_latest_run_id(tmp_path / "nothing") is None


def test_clear_stale_staging_removes_only_leftovers(tmp_path):
    staging = stage_run_dir(tmp_path, "20260331-aaaaaaaaaaaa")
    (staging / "half.xpt").write_bytes(b"half")
    (tmp_path / "runs" / ".staging-20260331-aaaaaaaaaaaa-1.input").mkdir()
    published = publish_run(stage_run_dir(tmp_path, "20260330-bbbbbbbbbbbb"), tmp_path, "20260330-bbbbbbbbbbbb")
    (tmp_path / ".latest-999").symlink_to("runs/nowhere")
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / ".999-0.tmp").write_bytes(b"partial")
    (tmp_path / "archive" / "ab").mkdir()
    (tmp_path / "archive" / "ab" / "abcd.csv").write_bytes(b"kept")

    removed = clear_stale_staging(tmp_path)

    assert len(removed) == 4
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["20260330-bbbbbbbbbbbb"]
    assert published.is_dir() and read_latest_run_id(tmp_path) == "20260330-bbbbbbbbbbbb"
    assert [p.name for p in (tmp_path / "archive").rglob("*") if p.is_file()] == ["abcd.csv"]


def test_shared_mappings_digest_ignores_study_folders(tmp_path):
    (tmp_path / "standards").mkdir()
    (tmp_path / "standards" / "Variables.csv").write_text("v\n")
    (tmp_path / "study-a").mkdir()
    (tmp_path / "study-a" / "study.toml").write_text("[study]\n")
    before = compute_shared_mappings_sha256(tmp_path)
    (tmp_path / "study-a" / "visits.csv").write_text("changed\n")
    (tmp_path / "study-b").mkdir()
    (tmp_path / "study-b" / "study.toml").write_text("[study]\n")
    assert compute_shared_mappings_sha256(tmp_path) == before
    (tmp_path / "standards" / "Variables.csv").write_text("v2\n")
    assert compute_shared_mappings_sha256(tmp_path) != before


def test_a_file_not_read_that_changes_is_a_new_run(tmp_path):
    # The findings of a night cover the whole folder: a stray file rewritten, added or removed is
    # a new run (its findings refreshed), not 'unchanged'; Excel's lock file, never opened, only
    # by its presence.
    from transforms.ingest.read_files import compute_file_order, list_input_entries
    from transforms.spec.study import DEFAULT_STUDY_DIR, MAPPINGS_DIR

    folder = tmp_path / "in"
    _export(folder, {"labs_2026-03-31.csv": b"a,b\n1,2\n"})

    def identity():
        entries = list_input_entries(folder)
        files = compute_file_order(entries).drop(columns="path")
        from_files, _ = compute_run_identity(files, folder, DEFAULT_STUDY_DIR, MAPPINGS_DIR, entries)
        archived = archive_inputs(files, folder, tmp_path / "out")
        from_archive, _ = compute_run_identity(archived, folder, DEFAULT_STUDY_DIR, MAPPINGS_DIR, entries)
        assert from_files == from_archive  # the CLI's unchanged check and the flow agree
        return from_files

    clean = identity()
    (folder / "notes.txt").write_text("resend Friday\n", encoding="utf-8")
    with_notes = identity()
    (folder / "notes.txt").write_text("resend Monday\n", encoding="utf-8")  # same lines, other words
    rewritten = identity()
    (folder / "~$site01.xlsx").write_bytes(b"owner one")
    locked = identity()
    (folder / "~$site01.xlsx").write_bytes(b"owner two")
    assert identity() == locked
    (folder / "link.csv").symlink_to(folder / "gone.csv")
    dangling = identity()
    (folder / "link.csv").unlink()
    (folder / "link.csv").symlink_to(folder / "elsewhere.csv")
    repointed = identity()
    (folder / "link.csv").unlink()
    (folder / "~$site01.xlsx").unlink()
    (folder / "notes.txt").unlink()
    assert identity() == clean
    ids = [clean, with_notes, rewritten, locked, dangling, repointed]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("20260331-") for i in ids)
