"""Start-up benchmark: `sdtmflow run` on the bundled sample as a fresh process, and its unchanged rerun.

    .venv/bin/python bench/bench_startup.py             # median of 3 of each
    .venv/bin/python bench/bench_startup.py --repeat 5

Targets (issue "A million lab rows", part 4): the sample in <= 10 s wall, an unchanged night in
<= 2 s. Each measurement is a fresh process into a fresh output folder (the unchanged rerun: into
the folder the preceding run published). Besides wall time it reports the child's CPU seconds
(user + system, its server subprocess included): on a shared machine wall time follows the load,
CPU time much less. The stages' own seconds come from the run's run_log.json, so
start-up = wall - stages. Prints a table; writes JSON to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDTMFLOW = [str(ROOT / ".venv" / "bin" / "sdtmflow")]
if not Path(SDTMFLOW[0]).exists():  # another environment: the module, same code
    SDTMFLOW = [sys.executable, "-m", "flows.cli"]
TARGETS = {"sample run": 10.0, "unchanged rerun": 2.0}


def measure(command: list[str]) -> dict:
    """Wall and CPU seconds (children's rusage delta) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "first_line": done.stdout.splitlines()[0]}


def stage_seconds(output: Path) -> float:
    log = json.loads((output / "latest" / "run_log.json").read_text())
    return sum(log["seconds_per_stage"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {"sample run": [], "unchanged rerun": []}
    with tempfile.TemporaryDirectory() as scratch:
        for attempt in range(args.repeat):
            output = Path(scratch) / f"out{attempt}"
            run = measure(SDTMFLOW + ["run", "--output", str(output)])
            assert run["first_line"].startswith("published "), run["first_line"]
            run["stages"] = stage_seconds(output)
            rows["sample run"].append(run)
            rerun = measure(SDTMFLOW + ["run", "--output", str(output)])
            assert rerun["first_line"].startswith("unchanged since run "), rerun["first_line"]
            rows["unchanged rerun"].append(rerun)

    print(f"{'':16} {'wall s (median)':>16} {'all walls':>22} {'cpu s':>7} {'stages s':>9} {'target':>7}")
    summary = {}
    for name, runs in rows.items():
        walls = [r["wall"] for r in runs]
        median = statistics.median(walls)
        cpu = statistics.median(r["cpu"] for r in runs)
        stages = statistics.median(r["stages"] for r in runs) if "stages" in runs[0] else None
        verdict = "ok" if median <= TARGETS[name] else "MISSED"
        print(f"{name:16} {median:16.2f} {' '.join(f'{w:.1f}' for w in walls):>22} {cpu:7.2f} "
              f"{'' if stages is None else f'{stages:.2f}':>9} {TARGETS[name]:5.0f} s {verdict}")
        summary[name] = {"median_wall": median, "walls": walls, "median_cpu": cpu,
                         "median_stages": stages, "target": TARGETS[name]}
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} (1 min), {os.cpu_count()} cores")

    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / f"startup-{stamp}.json").write_text(json.dumps(
        {"at": stamp, "host": platform.node(), "cores": os.cpu_count(), "load_1min": load[0],
         "repeat": args.repeat, "results": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
