"""Scale benchmark: `sdtmflow run` on a large generated export vs the I/O floor of the same data.

    .venv/bin/python bench/bench_scale.py                          # 17,500 subjects (~4 min, ~6 GB)
    .venv/bin/python bench/bench_scale.py --subjects 2000 8000     # seconds per million rows

For each size: the export is generated (`sdtmflow sample`), `sdtmflow run` runs as a fresh
process (as a nightly job would, Prefect start-up included), then the I/O floor is measured on
the same export, each part in its own child process so its peak RSS is its own:

  raw read       every raw sheet with the fastest readers: python-calamine (xlsx), pyarrow.csv
  parquet write  every Parquet file the run published, with pyarrow.parquet.write_table
                 (tables read first, not timed)
  xpt write      every domain the run published as XPT, with R haven::write_xpt (data read
                 from CSV first, not timed), if R and haven are installed

The floor is what no pipeline on this data can beat: read the input once, write the outputs once.
Printed: one table per size (stage, seconds, share, peak RSS; the run's stages come from its
run_log.json) and `ratio R run W s floor F s peak M MiB`; JSON goes to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from children import run_child

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SDTMFLOW = [sys.executable, "-m", "flows.cli"]

R_XPT_WRITER = r"""
args <- commandArgs(trailingOnly = TRUE)
source_dir <- args[1]; target_dir <- args[2]
files <- sort(list.files(source_dir, pattern = "[.]csv$", full.names = TRUE))
total <- 0
for (f in files) {
  name <- sub("[.]csv$", "", basename(f))
  classes <- readLines(paste0(f, ".classes"))
  d <- utils::read.csv(f, colClasses = classes, na.strings = "", stringsAsFactors = FALSE,
                       check.names = FALSE)
  total <- total + system.time(
    haven::write_xpt(d, file.path(target_dir, paste0(name, ".xpt")), version = 5,
                     name = toupper(name)))[["elapsed"]]
}
cat(sprintf("%.6f\n", total))
"""


# --- child processes ------------------------------------------------------------------------


def measure(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of a `peaked` command."""
    seconds, stdout = run_child(command)
    peak, _, out = stdout.partition("\n")
    return seconds, float(peak), out


def peaked(command: list[str]) -> list[str]:
    """`command` wrapped so that it prints its own peak RSS (MiB) as the first stdout line.

    RUSAGE_CHILDREN keeps the maximum over every child a process ever waited for, so each
    measured command gets a fresh wrapper process whose only child it is.
    """
    return [sys.executable, __file__, "--peak-of", "--", *command]


def run_reporting_peak(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sys.stdout.write(f"{peak:.1f}\n{done.stdout}")
    sys.exit(done.returncode)


# --- floor stages (each runs in its own child: `--stage NAME`) ------------------------------


def stage_raw_read(export: Path) -> dict:
    import pyarrow.csv as pacsv
    from python_calamine import CalamineWorkbook

    rows = 0
    for path in sorted(export.iterdir()):
        if path.suffix == ".xlsx":
            workbook = CalamineWorkbook.from_path(str(path))
            for sheet in workbook.sheet_names:
                rows += len(workbook.get_sheet_by_name(sheet).to_python()) - 1  # header row
        elif path.suffix == ".csv":
            rows += pacsv.read_csv(path).num_rows
    return {"rows": rows}


def stage_parquet_write(published: Path, scratch: Path) -> dict:
    import pyarrow.parquet as pq

    tables = {p.stem: pq.read_table(p) for p in sorted((published / "parquet").glob("*.parquet"))}
    started = time.perf_counter()
    for name, table in tables.items():
        pq.write_table(table, scratch / f"{name}.parquet")
    return {"seconds": time.perf_counter() - started, "rows": sum(t.num_rows for t in tables.values())}


def stage_xpt_write(published: Path, scratch: Path) -> dict:
    import pyarrow.parquet as pq

    rscript = shutil.which("Rscript")
    if rscript is None or subprocess.run([rscript, "-e", "library(haven)"],
                                         capture_output=True).returncode != 0:
        return {"skipped": "R haven not installed"}
    source, target = scratch / "csv", scratch / "xpt"
    source.mkdir()
    target.mkdir()
    rows = 0
    # The domains the run wrote as XPT (a Parquet-only table such as liver_scores is not one),
    # wherever the package keeps them (the FDA submission folder m5/datasets/.../sdtm/).
    xpts = sorted(published.rglob("*.xpt"))
    if not xpts:
        raise SystemExit(f"no XPT file under {published}: the floor would leave the XPT write out")
    for xpt in xpts:
        path = published / "parquet" / f"{xpt.stem}.parquet"
        table = pq.read_table(path)
        rows += table.num_rows
        table.to_pandas().to_csv(source / f"{path.stem}.csv", index=False, na_rep="")
        classes = ["numeric" if str(f.type) == "double" else "character" for f in table.schema]
        (source / f"{path.stem}.csv.classes").write_text("\n".join(classes) + "\n")
    script = scratch / "write.R"
    script.write_text(R_XPT_WRITER)
    done = subprocess.run([rscript, str(script), str(source), str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"haven failed:\n{done.stderr}")
    return {"seconds": float(done.stdout.split()[-1]), "rows": rows}


def run_stage(name: str, export: Path, published: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        if name == "raw read":
            result = stage_raw_read(export)
        elif name == "parquet write":
            result = stage_parquet_write(published, Path(scratch))
        else:
            result = stage_xpt_write(published, Path(scratch))
        result.setdefault("seconds", time.perf_counter() - started)
    print(json.dumps(result))


FLOOR_STAGES = ("raw read", "parquet write", "xpt write")


# --- one size -------------------------------------------------------------------------------


def bench_size(subjects: int, scratch: Path) -> dict:
    export, output = scratch / f"export{subjects}", scratch / f"out{subjects}"
    seconds, _, _ = measure(peaked(SDTMFLOW + ["sample", "--output", str(export),
                                               "--subjects", str(subjects)]))
    print(f"\n{subjects:,} subjects: export generated in {seconds:.1f} s "
          f"({sum(p.stat().st_size for p in export.iterdir()) / 2**20:.0f} MiB)")
    run_seconds, run_peak, _ = measure(peaked(SDTMFLOW + ["run", "--input", str(export),
                                                          "--output", str(output)]))
    published = (output / "latest").resolve()
    log = json.loads((published / "run_log.json").read_text())
    floor = {}
    for stage in FLOOR_STAGES:
        _, peak, out = measure(peaked([sys.executable, __file__, "--stage", stage,
                                       "--export", str(export), "--published", str(published)]))
        floor[stage] = {**json.loads(out), "peak_mib": peak}
    raw_rows = floor["raw read"]["rows"]
    published_rows = floor["parquet write"]["rows"]
    floor_seconds = sum(s["seconds"] for s in floor.values() if "skipped" not in s)
    rows = []
    for stage, seconds in log["seconds_per_stage"].items():
        rows.append(("run: " + stage, seconds, seconds / run_seconds, None, raw_rows))
    rows.append(("run: start-up and the rest", run_seconds - log["seconds_total"],
                 (run_seconds - log["seconds_total"]) / run_seconds, None, raw_rows))
    rows.append(("run total (fresh process)", run_seconds, 1.0, run_peak, raw_rows))
    for stage, s in floor.items():
        if "skipped" in s:
            rows.append(("floor: " + stage + " (" + s["skipped"] + ")", None, None, None, None))
            continue
        rows.append(("floor: " + stage, s["seconds"], s["seconds"] / floor_seconds,
                     s["peak_mib"], s["rows"]))
    rows.append(("floor total", floor_seconds, 1.0, None, raw_rows))
    print(f"raw rows {raw_rows:,}; published rows {published_rows:,}")
    print(f"{'stage':<40}{'seconds':>9}{'share':>8}{'peak MiB':>10}{'s / M rows':>12}")
    for stage, seconds, share, peak, n in rows:
        cells = [
            f"{seconds:>9.2f}" if seconds is not None else f"{'-':>9}",
            f"{share:>8.0%}" if share is not None else f"{'-':>8}",
            f"{peak:>10.0f}" if peak is not None else f"{'-':>10}",
            f"{seconds / n * 1e6:>12.2f}" if seconds is not None and n else f"{'-':>12}",
        ]
        print(f"{stage:<40}" + "".join(cells))
    ratio = run_seconds / floor_seconds
    print(f"ratio {ratio:.1f} run {run_seconds:.1f} s floor {floor_seconds:.1f} s "
          f"peak {run_peak:.0f} MiB")
    return {
        "subjects": subjects,
        "raw_rows": raw_rows,
        "published_rows": published_rows,
        "run": {"seconds": run_seconds, "peak_mib": run_peak,
                "seconds_per_stage": log["seconds_per_stage"]},
        "floor": floor,
        "floor_seconds": floor_seconds,
        "ratio": ratio,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--peak-of":
        run_reporting_peak(sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[17_500])
    parser.add_argument("--stage", choices=FLOOR_STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--published", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args.stage, args.export, args.published)
        return
    with tempfile.TemporaryDirectory() as scratch:
        results = [bench_size(n, Path(scratch)) for n in args.subjects]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench_scale_{datetime.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
