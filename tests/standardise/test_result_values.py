"""Qualitative and censored lab results (transforms/standardise/values.py compute_numeric_result /
compute_standard_result with a study's result_values table) and scientific notation.

Expected values are worked out by hand: 6.98E+05 is 6.98 x 10^5 = 698000; a declared text keeps
the stresc / stresn its row states; `<20` keeps the operator rule (STRESC `<20` x factor, STRESN
null)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.standardise.values import (
    RESULT_VALUE_COLUMNS,
    check_result_values,
    compute_numeric_result,
    compute_standard_result,
)


def text(*values) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def as_list(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series.tolist()]


def table(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=RESULT_VALUE_COLUMNS, dtype=object)


RESULT_VALUES = table(
    ("TND", "NOT DETECTED", "", "target not detected (below the assay's detection limit)"),
    ("NEG", "NEGATIVE", "", "negative"),
    ("Negative", "NEGATIVE", "", "negative"),
    ("trace", "TRACE", "", "trace amount"),
    ("Absent", "0", "0", "counted, none found"),
)


def test_scientific_notation_is_a_number_without_a_study_table():
    out = compute_numeric_result(text("6.98E+05", "6.98e5", "6.98E5", "1.5e-3", "<1.0E+02", "２Ｅ３"))
    assert as_list(out["number"]) == [698000.0, 698000.0, 698000.0, 0.0015, 100.0, 2000.0]
    assert as_list(out["operator"]) == [None, None, None, None, "<", None]
    assert as_list(out["problem"]) == [None] * 6


def test_scientific_notation_maps_to_a_plain_stresc():
    out = compute_standard_result(text("6.98E+05", "1.5e-3", "<1.0E+02"), pd.Series([1.0, 1000.0, 2.0]))
    assert as_list(out["LBSTRESC"]) == ["698000", "1.5", "<200"]
    assert as_list(out["LBSTRESN"]) == [698000.0, 1.5, None]


def test_what_still_is_not_a_number():
    out = compute_numeric_result(text("6.98E", "E5", "1e999", "6.98 E5", "TND"))
    assert out["number"].isna().all()
    assert as_list(out["problem"]) == [
        "'6.98E' is not a number", "'E5' is not a number", "'1e999' is not a number",
        "'6.98 E5' is not a number", "'TND' is not a number",  # no study table: TND is refused
    ]


def test_declared_results_are_no_problem_and_carry_their_standard_result():
    raw = text("TND", "tnd", " Negative ", "NEG", "TRACE", "Absent", "<20", "35", "pos", None)
    out = compute_numeric_result(raw, RESULT_VALUES)
    assert as_list(out["problem"]) == [None] * 8 + ["'pos' is not a number", None]
    assert as_list(out["stresc"]) == [
        "NOT DETECTED", "NOT DETECTED", "NEGATIVE", "NEGATIVE", "TRACE", "0", None, None, None, None
    ]  # fmt: skip
    assert as_list(out["stresn"]) == [None] * 5 + [0.0] + [None] * 4
    # a declared text is not a measured number: nothing to convert or to judge plausible
    assert as_list(out["number"]) == [None] * 6 + [20.0, 35.0, None, None]

    standard = compute_standard_result(raw, pd.Series([17.1] * 10), RESULT_VALUES)
    assert as_list(standard["LBSTRESC"]) == [
        "NOT DETECTED", "NOT DETECTED", "NEGATIVE", "NEGATIVE", "TRACE", "0",
        "<342",  # 20 x 17.1: the operator rule, unchanged
        "598.5",  # 35 x 17.1
        None, None,
    ]  # fmt: skip
    assert as_list(standard["LBSTRESN"]) == [None] * 5 + [0.0, None, 598.5, None, None]


def test_an_empty_table_changes_nothing():
    raw = text("35", "<5", "6.98E+05", "TND", None)
    factor = pd.Series([17.1, 17.1, 1.0, 1.0, 1.0])
    pd.testing.assert_frame_equal(
        compute_standard_result(raw, factor, table()), compute_standard_result(raw, factor)
    )
    pd.testing.assert_frame_equal(compute_numeric_result(raw, table()), compute_numeric_result(raw))


def test_a_duplicated_index_lines_up():
    raw = pd.Series(["TND", "2", "NEG"], index=["a", "a", "b"], dtype="str")
    out = compute_standard_result(raw, pd.Series([1.0, 10.0, 1.0], index=raw.index), RESULT_VALUES)
    assert list(out.index) == ["a", "a", "b"]
    assert as_list(out["LBSTRESC"]) == ["NOT DETECTED", "20", "NEGATIVE"]


def test_check_result_values_names_every_unusable_row():
    bad = table(
        ("TND", "NOT DETECTED", "", ""),
        ("tnd", "NOT DETECTED", "", ""),  # same key as TND
        ("<20", "<20", "", ""),  # the operator rule reads it
        ("", "X", "", ""),
        ("NEG", "", "", ""),
        ("trace", "TRACE", "0", ""),  # stresn without the number in stresc
    )
    assert check_result_values(bad) == [
        "row 5 '': raw is blank: give the text the site writes",
        "row 2 'TND': repeats a raw text (keys ignore case, width and spacing): keep one row",
        "row 3 'tnd': repeats a raw text (keys ignore case, width and spacing): keep one row",
        "row 4 '<20': is a number already (the operator rule reads <5-style results): remove the row",
        "row 6 'NEG': stresc is blank: give the standard result text",
        "row 7 'trace': stresn must be blank or the number stresc states",
    ]
    assert check_result_values(RESULT_VALUES) == []
    assert check_result_values(pd.DataFrame({"raw": []})) == [
        "missing column(s) stresc, stresn, meaning (columns: raw, stresc, stresn, meaning)"
    ]
    with pytest.raises(ValueError, match="row 4 '<20'"):
        compute_numeric_result(text("x"), bad)


def test_large_column_uses_the_table_only_for_unread_rows():
    # 10,000 numbers and one TND: only the TND row takes the declared value
    raw = pd.Series(np.arange(10_000).astype(str).tolist() + ["TND"], dtype="str")
    out = compute_numeric_result(raw, RESULT_VALUES)
    assert out["stresc"].notna().sum() == 1 and out["stresc"].iloc[-1] == "NOT DETECTED"
    assert out["problem"].isna().all()


def test_the_site_query_names_the_declared_results_only_when_there_are_some():
    from expectations.raw import build_raw_suite
    from transforms.spec.study import DEFAULT_STUDY_DIR

    raw_columns = pd.read_csv(DEFAULT_STUDY_DIR / "raw_columns.csv", dtype=str, keep_default_na=False)
    from transforms.spec.study import read_study

    study = read_study(DEFAULT_STUDY_DIR)
    context = {"known_subjects": ["01-001"], "known_visits": ["Baseline"], "known_tests": ["ALT"],
               "known_units": [("ALT", "U/L")], "record_keys": study.record_keys,
               "roles": dict(zip(study.sheets["sheet"], study.sheets["role"])),
               "subjects_label": "Demographics"}

    def message(**extra):
        suite = build_raw_suite("labs", raw_columns, {**context, **extra})
        return next(e.meta["message"] for e in suite if e.meta["rule"] == "SF-0117")

    assert message().startswith("Result is not a number or a number with a qualifier (<5, >1000): ")
    assert message(result_values=["TND", "Negative"]).startswith(
        "Result is not a number, a number with a qualifier (<5, >1000) or one of TND, Negative: "
    )
