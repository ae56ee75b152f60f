"""Write-chain benchmark: seconds of each step of writing one package's datasets, per step.

    .venv/bin/python bench/bench_write.py                  # 2,000 subjects, 3 repeats
    .venv/bin/python bench/bench_write.py --subjects 5000 --repeat 5

The export is generated (`sdtmflow sample`) and built once without Prefect (flows.build,
SDTM checks off: they are not what this measures); then each domain goes through the writer
chain `--repeat` times: type (apply_variable_metadata), type + check + measure
(derive_xpt_dataset), XPT, Parquet and define.xml. Prints the median seconds of each step and
seconds per million records, so a step that regresses shows itself without timing the whole run.
The machine is shared: compare medians of repeated runs, never one timing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.build import build  # noqa: E402
from transforms.core.metadata import read_dataset_metadata, read_variable_metadata  # noqa: E402
from transforms.outputs.package import compute_package_timestamp, read_transliteration  # noqa: E402
from transforms.spec.study import DEFAULT_STUDY_DIR, STANDARDS_DIR, read_study  # noqa: E402
from transforms.outputs.submission import build_define_document, write_define  # noqa: E402
from transforms.conform.xpt_rules import derive_xpt_dataset  # noqa: E402
from transforms.outputs.write import (  # noqa: E402
    apply_variable_metadata,
    write_parquet_dataset,
    write_xpt_dataset,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    study = read_study(DEFAULT_STUDY_DIR)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        export = scratch / "export"
        subprocess.run([sys.executable, "-m", "flows.cli", "sample", "--output", str(export),
                        "--subjects", str(args.subjects)], cwd=ROOT, check=True, capture_output=True)
        built = build(export, study, read_transliteration(), None, check_output=False)
        variables = read_variable_metadata(STANDARDS_DIR, study.directory)
        datasets = read_dataset_metadata(STANDARDS_DIR).set_index("dataset")
        timestamp = compute_package_timestamp(built.export.files)
        domains = {name: frame for name, frame in built.domains.items() if not frame.empty}
        records = sum(len(frame) for frame in domains.values())
        steps: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            prepared, seconds = {}, dict.fromkeys(["type", "type + check + measure", "xpt", "parquet"], 0.0)

            def timed(step: str, work):
                started = time.perf_counter()
                value = work()
                seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - started
                return value

            for name, frame in domains.items():
                meta = variables[variables["dataset"] == name]
                label = datasets.loc[name, "label"]
                xpt = scratch / f"{name.lower()}.xpt"
                timed("type", lambda: apply_variable_metadata(frame, meta))
                prepared[name] = timed("type + check + measure",
                                       lambda: derive_xpt_dataset(frame, meta, name, label, xpt))
                timed("xpt", lambda: write_xpt_dataset(prepared[name], xpt, timestamp))
                timed("parquet", lambda: write_parquet_dataset(
                    prepared[name], scratch / f"{name.lower()}.parquet", "bench"))
            document = timed("define.xml (build + schema)", lambda: build_define_document(
                {n: p.data for n, p in prepared.items()}, {n: p.lengths for n, p in prepared.items()},
                variables, datasets.reset_index(), study, timestamp))
            timed("define.xml (write + html)", lambda: write_define(scratch, document))
            for step, value in seconds.items():
                steps.setdefault(step, []).append(value)
    print(f"{args.subjects:,} subjects, {records:,} records in {len(domains)} datasets, {args.repeat} repeats")
    print(f"{'step':<28}{'median s':>10}{'min s':>9}{'s / M records':>15}")
    for step, values in steps.items():
        median = statistics.median(values)
        print(f"{step:<28}{median:>10.2f}{min(values):>9.2f}{median / records * 1e6:>15.2f}")


if __name__ == "__main__":
    main()
