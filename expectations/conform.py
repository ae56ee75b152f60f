"""The conform stage: every check of the SDTM output, between map and write.

The Great Expectations SDTM gate (expectations/sdtm.py), the MELD recomputation
(transforms/scores/rs.py) and the CORE/FDA rules (transforms/conform/) over the package as the
writer will write it. It lives here, beside the other Great Expectations stage (validate.py),
because it runs GX: transforms/ never imports expectations/, expectations/ builds on transforms/.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from expectations.sdtm import check_sdtm_domains, format_conformance_errors
from transforms.conform.report import summarise_conformance
from transforms.conform.rules import read_conformance_rules
from transforms.conform.stage import Conformed, conform_package, derive_datasets_as_written, build_submission_as_written
from transforms.core.findings import concat_findings, empty_findings
from transforms.core.metadata import read_dataset_metadata, read_variable_metadata
from transforms.outputs.submission import CONFORMANCE_RULES, read_explained_issues
from transforms.scores.rs import check_meld_consistency
from transforms.spec.study import STANDARDS_DIR, Study


def conform_domains(
    domains: dict[str, pd.DataFrame],
    scored: pd.DataFrame | None,
    study: Study,
    created: datetime,
    docs_dir: Path | None = None,
    check_output: bool = True,
) -> Conformed:
    """Every check of the SDTM output of one run.

    `scored`: the assessment rows the scores were computed at (map_domains; None: no scores, no
    MELD check); `created`: the package's date (the define.xml the checks read is the one the
    writer will write); `docs_dir`: where the GX gate keeps its Data Docs; `check_output`: run the
    GX SDTM suites and the CORE rules (fuzzing turns them off to stay fast, never a real run: the
    MELD recomputation, the XPT rules and define.xml's schema alone run, and there is no conformance
    report to write).
    Every domain with records is typed, checked against the XPT rules and measured here, once:
    the writers write `Conformed.datasets` as they are."""
    variables, dataset_meta = read_variable_metadata(STANDARDS_DIR, study.directory), read_dataset_metadata(STANDARDS_DIR)
    datasets = derive_datasets_as_written(domains, variables, dataset_meta, study)
    files, define = build_submission_as_written(datasets, variables, dataset_meta, study, created)
    meld = empty_findings()
    if scored is not None and "RS" in domains:
        meld = check_meld_consistency(domains["LB"], domains["RS"], scored, conversions=study.unit_conversions,
                                      sources=study.score_sources)
    if not check_output:
        rules = read_conformance_rules(CONFORMANCE_RULES)
        none = empty_findings()
        return Conformed(meld, none, none, summarise_conformance(none, rules), read_explained_issues(study, rules),
                         rules, [], datasets=datasets, define_xml=define)
    gate = check_sdtm_domains(domains, study, docs_dir)
    core = conform_package({name: dataset.data for name, dataset in datasets.items()}, variables, dataset_meta,
                           study, files, define)
    return replace(core, findings=concat_findings(gate, meld, core.findings), problems=format_conformance_errors(gate),
                   datasets=datasets, define_xml=define)
