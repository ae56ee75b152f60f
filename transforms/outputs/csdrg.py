"""The clinical Study Data Reviewer's Guide (cSDRG) of a run, in the PHUSE template's section order.

Built from the study spec (study.toml, the trial design datasets written from trial_design.toml)
and the run (the datasets as written, the conformance findings with their explanations). One
document model (a list of sections, each a list of paragraphs and tables) is rendered twice, as
Markdown and as self-contained HTML, so both always say the same; nothing depends on the clock or
the network, so the same run gives the same bytes.

PHUSE cSDRG template (v1.2) sections: 1 Introduction (1.1 Purpose, 1.2 Acronyms, 1.3 Study Data
Standards and Dictionary Inventory), 2 Protocol Description (2.1 Protocol Number and Title, 2.2
Protocol Design, 2.3 Trial Design Datasets), 3 Subject Data Description (3.1 Overview, 3.2
Annotated CRFs, 3.3 SDTM Subject Domains), 4 Data Conformance Summary (4.1 Conformance Inputs, 4.2
Issues Summary, 4.3 Additional Conformance Details), Appendix I: Inclusion/Exclusion Criteria,
Appendix II: Conformance Issues Details.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

TRIAL_DESIGN = ["TA", "TE", "TV", "TI", "TS"]
NOT_EXPLAINED = "not explained"
DETAIL_ROWS = 20  # per rule in Appendix II; conformance.xlsx lists every record

SECTION_TITLES = [
    "1. Introduction",
    "1.1 Purpose",
    "1.2 Acronyms",
    "1.3 Study Data Standards and Dictionary Inventory",
    "2. Protocol Description",
    "2.1 Protocol Number and Title",
    "2.2 Protocol Design",
    "2.3 Trial Design Datasets",
    "3. Subject Data Description",
    "3.1 Overview",
    "3.2 Annotated CRFs",
    "3.3 SDTM Subject Domains",
    "4. Data Conformance Summary",
    "4.1 Conformance Inputs",
    "4.2 Issues Summary",
    "4.3 Additional Conformance Details",
    "Appendix I: Inclusion/Exclusion Criteria",
    "Appendix II: Conformance Issues Details",
]

_ACRONYMS = [
    ("CDISC", "Clinical Data Interchange Standards Consortium"),
    ("CORE", "CDISC Open Rules Engine"),
    ("CT", "Controlled Terminology"),
    ("cSDRG", "Clinical Study Data Reviewer's Guide"),
    ("SDTM", "Study Data Tabulation Model"),
    ("SDTMIG", "SDTM Implementation Guide"),
    ("XPT", "SAS Transport File, version 5"),
]


@dataclass(frozen=True)
class Section:
    level: int  # 1 for "1. Introduction", 2 for "1.1 Purpose", 3 below
    title: str
    blocks: list = field(default_factory=list)  # str (a paragraph) or pd.DataFrame (a table)


@dataclass(frozen=True)
class GuideInputs:
    """What the guide is built from, gathered by the writer (transforms/outputs/submission.py)."""

    studyid: str
    title: str
    sdtmig_version: str
    sdtm_version: str
    ct_version: str
    define_version: str
    datasets: dict[str, pd.DataFrame]  # as written
    dataset_labels: dict[str, str]
    findings: pd.DataFrame  # the conformance findings, FINDING_COLUMNS + rule_severity, explanation
    rules: pd.DataFrame  # mappings/conformance_rules.csv
    explained: pd.DataFrame  # the study's explained_issues.csv
    protocol_version: str = ""


def build_csdrg(inputs: GuideInputs) -> list[Section]:
    """The guide's sections, in the template's order."""
    d = inputs.datasets
    return [
        Section(1, "1. Introduction"),
        Section(2, "1.1 Purpose", [
            f"This document gives the context of the SDTM tabulation datasets of study {inputs.studyid} beyond "
            "what the data definitions (define.xml) say, and summarises the SDTM conformance findings that remain "
            "in the data, each with its explanation."
        ]),
        Section(2, "1.2 Acronyms", [pd.DataFrame(_ACRONYMS, columns=["Acronym", "Translation"])]),
        Section(2, "1.3 Study Data Standards and Dictionary Inventory", [_standards(inputs)]),
        Section(1, "2. Protocol Description"),
        Section(2, "2.1 Protocol Number and Title", [
            pd.DataFrame([("Protocol Number", inputs.studyid), ("Protocol Title", inputs.title),
                          ("Protocol Versions", inputs.protocol_version or "not given")], columns=["Item", "Value"])
        ]),
        Section(2, "2.2 Protocol Design", _design(d.get("TS"), d.get("TA"))),
        Section(2, "2.3 Trial Design Datasets", _trial_design(d, inputs.dataset_labels)),
        Section(1, "3. Subject Data Description"),
        Section(2, "3.1 Overview", [
            "Datasets submitted, with the number of records and subjects of this run:", _inventory(inputs),
        ]),
        Section(2, "3.2 Annotated CRFs", [
            "The data come from the site's spreadsheet export, not from CRF pages: no annotated CRF accompanies "
            "this package. define.xml gives each variable's origin and derivation, and lineage.csv traces every "
            "record to its raw file, sheet and row."
        ]),
        Section(2, "3.3 SDTM Subject Domains", _subject_domains(inputs)),
        Section(1, "4. Data Conformance Summary"),
        Section(2, "4.1 Conformance Inputs", [_conformance_inputs(inputs)]),
        Section(2, "4.2 Issues Summary", _issues_summary(inputs.findings)),
        Section(2, "4.3 Additional Conformance Details", _additional_details(inputs)),
        Section(1, "Appendix I: Inclusion/Exclusion Criteria", _criteria(d.get("TI"))),
        Section(1, "Appendix II: Conformance Issues Details", _issue_details(inputs.findings)),
    ]


# --- sections ------------------------------------------------------------------------------------


def _standards(inputs: GuideInputs) -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("SDTM", inputs.sdtm_version),
            ("SDTMIG", inputs.sdtmig_version),
            ("Controlled Terminology", f"SDTM CT {inputs.ct_version}"),
            ("Data Definitions", f"Define-XML {inputs.define_version}"),
            ("Medical Events Dictionary", "not used: MHDECOD is not coded (MedDRA coding is the sponsor's)"),
            ("Conformance rules", "FDA Validator Rules v1.3; CDISC CORE rules for SDTMIG 3.4"),
        ],
        columns=["Standard or Dictionary", "Versions Used"],
    )


def _ts_value(ts: pd.DataFrame | None, parameter: str) -> str:
    if ts is None:
        return ""
    values = ts.loc[ts["TSPARMCD"] == parameter, "TSVAL"].dropna().astype(str)
    return ", ".join(values)


def _design(ts: pd.DataFrame | None, ta: pd.DataFrame | None) -> list:
    if ts is None:
        return ["The package has no TS dataset."]
    items = [("Study type", "STYPE"), ("Phase", "TPHASE"), ("Intervention model", "INTMODEL"),
             ("Blinding", "TBLIND"), ("Randomised", "RANDOM"), ("Planned arms", "NARMS"),
             ("Planned subjects", "PLANSUB"), ("Trial length", "LENGTH"), ("Indication", "INDIC"),
             ("Primary objective", "OBJPRIM"), ("Primary outcome measure", "OUTMSPRI")]
    blocks: list = [pd.DataFrame([(label, _ts_value(ts, p)) for label, p in items], columns=["Design", "Value (TS)"])]
    if ta is not None and not ta.empty:
        arms = ta.sort_values(["ARMCD", "TAETORD"], kind="stable").groupby("ARMCD", sort=True)
        paths = [f"{armcd} ({group['ARM'].iloc[0]}): " + " -> ".join(group["ELEMENT"].astype(str)) for armcd, group in arms]
        blocks.append("Arms and their elements (TA): " + "; ".join(paths) + ".")
    return blocks


def _trial_design(d: dict[str, pd.DataFrame], labels: dict[str, str]) -> list:
    present = [name for name in TRIAL_DESIGN if name in d]
    if not present:
        return ["Trial design datasets are not included in this package."]
    blocks: list = [f"Trial design datasets are included: {', '.join(present)}."]
    columns = {
        "TA": ["ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "TABRANCH", "EPOCH"],
        "TE": ["ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR"],
        "TV": ["VISITNUM", "VISIT", "VISITDY", "TVSTRL"],
        "TS": ["TSPARMCD", "TSPARM", "TSVAL", "TSVALNF"],
    }
    for name in present:
        label = labels.get(name, name)
        if name == "TI":
            blocks.append(f"{name} - {label}: {len(d[name])} criteria, listed in Appendix I.")
            continue
        frame = d[name]
        blocks.append(f"{name} - {label} ({len(frame)} records):")
        blocks.append(frame[[c for c in columns[name] if c in frame.columns]])
    return blocks


def _subjects(frame: pd.DataFrame) -> int | str:
    return int(frame["USUBJID"].nunique()) if "USUBJID" in frame.columns else ""


def _inventory(inputs: GuideInputs) -> pd.DataFrame:
    names = sorted(inputs.datasets)
    return pd.DataFrame(
        {
            "Dataset": names,
            "Label": [inputs.dataset_labels.get(n, "") for n in names],
            "File": [f"xpt/{n.lower()}.xpt" for n in names],
            "Records": [len(inputs.datasets[n]) for n in names],
            "Subjects": [_subjects(inputs.datasets[n]) for n in names],
        }
    )


def _subject_domains(inputs: GuideInputs) -> list:
    blocks: list = []
    counts = inputs.findings.groupby("sheet").size() if not inputs.findings.empty else pd.Series(dtype="int64")
    for name in sorted(n for n in inputs.datasets if n not in TRIAL_DESIGN):
        frame = inputs.datasets[name]
        issues = int(counts.get(name, 0))
        blocks.append(
            f"{name} - {inputs.dataset_labels.get(name, name)}: {len(frame)} records, {_subjects(frame)} subjects; "
            f"{issues} conformance finding(s) (section 4.2)."
        )
    return blocks


def _conformance_inputs(inputs: GuideInputs) -> pd.DataFrame:
    status = inputs.rules["status"].value_counts()
    return pd.DataFrame(
        [
            ("Rules checked", "FDA Validator Rules v1.3 and CDISC CORE rules for SDTMIG 3.4, as implemented by "
                              "the pipeline (mappings/conformance_rules.csv)"),
            ("Rule statuses", ", ".join(f"{s}: {int(status[s])}" for s in sorted(status.index))),
            ("Controlled Terminology", f"SDTM CT {inputs.ct_version}"),
            ("Data definitions checked", f"define.xml (Define-XML {inputs.define_version})"),
            ("Explained issues", "declared by the study (explained_issues.csv)"),
        ],
        columns=["Input", "Value"],
    )


def _issues(findings: pd.DataFrame) -> pd.DataFrame:
    if findings.empty:
        return pd.DataFrame(columns=["Rule ID", "Dataset", "Severity", "Records", "Message", "Explanation"])
    grouped = findings.assign(sheet=findings["sheet"].fillna(""), explanation=findings["explanation"].fillna(NOT_EXPLAINED))
    table = (
        grouped.groupby(["rule", "sheet", "rule_severity", "explanation"], sort=False)
        .agg(records=("rule", "size"), message=("message", "first"))
        .reset_index()
    )
    order = {"ERROR": 0, "WARNING": 1}
    table = table.sort_values(["rule_severity", "rule", "sheet"], key=lambda c: c.map(order).fillna(2) if c.name == "rule_severity" else c,
                              kind="stable")
    return pd.DataFrame(
        {
            "Rule ID": table["rule"],
            "Dataset": table["sheet"],
            "Severity": table["rule_severity"],
            "Records": table["records"],
            "Message": table["message"].str.replace(r"^\S+: ", "", regex=True),
            "Explanation": table["explanation"],
        }
    ).reset_index(drop=True)


def _issues_summary(findings: pd.DataFrame) -> list:
    if findings.empty:
        return ["No conformance issue remains in the data."]
    issues = _issues(findings)
    open_errors = int(((issues["Severity"] == "ERROR") & (issues["Explanation"] == NOT_EXPLAINED)).sum())
    return [
        f"{len(issues)} issue(s) remain, {int((issues['Explanation'] != NOT_EXPLAINED).sum())} explained; "
        f"unexplained ERROR issues: {open_errors}. Each explanation cites its rule id.",
        issues,
    ]


def _additional_details(inputs: GuideInputs) -> list:
    raised = set(inputs.findings["explanation"].dropna().str.extract(r"^(\S+):")[0]) if not inputs.findings.empty else set()
    others = inputs.explained[~inputs.explained["rule"].isin(raised)]
    blocks: list = [
        "Explained issues are declared by the study; a finding the study explains carries the explanation in "
        "conformance.xlsx and conformance.html as well."
    ]
    if not others.empty:
        blocks.append("Issues another validator (e.g. the CDISC CORE engine) may report that this run's checks do not "
                      "raise, with their explanation:")
        blocks.append(others.rename(columns={"rule": "Rule ID", "dataset": "Dataset", "variable": "Variable",
                                             "where": "Records", "explanation": "Explanation"})
                      .assign(Records=lambda f: f["Records"].replace("", "all")))
    return blocks


def _criteria(ti: pd.DataFrame | None) -> list:
    if ti is None:
        return ["The package has no TI dataset."]
    columns = [c for c in ("IETESTCD", "IECAT", "IETEST", "TIRL", "TIVERS") if c in ti.columns]
    return [ti[columns]]


def _issue_details(findings: pd.DataFrame) -> list:
    if findings.empty:
        return ["None."]
    blocks: list = []
    ordered = findings.sort_values(["rule", "sheet", "row"], kind="stable", na_position="first")
    for rule, rows in ordered.groupby("rule", sort=True):
        shown = rows.head(DETAIL_ROWS)
        blocks.append(f"{rule} ({len(rows)} record(s)):")
        blocks.append(pd.DataFrame({
            "Dataset": shown["sheet"].fillna(""), "Record": shown["row"].astype("string").fillna(""),
            "Subject": shown["subject"].fillna(""), "Variable": shown["variable"].fillna(""),
            "Value": shown["value"].fillna(""),
        }))
        if len(rows) > DETAIL_ROWS:
            blocks.append(f"... and {len(rows) - DETAIL_ROWS} more (conformance.xlsx lists every record).")
    return blocks


# --- rendering -----------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # XPT numbers are floats: TAETORD 1, not 1.0
    return str(value)


def format_csdrg_markdown(sections: list[Section], studyid: str) -> str:
    lines = [f"# Study {studyid}: Clinical Study Data Reviewer's Guide", ""]
    for section in sections:
        lines += ["#" * (section.level + 1) + " " + section.title, ""]
        for block in section.blocks:
            if isinstance(block, pd.DataFrame):
                lines.append("| " + " | ".join(map(str, block.columns)) + " |")
                lines.append("|" + "---|" * len(block.columns))
                for row in block.itertuples(index=False):
                    lines.append("| " + " | ".join(_cell(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


def format_csdrg_html(sections: list[Section], studyid: str) -> str:
    title = html.escape(f"Study {studyid}: Clinical Study Data Reviewer's Guide")
    body = [f"<h1>{title}</h1>"]
    for section in sections:
        level = min(section.level + 1, 6)
        body.append(f"<h{level}>{html.escape(section.title)}</h{level}>")
        for block in section.blocks:
            if isinstance(block, pd.DataFrame):
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in block.columns)
                rows = "\n".join(
                    "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                    for row in block.itertuples(index=False)
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>")
            else:
                body.append(f"<p>{html.escape(block)}</p>")
    style = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;font-size:90%;"
             "margin-bottom:1em}td,th{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}"
             "th{background:#eee}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
