"""Property-based fuzzing: mutated copies of the bundled sample export go through the same stage
chain as the flow (transforms.build), and every run keeps the invariants. The bounded number of
examples here keeps the suite fast; bench/fuzz_exports.py runs hundreds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fuzzing import count_rows_present, mutation_plans, sample_frames, write_mutated_export
from transforms.build import build
from transforms.package import read_transliteration
from transforms.reconcile import check_reconciliation
from transforms.study import DEFAULT_STUDY_DIR, read_study

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

STUDY = read_study(DEFAULT_STUDY_DIR)
TRANSLITERATION = read_transliteration()
FRAMES = sample_frames()


def check_invariants(folder: Path) -> None:
    """No exception; every row present is read; read = mapped + held back with a finding."""
    built = build(folder, STUDY, TRANSLITERATION, check_output=False, today="2026-04-01")
    assert check_reconciliation(built.counts) == [], built.counts.to_string()
    assert int(built.counts["read"].sum()) == count_rows_present(folder)


# no shrinking: a failing plan is already small (one to three mutations), and shrinking reruns
# the whole chain hundreds of times
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(plan=mutation_plans)
def test_mutated_exports_keep_the_invariants(plan):
    with tempfile.TemporaryDirectory() as folder:
        write_mutated_export(FRAMES, plan, Path(folder))
        check_invariants(Path(folder))
