"""Fuzz many mutated exports through the stage chain and report every broken invariant.

    python bench/fuzz_exports.py --examples 500 [--seed 1]

Each example is a plan of one to three mutations of the bundled sample export
(tests/fuzzing.py); the invariants are those of tests/test_fuzz.py: no exception, every row
present read, rows read = mapped + held back with a finding. Prints one line per failure with
its plan, then the totals; results as JSON under bench/results/. Exit 1 when any example failed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fuzzing import MUTATIONS, count_rows_present, sample_frames, write_mutated_export  # noqa: E402

from flows.cli import configure_environment  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_environment()
    from transforms.build import build
    from transforms.package import read_transliteration
    from transforms.reconcile import check_reconciliation
    from transforms.study import DEFAULT_STUDY_DIR, read_study

    study, transliteration, frames = read_study(DEFAULT_STUDY_DIR), read_transliteration(), sample_frames()
    rng = random.Random(args.seed)
    failures, started = [], time.perf_counter()
    for number in range(args.examples):
        plan = [(rng.choice(MUTATIONS), rng.randrange(10**6)) for _ in range(rng.randint(1, 3))]
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            try:
                write_mutated_export(frames, plan, folder)
                built = build(folder, study, transliteration, check_output=False, today="2026-04-01")
                problems = check_reconciliation(built.counts)
                present = count_rows_present(folder)
                if int(built.counts["read"].sum()) != present:
                    problems.append(f"rows present {present}, rows read {int(built.counts['read'].sum())}")
            except Exception:  # noqa: BLE001 — a failure of the invariant "no exception"
                problems = [traceback.format_exc(limit=-3).strip().splitlines()[-1]]
        if problems:
            failures.append({"example": number, "plan": plan, "problems": problems})
            print(f"example {number}: {plan}: {problems}", flush=True)
    seconds = time.perf_counter() - started
    print(f"{args.examples} examples, {len(failures)} failed, {seconds:.0f} s ({seconds / max(args.examples, 1):.2f} s each)")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "fuzz_exports.json").write_text(json.dumps(
        {"examples": args.examples, "seed": args.seed, "failed": failures, "seconds": round(seconds, 1)}, indent=2
    ))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
