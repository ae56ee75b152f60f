"""Run identity, the raw-file archive and atomic publication under OUT/.

OUT/
  .lock                          one run at a time (flock; the holder's pid is written inside)
  archive/<sha[:2]>/<sha>.<ext>  every raw file version ever read, once, by content
  runs/<run id>/                 one published package per distinct input + mappings + code
  runs/.staging-<run id>-<pid>   a run being written (hidden; renamed into place when complete)
  latest -> runs/<run id>

A run is staged in a hidden folder beside its final place and renamed into place only when every
file is written; `latest` is a symlink replaced by rename. Either step is atomic on POSIX, so a
crash at any moment leaves the previous `latest` and every published run untouched. The leftovers
of a killed run (its staging folder) are removed by the next run, which holds the lock and so
knows no other run is writing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from transforms.ingest.read_files import UNDATED, compute_newest_export_date

LOCK_FILE = ".lock"
ARCHIVE_DIR = "archive"
STAGING_PREFIX = ".staging-"


class OutputLocked(RuntimeError):
    """Another run holds OUT/.lock: this run did nothing."""


class RunFailed(RuntimeError):
    """The run could not produce a trustworthy package; nothing was published."""


CODE_PACKAGES = ("transforms", "flows", "expectations")
# Libraries whose version can change the bytes written (readers, writers, the validator).
LIBRARIES = ("pandas", "numpy", "pyarrow", "pyreadstat", "python-calamine", "openpyxl", "great-expectations", "lxml",
             "orjson")


def compute_file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compute_tree_sha256(root: Path, pattern: str = "**/*") -> str:
    """One digest over every file's relative path and bytes (sorted, so it is order-free)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).glob(pattern) if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(compute_file_sha256(path).encode())
    return digest.hexdigest()


def compute_code_sha256() -> str:
    """Digest of the pipeline's own Python source: a code change is a new run."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        module = __import__(package)
        digest.update(compute_tree_sha256(Path(module.__file__).parent, "**/*.py").encode())
    return digest.hexdigest()


def compute_shared_mappings_sha256(mappings_dir: Path) -> str:
    """Digest of what every study shares under mappings/ (CDISC standards, controlled
    terminology, transliteration): every file except those of study folders (a folder with a
    study.toml), so adding a second study does not change the first one's run ids."""
    mappings_dir = Path(mappings_dir)
    studies = {p.parent for p in mappings_dir.glob("*/study.toml")}
    digest = hashlib.sha256()
    for path in sorted(mappings_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and not any(s in path.parents for s in studies):
            digest.update(path.relative_to(mappings_dir).as_posix().encode())
            digest.update(compute_file_sha256(path).encode())
    return digest.hexdigest()


def compute_versions(study_dir: Path, mappings_dir: Path) -> dict:
    """Everything besides the inputs that decides the outputs' bytes: the pipeline's code, the
    study folder, the shared mappings, Python and the libraries that read and write the data."""
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = None
    return {
        "code_sha256": compute_code_sha256(),
        "study_sha256": compute_tree_sha256(study_dir),
        "shared_mappings_sha256": compute_shared_mappings_sha256(mappings_dir),
        "python": platform.python_version(),
        "libraries": libraries,
    }


def compute_run_id(files: pd.DataFrame, input_dir: Path, versions: dict,
                   entries: pd.DataFrame | None = None) -> str:
    """`<newest export date>-<12 hex>` over the input files (names and bytes), the folder's
    other entries (compute_unread_entries_digest) and `versions` (compute_versions): the same
    export folder, mappings, code and libraries give the same id, so a rerun lands on the same
    folder and identical bytes. A `sha256` column in `files` (from archive_inputs) is used as is;
    without it each file in `input_dir` is hashed. `entries` (read_files.list_input_entries):
    the whole folder; None counts only `files`."""
    digest = hashlib.sha256()
    for row in files.itertuples(index=False):
        digest.update(row.name.encode())
        sha = getattr(row, "sha256", None) or compute_file_sha256(Path(input_dir) / row.name)
        digest.update(sha.encode())
    if entries is not None and not entries["read"].all():
        digest.update(compute_unread_entries_digest(entries).encode())
    digest.update(json.dumps(versions, sort_keys=True).encode())
    newest = compute_newest_export_date(files) or UNDATED
    return f"{newest}-{digest.hexdigest()[:12]}"


# What ingest never opens (Excel's lock file, .DS_Store: read_files SF-0007) changes without the
# export changing: only its name and presence count.
_CONTENT_NOT_LOOKED_AT = "SF-0007"


def compute_unread_entries_digest(entries: pd.DataFrame) -> str:
    """Digest of the folder's entries not read (a stray file, a link, a folder, a lock file):
    their names and what ingest says of them (entry kind, rule, message, rows), and the bytes of
    each regular file among them. They are findings of the run, so a night on which only one of
    them changed (a stray notes.txt rewritten, a link re-pointed) is a new run, not 'unchanged'."""
    digest = hashlib.sha256()
    unread = entries[~entries["read"]].sort_values("name", kind="stable")
    for entry in unread.itertuples(index=False):
        said = [entry.name, entry.entry, entry.format, entry.rule, entry.message, int(entry.rows)]
        digest.update(json.dumps(said, default=str).encode())
        path = Path(entry.path)
        if entry.entry == "file" and entry.rule != _CONTENT_NOT_LOOKED_AT and path.is_file():
            digest.update(compute_file_sha256(path).encode())
    return digest.hexdigest()


def compute_run_identity(files: pd.DataFrame, input_dir: Path, study_dir: Path,
                         mappings_dir: Path, entries: pd.DataFrame | None = None) -> tuple[str, dict]:
    """(run id, versions) of an export: the one recipe, used by the flow (with the archive's
    sha256) and by the CLI's unchanged check before Prefect is imported (hashing the files).
    Both pass the folder's `entries`, so a change to a file not read is a new run too."""
    versions = compute_versions(study_dir, mappings_dir)
    return compute_run_id(files, input_dir, versions, entries), versions


def stage_run_dir(output_dir: Path, run_id: str) -> Path:
    """A fresh hidden staging folder for a run (a leftover from a crashed run is cleared first)."""
    staging = Path(output_dir) / "runs" / f".staging-{run_id}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def publish_run(staging: Path, output_dir: Path, run_id: str) -> Path:
    """Move the staged run into runs/<run id> and point `latest` at it, both by rename.

    An existing runs/<run id> was made from the same inputs, mappings and code, so it is kept and
    the staged copy discarded: publication stays idempotent.
    """
    final = Path(output_dir) / "runs" / run_id
    if final.exists():
        shutil.rmtree(staging)
    else:
        os.replace(staging, final)
    point_latest(output_dir, final)
    return final


def point_latest(output_dir: Path, run_dir: Path) -> None:
    """Swap OUT/latest to `run_dir` atomically (new symlink, then rename over the old one)."""
    latest = Path(output_dir) / "latest"
    temporary = Path(output_dir) / f".latest-{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(Path("runs") / run_dir.name, target_is_directory=True)
    os.replace(temporary, latest)


@contextmanager
def hold_output_lock(output_dir: Path) -> Iterator[Path]:
    """Hold OUT/.lock (exclusive, non-blocking) for the duration of a run.

    The kernel drops a flock when its process dies, SIGKILL included, so a crashed run never
    leaves the folder locked. A second run raises OutputLocked at once, naming the holder.
    The lock works on a local filesystem; on NFS flock is emulated and not to be relied on.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "pid not yet written"
        os.close(fd)
        raise OutputLocked(
            f"{output_dir} is locked by another sdtmflow run ({holder}); nothing was done. "
            f"Wait for that run to finish (the lock is released when its process ends) and run again."
        ) from None
    try:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode(), 0)
        yield path
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def clear_stale_staging(output_dir: Path) -> list[Path]:
    """Remove what killed runs left under OUT (staging folders, half-made `latest` links, archive
    temporaries). Call it only while holding the lock: then no other run is writing, so every
    leftover is stale. Published runs, `latest` and archived files are never touched."""
    output_dir = Path(output_dir)
    leftovers = [
        *(output_dir / "runs").glob(f"{STAGING_PREFIX}*"),
        *output_dir.glob(".latest-*"),
        *(output_dir / ARCHIVE_DIR).glob(".*.tmp"),
    ]
    for path in leftovers:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return leftovers


def archive_inputs(files: pd.DataFrame, input_dir: Path, output_dir: Path) -> pd.DataFrame:
    """Copy each raw file into OUT/archive/<sha[:2]>/<sha><ext>, once, read-only.

    Returns `files` with `sha256` and `archive` (path relative to OUT) added. The digest is taken
    of the bytes copied, so the archive holds exactly what was hashed; a file already archived
    (the same bytes in an earlier export) is not copied again.
    """
    output_dir = Path(output_dir)
    shas, archived = [], []
    for name in files["name"]:
        source = Path(input_dir) / name
        folder = output_dir / ARCHIVE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{os.getpid()}-{len(shas)}.tmp"
        digest = hashlib.sha256()
        with source.open("rb") as reader, temporary.open("wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                writer.write(block)
            writer.flush()
            os.fsync(writer.fileno())
        sha = digest.hexdigest()
        target = folder / sha[:2] / f"{sha}{source.suffix.lower()}"
        if target.exists():
            temporary.unlink()
        else:
            target.parent.mkdir(exist_ok=True)
            temporary.chmod(0o444)
            os.replace(temporary, target)
        shas.append(sha)
        archived.append(target.relative_to(output_dir).as_posix())
    return files.assign(sha256=shas, archive=archived)


def link_input_snapshot(inputs: pd.DataFrame, output_dir: Path, snapshot: Path) -> Path:
    """A folder of symlinks, original file names -> archived files, for ingest to read: the run
    then reads exactly the bytes it hashed and archived, even if the site overwrites its export
    folder meanwhile."""
    snapshot = Path(snapshot)
    snapshot.mkdir(parents=True)
    for row in inputs.itertuples(index=False):
        (snapshot / row.name).symlink_to((Path(output_dir) / row.archive).resolve())
    return snapshot


def read_latest_run_id(output_dir: Path) -> str | None:
    """The run `latest` points to, or None before the first publication."""
    latest = Path(output_dir) / "latest"
    return os.readlink(latest).rsplit("/", 1)[-1] if latest.is_symlink() else None


def find_published_run(output_dir: Path, run_id: str) -> Path | None:
    """OUT/runs/<run id> when that run was published before (same inputs, mappings and code)."""
    final = Path(output_dir) / "runs" / run_id
    return final if final.is_dir() else None


def repoint_unchanged(output_dir: Path, run_dir: Path) -> str:
    """A run id already published: make sure `latest` points at it, change nothing else.
    Returns the line for the operator and the history."""
    latest = read_latest_run_id(output_dir)
    if latest == run_dir.name:
        return f"unchanged since run {run_dir.name}; nothing republished ({run_dir})"
    point_latest(output_dir, run_dir)
    return (
        f"inputs, mappings and code identical to run {run_dir.name}, published before; "
        f"latest points to it again (was {latest}); nothing rebuilt"
    )
