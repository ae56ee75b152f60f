"""Great Expectations suites for the SDTM domains, built from the variable metadata.

A suite per domain comes out of `transforms.core.metadata.read_variable_metadata` (SDTMIG core, the
study's codelist per variable) and the study's value sets, not from hand-written lists: a new
domain in variables.csv is checked the day it is mapped. What a suite holds:

- SF-0501 Req variables never null;
- SF-0502 --SEQ unique per USUBJID;
- SF-0503 --TESTCD (and TSPARMCD) a valid test code (transforms/conform/predicates.py's
  TESTCD_PATTERN, the one the conformance rules use);
- SF-0504 --DTC ISO 8601 (complete or partial date, optional time; ISO8601_DTC_PATTERN, idem);
- SF-0505 values inside the codelist the metadata names (`study_codelist`: the terms of the
  study's CT, `Study.ct` = mappings/ct merged with the study's codelists.csv, when it has the
  codelist, else the study terminology; VISIT: the planned visits and the `Unscheduled N.NN`
  visits the mapping numbers);
- SF-0506 every USUBJID in DM;
- SF-0507 --STRESN equal to --STRESC wherever --STRESC is a number, and null otherwise;
- SF-0508 VISITNUM <-> VISIT one to one, across every domain that carries both;
- SF-0509 one --STRESU per --TESTCD.

These run on our own output, after mapping. The raw checks already held back every row the site
got wrong, so a failure here is a bug in the mapping: each finding is an ERROR (stage `conform`)
and the flow fails the run, as it does for a reconciliation mismatch. Findings point at the SDTM
record's raw row through its lineage, so the bug can be reproduced from one input row.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from great_expectations import expectations as gxe
from great_expectations.expectations.row_conditions import Column

from expectations.engine import build_data_docs, validate_frame
from transforms.conform.predicates import ISO8601_DTC_PATTERN, TESTCD_PATTERN
from transforms.core.findings import (
    ERROR,
    LINEAGE,
    concat_findings,
    empty_findings,
    make_finding,
    make_row_findings,
    sort_findings,
)
from transforms.core.metadata import read_variable_metadata
from transforms.spec.study import STANDARDS_DIR, Study
from transforms.standardise.visits import UNSCHEDULED

STAGE = "conform"

RULES = {
    "SF-0501": "Req variable null",
    "SF-0502": "--SEQ not unique within USUBJID",
    "SF-0503": "--TESTCD not a valid test code",
    "SF-0504": "--DTC not ISO 8601",
    "SF-0505": "value outside its codelist",
    "SF-0506": "USUBJID not in DM",
    "SF-0507": "--STRESN inconsistent with --STRESC",
    "SF-0508": "VISITNUM and VISIT not one to one",
    "SF-0509": "more than one --STRESU for a test",
}

VISIT_DOMAIN = "VISITS"  # the cross-domain VISIT/VISITNUM suite

# Helper columns the checks add to a domain frame before validating it.
_IN_DM, _STRESC_NUMBER = "_dm_usubjid", "_stresc_number"
_UNITS_PER_TEST, _NUMS_PER_VISIT, _VISITS_PER_NUM = "_units_per_test", "_visitnums", "_visits"
_BUG = "a mapping bug: fix the code or the mapping tables, not the site's data"


def build_sdtm_suite(domain: str, variables: pd.DataFrame, value_sets: dict, columns) -> list:
    """The expectations for one domain frame with `columns`, each with meta rule / message /
    variable. `variables` is read_variable_metadata's frame; `value_sets` maps a codelist name to
    its allowed values (a list) or to a regular expression (a str)."""
    meta_rows = variables[(variables["dataset"] == domain) & variables["variable"].isin(columns)]
    present = set(columns)
    suite = []
    for row in meta_rows[meta_rows["core"] == "Req"].itertuples():
        suite.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=row.variable,
                meta=_meta("SF-0501", row.variable, f"{domain}.{row.variable} is Req but null"),
            )
        )
    seq = f"{domain}SEQ"
    if {"USUBJID", seq} <= present:
        suite.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["USUBJID", seq],
                meta=_meta("SF-0502", seq, f"{seq} repeats within a USUBJID"),
            )
        )
    for variable in sorted(v for v in present if v.endswith("TESTCD") or v == "TSPARMCD"):
        suite.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=variable, regex=TESTCD_PATTERN,
                meta=_meta("SF-0503", variable, f"{variable} is not 1-8 capitals, digits or _ "
                           "not starting with a digit"),
            )
        )
    for variable in sorted(v for v in present if v.endswith("DTC")):
        suite.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=variable, regex=ISO8601_DTC_PATTERN,
                meta=_meta("SF-0504", variable, f"{variable} is not an ISO 8601 date/time"),
            )
        )
    coded = meta_rows[meta_rows["study_codelist"].fillna("") != ""]
    for row in coded.itertuples():
        allowed = value_sets.get(row.study_codelist)
        message = f"{row.variable} is not in codelist {row.study_codelist}"
        meta = _meta("SF-0505", row.variable, message)
        if isinstance(allowed, str):
            suite.append(gxe.ExpectColumnValuesToMatchRegex(column=row.variable, regex=allowed, meta=meta))
        elif allowed is not None:
            suite.append(
                gxe.ExpectColumnValuesToBeInSet(column=row.variable, value_set=sorted(allowed), meta=meta)
            )
    if domain != "DM" and _IN_DM in present:
        suite.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=_IN_DM, row_condition=Column("USUBJID").is_not_null(),
                meta=_meta("SF-0506", "USUBJID", "USUBJID has no DM record"),
            )
        )
    stresn, stresc = f"{domain}STRESN", f"{domain}STRESC"
    if {stresn, _STRESC_NUMBER} <= present:
        suite.append(
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A=stresn, column_B=_STRESC_NUMBER, ignore_row_if="both_values_are_missing",
                meta=_meta("SF-0507", stresn, f"{stresn} does not equal the number in {stresc}",
                           value_columns=[stresc, stresn]),
            )
        )
    stresu = f"{domain}STRESU"
    if _UNITS_PER_TEST in present:
        suite.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=_UNITS_PER_TEST, max_value=1,
                meta=_meta("SF-0509", stresu, f"{domain}TESTCD has more than one {stresu}",
                           value_columns=[f"{domain}TESTCD", stresu]),
            )
        )
    return suite


def build_visit_suite() -> list:
    """VISITNUM <-> VISIT one to one over the stacked visits of every domain."""
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column=helper, max_value=1,
            meta=_meta("SF-0508", "VISITNUM", message, value_columns=["VISIT", "VISITNUM"]),
        )
        for helper, message in (
            (_NUMS_PER_VISIT, "this VISIT has more than one VISITNUM (across the domains)"),
            (_VISITS_PER_NUM, "this VISITNUM has more than one VISIT (across the domains)"),
        )
    ]


def build_value_sets(study: Study) -> dict:
    """Codelist name -> allowed values (list) or pattern (str), from the study's data.

    A codelist of the study's CT (`Study.ct`: the shared CDISC terms with the study's own
    extensions and exclusions, transforms.spec.ct.merge_study_ct) takes its values from there; one only
    in the study terminology (ARMCD) from terminology.csv. VISIT is
    the planned visit names plus the unscheduled visits the mapping numbers (`Unscheduled 4.01`).
    """
    sets: dict = {}
    terminology = study.terminology
    for codelist, values in terminology.groupby("codelist")["value"]:
        sets[codelist] = sorted(set(values) - {""})
    ct = getattr(study, "ct", None)
    if ct is not None:
        for codelist, values in ct.codelists.groupby("codelist")["value"]:
            sets[codelist] = sorted(set(values) - {""})
    planned = "|".join(re.escape(v) for v in study.visits["VISIT"])
    sets["VISIT"] = rf"^(?:{planned}|{re.escape(UNSCHEDULED)} [0-9]+\.[0-9]{{2}})$"
    return sets


def check_sdtm_domains(
    domains: dict[str, pd.DataFrame],
    study: Study,
    data_docs_dir: Path | None = None,
    variables: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Findings of every domain suite and the cross-domain visit suite (all ERROR, stage
    conform). `variables` defaults to the study's variable metadata."""
    if variables is None:
        variables = read_variable_metadata(STANDARDS_DIR, study.directory)
    value_sets = build_value_sets(study)
    subjects = _subject_numbers(domains)
    dm_subjects = domains["DM"]["USUBJID"] if "DM" in domains else pd.Series(dtype="str")
    parts = [empty_findings()]
    for name, frame in domains.items():
        checked = assign_sdtm_helpers(frame, name, dm_subjects)
        suite = build_sdtm_suite(name, variables, value_sets, checked.columns)
        parts.append(
            _findings(checked, name, suite, subjects, f"sdtm_{name.lower()}", data_docs_dir)
        )
    visits = stack_visits(domains)
    if not visits.empty:
        parts.append(
            _findings(visits, None, build_visit_suite(), subjects, "sdtm_visits", data_docs_dir)
        )
    if data_docs_dir is not None:
        build_data_docs(data_docs_dir)
    return sort_findings(concat_findings(*parts))


def format_conformance_errors(findings: pd.DataFrame, limit: int = 10) -> list[str]:
    """The ERROR findings of the SDTM suites as sentences for a failed run (the first `limit`
    and a count of the rest); empty when there are none."""
    errors = findings[(findings["severity"] == ERROR) & (findings["stage"] == STAGE)
                      & findings["rule"].isin(list(RULES))]
    lines = [
        f"{r.rule} {r.file or ''} row {'' if pd.isna(r.row) else r.row}: {r.message} "
        f"(value {r.value!r})"
        for r in errors.head(limit).itertuples()
    ]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more SDTM conformance errors")
    return lines


def assign_sdtm_helpers(frame: pd.DataFrame, domain: str, dm_subjects: pd.Series) -> pd.DataFrame:
    """The helper columns the suite reads: the USUBJID where DM has it, the number in --STRESC,
    and the count of distinct --STRESU per --TESTCD."""
    added = {}
    if domain != "DM" and "USUBJID" in frame.columns:
        added[_IN_DM] = frame["USUBJID"].where(frame["USUBJID"].isin(dm_subjects))
    stresc, stresn = f"{domain}STRESC", f"{domain}STRESN"
    if {stresc, stresn} <= set(frame.columns):
        added[_STRESC_NUMBER] = pd.to_numeric(frame[stresc], errors="coerce").astype("float64")
    testcd, stresu = f"{domain}TESTCD", f"{domain}STRESU"
    if {testcd, stresu} <= set(frame.columns):
        added[_UNITS_PER_TEST] = frame.groupby(testcd, dropna=False)[stresu].transform("nunique")
    return frame.assign(**added) if added else frame


def stack_visits(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """VISIT and VISITNUM of every domain carrying both, with DOMAIN, lineage and the count of
    distinct partners of each side.

    A column a domain lacks (TV has neither subjects nor lineage) is an empty one of the type
    the other domains give it: stacking text with a column of no type turns the whole column into
    a Python object per row, the largest thing in memory of a large run."""
    carrying = {name: frame for name, frame in domains.items() if {"VISIT", "VISITNUM"} <= set(frame.columns)}
    if not carrying:
        return pd.DataFrame()
    columns = ["VISIT", "VISITNUM", *LINEAGE, "USUBJID"]
    dtypes = {column: frame[column].dtype for frame in carrying.values() for column in columns if column in frame}
    parts = [
        frame[[c for c in columns if c in frame.columns]]
        .assign(**{c: pd.Series(index=frame.index, dtype=dtypes.get(c, "str")) for c in columns if c not in frame.columns})
        .assign(DOMAIN=name)[["VISIT", "VISITNUM", "DOMAIN", *LINEAGE, "USUBJID"]]
        for name, frame in carrying.items()
    ]
    visits = pd.concat(parts, ignore_index=True)
    return visits.assign(
        **{
            _NUMS_PER_VISIT: visits.groupby("VISIT")["VISITNUM"].transform("nunique"),
            _VISITS_PER_NUM: visits.groupby("VISITNUM")["VISIT"].transform("nunique"),
        }
    )


# --- findings ---------------------------------------------------------------------------------


def _findings(frame, domain, suite, subjects, suite_name, data_docs_dir) -> pd.DataFrame:
    if not suite or frame.empty:
        return empty_findings()
    frame = frame.reset_index(drop=True)
    failures = validate_frame(frame, suite_name, suite, data_docs_dir=data_docs_dir, build_docs=False)
    parts = []
    for _, group in failures.groupby("position", sort=True):
        meta = group["meta"].iloc[0]
        where = domain or "SDTM"
        message = f"{where}: {meta['message']}: {_BUG}"
        indices = group["index"].dropna().tolist()
        if len(indices) < len(group):
            detail = group.loc[group["index"].isna(), "detail"].iloc[0]
            parts.append(
                make_finding(
                    severity=ERROR, stage=STAGE, rule=meta["rule"], variable=meta["variable"],
                    message=f"{message} (the check could not run: {detail})",
                )
            )
        if indices:
            parts.append(_row_findings(frame.loc[indices], meta, message, subjects))
    return concat_findings(*parts)


def _row_findings(rows: pd.DataFrame, meta: dict, message: str, subjects: pd.Series) -> pd.DataFrame:
    rows = rows.copy()
    for column in LINEAGE:
        if column not in rows.columns:
            rows[column] = pd.NA
    usubjid = rows["USUBJID"] if "USUBJID" in rows.columns else pd.Series(pd.NA, index=rows.index)
    rows["subject"] = usubjid.map(subjects)
    columns = meta.get("value_columns") or [meta["variable"]]
    value = None
    if all(c in rows.columns for c in columns):
        text = [rows[c].astype("object").where(rows[c].notna(), "").astype("str") for c in columns]
        value = text[0]
        for part in text[1:]:
            value = value + " | " + part
    elif meta["variable"] not in rows.columns:
        value = pd.Series(pd.NA, index=rows.index)
    return make_row_findings(
        rows, severity=ERROR, stage=STAGE, rule=meta["rule"], variable=meta["variable"],
        message=message, value=value,
    )


def _subject_numbers(domains: dict[str, pd.DataFrame]) -> pd.Series:
    """USUBJID -> the site's subject number (SUBJID), from DM."""
    dm = domains.get("DM")
    if dm is None or not {"USUBJID", "SUBJID"} <= set(dm.columns):
        return pd.Series(dtype="object")
    return dm.drop_duplicates("USUBJID").set_index("USUBJID")["SUBJID"]


def _meta(rule: str, variable: str, message: str, **extra) -> dict:
    return {"rule": rule, "severity": ERROR, "variable": variable, "message": message, **extra}
