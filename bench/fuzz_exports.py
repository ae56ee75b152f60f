"""Fuzz many mutated exports as the flow runs them and report every broken invariant.

    python bench/fuzz_exports.py --examples 500 [--seed 1] [--today 2026-04-01]

Each example is a plan of one to three mutations of the bundled sample export
(tests/fuzzing.py), run in-process through the stage chain, written and published
(tests/fuzzing.py run_in_process) into an output folder that already holds a published `latest`;
the invariants are issue 11's (tests/fuzzing.py check_example): exit code 0, 1 or 2 and no
internal error (and, stricter, no exit 2: only the export changed); if published, every row present read and mapped or held back with a finding,
and R haven and pyreadstat reading every XPT alike; if not, `latest` byte-for-byte as before.
Prints one line per failure with its plan, then the totals (examples, published, failed,
seconds, seed); results as JSON under bench/results/fuzz_exports-seed<N>.json, so runs with
different seeds can go side by side (one per core). Exit 1 when any example failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# tests/ for the fuzzing helpers, then the repository itself in front of it: tests/flows/ and the
# like are folders without __init__.py, which would otherwise pass for the product's packages.
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from fuzzing import (  # noqa: E402
    MUTATIONS,
    check_example,
    compute_output_state,
    make_previous_output,
    run_in_process,
    sample_frames,
    write_mutated_export,
)

from flows.cli import configure_environment  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--today", default="2026-04-01", help="the runs' day (the sample is dated 2026-03-31)")
    args = parser.parse_args()
    configure_environment()
    from transforms.outputs.package import read_transliteration
    from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

    study, transliteration, frames = read_study(DEFAULT_STUDY_DIR), read_transliteration(), sample_frames()
    rng = random.Random(args.seed)
    failures, exits, started = [], collections.Counter(), time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        previous = make_previous_output(frames, Path(scratch) / "previous", study, transliteration, args.today)
        for number in range(args.examples):
            plan = [(rng.choice(MUTATIONS), rng.randrange(10**6)) for _ in range(rng.randint(1, 3))]
            with tempfile.TemporaryDirectory() as folder:
                folder, output = Path(folder) / "in", Path(folder) / "out"
                try:
                    write_mutated_export(frames, plan, folder)
                    shutil.copytree(previous, output, symlinks=True)
                    before = compute_output_state(output)
                    outcome = run_in_process(folder, output, study, transliteration, args.today)
                    exits["published" if outcome.published else f"exit {outcome.exit_code}"] += 1
                    problems = check_example(folder, output, outcome, before, study.studyid, strict=True)
                except Exception:  # noqa: BLE001 — the harness itself broke: report, go on
                    problems = [traceback.format_exc(limit=-3).strip().splitlines()[-1]]
            if problems:
                failures.append({"example": number, "plan": plan, "problems": problems})
                print(f"example {number}: {plan}: FAILED {problems}", flush=True)
            else:
                print(f"example {number}: {plan}: ok ({outcome.exit_code}, "
                      f"{'published' if outcome.published else 'not published'})", flush=True)
            print(f"... {number + 1} examples, {len(failures)} failed, {time.perf_counter() - started:.0f} s",
                  flush=True)
    seconds = time.perf_counter() - started
    print(f"{args.examples} examples ({', '.join(f'{k} {v}' for k, v in sorted(exits.items()))}), "
          f"{len(failures)} failed, {seconds:.0f} s ({seconds / max(args.examples, 1):.2f} s each), seed {args.seed}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"fuzz_exports-seed{args.seed}.json").write_text(json.dumps(
        {"examples": args.examples, "seed": args.seed, "today": args.today, "outcomes": dict(exits),
         "failed": failures, "seconds": round(seconds, 1)}, indent=2
    ))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
