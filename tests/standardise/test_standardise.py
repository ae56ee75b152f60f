"""Unit tests for transforms/standardise/values.py: small inline Series, hand-worked expected values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms.standardise.values import (
    assign_ct,
    compute_age,
    compute_continuous_result,
    compute_iso8601_date,
    compute_iso8601_datetime,
    compute_numeric_result,
    compute_reference_range_indicator,
    compute_standard_result,
    compute_study_day,
    compute_lookup_key,
)

TERMINOLOGY = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld" / "terminology.csv"


def text(*values) -> pd.Series:
    """A raw column as the reader delivers it: `str` with NA for blank cells."""
    return pd.Series(list(values), dtype="str")


def as_list(series: pd.Series) -> list:
    """Values with every kind of missing turned into None, for plain equality."""
    return [None if pd.isna(v) else v for v in series.tolist()]


# --- terminology ----------------------------------------------------------------------------------


def test_lookup_key_folds_case_width_spacing_punctuation_and_invisible_characters():
    raw = text("  Total   Bilirubin ", "ＡＬＴ", "µmol/L", "μmol/L", "Grade\u00a01-2", "", None)
    assert as_list(compute_lookup_key(raw)) == [
        "totalbilirubin",
        "alt",
        "μmoll",  # micro sign and Greek mu meet on NFKC; the slash is punctuation
        "μmoll",
        "grade12",
        None,
        None,
    ]


@pytest.mark.parametrize(
    "spelling",
    ["Week 4", "week4", "WEEK-4", "Ｗｅｅｋ４", "week\u200b4", "\ufeffWeek 4", "Week\t4\n",
     "Week\u3000 4", "week_4", "week.4", "Week\x1b4"],
)
def test_every_spelling_of_a_visit_is_one_key(spelling):
    assert as_list(compute_lookup_key(text(spelling))) == ["week4"]


def test_lookup_key_keeps_symbols_and_a_value_of_punctuation_only():
    # `+` is a symbol, not punctuation; `%` (Unicode Po) would vanish, so a value that is all
    # punctuation keeps it
    assert as_list(compute_lookup_key(text("Na+", "Na", " % ", "---"))) == ["na+", "na", "%", "---"]


def test_lookup_key_of_a_subject_number_with_a_zero_width_space():
    assert as_list(compute_lookup_key(text("01-007\u200b", "01-007", "０１－００７"))) == ["01007"] * 3


def test_lookup_key_does_not_modify_its_input():
    raw = text(" ALT ")
    compute_lookup_key(raw)
    assert raw.tolist() == [" ALT "]


def test_assign_ct_reads_every_contract_spelling_of_a_visit(terminology):
    visits = text("week4", "WEEK-4", "Ｗｅｅｋ４", "wk.4", "w 4", "Week\u200b4", "Week 44")
    assert as_list(assign_ct(visits, terminology, "VISIT")) == ["Week 4"] * 6 + [None]


def test_assign_ct_raises_naming_both_entries_the_key_makes_one():
    table = pd.DataFrame(
        {"codelist": ["ENCEPH", "ENCEPH"], "raw": ["Grade 1-2", "Grade 12"], "value": ["G12", "G12X"]}
    )
    with pytest.raises(ValueError, match=r"'Grade 1-2' -> 'G12'; 'Grade 12' -> 'G12X'.*'grade12'"):
        assign_ct(text("Grade 1-2"), table, "ENCEPH")


def test_assign_ct_raises_on_a_blank_spelling():
    table = pd.DataFrame({"codelist": ["SEX", "SEX"], "raw": ["M", " - "], "value": ["M", "F"]})
    # " - " keeps its punctuation, so it is a key; a truly blank one is not
    table.loc[1, "raw"] = "  "
    with pytest.raises(ValueError, match=r"'SEX' has a row with a blank raw spelling \(value 'F'\)"):
        assign_ct(text("M"), table, "SEX")


@pytest.fixture(scope="module")
def terminology() -> pd.DataFrame:
    return pd.read_csv(TERMINOLOGY, dtype="str", keep_default_na=False)


def test_assign_ct_maps_synonyms(terminology):
    sex = text("男", "Female", " male ", "女")
    assert as_list(assign_ct(sex, terminology, "SEX")) == ["M", "F", "M", "F"]
    tests = text("谷丙转氨酶", "ALT (GPT)", "alt", "Total bilirubin", "Alb", "Na")
    assert as_list(assign_ct(tests, terminology, "LBTESTCD")) == [
        "ALT", "ALT", "ALT", "BILI", "ALB", "SODIUM"
    ]  # fmt: skip
    units = text("µmol/L", "μmol/L", "umol/L", "mg/dl", "IU/L", "s")
    assert as_list(assign_ct(units, terminology, "UNIT")) == [
        "umol/L", "umol/L", "umol/L", "mg/dL", "IU/L", "sec"
    ]  # fmt: skip


def test_assign_ct_unknown_and_blank_are_na(terminology):
    out = assign_ct(text("X", "", None), terminology, "SEX")
    assert as_list(out) == [None, None, None]
    assert list(out.index) == [0, 1, 2]


def test_assign_ct_every_codelist_in_the_study_table_is_consistent(terminology):
    for codelist in terminology["codelist"].unique():
        assign_ct(text("x"), terminology, codelist)


def test_assign_ct_raises_on_conflicting_keys():
    table = pd.DataFrame({"codelist": ["SEX", "SEX"], "raw": ["M", " m"], "value": ["M", "F"]})
    with pytest.raises(ValueError, match=r"'SEX'.*'M' -> 'M'; ' m' -> 'F'.*\('m'"):
        assign_ct(text("M"), table, "SEX")


def test_assign_ct_same_value_under_two_spellings_is_fine():
    table = pd.DataFrame(
        {"codelist": ["UNIT", "UNIT"], "raw": ["mg/dL", "mg/dl"], "value": ["mg/dL", "mg/dL"]}
    )
    assert as_list(assign_ct(text("MG/DL"), table, "UNIT")) == ["mg/dL"]


def test_assign_ct_unknown_codelist_raises(terminology):
    with pytest.raises(ValueError, match="NOPE"):
        assign_ct(text("M"), terminology, "NOPE")


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2026-03-05", "2026-03-05"),
        ("2026/3/5", "2026-03-05"),
        ("2026-3-5", "2026-03-05"),
        ("05-Mar-2026", "2026-03-05"),
        ("05MAR2026", "2026-03-05"),
        ("05mar2026", "2026-03-05"),
        ("5-Mar-2026", "2026-03-05"),
        (" 2026-03-05 ", "2026-03-05"),
        ("2026-03-05 00:00:00", "2026-03-05"),  # Excel date cell
        ("2026-03-05 09:40:00", "2026-03-05T09:40"),  # Excel date-time cell
        ("2026-03-05 09:40:30", "2026-03-05T09:40:30"),
        # Excel serial 45356: 1899-12-30 + 45356 days. 2024-01-01 is serial 45292 (1899-12-30 +
        # 124 years of which 31 leap = 45291 days to 2023-12-31, +1), and 45292 + 31 (Jan) + 29
        # (Feb 2024) + 4 = 45356 → 2024-03-05.
        ("45356", "2024-03-05"),
        ("45356.0", "2024-03-05"),
        ("45356.5", "2024-03-05T12:00"),  # a serial's fraction is its time of day
        ("61", "1900-03-01"),
        ("2958465", "9999-12-31"),
        ("2024-02-29", "2024-02-29"),
        ("2000-02-29", "2000-02-29"),  # divisible by 400: leap
        ("2026-03", "2026-03"),
        ("2026", "2026"),
        ("2026.0", "2026"),  # a year typed into a number cell, not serial 2026
        ("UN-MAR-2026", "2026-03"),
        ("UNK-Mar-2026", "2026-03"),
        ("UN-UNK-2026", "2026"),
        ("UNMAR2026", "2026-03"),
    ],
)
def test_iso8601_date_accepts_contract_formats(raw, expected):
    out = compute_iso8601_date(text(raw))
    assert as_list(out["dtc"]) == [expected]
    assert as_list(out["problem"]) == [None]


@pytest.mark.parametrize(
    "raw, message",
    [
        ("2026-02-30", "'2026-02-30' is not a real date"),
        ("2025-02-29", "'2025-02-29' is not a real date"),
        ("1900-02-29", "'1900-02-29' is not a real date"),  # divisible by 100, not 400
        ("2026-04-31", "'2026-04-31' is not a real date"),
        ("2026-13", "'2026-13' is not a real date"),
        ("2026-00-10", "'2026-00-10' is not a real date"),
        ("31-Jun-2026", "'31-Jun-2026' is not a real date"),
        ("03/05/26", "'03/05/26' is not a recognised date format; use YYYY-MM-DD"),
        ("05-Mar-26", "'05-Mar-26' is not a recognised date format; use YYYY-MM-DD"),
        ("tomorrow", "'tomorrow' is not a recognised date format; use YYYY-MM-DD"),
        ("2026-03-05 25:00:00", "'2026-03-05 25:00:00' has an impossible time of day"),
        ("2026-03 09:40", "'2026-03 09:40' has a time but only a partial date"),
        ("0", "'0' is outside the Excel date serial range 1-2958465"),
        ("2958466", "'2958466' is outside the Excel date serial range 1-2958465"),
        (
            "05-Mxr-2026",
            "'05-Mxr-2026' has an unrecognised month name; use JAN-DEC or UN/UNK if unknown",
        ),
        (
            "05-UNK-2026",
            "'05-UNK-2026' gives a day but no month; send UN-UNK-YYYY if only the year is known",
        ),
    ],
)
def test_iso8601_date_reports_problems(raw, message):
    out = compute_iso8601_date(text(raw))
    assert as_list(out["dtc"]) == [None]
    assert as_list(out["problem"]) == [message]


def test_iso8601_date_blank_is_missing_not_a_problem():
    out = compute_iso8601_date(text(None, "", "   "))
    assert as_list(out["dtc"]) == [None, None, None]
    assert as_list(out["problem"]) == [None, None, None]


def test_iso8601_date_keeps_index_and_accepts_object_input():
    raw = pd.Series(["2026-03-05", None, "bad"], index=[10, 10, 7], dtype="object")
    out = compute_iso8601_date(raw)
    assert list(out.index) == [10, 10, 7]
    assert list(out.columns) == ["dtc", "problem"]
    assert as_list(out["dtc"]) == ["2026-03-05", None, None]
    assert raw.tolist() == ["2026-03-05", None, "bad"]


def test_iso8601_date_empty_series():
    out = compute_iso8601_date(text())
    assert out.empty and list(out.columns) == ["dtc", "problem"]


def test_iso8601_datetime_combines_date_and_time():
    dates = text(*["2026-03-05"] * 7)
    times = text("09:40", "9:40", "09:40:30", "09:40:00", "0.4027777", None, "1899-12-30 09:40:00")
    out = compute_iso8601_datetime(dates, times)
    assert as_list(out["dtc"]) == [
        "2026-03-05T09:40",
        "2026-03-05T09:40",
        "2026-03-05T09:40:30",
        "2026-03-05T09:40",
        "2026-03-05T09:40",  # 0.4027777 × 86400 = 34799.99 s, rounded to 09:40:00
        "2026-03-05",
        "2026-03-05T09:40",
    ]
    assert as_list(out["problem"]) == [None] * 7


def test_iso8601_datetime_problems():
    dates = text("2026-03", "2026-03-05", None, "2026-13-01", "2026-03-05 09:40:00")
    times = text("09:40", "25:00", "09:40", "09:40", "10:00")
    out = compute_iso8601_datetime(dates, times)
    assert as_list(out["dtc"]) == ["2026-03", "2026-03-05", None, None, "2026-03-05"]
    assert as_list(out["problem"]) == [
        "time '09:40' dropped: date '2026-03' is partial",
        "'25:00' is not a valid time of day; use HH:MM (00:00-23:59)",
        "time '09:40' has no date",
        "'2026-13-01' is not a real date",
        "time '10:00' disagrees with the time in date '2026-03-05 09:40:00'; both dropped",
    ]


def test_iso8601_datetime_without_time_column():
    out = compute_iso8601_datetime(text("05-Mar-2026", None), None)
    assert as_list(out["dtc"]) == ["2026-03-05", None]
    assert as_list(out["problem"]) == [None, None]


def test_iso8601_datetime_needs_aligned_inputs():
    with pytest.raises(ValueError, match="index"):
        compute_iso8601_datetime(text("2026-03-05"), pd.Series(["09:40"], index=[5], dtype="str"))


# --- study day and age ----------------------------------------------------------------------------


def test_study_day_has_no_day_zero():
    ref = text(*["2026-03-05"] * 7)
    dtc = text(
        "2026-03-05", "2026-03-04", "2026-03-12", "2026-03-05T23:59",
        "2026-02-26", "2026-04-01", "2025-03-05",
    )  # fmt: skip
    # Day 1 = ref; the day before is -1; 2026-03-12 is 7 days on → 8; the time part is ignored;
    # 2026-02-26 is 7 days before (Feb 2026 has 28 days) → -7; 2026-04-01 is 27 days on → 28;
    # a year before (2025-03-05 → 2026-03-05 = 365 days) → -365.
    assert as_list(compute_study_day(dtc, ref)) == [1, -1, 8, 1, -7, 28, -365]


def test_study_day_across_month_end():
    # Jan has 31 days: 2026-01-28 → 2026-02-03 is 6 days later, so day 7.
    assert as_list(compute_study_day(text("2026-02-03"), text("2026-01-28"))) == [7]
    # Leap February: 2024-02-28 → 2024-03-01 is 2 days, so day 3.
    assert as_list(compute_study_day(text("2024-03-01"), text("2024-02-28"))) == [3]


def test_study_day_na_for_missing_or_partial():
    dtc = text("2026-03", "2026-03-05", None, "2026-03-05")
    ref = text("2026-03-05", "2026", "2026-03-05", None)
    out = compute_study_day(dtc, ref)
    assert str(out.dtype) == "Int64"
    assert as_list(out) == [None, None, None, None]


def test_age_in_completed_years():
    birth = text("1961-08-14", "1961-08-14", "1961-08-14", "1961-08", None)
    ref = text("2026-08-13", "2026-08-14", "2026-08-15", "2026-08-15", "2026-08-15")
    out = compute_age(birth, ref)
    assert str(out.dtype) == "Int64"
    # The day before the 65th birthday is still 64.
    assert as_list(out) == [64, 65, 65, None, None]


def test_age_leap_day_birthday():
    birth = text(*["2000-02-29"] * 4)
    ref = text("2026-02-28", "2026-03-01", "2024-02-28", "2024-02-29")
    # Non-leap year: the birthday is reached on 1 March, not 28 February.
    assert as_list(compute_age(birth, ref)) == [25, 26, 23, 24]


def test_age_from_partial_birth_date_when_whole_years_are_certain():
    # Worked by hand: the age is given only when every day the partial date may be gives the same
    # completed years.
    cases = [
        ("1971-07", "2025-05-12", 53),  # July birthday still to come whatever the day: 2025-1971-1
        ("1972-09", "2025-06-13", 52),
        ("1971-03", "2025-05-12", 54),  # March birthday surely passed
        ("1971-05", "2025-05-12", None),  # consent month = birth month: 53 or 54
        ("1971-05", "2025-05-31", 54),  # last day of the month: every May birthday has passed
        ("2000-02", "2025-02-28", None),  # born 29 Feb 2000 would still be 24
        ("2001-02", "2025-02-28", 24),  # 2001 has no 29 Feb
        ("1971", "2025-12-31", 54),  # year only: certain on 31 December only
        ("1971", "2025-12-30", None),
        ("1971", "2025-01-01", None),
        ("1971-07", "2025-05", 53),  # a partial reference date works the same way
        ("1971-13", "2025-05-12", None),  # not a month
        ("1971-02-30", "2025-05-12", None),  # not a day
    ]
    birth, ref, expected = zip(*cases)
    assert as_list(compute_age(text(*birth), text(*ref))) == list(expected)


# --- lab results ----------------------------------------------------------------------------------


def test_numeric_result_operators_and_numbers():
    raw = text("35", "12.6", "<5", "< 5", ">1000", "≤5", "≥ 5", "<=5", "-2", ".5", "＜5", None, "")
    out = compute_numeric_result(raw)
    assert as_list(out["operator"]) == [
        None, None, "<", "<", ">", "<=", ">=", "<=", None, None, "<", None, None
    ]  # fmt: skip
    assert as_list(out["number"]) == [
        35.0, 12.6, 5.0, 5.0, 1000.0, 5.0, 5.0, 5.0, -2.0, 0.5, 5.0, None, None
    ]  # fmt: skip
    assert out["number"].dtype == "float64"
    assert as_list(out["problem"]) == [None] * 13


def test_continuous_result_is_a_plain_number_only():
    # CORE-000289/290/298/299: `<5` and `>1000` are not continuous measurements.
    raw = text("35", "12.6", "-2", ".5", "<5", ">1000", "<=5", "pos", None, "")
    assert compute_continuous_result(raw).tolist() == [True, True, True, True, False, False, False, False, False, False]


def test_numeric_result_problems():
    out = compute_numeric_result(text("pos", "12,6", "1,200", "<", "5 mg", "12.6.1"))
    assert out["number"].isna().all()
    assert as_list(out["problem"]) == [
        "'pos' is not a number",
        "'12,6' is not a number: a comma may be a decimal or a thousands separator; "
        "write it with a decimal point and no separators",
        "'1,200' is not a number: a comma may be a decimal or a thousands separator; "
        "write it with a decimal point and no separators",
        "'<' is not a number",
        "'5 mg' is not a number",
        "'12.6.1' is not a number",
    ]


def test_standard_result_conversions():
    orres = text("2.0", "1.0", "3.5", "<5", "0.7", "0.9", "35", "1.1", "pos", None, "12", ">1000")
    factor = pd.Series([17.1, 88.4, 10, 17.1, 17.1, 17.1, 1, 3, 17.1, 17.1, np.nan, 1])
    out = compute_standard_result(orres, factor)
    assert as_list(out["LBSTRESC"]) == [
        "34.2",  # bilirubin 2.0 mg/dL × 17.1
        "88.4",  # creatinine 1.0 mg/dL × 88.4
        "35",  # albumin 3.5 g/dL × 10
        "<85.5",  # censored: the operator stays, the number is converted
        "11.97",  # 0.7 × 17.1
        "15.39",  # 0.9 × 17.1 is 15.390000000000002 in binary
        "35",
        "3.3",  # 1.1 × 3 is 3.3000000000000003 in binary
        None,
        None,
        None,  # no factor, no standard value
        ">1000",
    ]
    assert as_list(out["LBSTRESN"]) == [
        34.2, 88.4, 35.0, None, 11.97, 15.39, 35.0, 3.3, None, None, None, None
    ]  # fmt: skip
    assert out["LBSTRESN"].dtype == "float64"


def test_standard_result_is_not_rounded_to_display_precision_and_never_uses_exponents():
    orres = text("1.23456", "0.00001", "123456789", "-0.5")
    out = compute_standard_result(orres, pd.Series([17.1, 1, 1e9, 2]))
    assert as_list(out["LBSTRESN"]) == [21.110976, 1e-05, 1.23456789e17, -1.0]
    assert as_list(out["LBSTRESC"]) == ["21.110976", "0.00001", "123456789000000000", "-1"]


def test_reference_range_indicator():
    value = pd.Series([3.0, 7.0, 20.0, 40.0, 41.0, 3.0, 50.0, 50.0, np.nan, 5.0])
    low = pd.Series([7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, np.nan, 7.0, np.nan])
    high = pd.Series([40.0, 40.0, 40.0, 40.0, 40.0, np.nan, np.nan, 40.0, 40.0, np.nan])
    assert as_list(compute_reference_range_indicator(value, low, high)) == [
        "LOW",
        "NORMAL",  # limits are inclusive
        "NORMAL",
        "NORMAL",
        "HIGH",
        "LOW",  # only a low limit: judged on that side
        "NORMAL",  # only a low limit, value above it
        "HIGH",  # only a high limit
        None,  # no value
        None,  # no limits
    ]


def test_reference_range_indicator_accepts_raw_text():
    out = compute_reference_range_indicator(text("35", "<5"), text("7", "7"), text("40", "40"))
    assert as_list(out) == ["NORMAL", None]


# --- every function: pure, index-preserving -----------------------------------------------------


def test_functions_leave_inputs_alone_and_keep_a_duplicated_index():
    index = pd.Index(["a", "a", "b"])
    raw_date = pd.Series(["05-Mar-2026", None, "bad"], index=index, dtype="str")
    raw_time = pd.Series(["9:40", "10:00", None], index=index, dtype="str")
    result = pd.Series(["<5", "2.0", "1e-7"], index=index, dtype="str")
    factor = pd.Series([17.1, 17.1, 1.0], index=index)
    dtc = pd.Series(["2026-03-05", "2026-03-04", None], index=index, dtype="str")
    ref = pd.Series(["2026-03-05"] * 3, index=index, dtype="str")
    snapshot = [s.copy() for s in (raw_date, raw_time, result, factor, dtc, ref)]

    outputs = [
        compute_lookup_key(raw_date),
        compute_iso8601_date(raw_date),
        compute_iso8601_datetime(raw_date, raw_time),
        compute_study_day(dtc, ref),
        compute_age(dtc, ref),
        compute_numeric_result(result),
        compute_standard_result(result, factor),
        compute_reference_range_indicator(factor, factor, factor),
    ]
    for out in outputs:
        assert list(out.index) == ["a", "a", "b"]
    for before, after in zip(snapshot, (raw_date, raw_time, result, factor, dtc, ref)):
        pd.testing.assert_series_equal(before, after)
    assert as_list(outputs[2]["dtc"]) == ["2026-03-05T09:40", None, None]
    assert as_list(outputs[3]) == [1, -1, None]
    assert as_list(outputs[6]["LBSTRESC"]) == ["<85.5", "34.2", "0.0000001"]  # 1e-7: scientific notation is a number
