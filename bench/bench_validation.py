"""What validation costs on 1,000,000 lab rows.

    .venv/bin/python bench/bench_validation.py [--subjects 17500] [--repeat 3] [--sdtm]

The sample generator at 17,500 subjects writes ~1,004,600 lab rows (plus Demographics 17,500,
Infusions ~43,000, Assessments ~112,000). The export is made into raw text sheets in memory, as
ingest hands them on (no file I/O: that is the reading's cost, not validation's), then each
measured step runs in its own fresh process so peak RSS belongs to that step:

- `standardise`           standardise_export alone;
- `standardise+validate`  standardise_export, then validate_export (GX suites + cross-row
                          checks, no Data Docs), and each sheet's share (validate_sheet);
- `sdtm` (with --sdtm)    map_domains untimed, then the SDTM suites (check_sdtm_domains).

Wall time of each timed part is the best of --repeat runs in that process; validation's first
run, which also registers the suites with GX (as a nightly process does once), and a run that
also writes the Data Docs HTML are reported beside it. Peak RSS is the child's
ru_maxrss (includes generating the export, which every mode does the same way). Results go to
stdout and bench/results/validation.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_raw_sheets(subjects: int):
    """The generated export as ingest's raw text sheets (lineage included), in memory."""
    import pandas as pd

    from transforms.ingest.export import assign_canonical_columns
    from transforms.samples.sample_export import generate_sample_export, read_sample_spec
    from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

    LABS_CSV_NAME, WORKBOOK_NAME = read_sample_spec().csv_name, read_sample_spec().workbook_name

    study = read_study(DEFAULT_STUDY_DIR)
    frames = generate_sample_export(subjects=subjects)
    sheets = {}
    for name, frame in frames.items():
        kind = name.lower()
        # as read from the files: every cell text, blanks missing
        text = frame.astype("object").where(frame.notna(), None)
        text = text.apply(lambda c: c.map(lambda v: None if v is None else str(v)))
        file = LABS_CSV_NAME if kind == "labs" else WORKBOOK_NAME
        sheet = Path(LABS_CSV_NAME).stem if kind == "labs" else name
        columns = study.raw_columns[study.raw_columns["sheet"] == kind]
        sheets[kind], _, _ = assign_canonical_columns(text, columns, file, sheet)
    files = pd.DataFrame(
        {"name": [LABS_CSV_NAME, WORKBOOK_NAME], "size": [0, 0],
         "export_date": ["20260331", "20260331"], "order": [0, 1]}
    )
    return study, sheets, files


def best_of(repeat: int, step):
    """(best seconds, result) of `repeat` runs of `step`."""
    times, result = timed(repeat, step)
    return min(times), result


def timed(repeat: int, step):
    """(seconds of each run, result of the last) of `repeat` runs of `step`."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return times, result


def child(mode: str, subjects: int, repeat: int) -> dict:
    """One measurement in this (fresh) process."""
    warnings.filterwarnings("ignore")
    from flows.cli import configure_environment

    configure_environment()
    from expectations.engine import get_engine
    from transforms.outputs.package import read_transliteration
    from transforms.standardise.sheets import standardise_export
    from expectations.validate import validate_export

    get_engine()  # GX context start-up is paid once per process, not per validation
    study, raw, files = build_raw_sheets(subjects)
    transliteration = read_transliteration()
    out = {"mode": mode, "lab_rows": len(raw["labs"]), "rows": {k: len(v) for k, v in raw.items()}}
    out["standardise_s"], sheets = best_of(repeat, lambda: standardise_export(raw, study))
    if mode in ("standardise+validate", "sdtm"):
        times, (valid, findings) = timed(
            repeat, lambda: validate_export(sheets, files, study, transliteration)
        )
        # the first run also registers the suites with GX, as a nightly process does once
        out["validate_first_s"], out["validate_s"] = times[0], min(times)
        with tempfile.TemporaryDirectory() as docs:
            out["validate_with_docs_s"], _ = best_of(1, lambda: validate_export(
                sheets, files, study, transliteration, data_docs_dir=Path(docs)
            ))
        out["findings"] = int(len(findings))
        out["sheets_s"] = time_sheets(sheets, files, study, transliteration, valid)
    if mode == "sdtm":
        from expectations.sdtm import check_sdtm_domains
        from transforms.domains.mapping import map_domains

        domains, _, _, _ = map_domains(valid, study, transliteration)
        out["sdtm_records"] = {k: len(v) for k, v in domains.items()}
        out["sdtm_check_s"], conform = best_of(repeat, lambda: check_sdtm_domains(domains, study))
        out["sdtm_findings"] = int(len(conform))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def time_sheets(sheets, files, study, transliteration, valid) -> dict:
    """validate_sheet's seconds for each sheet (best of two), as validate_export calls it."""
    from transforms.spec.study import SUBJECTS
    from expectations.validate import build_context, validate_sheet

    context = build_context(sheets, study)
    subjects = study.sheet_with_role(SUBJECTS)
    parts = {}
    for sheet in study.sheet_ids:
        demographics = None if sheet == subjects else valid[subjects]
        parts[sheet], _ = best_of(2, lambda: validate_sheet(
            sheets[sheet], sheet, study, context, files, transliteration, demographics
        ))
        parts[sheet] = round(parts[sheet], 3)
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=17500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sdtm", action="store_true", help="also time the SDTM suites after mapping")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.subjects, args.repeat)))
        return 0
    modes = ["standardise", "standardise+validate"] + (["sdtm"] if args.sdtm else [])
    results = {}
    for mode in modes:
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--subjects", str(args.subjects),
             "--repeat", str(args.repeat)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    alone, both = results["standardise"], results["standardise+validate"]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "lab_rows": both["lab_rows"],
        "rows": both["rows"],
        "standardise_s": alone["standardise_s"],
        "validate_added_s": both["validate_s"],
        "validate_first_run_s": both["validate_first_s"],
        "validate_with_data_docs_s": both["validate_with_docs_s"],
        "validate_by_sheet_s": both["sheets_s"],
        "peak_rss_mb": {"standardise": alone["peak_rss_mb"], "standardise+validate": both["peak_rss_mb"]},
        "peak_rss_added_mb": round(both["peak_rss_mb"] - alone["peak_rss_mb"], 1),
        "target_s": 2.0,
    }
    if "sdtm" in results:
        summary["sdtm_check_s"] = results["sdtm"]["sdtm_check_s"]
        summary["sdtm_records"] = results["sdtm"]["sdtm_records"]
    print(f"lab rows: {summary['lab_rows']:,} (all sheets: {sum(summary['rows'].values()):,} rows)")
    print(f"standardise alone:            {summary['standardise_s']:.2f} s, peak RSS {alone['peak_rss_mb']:.0f} MB")
    print(f"validate (added wall time):   {summary['validate_added_s']:.2f} s "
          f"(target < {summary['target_s']:.0f} s), peak RSS {both['peak_rss_mb']:.0f} MB "
          f"(+{summary['peak_rss_added_mb']:.0f} MB)")
    print(f"  first run in the process:   {summary['validate_first_run_s']:.2f} s "
          "(registers the GX suites)")
    print(f"  with Data Docs HTML:        {summary['validate_with_data_docs_s']:.2f} s")
    print("  by sheet:                   " + ", ".join(
        f"{k} {v:.2f} s" for k, v in summary["validate_by_sheet_s"].items()))
    if "sdtm_check_s" in summary:
        print(f"SDTM suites after mapping:    {summary['sdtm_check_s']:.2f} s "
              f"(LB {summary['sdtm_records'].get('LB', 0):,} records)")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
