"""Dataset-JSON writer benchmark: seconds and bytes to write one LB-shaped dataset as JSON and NDJSON.

    .venv/bin/python bench/bench_dataset_json.py              # 1,000,000 records
    .venv/bin/python bench/bench_dataset_json.py --rows 200000

The frame is typed as the XPT writer types it (object strings with None, float64 numbers); the
metadata check against the official schema is included, as in a run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.outputs.dataset_json import DatasetJsonHeader, build_dataset_json_metadata, write_dataset_json


def build_frame(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(20260331)
    tests = np.array(["ALB", "ALT", "AST", "BILI", "CREAT", "INR", "PLAT", "SODIUM"], dtype=object)
    result = rng.normal(50, 15, rows).round(2)
    frame = pd.DataFrame({
        "STUDYID": np.full(rows, "UCMSC-ESLD", dtype=object),
        "DOMAIN": np.full(rows, "LB", dtype=object),
        "USUBJID": pd.Series(rng.integers(1, 2000, rows)).map(lambda n: f"UCMSC-ESLD-{n:04d}").to_numpy(dtype=object),
        "LBSEQ": np.arange(1, rows + 1, dtype="float64"),
        "LBTESTCD": tests[rng.integers(0, len(tests), rows)],
        "LBORRES": result.astype(str).astype(object),
        "LBSTRESN": np.where(rng.random(rows) < 0.02, np.nan, result),
        "LBNRIND": np.where(rng.random(rows) < 0.5, None, "NORMAL").astype(object),
        "VISITNUM": rng.integers(1, 12, rows).astype("float64"),
        "LBDTC": pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 90, rows), "D"))
        .dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
    })
    variables = pd.DataFrame({
        "variable": frame.columns,
        "label": frame.columns,
        "type": ["Num" if frame[c].dtype == "float64" else "Char" for c in frame.columns],
        "order": range(1, len(frame.columns) + 1),
    })
    return frame, variables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame, variables = build_frame(args.rows)
    lengths = {c: 20 for c in frame.columns}
    with tempfile.TemporaryDirectory() as scratch:
        for suffix in (".json", ".ndjson"):
            started = time.perf_counter()
            header = DatasetJsonHeader(created=datetime(2026, 3, 31), modified=datetime(2026, 3, 31))
            metadata = build_dataset_json_metadata(frame, variables, "LB", "Laboratory Test Results", lengths,
                                                   ["STUDYID", "USUBJID", "LBSEQ"], header)
            path = Path(scratch) / f"lb{suffix}"
            write_dataset_json(frame, metadata, path)
            seconds = time.perf_counter() - started
            print(f"{suffix:7} {args.rows:,} rows: {seconds:.2f} s, {path.stat().st_size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
