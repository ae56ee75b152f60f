"""Whole-run benchmark: wall time and peak memory of `sdtmflow run`, as a user would call it.

    .venv/bin/python bench/bench_run.py                 # the bundled sample study
    .venv/bin/python bench/bench_run.py --subjects 2000 # a generated export (~115k lab rows)

Each run is a fresh process (Prefect's embedded server start-up included, as in a nightly job);
peak memory is the child's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

from children import run_child

ROOT = Path(__file__).resolve().parents[1]
SDTMFLOW = [sys.executable, "-m", "flows.cli"]


def measure(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one child process."""
    seconds, stdout = run_child(command)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=0, help="generate an export of N subjects (0: bundled sample)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        command = SDTMFLOW + ["run", "--output", str(scratch / "out")]
        if args.subjects:
            export = scratch / "export"
            seconds, _, _ = measure(SDTMFLOW + ["sample", "--output", str(export), "--subjects", str(args.subjects)])
            print(f"generated {args.subjects} subjects in {seconds:.1f} s")
            command += ["--input", str(export)]
        for attempt in range(args.repeat):
            # a fresh output folder each time: a rerun into the same one is (correctly) a no-op
            command[command.index("--output") + 1] = str(scratch / f"out{attempt}")
            seconds, peak, stdout = measure(command)
            print(f"run {attempt + 1}: wall {seconds:.1f} s, peak RSS {peak:.0f} MiB")
            log = json.loads(next((scratch / f"out{attempt}" / "runs").glob("*/run_log.json")).read_text())
            print("  seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in log["seconds_per_stage"].items()))
        print(stdout)


if __name__ == "__main__":
    main()
