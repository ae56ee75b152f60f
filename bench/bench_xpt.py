"""XPT v5 writers head to head: ours (transforms.outputs.xpt) vs pyreadstat vs R haven, best of N.

    .venv/bin/python bench/bench_xpt.py                    # 1,000,000 LB-like rows x 30 columns
    .venv/bin/python bench/bench_xpt.py --rows 200000 --repeat 1

The frame is generated deterministically (seeded numpy). Each writer gets the same data and
writes the same variable lengths; only the write is timed: haven is timed inside R with
system.time() around write_xpt, after R has read the data (from Parquet with the arrow R package
if installed, else from CSV). "ours + checks" is the product's whole write_xpt (typing, rule
checks, lengths, atomic rename, fsync). A table is printed and JSON written to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transforms.outputs.write import compute_variable_lengths, write_xpt  # noqa: E402
from transforms.outputs.xpt import XptVariable, write_xpt_file  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STAMP = datetime(2026, 1, 2, 3, 4, 5)
TESTS = [
    ("ALT", "Alanine Aminotransferase", "U/L", 7.0, 56.0),
    ("AST", "Aspartate Aminotransferase", "U/L", 10.0, 40.0),
    ("BILI", "Bilirubin", "umol/L", 3.4, 20.5),
    ("ALB", "Albumin", "g/L", 35.0, 50.0),
    ("CREAT", "Creatinine", "umol/L", 53.0, 115.0),
    ("INR", "Prothrombin Intl. Normalized Ratio", "RATIO", 0.8, 1.2),
    ("SODIUM", "Sodium", "mmol/L", 135.0, 145.0),
    ("PLAT", "Platelets", "10^9/L", 150.0, 400.0),
]
VISITS = [(1.0, "Screening", -14), (2.0, "Baseline", 1), (3.0, "Week 1", 8), (4.0, "Week 4", 29),
          (5.0, "Week 12", 85), (6.0, "Week 24", 169), (7.0, "Week 48", 337)]


def generate_lb(rows: int, seed: int = 20260102) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic LB-like frame (20 Char, 10 Num columns) and its variable metadata."""
    rng = np.random.default_rng(seed)
    subjects = np.array([f"UCMSC-ESLD-{s // 1000 + 1:02d}-{s % 1000:03d}" for s in range(17_500)],
                        dtype=object)
    test = rng.integers(0, len(TESTS), rows)
    visit = rng.integers(0, len(VISITS), rows)
    tests = pd.DataFrame(TESTS, columns=["cd", "name", "unit", "lo", "hi"])
    visits = pd.DataFrame(VISITS, columns=["num", "name", "day"])
    lo, hi = tests["lo"].to_numpy()[test], tests["hi"].to_numpy()[test]
    result = np.round(rng.normal((lo + hi) / 2, (hi - lo) / 2), 2)
    missing = rng.random(rows) < 0.03
    result[missing] = np.nan
    result_text = pd.Series(result).map("{:g}".format).where(~missing, None)  # setup, not timed
    day = visits["day"].to_numpy()[visit] + rng.integers(-2, 3, rows)
    dates = (np.datetime64("2025-01-01") + day.astype("timedelta64[D]")).astype(str)
    minutes = rng.integers(0, 24 * 60, rows)
    dtc = pd.Series(dates, dtype=object) + "T" + pd.Series(
        [f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60)], dtype=object
    ).to_numpy()[minutes]
    indicator = np.where(result < lo, "LOW", np.where(result > hi, "HIGH", "NORMAL"))
    pick = lambda values, i: np.asarray(values, dtype=object)[i]  # noqa: E731
    columns = {
        "STUDYID": ("Study Identifier", np.full(rows, "UCMSC-ESLD", dtype=object)),
        "DOMAIN": ("Domain Abbreviation", np.full(rows, "LB", dtype=object)),
        "USUBJID": ("Unique Subject Identifier", subjects[rng.integers(0, len(subjects), rows)]),
        "LBSEQ": ("Sequence Number", np.arange(1, rows + 1, dtype=np.float64)),
        "LBREFID": ("Specimen ID", pick([f"S{i:06d}" for i in range(50_000)],
                                        rng.integers(0, 50_000, rows))),
        "LBTESTCD": ("Lab Test or Examination Short Name.", pick(tests["cd"], test)),
        "LBTEST": ("Lab Test or Examination Name", pick(tests["name"], test)),
        "LBCAT": ("Category for Lab Test", pick(["CHEMISTRY", "HEMATOLOGY", "COAGULATION"],
                                                 test % 3)),
        "LBORRES": ("Result or Finding in Original Units", result_text.to_numpy(dtype=object)),
        "LBORRESU": ("Original Units", pick(tests["unit"], test)),
        "LBORNRLO": ("Reference Range Lower Limit in Orig Unit", pick(tests["lo"].map(str), test)),
        "LBORNRHI": ("Reference Range Upper Limit in Orig Unit", pick(tests["hi"].map(str), test)),
        "LBSTRESC": ("Character Result/Finding in Std Format", result_text.to_numpy(dtype=object)),
        "LBSTRESN": ("Numeric Result/Finding in Standard Units", result),
        "LBSTRESU": ("Standard Units", pick(tests["unit"], test)),
        "LBSTNRLO": ("Normal Range Lower Limit-Std Units", lo),
        "LBSTNRHI": ("Normal Range Upper Limit-Std Units", hi),
        "LBNRIND": ("Reference Range Indicator", np.where(missing, None, indicator).astype(object)),
        "LBSTAT": ("Completion Status", np.where(missing, "NOT DONE", None).astype(object)),
        "LBREASND": ("Reason Test Not Done", np.where(missing, "Sample haemolysed", None)
                     .astype(object)),
        "LBSPEC": ("Specimen Type", pick(["SERUM", "PLASMA", "WHOLE BLOOD"], test % 3)),
        "LBBLFL": ("Baseline Flag", np.where(visit == 1, "Y", None).astype(object)),
        "LBFAST": ("Fasting Status", pick(["Y", "N", None], rng.integers(0, 3, rows))),
        "VISITNUM": ("Visit Number", visits["num"].to_numpy()[visit]),
        "VISIT": ("Visit Name", pick(visits["name"], visit)),
        "VISITDY": ("Planned Study Day of Visit", visits["day"].to_numpy()[visit].astype(float)),
        "LBDTC": ("Date/Time of Specimen Collection", dtc.to_numpy(dtype=object)),
        "LBDY": ("Study Day of Specimen Collection", day.astype(np.float64)),
        "LBTPTNUM": ("Planned Time Point Number", rng.integers(1, 4, rows).astype(np.float64)),
        "LBTOX": ("Toxicity Grade", pick(["0", "1", "2", "3", None], rng.integers(0, 5, rows))),
    }
    # object columns of str/None, as transforms.outputs.write.apply_variable_metadata hands them over
    frame = pd.DataFrame(
        {name: pd.Series(values, dtype=object if values.dtype == object else None)
         for name, (_, values) in columns.items()}
    )
    meta = pd.DataFrame(
        {
            "dataset": "LB",
            "variable": list(columns),
            "label": [label for label, _ in columns.values()],
            "type": ["Num" if frame[c].dtype.kind == "f" else "Char" for c in columns],
            "order": range(1, len(columns) + 1),
            "origin": "Derived",
            "sdtmig_version": "3.4",
        }
    )
    return frame, meta


def best_of(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


R_WRITER = r"""
args <- commandArgs(trailingOnly = TRUE)
source <- args[1]; target <- args[2]; repeat_n <- as.integer(args[3]); labels_csv <- args[4]
if (grepl("[.]parquet$", source)) {
  d <- as.data.frame(arrow::read_parquet(source))
} else {
  d <- utils::read.csv(source, colClasses = readLines(paste0(source, ".classes")),
                       na.strings = "", stringsAsFactors = FALSE, check.names = FALSE)
}
labels <- utils::read.csv(labels_csv, stringsAsFactors = FALSE)
for (i in seq_len(nrow(labels))) attr(d[[labels$variable[i]]], "label") <- labels$label[i]
best <- Inf
for (i in seq_len(repeat_n)) {
  t <- system.time(haven::write_xpt(d, target, version = 5, name = "LB", label = "Laboratory Test Results"))
  best <- min(best, t[["elapsed"]])
}
cat(sprintf("%.6f\n", best))
"""


def time_haven(frame: pd.DataFrame, meta: pd.DataFrame, scratch: Path, repeat: int) -> dict | None:
    rscript = shutil.which("Rscript")
    if rscript is None or subprocess.run([rscript, "-e", "library(haven)"],
                                         capture_output=True).returncode != 0:
        return None
    has_arrow = subprocess.run([rscript, "-e", "library(arrow)"], capture_output=True).returncode == 0
    if has_arrow:
        source = scratch / "lb.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source)
    else:
        source = scratch / "lb.csv"
        frame.to_csv(source, index=False, na_rep="")
        classes = ["numeric" if t == "Num" else "character" for t in meta["type"]]
        Path(f"{source}.classes").write_text("\n".join(classes) + "\n")
    labels = scratch / "labels.csv"
    meta[["variable", "label"]].to_csv(labels, index=False)
    script = scratch / "write.R"
    script.write_text(R_WRITER)
    target = scratch / "haven" / "lb.xpt"
    target.parent.mkdir()
    done = subprocess.run([rscript, str(script), str(source), str(target), str(repeat), str(labels)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"haven failed:\n{done.stderr}")
    return {"seconds": float(done.stdout.split()[-1]), "read_from": source.suffix[1:],
            "bytes": target.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    frame, meta = generate_lb(args.rows)
    print(f"generated {len(frame):,} rows x {frame.shape[1]} columns in "
          f"{time.perf_counter() - started:.1f} s")
    lengths = compute_variable_lengths(frame, meta)
    variables = [XptVariable(v.variable, v.label, v.type, lengths[v.variable])
                 for v in meta.itertuples()]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        ours, checked, theirs = scratch / "ours.xpt", scratch / "checked" / "lb.xpt", scratch / "p.xpt"
        checked.parent.mkdir()
        results["ours"] = best_of(args.repeat, lambda: write_xpt_file(
            ours, frame, variables, "LB", "Laboratory Test Results", STAMP))
        results["ours + checks"] = best_of(args.repeat, lambda: write_xpt(
            frame, meta, "LB", "Laboratory Test Results", checked, STAMP))
        results["pyreadstat"] = best_of(args.repeat, lambda: pyreadstat.write_xport(
            frame, theirs, file_format_version=5, table_name="LB",
            file_label="Laboratory Test Results", column_labels=list(meta["label"])))
        sizes = {"ours": ours.stat().st_size, "pyreadstat": theirs.stat().st_size}
        haven = time_haven(frame, meta, scratch, args.repeat)
        if haven is not None:
            results["haven"] = haven["seconds"]
            sizes["haven"] = haven["bytes"]
    base = results.get("haven")
    print(f"\n{'writer':<16}{'best s':>9}{'rows/s':>14}{'vs haven':>10}")
    for name, seconds in results.items():
        ratio = f"{seconds / base:.2f}x" if base else "-"
        print(f"{name:<16}{seconds:>9.3f}{len(frame) / seconds:>14,.0f}{ratio:>10}")
    print(f"file bytes: {sizes}" + (f"; haven read its data from {haven['read_from']}" if haven else
                                    "; haven not installed"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench_xpt_{datetime.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps({"rows": len(frame), "columns": frame.shape[1], "repeat": args.repeat,
                               "best_seconds": results, "bytes": sizes,
                               "haven_read_from": haven["read_from"] if haven else None}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
