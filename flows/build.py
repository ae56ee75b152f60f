"""build: the stages of one run chained once, without Prefect.

ingest -> clean text -> standardise -> validate -> map -> conform (every check of the SDTM
output) -> reconcile; each stage is a folder of transforms/ (validate and conform, which run
Great Expectations, are expectations/validate.py and expectations/conform.py).

The Prefect flow, the tests and the benchmarks all call `build`, so the order of the stages and
what each hands the next are written in one place. The flow passes `run_stage`, which runs each
stage as a Prefect task (timings, retries of I/O); everyone else runs them as plain calls.
Writing and publishing the package are the flow's: they touch the output folder, and check
nothing (what conform found is handed to the writer in `Built.conformed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from expectations.conform import conform_domains
from expectations.validate import validate_export
from transforms.conform.reconcile import check_reconciliation, reconcile_rows
from transforms.conform.stage import Conformed
from transforms.core.findings import LINEAGE, concat_findings
from transforms.domains.mapping import map_domains
from transforms.ingest.export import Export, read_export
from transforms.outputs.package import compute_package_timestamp
from transforms.spec.study import Study
from transforms.standardise.sheets import standardise_export
from transforms.standardise.text import standardise_text

# run_stage(name, function, *arguments) -> the function's value
StageRunner = Callable[..., object]


def run_plainly(name: str, function: Callable, *arguments):
    return function(*arguments)


@dataclass(frozen=True)
class Built:
    """What the stages made of one export: the export as read, the SDTM and analysis frames, every
    finding, the reconciliation counts, what the conform stage found (its findings are among
    `findings`), and the problems that forbid publishing (rows lost, SDTM checks failed).

    The sheets in between (cleaned, standardised, validated) are not kept: each is as large as the
    export and nothing after `build` reads them, so each is let go once the next stage has run."""

    export: Export
    domains: dict[str, pd.DataFrame]
    analysis: dict[str, pd.DataFrame]
    findings: pd.DataFrame
    counts: pd.DataFrame
    conformed: Conformed
    problems: list[str]


def build(
    input_dir: Path,
    study: Study,
    transliteration: pd.DataFrame,
    docs_dir: Path | None = None,
    run_stage: StageRunner = run_plainly,
    check_output: bool = True,
    today: str | None = None,
    entries: pd.DataFrame | None = None,
) -> Built:
    """Every stage from the export folder to the reconciled SDTM domains.

    `docs_dir`: where Great Expectations keeps the run's Data Docs (None: no Data Docs).
    `check_output`: run the GX SDTM suites on the mapped domains (a failure there is a mapping bug,
    one of `problems`); fuzzing turns them off to stay fast, never a real run. The CORE rules and
    the MELD recomputation always run.
    `today`: the run's day (YYYY-MM-DD, UTC): no date may be after it (None: the clock's).
    `entries`: the input folder as the site left it (read_files.list_input_entries), when the
    files are read from elsewhere (the flow reads archived copies); None lists `input_dir`.
    """
    export = run_stage(
        "ingest", read_export, input_dir, study.raw_columns, study.sheet_names, entries
    )
    cleaned, text_findings = run_stage("clean_text", standardise_text, export.sheets, study)
    sheets = run_stage("standardise", standardise_export, cleaned, study)
    del cleaned
    # what reconcile counts as present: the rows' lineage, not the whole sheets
    present = {name: frame[LINEAGE] for name, frame in sheets.items() if not frame.empty}
    # the SDTM checks, which follow, write the folder's Data Docs once for both
    valid, validation_findings = run_stage(
        "validate", validate_export, sheets, export.files, study, transliteration, docs_dir, False,
        today,
    )
    del sheets
    domains, analysis, map_findings, scored = run_stage(
        "map_to_sdtm", map_domains, valid, study, transliteration
    )
    del valid
    conformed = run_stage(
        "conform", conform_domains, domains, scored, study, compute_package_timestamp(export.files),
        docs_dir, check_output,
    )
    findings = concat_findings(
        export.findings, text_findings, validation_findings, map_findings, conformed.findings
    )
    counts = reconcile_rows(present, export.inventory, findings, domains)
    problems = check_reconciliation(counts) + conformed.problems
    return Built(export, domains, analysis, findings, counts, conformed, problems)
