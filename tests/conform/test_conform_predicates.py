"""The predicates the SDTM checks share (transforms/conform/predicates.py) and the predicate kinds
of the rule table (transforms/conform/kinds.py PREDICATES), on small frames whose answers are worked
out by hand below each one."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import expectations.sdtm
from transforms.conform import predicates
from transforms.conform.predicates import (
    ISO8601_DTC_PATTERN,
    TESTCD_PATTERN,
    compute_filled,
    compute_is_word,
    compute_not_in,
    compute_not_matching,
    compute_not_one_to_one,
    compute_not_unique,
    compute_number,
    compute_over_length,
    compute_requires,
    remembering_columns,
)
from transforms.conform.hits import Package
from transforms.conform.kinds import PREDICATES, check_predicate_parameters


def _package(**datasets) -> Package:
    return Package(datasets=datasets, variables=pd.DataFrame(columns=["dataset", "variable"]), files={},
                   ts_parameters=pd.DataFrame(), codelists=pd.DataFrame())


def test_filled_is_given_and_not_empty():
    assert compute_filled(pd.Series(["A", "", None], dtype=object)).tolist() == [True, False, False]
    assert compute_filled(pd.Series([1.0, float("nan"), 0.0])).tolist() == [True, False, True]


@pytest.mark.parametrize("code, valid", [
    ("ALT", True), ("MELD0101", True), ("_ALT", True),  # a leading underscore: SDTMIG 4.5.3.1 allows it
    ("A_B_C_D1", True), ("1ALT", False), ("ALT12345X", False), ("alt", False), ("AL T", False), ("", False),
])
def test_testcd_pattern(code, valid):
    assert bool(re.match(TESTCD_PATTERN, code)) is valid


@pytest.mark.parametrize("dtc, valid", [
    ("2003", True), ("2003-12", True), ("2003-12-15", True), ("2003-12-15T13", True), ("2003-12-15T13:14", True),
    ("2003-12-15T13:14:17.123", True), ("2003---15", True), ("2003-12-15T-:15", True), ("2003-12-15T13:14Z", True),
    ("2003-12-15T13:14+01:00", True), ("2003-12-15 13:14", False), ("15/12/2003", False), ("2003-1", False),
    ("20031215", False),
])
def test_dtc_pattern(dtc, valid):
    assert bool(re.match(ISO8601_DTC_PATTERN, dtc)) is valid


def test_the_gx_gate_and_the_rules_read_one_pattern():
    assert expectations.sdtm.TESTCD_PATTERN is predicates.TESTCD_PATTERN
    assert expectations.sdtm.ISO8601_DTC_PATTERN is predicates.ISO8601_DTC_PATTERN


def test_value_predicates_judge_each_distinct_value_once_and_spread_it_back():
    values = pd.Series(["2003-12-15", "15/12/2003", None, "15/12/2003", ""], dtype=object)
    # the second and fourth are one distinct bad value; missing and empty are not judged
    assert compute_not_matching(values, ISO8601_DTC_PATTERN).tolist() == [False, True, False, True, False]
    assert compute_over_length(pd.Series(["ABCD", "ABCDE", None], dtype=object), 4).tolist() == [False, True, False]
    assert compute_is_word(pd.Series(["Other", "OTHERS", None], dtype=object), "OTHER").tolist() == [True, False, False]
    assert compute_over_length(pd.Series([], dtype=object), 4).tolist() == []


def test_number_is_the_text_read_as_a_number_where_it_is_one():
    values = pd.Series(["1.5", "-2", ".5", "1e3", "<5", "", None, "1.5", "1,5", " 7"], dtype=object)
    expected = [1.5, -2.0, 0.5, 1000.0, None, None, None, 1.5, None, None]
    got = compute_number(values)
    assert [None if pd.isna(v) else v for v in got] == expected
    assert got.index.equals(values.index)
    assert compute_number(pd.Series([None, None], dtype=object)).isna().all()
    assert compute_number(pd.Series([], dtype=object)).tolist() == []


@pytest.mark.parametrize("dtype", [object, "str"])  # the datasets' text as numpy objects or Arrow-backed
def test_within_the_block_each_column_of_the_datasets_is_worked_once_and_answers_the_same(dtype, monkeypatch):
    lb = pd.DataFrame({"LBORRES": ["1.5", "x", None, "1.5"], "LBORNRLO": ["", "3", "3", None]}, dtype=dtype)
    outside = [compute_filled(lb["LBORNRLO"]), compute_number(lb["LBORRES"]),
               compute_not_matching(lb["LBORRES"], r"^\d"), compute_number(lb["LBORRES"].iloc[1:])]
    factorised = []
    real_factorize = pd.factorize
    monkeypatch.setattr(pd, "factorize", lambda *a, **k: factorised.append(1) or real_factorize(*a, **k))
    with remembering_columns([lb]):
        inside = [compute_filled(lb["LBORNRLO"]), compute_number(lb["LBORRES"]),
                  compute_not_matching(lb["LBORRES"], r"^\d"), compute_number(lb["LBORRES"].iloc[1:])]
        again = compute_number(lb["LBORRES"])
    for left, right in zip(outside, inside):
        pd.testing.assert_series_equal(left, right)
    pd.testing.assert_series_equal(again, outside[1])
    # LBORRES factorised once for its number and its pattern; the slice, not one of the datasets'
    # columns, each time it is asked
    assert len(factorised) == 2
    with remembering_columns([lb]):
        pass
    compute_number(lb["LBORRES"])
    assert len(factorised) == 3  # outside the block nothing is remembered


def test_record_predicates():
    frame = pd.DataFrame({"K": ["a", "a", "b", "c", "c"], "V": ["x", "y", "z", "w", None],
                          "N": [1.0, 1.0, 2.0, 3.0, 4.0]})
    # a has x and y; c's None pair is ignored, so c is one to one
    assert compute_not_one_to_one(frame, "K", "V").tolist() == [True, True, False, False, False]
    assert compute_not_unique(frame, ["K"]).tolist() == [True, True, False, True, True]
    assert compute_not_unique(frame, ["K", "N"]).tolist() == [True, True, False, False, False]
    assert compute_requires(frame["V"], frame["K"]).tolist() == [False] * 5
    assert compute_requires(frame["K"], frame["V"]).tolist() == [False, False, False, False, True]
    assert compute_not_in(frame["K"], {"a"}).tolist() == [False, False, True, True, True]


def test_requires_kind_on_each_dataset_with_its_own_variables():
    lb = pd.DataFrame({"USUBJID": ["S1", "S2"], "LBORRES": ["5", "7"], "LBSTRESC": ["5", None]})
    vs = pd.DataFrame({"USUBJID": ["S1"], "VSORRES": ["80"]})  # no VSSTRESC: not checked
    hits = PREDICATES["requires"](_package(LB=lb, VS=vs), "all", ["--ORRES", "--STRESC"])
    assert hits[["dataset", "record", "subject", "variable", "message"]].values.tolist() == [
        ["LB", 1, "S2", "LBSTRESC", "LBORRES is given but LBSTRESC is null"]]


def test_unique_kind_names_the_last_key():
    dm = pd.DataFrame({"USUBJID": ["S1", "S1", "S2"], "SUBJID": ["1", "1", "2"]})
    lb = pd.DataFrame({"USUBJID": ["S1", "S1", "S2"], "LBSEQ": [1.0, 1.0, 1.0]})
    package = _package(DM=dm, LB=lb)
    one = PREDICATES["unique"](package, "DM", ["USUBJID"])
    assert one[["record", "message"]].values.tolist() == [[0, "USUBJID is not unique in DM"], [1, "USUBJID is not unique in DM"]]
    seq = PREDICATES["unique"](package, "all", ["USUBJID", "--SEQ"])
    assert seq[["dataset", "record", "variable"]].values.tolist() == [["LB", 0, "LBSEQ"], ["LB", 1, "LBSEQ"]]
    assert set(seq["message"]) == {"LBSEQ is not unique within USUBJID"}


def test_one_to_one_max_length_word_and_subset_kinds():
    lb = pd.DataFrame({"USUBJID": ["S1", "S1", "S2"], "LBTESTCD": ["ALT", "ALT", "OTHER"],
                       "LBTEST": ["Alanine Aminotransferase", "ALT", "A" * 41]})
    dm = pd.DataFrame({"USUBJID": ["S1", "S2"], "ARM": ["Low", "High"]})
    ta = pd.DataFrame({"ARM": ["Low", None]})
    package = _package(LB=lb, DM=dm, TA=ta)
    pairs = PREDICATES["one_to_one"](package, "all", ["--TESTCD", "--TEST"])
    assert pairs[["record", "variable", "message"]].values.tolist() == [
        [0, "LBTEST", "one LBTESTCD has more than one LBTEST"], [1, "LBTEST", "one LBTESTCD has more than one LBTEST"]]
    long = PREDICATES["max_length"](package, "all", ["--TEST", "40"])
    assert long[["record", "message"]].values.tolist() == [[2, "LBTEST is over 40 characters"]]
    word = PREDICATES["not_word"](package, "LB", ["--TESTCD", "OTHER"])
    assert word[["record", "value", "message"]].values.tolist() == [[2, "OTHER", "LBTESTCD is 'OTHER'"]]
    subset = PREDICATES["subset"](package, "DM", ["ARM", "TA.ARM"])
    assert subset[["record", "value", "message"]].values.tolist() == [[1, "High", "ARM is not in TA.ARM"]]
    # without TA no arm is known: every given ARM is reported
    assert len(PREDICATES["subset"](_package(DM=dm), "DM", ["ARM", "TA.ARM"])) == 2


def test_rule_rows_with_broken_parameters_are_named():
    assert check_predicate_parameters("requires", "--ORRES --STRESC") == []
    assert check_predicate_parameters("unique", "USUBJID --SEQ") == []
    assert "not one of" in check_predicate_parameters("regex", "--X .*")[0]
    assert "takes 2" in check_predicate_parameters("requires", "--ORRES")[0]
    assert "number" in check_predicate_parameters("max_length", "--TEST forty")[0]
    assert "DATASET.VARIABLE" in check_predicate_parameters("subset", "ARM ARM")[0]
    assert "one or more" in check_predicate_parameters("unique", "")[0]
