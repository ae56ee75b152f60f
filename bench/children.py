"""Child processes the benchmarks time: one home for running a command and failing loudly."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_child(command: list[str]) -> tuple[float, str]:
    """(wall seconds, stdout) of `command` run from the repository; exits with its output when it
    fails, since a benchmark of a failed run measures nothing."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout
