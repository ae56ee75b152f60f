"""expectations/sdtm.py: the SDTM domain suites, built from the variable metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from expectations.sdtm import (
    RULES,
    build_sdtm_suite,
    build_value_sets,
    check_sdtm_domains,
    format_conformance_errors,
    stack_visits,
)
from flows.build import build
from transforms.core.metadata import read_variable_metadata
from transforms.outputs.package import read_transliteration
from transforms.samples.sample_export import generate_sample_export, write_sample_export
from transforms.spec.study import DEFAULT_STUDY_DIR, STANDARDS_DIR, read_study

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def study():
    return read_study(DEFAULT_STUDY_DIR)


@pytest.fixture(scope="module")
def variables(study):
    return read_variable_metadata(STANDARDS_DIR, study.directory)


@pytest.fixture(scope="module")
def domains(study, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    write_sample_export(generate_sample_export(subjects=4), folder)
    return build(folder, study, read_transliteration(), check_output=False).domains


def check(domains, study, variables, **changed):
    """The suites on DM and the changed domains only (each suite costs ~0.1 s)."""
    return check_sdtm_domains({"DM": domains["DM"], **changed}, study, variables=variables)


def test_the_mapped_sample_conforms(domains, study, variables):
    findings = check_sdtm_domains(domains, study, variables=variables)
    assert findings.empty, findings.head().to_dict("records")


def test_suites_come_from_the_metadata(study, variables):
    value_sets = build_value_sets(study)
    columns = variables.loc[variables["dataset"] == "LB", "variable"].tolist()
    suite = build_sdtm_suite("LB", variables, value_sets, columns)
    req = {e.column for e in suite if e.meta["rule"] == "SF-0501"}
    lb = variables[variables["dataset"] == "LB"]
    assert req == set(lb.loc[lb["core"] == "Req", "variable"])
    coded = {e.column for e in suite if e.meta["rule"] == "SF-0505"}
    assert coded == set(lb.loc[lb["study_codelist"] != "", "variable"]) & set(columns)
    assert {e.column for e in suite if e.meta["rule"] == "SF-0504"} == {"LBDTC"}
    assert all(e.meta["rule"] in RULES for e in suite)


def findings_after(domains, study, variables, domain, change):
    frame = domains[domain].copy()
    change(frame)
    return check(domains, study, variables, **{domain: frame})


def one(findings):
    assert len(findings) >= 1
    assert (findings["severity"] == "ERROR").all() and (findings["stage"] == "conform").all()
    return findings.iloc[0]


def test_req_null(domains, study, variables):
    found = one(findings_after(domains, study, variables, "LB", lambda f: f.__setitem__("LBTEST", f["LBTEST"].where(f.index != 3))))
    assert (found["rule"], found["variable"]) == ("SF-0501", "LBTEST")
    assert found["row"] == domains["LB"].loc[3, "_row"]
    assert found["subject"] == domains["LB"].loc[3, "USUBJID"].removeprefix("UCMSC-ESLD-")


def test_seq_repeated_within_subject(domains, study, variables):
    def repeat(frame):
        frame.loc[1, "LBSEQ"] = frame.loc[0, "LBSEQ"]
    findings = findings_after(domains, study, variables, "LB", repeat)
    assert set(findings["rule"]) == {"SF-0502"} and len(findings) == 2


def test_testcd_pattern_and_codelist(domains, study, variables):
    findings = findings_after(domains, study, variables, "LB", lambda f: f.__setitem__("LBTESTCD", f["LBTESTCD"].where(f.index != 0, "alt")))
    assert set(findings["rule"]) == {"SF-0503", "SF-0505"}
    assert set(findings["value"]) == {"alt"}


def test_dtc_not_iso(domains, study, variables):
    found = one(findings_after(domains, study, variables, "EX", lambda f: f.__setitem__("EXSTDTC", f["EXSTDTC"].where(f.index != 0, "05MAR2026"))))
    assert (found["rule"], found["variable"], found["value"]) == ("SF-0504", "EXSTDTC", "05MAR2026")


def test_value_outside_codelist(domains, study, variables):
    found = one(findings_after(domains, study, variables, "DM", lambda f: f.__setitem__("SEX", f["SEX"].where(f.index != 0, "X"))))
    assert (found["rule"], found["variable"], found["value"]) == ("SF-0505", "SEX", "X")


def test_usubjid_not_in_dm(domains, study, variables):
    found = one(findings_after(domains, study, variables, "EX", lambda f: f.__setitem__("USUBJID", f["USUBJID"].where(f.index != 0, "UCMSC-ESLD-09-999"))))
    assert (found["rule"], found["variable"]) == ("SF-0506", "USUBJID")


def test_stresn_must_equal_the_number_in_stresc(domains, study, variables):
    numeric = domains["LB"]["LBSTRESN"].notna().idxmax()
    def change(frame):
        frame.loc[numeric, "LBSTRESN"] = frame.loc[numeric, "LBSTRESN"] + 1
    found = one(findings_after(domains, study, variables, "LB", change))
    assert (found["rule"], found["variable"]) == ("SF-0507", "LBSTRESN")


def test_visitnum_and_visit_one_to_one_across_domains(domains, study, variables):
    def renumber(frame):
        frame.loc[0, "VISITNUM"] = 99.0
    rs = domains["RS"].copy()
    renumber(rs)
    findings = check(domains, study, variables, LB=domains["LB"], RS=rs)
    assert set(findings["rule"]) == {"SF-0508"}
    assert set(findings["value"]) >= {f"{rs.loc[0, 'VISIT']} | 99.0"}


def test_visits_stacked_keep_each_columns_type(domains):
    # TV carries VISIT and VISITNUM but no lineage or subject: its empty columns must not turn the
    # stacked text into Python objects (one per record of every domain)
    assert "TV" in domains and "_file" not in domains["TV"].columns
    visits = stack_visits(domains)
    for column in ["VISIT", "DOMAIN", "_file", "_sheet", "USUBJID"]:
        assert visits[column].dtype == "str", column
    assert visits["VISITNUM"].dtype == "float64" and visits["_row"].dtype != object
    trial = visits[visits["DOMAIN"] == "TV"]
    assert len(trial) == len(domains["TV"]) and trial[["_file", "_row", "USUBJID"]].isna().all().all()
    carrying = [f for f in domains.values() if {"VISIT", "VISITNUM"} <= set(f.columns)]
    assert len(visits) == sum(len(f) for f in carrying)


def test_one_standard_unit_per_test(domains, study, variables):
    def change(frame):
        alt = frame.index[frame["LBTESTCD"] == "ALT"][0]
        frame.loc[alt, "LBSTRESU"] = "IU/L"
    findings = findings_after(domains, study, variables, "LB", change)
    assert set(findings["rule"]) == {"SF-0509"}
    assert format_conformance_errors(findings)[0].startswith("SF-0509")


def test_trial_design_without_lineage_still_checked(domains, study, variables):
    if "TS" not in domains:
        pytest.skip("no trial design domains in this tree")
    found = one(findings_after(domains, study, variables, "TS", lambda f: f.__setitem__("TSPARMCD", f["TSPARMCD"].where(f.index != 0, None))))
    assert found["rule"] == "SF-0501" and pd.isna(found["row"])
