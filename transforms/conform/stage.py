"""The conform stage's CORE/FDA half: the SDTM output checked before anything is written
(expectations/conform.py runs it with the Great Expectations gate and the MELD recomputation).

The CORE/FDA rules read the package as the writer will write it: each dataset typed, checked
against the XPT rules and measured once (xpt_rules.derive_xpt_dataset), the file sizes those give,
and the define.xml the writer will write (submission.build_define_document, the writer's own
builder). Computing these here, not reading them back from disk, is what lets the checks run
before `write`, which writes the very datasets and define.xml handed to it: a retry of the write
task writes, it does not check again, and every count of the run (findings.csv, manifest.json's
findings_by_severity and stages) sees the same findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from transforms.conform.report import compute_explanations, derive_explained_findings, derive_report_findings, summarise_conformance
from transforms.conform.rules import check_conformance, read_conformance_rules
from transforms.spec.study import Study
from transforms.outputs.submission import (
    CONFORMANCE_RULES, build_define_document, compute_sdtm_folder, read_explained_issues,
)
from transforms.conform.xpt_rules import derive_xpt_dataset
from transforms.outputs.write import XptDataset
from transforms.outputs.xpt import RECORD, XptVariable, compute_xpt_header


@dataclass(frozen=True)
class Conformed:
    """What the checks found. `findings`: every finding of the stage (the GX gate, SF-0401, the
    CORE rules with explained issues as INFO); `rules`: the rule table; `report`: the CORE
    findings as the conformance report shows them (EXPLAINED / UNEXPLAINED); `summary`: one row
    per rule; `explained`: the study's explained issues; `core`: the CORE findings the run
    carries (the cSDRG's and manifest.json's conformance); `problems`: the GX gate's errors,
    which forbid publishing; `datasets`: every dataset with records, typed, checked against the
    XPT rules and measured (derive_datasets_as_written), which the writers write as they are;
    `define_xml`: the define.xml built and checked against the Define-XML 2.1 schema here, which
    the CORE rules read and the writer writes as it is."""

    findings: pd.DataFrame
    core: pd.DataFrame
    report: pd.DataFrame
    summary: pd.DataFrame
    explained: pd.DataFrame
    rules: pd.DataFrame
    problems: list[str]
    datasets: dict[str, XptDataset] = field(default_factory=dict)
    define_xml: bytes | None = None


def conform_package(
    written: dict[str, pd.DataFrame],
    variables: pd.DataFrame,
    dataset_meta: pd.DataFrame,
    study: Study,
    files: dict[str, int],
    define_xml: bytes | None,
) -> Conformed:
    """The CORE/FDA rules of mappings/conformance_rules.csv over a package: `written`, the typed
    data of each dataset (derive_datasets_as_written); `files`, {path in the run folder: bytes}; `define_xml`, its define.xml (None: none).
    The study's explained issues are INFO in `findings` and EXPLAINED in the report."""
    rules = read_conformance_rules(CONFORMANCE_RULES)
    explained = read_explained_issues(study, rules)
    core = check_conformance(
        written, variables, study, rules, files,
        dataset_labels=dict(zip(dataset_meta["dataset"], dataset_meta["label"])), define_xml=define_xml,
    )
    explanation = compute_explanations(core, explained, written, rules)
    report = derive_report_findings(core, explanation)
    carried = derive_explained_findings(core, explanation)
    return Conformed(
        findings=carried, core=carried, report=report, summary=summarise_conformance(report, rules),
        explained=explained, rules=rules, problems=[],
    )


def derive_datasets_as_written(
    domains: dict[str, pd.DataFrame], variables: pd.DataFrame, dataset_meta: pd.DataFrame, study: Study
) -> dict[str, XptDataset]:
    """Every domain with records (FDA submits no empty dataset) as its files will hold it: typed by
    `variables` (read_variable_metadata), labelled by `dataset_meta` (read_dataset_metadata),
    checked against the XPT rules (XptRuleError lists every violation) and measured, once."""
    labels = dict(zip(dataset_meta["dataset"], dataset_meta["label"]))
    folder = compute_sdtm_folder(study.studyid)
    return {
        name: derive_xpt_dataset(frame, variables[variables["dataset"] == name], name, labels[name],
                                 folder / f"{name.lower()}.xpt")
        for name, frame in domains.items()
        if not frame.empty
    }


def build_submission_as_written(
    datasets: dict[str, XptDataset], variables: pd.DataFrame, dataset_meta: pd.DataFrame, study: Study,
    created: datetime,
) -> tuple[dict[str, int], bytes]:
    """The submission files {path in the run folder: bytes} the rules look at (each <domain>.xpt
    and define.xml) and define.xml's bytes, for `datasets` (derive_datasets_as_written, with the
    same metadata)."""
    folder = compute_sdtm_folder(study.studyid)
    files = {}
    for name, dataset in datasets.items():
        xpt = [XptVariable(v.variable, v.label, v.type, dataset.lengths[v.variable]) for v in dataset.meta.itertuples()]
        files[(folder / f"{name.lower()}.xpt").as_posix()] = compute_xpt_size(name, dataset.label, xpt, len(dataset.data))
    written = {name: dataset.data for name, dataset in datasets.items()}
    lengths = {name: dataset.lengths for name, dataset in datasets.items()}
    define = build_define_document(written, lengths, variables, dataset_meta, study, created)
    files[(folder / "define.xml").as_posix()] = len(define)
    return dict(sorted(files.items())), define


def compute_xpt_size(dataset: str, label: str, variables: list[XptVariable], records: int) -> int:
    """Bytes of the XPT v5 file transforms.outputs.xpt writes: its header, then the records back to back,
    blank-padded to whole 80-byte records."""
    header = compute_xpt_header(dataset, label, variables, datetime(1960, 1, 1))
    observations = records * sum(v.length for v in variables)
    return len(header) + observations + (-observations % RECORD)
