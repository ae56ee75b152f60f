"""Run identity and atomic publication of a package under OUT/runs/<run id>, OUT/latest.

A run is staged in a hidden folder beside its final place and renamed into place only when every
file is written; `latest` is a symlink replaced by rename. Either step is atomic on POSIX, so a
crash at any moment leaves the previous `latest` and every published run untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd

CODE_PACKAGES = ("transforms", "flows", "expectations")


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


def compute_run_id(files: pd.DataFrame, input_dir: Path, study_dir: Path, mappings_sha: str, code_sha: str) -> str:
    """`<newest export date>-<12 hex>`: the same inputs, mappings and code give the same id, so a
    rerun lands on the same folder and identical bytes."""
    digest = hashlib.sha256()
    for name in files["name"]:
        digest.update(name.encode())
        digest.update(compute_file_sha256(Path(input_dir) / name).encode())
    digest.update(mappings_sha.encode())
    digest.update(code_sha.encode())
    newest = files["export_date"].max() if len(files) else "00000000"
    return f"{newest}-{digest.hexdigest()[:12]}"


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
