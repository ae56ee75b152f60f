"""Value-level standardisation: raw spreadsheet text in, SDTM-ready values out.

Every function here is a `compute_`/`assign_` in the sense of docs/style.md#verbs: it takes pandas
Series of raw text (`str` or NA, exactly as read from the workbook), returns new objects carrying
the same index, and never modifies its inputs. Work is vectorised over the whole column.

Two channels for trouble (docs/style.md#two-channels-for-problems): a data problem comes back as
text in a `problem` column (NA when the value is fine) for the caller to turn into findings; a
configuration or programming error (a terminology table that contradicts itself, inputs that do not
line up) raises ValueError.

Regular expressions that run over whole date columns go through `pyarrow.compute.extract_regex`
(RE2) rather than `Series.str.extract` (Python `re`, row by row): on a million values it is about
six times faster, and RE2's ASCII-only `\\d` is the stricter reading we want anyway.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.core.dates import compute_day
from transforms.core.distinct import compute_per_distinct

__all__ = [
    "compute_lookup_key",
    "assign_ct",
    "compute_iso8601_date",
    "compute_iso8601_datetime",
    "compute_study_day",
    "compute_age",
    "compute_numeric_result",
    "compute_standard_result",
    "compute_scaled_result",
    "check_result_values",
    "compute_reference_range_indicator",
    "compute_continuous_result",
]

# A study's result_values.csv: a non-numeric result as the site writes it (matched on
# compute_lookup_key) -> its --STRESC, its --STRESN (blank: none) and what it means.
RESULT_VALUE_COLUMNS = ["raw", "stresc", "stresn", "meaning"]

# Excel's day 0. Serial 1 is therefore 1899-12-31, one day off what Excel displays for serials
# below 61 (Excel keeps Lotus's fictitious 1900-02-29); no date in this study is that old, and the
# 1899-12-30 epoch is right for every serial from 61 (1900-03-01) on.
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
_EXCEL_SERIAL_MAX = 2958465  # 9999-12-31, Excel's last date

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])

# ISO 8601 text lengths by precision: year, year-month, date, date+hh:mm, date+hh:mm:ss.
_YEAR, _MONTH, _DAY, _MINUTE, _SECOND = 4, 7, 10, 16, 19

# One pass over the (upper-cased) column recognises every format of the data contract. Alternatives
# are tried in order, so a bare 4-digit number is a year before it could be an Excel serial.
_DATE_PATTERN = (
    r"^(?:"
    r"(?P<iy>\d{4})(?:-(?P<im>\d{1,2})(?:-(?P<id>\d{1,2}))?)?"  # 2026-03-05, 2026-03, 2026
    r"|(?P<sy>\d{4})/(?P<sm>\d{1,2})(?:/(?P<sd>\d{1,2}))?"  # 2026/3/5
    r"|(?P<nd>\d{1,2}|UNK?)[- ]?(?P<nm>[A-Z]{3}|UNK?)[- ]?(?P<ny>\d{4})"  # 05-MAR-2026, UN-UNK-2026
    r"|(?P<serial>\d{1,7})(?:\.(?P<frac>\d+))?"  # 45356, 45356.0, 45356.40278
    r")"
    r"(?:[ T](?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2})(?:\.0+)?)?)?$"  # Excel cell's time
)

# A time column: 09:40, 9:40, 09:40:30, an Excel time cell rendered on Excel's day 0 or 1, or the
# bare day fraction Excel stores (0.4027777 = 09:40).
_TIME_PATTERN = (
    r"^(?:(?:1899-12-3[01]|1900-01-0[01])[ T])?"
    r"(?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2})(?:\.0+)?)?$"
    r"|^(?P<frac>0?\.\d+|0)$"
)

# Operator and number of a lab result. `[0-9]`, not `\d`: other scripts' digits are no numbers here.
# Scientific notation (6.98E+05, 6.98e5: how instruments and Excel print large counts) is a number.
_NUMERIC_PATTERN = (
    r"^(?P<op><=|>=|<|>|≤|≥)?\s*(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$"
)
# A decimal comma (12,6) is refused rather than read: a comma also groups thousands (1,200), the two
# cannot be told apart, and a wrong guess would silently scale a result by 1000.
_COMMA_NUMBER_PATTERN = r"^(?:<=|>=|<|>|≤|≥)?\s*[+-]?[0-9]+(?:,[0-9]+)+(?:\.[0-9]*)?$"


# --------------------------------------------------------------------------------------------------
# Terminology
# --------------------------------------------------------------------------------------------------


def compute_lookup_key(values: pd.Series) -> pd.Series:
    """The one lookup key of every coded value and subject number: how two spellings are judged
    the same (`week4`, `Week 4`, `WEEK-4` and `Ｗｅｅｋ４` are one key, `week4`).

    NFKC folds full-width forms, the micro sign and non-breaking spaces onto their plain forms;
    casefold drops case; then every space, punctuation mark (Unicode P*: `-`, `/`, `.`, `(`),
    line break, control and invisible format character (Unicode Cc, Cf: zero-width space, BOM,
    soft hyphen) is removed. Symbols (`+`, `^`, `<`, `µ`) are kept: `Na+` and `Na` are told
    apart by the table, not by the key. A value made of punctuation only (`%`) keeps its
    punctuation rather than vanish. Blank text gives NA (no key).

    Each distinct value is keyed once: a million lab rows carry a few dozen spellings.
    """
    codes, distinct = pd.factorize(values.astype("str"))
    folded = pd.Series(distinct, dtype="str").str.normalize("NFKC").str.casefold()
    arrow = pa.array(folded.array, type=pa.large_string())
    key = pc.replace_substring_regex(arrow, _KEY_IGNORED, "")
    kept = pc.replace_substring_regex(arrow, _KEY_BLANK, "")  # punctuation kept
    key = pc.if_else(pc.equal(key, ""), kept, key)
    key = pd.Series(pd.array(key, dtype="str"))
    key = key.mask(key == "")
    return pd.Series(
        np.append(key.to_numpy(dtype=object, na_value=None), None)[codes],
        index=values.index, dtype="str",
    )


# What the key ignores: spacing, punctuation, control and invisible format characters; and the
# part of it that is never kept (for a value of punctuation only).
_KEY_IGNORED = r"[\p{P}\p{Z}\p{Cc}\p{Cf}\s]+"
_KEY_BLANK = r"[\p{Z}\p{Cc}\p{Cf}\s]+"


def assign_ct(values: pd.Series, terminology: pd.DataFrame, codelist: str) -> pd.Series:
    """Map raw values to a codelist's submission values through the study terminology table.

    `terminology` has columns `codelist`, `raw`, `value`; matching is on `compute_lookup_key` of
    both sides. Values the table does not know, and blanks, give NA (the caller reports them).
    Raises ValueError when the codelist is absent from the table, when one of its raw entries has
    no key (blank), or when two of its raw entries share a key but map to different values.
    """
    missing = {"codelist", "raw", "value"} - set(terminology.columns)
    if missing:
        raise ValueError(
            f"terminology table lacks column(s) {sorted(missing)}; expected codelist, raw, value"
        )
    table = terminology.loc[terminology["codelist"] == codelist, ["raw", "value"]]
    if table.empty:
        known = ", ".join(sorted(terminology["codelist"].dropna().astype(str).unique()))
        raise ValueError(
            f"codelist {codelist!r} has no rows in the terminology table (has: {known})"
        )
    table = table.assign(key=compute_lookup_key(table["raw"]))
    if table["key"].isna().any():
        raise ValueError(
            f"terminology codelist {codelist!r} has a row with a blank raw spelling (value "
            f"{table.loc[table['key'].isna(), 'value'].iloc[0]!r}): give the spelling or delete the row"
        )
    conflicts = table.groupby("key")["value"].nunique()
    conflicts = conflicts[conflicts > 1]
    if not conflicts.empty:
        key = conflicts.index[0]
        clash = table.loc[table["key"] == key]
        pairs = "; ".join(f"{r!r} -> {v!r}" for r, v in zip(clash["raw"], clash["value"]))
        raise ValueError(
            f"terminology codelist {codelist!r}: {pairs} are one spelling to the lookup key "
            f"({key!r}: case, width, spacing and punctuation are ignored) but map to different "
            "values; keep one value for them, or tell them apart by letters or digits"
        )
    lookup = table.drop_duplicates("key").set_index("key")["value"]
    return compute_lookup_key(values).map(lookup).astype("str")


# --------------------------------------------------------------------------------------------------
# Dates and times
# --------------------------------------------------------------------------------------------------


def compute_iso8601_date(values: pd.Series) -> pd.DataFrame:
    """Raw date text to an ISO 8601 --DTC value, with a problem message for what cannot be read.

    Accepts `2026-03-05`, `2026/3/5`, `05-Mar-2026`, `05MAR2026` (any case), Excel date cells
    (`2026-03-05 00:00:00`; a non-midnight time is kept as `2026-03-05T09:40`, seconds only when
    non-zero), Excel serials 1-2958465 (`45356`, `45356.0`; a fraction is the time of day), and
    partial dates `2026-03`, `2026`, `UN-MAR-2026`, `UNK-Mar-2026`, `UN-UNK-2026`, which stay
    partial (no imputation). A bare 4-digit number (`2026`, `2026.0`) is a year, not a serial.
    Midnight is indistinguishable from a date-only Excel cell, so it is dropped.

    Returns a frame with the input's index and columns `dtc` and `problem`. Blank gives NA in both
    (whether a date is required is checked elsewhere); a problem always leaves `dtc` NA.
    Parsed once per distinct text.
    """
    return compute_per_distinct(_parse_dates, values)


def _parse_dates(values: pd.Series) -> pd.DataFrame:
    text = _as_text(values)
    parts, problem = _parse_date_parts(text)
    return pd.DataFrame({"dtc": _render_dtc(parts), "problem": problem.array}, index=text.index)


def compute_iso8601_datetime(dates: pd.Series, times: pd.Series | None) -> pd.DataFrame:
    """A date column and an optional time column combined into one ISO 8601 --DTC value.

    The date is read as `compute_iso8601_date` reads it. Times accepted: `09:40`, `9:40`,
    `09:40:30`, Excel time cells (`09:40:00`, also rendered on Excel's day 0 as
    `1899-12-30 09:40:00`) and Excel day fractions (`0.4027777` = 09:40). Result like
    `2026-03-05T09:40`, seconds only when non-zero; a time typed as 00:00 is kept, since unlike a
    date cell's midnight it was meant. `times` may be None when the sheet has no time column.

    Where a usable date meets an unusable time the date is kept and the time dropped, with a
    problem: an invalid time (`25:00`), a time on a partial date (ISO 8601 cannot say "March,
    09:40"), or a date cell whose own time disagrees with the time column. A time without any
    date, or an unreadable date, gives `dtc` NA with a problem.
    """
    if times is None:
        times = pd.Series(pd.NA, index=dates.index, dtype="str")
    _check_same_index(dates=dates, times=times)
    # parsed once per distinct (date, time): a million lab rows share a few thousand
    return compute_per_distinct(_parse_datetimes, dates, times)


def _parse_datetimes(dates: pd.Series, times: pd.Series) -> pd.DataFrame:
    date_text = _as_text(dates)
    time_text = _as_text(times)
    parts, date_problem = _parse_date_parts(date_text)
    clock = _parse_time_parts(time_text)

    has_date = date_text.notna().to_numpy()
    has_time = time_text.notna().to_numpy()
    date_ok = has_date & date_problem.isna().to_numpy()
    time_ok = has_time & clock["ok"]
    full_date = parts["precision"] >= _DAY
    cell_has_time = parts["precision"] > _DAY
    conflict = time_ok & date_ok & cell_has_time & (_seconds(clock) != _seconds(parts))

    problems = _Problems(len(date_text))
    quoted_time = ("'", time_text, "'")
    quoted_date = ("'", date_text, "'")
    problems.add(
        has_time & ~clock["ok"],
        *(*quoted_time, " is not a valid time of day; use HH:MM (00:00-23:59)"),
    )
    problems.add(time_ok & ~has_date, "time ", *quoted_time, " has no date")
    problems.add(
        time_ok & date_ok & ~full_date,
        *("time ", *quoted_time, " dropped: date ", *quoted_date, " is partial"),
    )
    problems.add(
        conflict,
        *("time ", *quoted_time, " disagrees with the time in date ", *quoted_date),
        "; both dropped",
    )

    use_time = time_ok & date_ok & full_date & ~conflict
    drop_time = has_time & ~use_time
    combined = dict(parts)
    for unit in ("hh", "mi", "ss"):
        combined[unit] = np.where(use_time, clock[unit], np.where(drop_time, 0, parts[unit]))
    combined["precision"] = np.select(
        [use_time, drop_time],
        [np.where(combined["ss"] != 0, _SECOND, _MINUTE), np.minimum(parts["precision"], _DAY)],
        default=parts["precision"],
    )
    problem = _join_messages(date_problem, problems.series(date_text.index))
    return pd.DataFrame(
        {"dtc": _render_dtc(combined), "problem": problem.array}, index=date_text.index
    )


def compute_study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """SDTMIG --DY: date part of `dtc` minus that of `rfstdtc`, +1 on or after the reference.

    There is no day 0 (the day before Day 1 is Day -1); time parts are ignored. NA when either
    value is missing or partial (shorter than YYYY-MM-DD). Returns nullable Int64.
    """
    _check_same_index(dtc=dtc, rfstdtc=rfstdtc)
    date = compute_day(dtc)
    ref = compute_day(rfstdtc)
    days = (date - ref).dt.days
    day = days.where(days < 0, days + 1)
    return day.astype("Int64")


def compute_age(birth_dtc: pd.Series, ref_dtc: pd.Series) -> pd.Series:
    """Completed years from `birth_dtc` to `ref_dtc` (ISO 8601), as nullable Int64.

    A partial date (YYYY or YYYY-MM) stands for every day it may be. The age is given whenever all
    of those days give the same whole years, i.e. when the youngest possible age (latest birth
    day, earliest reference day) equals the oldest (earliest birth day, latest reference day):
    born 1971-07, consented 2025-05-12 is 53 whatever the day of July (the birthday is surely still
    to come); born 1971-05, consented 2025-05-12 is 53 or 54, so NA. A year-only birth date is
    certain only against a 31 December reference (every birthday of the year has then passed).
    NA when either date is missing, unreadable or the years are uncertain.

    Someone born on 29 February completes a year on 1 March in non-leap years: the year is counted
    only once 28 February has fully passed (the plain month-day comparison; the alternative, 28
    February, would credit the year a day early). A reference date before birth gives a negative
    age, left for the eligibility check to report rather than hidden as NA.
    """
    _check_same_index(birth_dtc=birth_dtc, ref_dtc=ref_dtc)
    birth_first, birth_last = _date_bounds(birth_dtc)
    ref_first, ref_last = _date_bounds(ref_dtc)
    youngest = _completed_years(birth_last, ref_first)
    oldest = _completed_years(birth_first, ref_last)
    return youngest.where(youngest == oldest).astype("Int64")


def _completed_years(birth: pd.DataFrame, ref: pd.DataFrame) -> pd.Series:
    """Whole years between two (year, month, day) frames; NA where either is NA."""
    not_yet = (ref["month"] * 100 + ref["day"]) < (birth["month"] * 100 + birth["day"])
    return ref["year"] - birth["year"] - not_yet.astype("Int64")


def _date_bounds(dtc: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first and last day an ISO 8601 date (YYYY, YYYY-MM or YYYY-MM-DD...) may be, each as
    Int64 (year, month, day) columns; all NA for missing or invalid text."""
    text = dtc.astype("str").where(dtc.notna())
    parts = text.str.extract(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T.*)?$")
    year, month, day = (pd.to_numeric(parts[i]).astype("Int64") for i in range(3))
    full = compute_day(dtc)
    month_ok = month.isna() | month.between(1, 12)
    valid = year.notna() & month_ok & (day.isna() | full.notna())
    first_month = month.fillna(1)
    last_month = month.fillna(12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_length = pd.Series(_DAYS_IN_MONTH[last_month.fillna(1).clip(1, 12).to_numpy(dtype="int64")], index=dtc.index)
    month_length = month_length.astype("Int64") + ((last_month == 2) & leap).astype("Int64")
    first = pd.DataFrame({"year": year, "month": first_month, "day": day.fillna(1)})
    last = pd.DataFrame({"year": year, "month": last_month, "day": day.fillna(month_length)})
    return first.where(valid), last.where(valid)


# --------------------------------------------------------------------------------------------------
# Lab results
# --------------------------------------------------------------------------------------------------


def compute_continuous_result(orres: pd.Series) -> pd.Series:
    """True where a result as written is a continuous measurement: a plain number, no `<`/`>`.

    CDISC's reading (CORE-000289/290/298/299, SDTMIG LB): a reference range belongs to a continuous
    result only, and `<5` / `>1000` (beyond the assay's limits) are not one: LBSTRESN is null for
    them, so a numeric standard range has nothing to be compared with. Missing results are False.
    """
    parsed = compute_numeric_result(orres)
    return (parsed["number"].notna() & parsed["operator"].isna()).astype(bool)


def compute_numeric_result(orres: pd.Series, result_values: pd.DataFrame | None = None) -> pd.DataFrame:
    """Split a result as written into `operator` and `number`, with a `problem` for non-numbers.

    Accepts `35`, `12.6`, `-2`, `<5`, `< 5`, `>1000`, `<=5`, `≤5`, `≥5`, `6.98E+05`, `6.98e5`
    (full-width forms too, after NFKC). `operator` is `<`, `>`, `<=`, `>=` or NA; `number` is
    float64 (NaN if none). A text the study declares in `result_values` (RESULT_VALUE_COLUMNS,
    e.g. `TND`, `Negative`) is no problem: `stresc` / `stresn` carry its declared standard result
    (NA / NaN on every other row), `number` stays NaN. Blank gives no problem; any other text
    that is not a number is a problem, including a decimal comma such as `12,6`, which is
    ambiguous with a thousands separator. Parsed once per distinct text: a million results
    share a few thousand.
    """
    return compute_per_distinct(lambda distinct: _parse_numeric_results(distinct, result_values), orres)


def _parse_numeric_results(orres: pd.Series, result_values: pd.DataFrame | None) -> pd.DataFrame:
    text = _as_text(orres)
    folded = text.str.normalize("NFKC")
    groups, _ = _groups(folded, _NUMERIC_PATTERN)
    operator = _str_series(groups["op"], text.index).replace({"≤": "<=", "≥": ">="})
    number = pd.to_numeric(_str_series(groups["num"], text.index)).astype("float64")
    number = number.where(np.isfinite(number))  # 1E+999 overflows to inf: not a result

    unread = text.notna().to_numpy() & number.isna().to_numpy()
    declared = _declared_results(text, unread, result_values)
    bad = unread & declared["stresc"].isna().to_numpy()
    comma = bad & folded.str.contains(_COMMA_NUMBER_PATTERN, regex=True).fillna(False).to_numpy()
    problems = _Problems(len(text))
    problems.add(
        comma,
        "'",
        text,
        "' is not a number: a comma may be a decimal or a thousands separator; "
        "write it with a decimal point and no separators",
    )
    problems.add(bad, "'", text, "' is not a number")
    return pd.DataFrame(
        {
            "operator": operator.array,
            "number": number.array,
            "problem": problems.series(text.index).array,
            "stresc": declared["stresc"].array,
            "stresn": declared["stresn"].array,
        },
        index=text.index,
    )


def compute_standard_result(
    orres: pd.Series, factor: pd.Series, result_values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Result in standard units: `LBSTRESC` (text) and `LBSTRESN` (float64) = number × factor.

    LBSTRESN is not rounded to a display precision, only to 12 significant digits to strip binary
    noise (0.9 × 17.1 gives 15.39, not 15.390000000000002). LBSTRESC is that number without
    trailing zeros and exponent (`11.97`, `35`, `6.98E+05` -> `698000`), prefixed by the operator
    when there is one; a censored result such as `<5` with factor 17.1 gives LBSTRESC `<85.5` and
    LBSTRESN NaN. A result declared in `result_values` gives its declared stresc / stresn as they
    stand (they are standard results already; no factor applies). Any other non-numeric result,
    or a missing factor, gives NA in both.
    """
    _check_same_index(orres=orres, factor=factor)
    return compute_scaled_result(compute_numeric_result(orres, result_values), factor)


def compute_scaled_result(parsed: pd.DataFrame, factor: pd.Series) -> pd.DataFrame:
    """compute_standard_result of a result compute_numeric_result has parsed already (standardise
    parses each result once; the checks and LB read what it made): LBSTRESC, LBSTRESN and
    `scaled`, the number × factor whatever its operator (`<5` × 17.1 is 85.5)."""
    _check_same_index(parsed=parsed, factor=factor)
    scale = pd.to_numeric(factor).astype("float64")
    product = (parsed["number"] * scale).to_numpy()
    value = pd.Series(_round_significant(product, 12), index=parsed.index)
    stresc = parsed["operator"].fillna("") + _format_plain(value)
    stresn = value.where(parsed["operator"].isna())
    declared = parsed["stresc"].notna().to_numpy()
    if declared.any():  # positional: arrays, so a duplicated index cannot misalign
        stresc = stresc.mask(declared, parsed["stresc"].to_numpy(object))
        stresn = stresn.mask(declared, parsed["stresn"].to_numpy())
    return pd.DataFrame(
        {"LBSTRESC": stresc.astype("str").array, "LBSTRESN": stresn.astype("float64").array,
         "scaled": value.astype("float64").array},
        index=parsed.index,
    )


def check_result_values(result_values: pd.DataFrame) -> list[str]:
    """Every row of a study's result_values table that cannot be used, one sentence each: a
    missing column, a blank or repeated raw text, a raw text that is a number already (the operator
    rule reads `<20`), a blank stresc, a stresn that is not the number stresc states."""
    missing = [c for c in RESULT_VALUE_COLUMNS if c not in result_values.columns]
    if missing:
        return [f"missing column(s) {', '.join(missing)} (columns: {', '.join(RESULT_VALUE_COLUMNS)})"]
    table = result_values.reset_index(drop=True).fillna("")
    key = compute_lookup_key(table["raw"])
    numeric = compute_numeric_result(table["raw"])["number"].notna()
    stresn = pd.to_numeric(table["stresn"].replace("", None), errors="coerce").astype("float64")
    stated = pd.to_numeric(table["stresc"].where(table["stresc"] != ""), errors="coerce").astype("float64")
    stresn_bad = (table["stresn"] != "") & (stresn.isna() | (stated != stresn).fillna(True))
    checks = [
        (key.isna(), "raw is blank: give the text the site writes"),
        (key.duplicated(keep=False) & key.notna(), "repeats a raw text (keys ignore case, width and "
         "spacing): keep one row"),
        (numeric, "is a number already (the operator rule reads <5-style results): remove the row"),
        (table["stresc"].str.strip() == "", "stresc is blank: give the standard result text"),
        (stresn_bad, "stresn must be blank or the number stresc states"),
    ]
    return [
        f"row {row + 2} {raw!r}: {message}"  # row 1 is the header
        for mask, message in checks
        for row, raw in zip(table.index[mask.to_numpy()], table.loc[mask.to_numpy(), "raw"])
    ]


def compute_reference_range_indicator(
    value: pd.Series, low: pd.Series, high: pd.Series
) -> pd.Series:
    """CDISC NRIND: `LOW` below `low`, `HIGH` above `high`, otherwise `NORMAL` (limits inclusive).

    Inputs are numbers or numeric text in one unit; anything non-numeric (a censored `<5`) counts
    as missing. NA when the value is missing or both limits are; with one limit only, the value is
    judged on that side alone.
    """
    _check_same_index(value=value, low=low, high=high)
    v = pd.to_numeric(value, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    lo = pd.to_numeric(low, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    hi = pd.to_numeric(high, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    judged = ~np.isnan(v) & ~(np.isnan(lo) & np.isnan(hi))
    flag = np.select([~judged, v < lo, v > hi], [None, "LOW", "HIGH"], default="NORMAL")
    return pd.Series(flag, index=value.index, dtype="str")


# --------------------------------------------------------------------------------------------------
# Visits
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------------


def _as_text(values: pd.Series) -> pd.Series:
    """Trimmed `str` copy of a raw column; blank cells become NA."""
    text = values.astype("str").str.strip()
    return text.mask(text == "")


def _declared_results(text: pd.Series, unread: np.ndarray, result_values: pd.DataFrame | None) -> pd.DataFrame:
    """stresc / stresn of the `unread` rows whose text the study declares; NA elsewhere. Only
    unread rows are keyed, so a million numeric results cost nothing here."""
    stresc = pd.Series(pd.NA, index=text.index, dtype="str")
    stresn = pd.Series(np.nan, index=text.index, dtype="float64")
    if result_values is not None and not result_values.empty and unread.any():
        lookup = _result_lookup(result_values)
        keys = compute_lookup_key(text[unread])
        stresc = stresc.mask(unread, _spread(keys.map(lookup["stresc"]).to_numpy(object), unread, None))
        stresn = stresn.mask(unread, _spread(keys.map(lookup["stresn"]).to_numpy("float64"), unread, np.nan))
    return pd.DataFrame({"stresc": stresc.array, "stresn": stresn.array}, index=text.index)


def _spread(values: np.ndarray, where: np.ndarray, fill) -> np.ndarray:
    """`values` (one per True of `where`) placed at those positions, `fill` elsewhere."""
    out = np.full(len(where), fill, dtype=values.dtype)
    out[where] = values
    return out


def _result_lookup(result_values: pd.DataFrame) -> pd.DataFrame:
    """stresc and stresn by normalised raw text; raises ValueError for a table that cannot be
    used (read_study reports the same problems with the file's path at load)."""
    problems = check_result_values(result_values)
    if problems:
        raise ValueError("result_values table: " + "; ".join(problems))
    table = result_values.fillna("")
    return pd.DataFrame(
        {"stresc": table["stresc"].str.strip().to_numpy(),
         "stresn": pd.to_numeric(table["stresn"].replace("", None)).astype("float64").to_numpy()},
        index=compute_lookup_key(table["raw"]).to_numpy(),
    )


def _check_same_index(**series: pd.Series) -> None:
    """Raise unless all Series share one index (positional maths must not misalign rows)."""
    items = list(series.items())
    first_name, first = items[0]
    for name, other in items[1:]:
        if not first.index.equals(other.index):
            raise ValueError(
                f"{name} and {first_name} must share one index (take both columns from the same "
                "frame, or reindex one to the other)"
            )


def _groups(text: pd.Series, pattern: str) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Named groups of `pattern` per row as Arrow arrays (null where a group took no part), and
    whether the row matched at all."""
    struct = pc.extract_regex(pa.array(text.array, type=pa.string()), pattern)
    if isinstance(struct, pa.ChunkedArray):
        struct = struct.combine_chunks()
    matched = struct.is_valid()
    groups = {}
    for i, field in enumerate(struct.type):
        # RE2 reports a group that did not take part as ''; a non-matching row's children are junk.
        group = struct.field(i)
        groups[field.name] = pc.if_else(pc.and_(matched, pc.not_equal(group, "")), group, None)
    return groups, _np_bool(matched)


def _np_bool(values: pa.Array) -> np.ndarray:
    """Arrow booleans as a NumPy mask, null counting as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _np_int(digits: pa.Array, missing: int = -1) -> np.ndarray:
    """Arrow digit strings as int64, `missing` where null."""
    return pc.fill_null(pc.cast(digits, pa.int64()), missing).to_numpy()


def _str_series(values: pa.Array, index: pd.Index) -> pd.Series:
    """An Arrow string array as a pandas `str` Series, without copying."""
    return pd.Series(pd.array(pc.cast(values, pa.large_string()), dtype="str"), index=index)


def _seconds(parts: dict[str, np.ndarray]) -> np.ndarray:
    """Seconds since midnight of clock components."""
    return parts["hh"] * 3600 + parts["mi"] * 60 + parts["ss"]


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Calendar length of each month (Gregorian leap rule); 0 for a month outside 1-12."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    valid = (month >= 1) & (month <= 12)
    days = _DAYS_IN_MONTH[np.where(valid, month, 0)]
    return days + ((month == 2) & leap)


class _Problems:
    """Problem messages for a column, first one found per row wins.

    Messages are assembled only for the rows that have the problem, so a clean million-row column
    costs nothing here.
    """

    def __init__(self, length: int) -> None:
        self._messages = np.full(length, None, dtype=object)
        self._found = np.zeros(length, dtype=bool)

    def add(self, where: np.ndarray, *pieces: str | pd.Series) -> None:
        """Set a message (the concatenation of text and Series pieces) where none is set yet."""
        rows = np.asarray(where, dtype=bool) & ~self._found
        if not rows.any():
            return
        message = pd.Series("", index=pd.RangeIndex(int(rows.sum())), dtype="str")
        for piece in pieces:
            if isinstance(piece, pd.Series):
                piece = pd.Series(piece.array[rows], dtype="str")
            message = message + piece
        self._messages[rows] = message.to_numpy()
        self._found |= rows

    @property
    def found(self) -> np.ndarray:
        """Rows that have a problem."""
        return self._found

    @property
    def messages(self) -> np.ndarray:
        """The messages as an object array (None where the row is fine)."""
        return self._messages

    def series(self, index: pd.Index) -> pd.Series:
        """The messages as a `str` Series (NA where the row is fine)."""
        return pd.Series(self._messages, index=index, dtype="str")


def _join_messages(first: pd.Series, second: pd.Series) -> pd.Series:
    """'a; b' where both are set, else whichever is."""
    both = first.notna() & second.notna()
    joined = first.fillna(second)
    return joined.where(~both, first + "; " + second)


def _parse_date_parts(text: pd.Series) -> tuple[dict[str, np.ndarray], pd.Series]:
    """Components (year … second, precision) of each date, and a problem message per row.

    Each distinct text is parsed once: a date column repeats itself heavily (a visit date per lab
    test, the same export format throughout), and the index codes spread the answers back.
    """
    codes, distinct = pd.factorize(text)
    parts, problems = _parse_distinct_dates(pd.Series(distinct, dtype="str"))
    # Code -1 (blank) picks the extra last row: no date, no problem.
    expanded = {name: np.append(values, 0)[codes] for name, values in parts.items()}
    problem = pd.Series(np.append(problems, None)[codes], index=text.index, dtype="str")
    return expanded, problem


def _parse_distinct_dates(text: pd.Series) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`_parse_date_parts` for a column without blanks; problems as an object array."""
    g, matched = _groups(pd.Series(text.str.upper().array), _DATE_PATTERN)

    # Day and month written as UN / UNK mean "unknown", not a value.
    day_unknown = _np_bool(pc.match_substring_regex(g["nd"], "^UNK?$"))
    month_unknown = _np_bool(pc.match_substring_regex(g["nm"], "^UNK?$"))
    named = _np_bool(pc.is_valid(g["nm"])) & ~month_unknown
    month_of_name = _np_int(pc.index_in(g["nm"], value_set=pa.array(_MONTHS)), -1) + 1
    bad_month_name = named & (month_of_name == 0)

    year = _np_int(pc.coalesce(g["iy"], g["sy"], g["ny"]))
    month = np.where(named, month_of_name, _np_int(pc.coalesce(g["im"], g["sm"])))
    day_digits = pc.if_else(pc.match_substring_regex(g["nd"], "^[0-9]"), g["nd"], None)
    day = _np_int(pc.coalesce(g["id"], g["sd"], day_digits))
    hh, mi, ss = _np_int(g["hh"], 0), _np_int(g["mi"], 0), _np_int(g["ss"], 0)
    has_clock = _np_bool(pc.is_valid(g["hh"]))

    # Excel serials. Whole numbers 1000-9999 read as a year: 1902-1927 is no date of this study,
    # while a year typed into a number cell arrives exactly like that.
    is_serial = _np_bool(pc.is_valid(g["serial"]))
    serial = _np_int(g["serial"], 0)
    fraction = pc.binary_join_element_wise("0.", pc.fill_null(g["frac"], "0"), "")
    fraction = pc.cast(fraction, pa.float64()).to_numpy()
    year_like = is_serial & (serial >= 1000) & (serial <= 9999) & (fraction == 0)
    year = np.where(year_like, serial, year)
    from_serial = is_serial & ~year_like
    serial_in_range = (serial >= 1) & (serial <= _EXCEL_SERIAL_MAX)
    # Rounded to the second so 0.4027777 (Excel's 09:40 stored in binary) is 09:40:00.
    seconds = serial * 86400 + np.rint(fraction * 86400).astype("int64")
    seconds = np.where(from_serial & serial_in_range, seconds, 86400)
    stamp = _EXCEL_EPOCH.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    s_day = stamp.astype("datetime64[D]")
    s_month = s_day.astype("datetime64[M]")
    s_clock = (stamp - s_day.astype("datetime64[s]")).astype("int64")
    year = np.where(from_serial, s_month.astype("datetime64[Y]").astype("int64") + 1970, year)
    month = np.where(from_serial, s_month.astype("int64") % 12 + 1, month)
    day = np.where(from_serial, (s_day - s_month.astype("datetime64[D]")).astype("int64") + 1, day)
    hh = np.where(from_serial, s_clock // 3600, hh)
    mi = np.where(from_serial, s_clock // 60 % 60, mi)
    ss = np.where(from_serial, s_clock % 60, ss)

    has_month = month >= 0
    has_day = day >= 0
    clock = hh * 3600 + mi * 60 + ss
    precision = np.select(
        [has_day & (ss > 0), has_day & (clock > 0), has_day, has_month],
        [_SECOND, _MINUTE, _DAY, _MONTH],
        default=_YEAR,
    )
    real = (
        (year >= 1)
        & (~has_month | ((month >= 1) & (month <= 12)))
        & (~has_day | ((day >= 1) & (day <= _days_in_month(year, month))))
    )

    problems = _Problems(len(text))
    quoted = ("'", text, "'")
    unrecognised = ~matched | (is_serial & has_clock)
    problems.add(unrecognised, *quoted, " is not a recognised date format; use YYYY-MM-DD")
    problems.add(
        from_serial & ~serial_in_range,
        *quoted,
        f" is outside the Excel date serial range 1-{_EXCEL_SERIAL_MAX}",
    )
    problems.add(
        bad_month_name, *quoted, " has an unrecognised month name; use JAN-DEC or UN/UNK if unknown"
    )
    problems.add(
        has_day & month_unknown,
        *quoted,
        " gives a day but no month; send UN-UNK-YYYY if only the year is known",
    )
    problems.add(~real, *quoted, " is not a real date")
    problems.add(has_clock & ~has_day, *quoted, " has a time but only a partial date")
    problems.add((hh > 23) | (mi > 59) | (ss > 59), *quoted, " has an impossible time of day")

    ok = ~problems.found
    parts = {
        "year": np.where(ok, year, 1970),
        "month": np.where(ok & has_month, month, 1),
        "day": np.where(ok & has_day, day, 1),
        "hh": np.where(ok, hh, 0),
        "mi": np.where(ok, mi, 0),
        "ss": np.where(ok, ss, 0),
        "precision": np.where(ok, precision, 0),
    }
    return parts, problems.messages


def _parse_time_parts(text: pd.Series) -> dict[str, np.ndarray]:
    """Hour, minute, second of each time-of-day text, and whether it is a valid time."""
    g, _ = _groups(text, _TIME_PATTERN)
    hh, mi, ss = _np_int(g["hh"], 0), _np_int(g["mi"], 0), _np_int(g["ss"], 0)
    fraction = pc.cast(g["frac"], pa.float64()).to_numpy(zero_copy_only=False)
    from_fraction = ~np.isnan(fraction)
    secs = np.rint(np.nan_to_num(fraction) * 86400).astype("int64")
    hh = np.where(from_fraction, secs // 3600, hh)
    mi = np.where(from_fraction, secs // 60 % 60, mi)
    ss = np.where(from_fraction, secs % 60, ss)
    matched = _np_bool(pc.is_valid(g["hh"])) | from_fraction
    ok = matched & (hh <= 23) & (mi <= 59) & (ss <= 59)
    return {"hh": hh, "mi": mi, "ss": ss, "ok": ok}


def _render_dtc(parts: dict[str, np.ndarray]) -> pd.api.extensions.ExtensionArray:
    """ISO 8601 text of date components, cut to each row's precision (0 = no date: NA)."""

    def padded(values: np.ndarray, width: int) -> pa.Array:
        return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width, "0")

    full = pc.binary_join_element_wise(
        padded(parts["year"], 4), "-", padded(parts["month"], 2), "-", padded(parts["day"], 2),
        "T", padded(parts["hh"], 2), ":", padded(parts["mi"], 2), ":", padded(parts["ss"], 2),
        "",
    )  # fmt: skip
    widths = [_YEAR, _MONTH, _DAY, _MINUTE, _SECOND]
    precision = parts["precision"]
    chosen = pc.case_when(
        pc.make_struct(
            *[pa.array(precision == w) for w in widths], field_names=[str(w) for w in widths]
        ),
        *[pc.utf8_slice_codeunits(full, 0, w) for w in widths],
    )
    return pd.array(pc.cast(chosen, pa.large_string()), dtype="str")


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round to `digits` significant digits, dividing by an exact power of ten last.

    Dividing an integer-valued float by 10**k returns the double nearest the decimal, which is
    what removes noise such as 3.3000000000000003.
    """
    values = np.asarray(values, dtype="float64")
    finite = np.isfinite(values) & (values != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(np.where(finite, values, 1.0))))
    decimals = (digits - 1 - magnitude).astype("int64")
    scale = 10.0 ** np.abs(decimals)
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.where(
            decimals >= 0, np.round(values * scale) / scale, np.round(values / scale) * scale
        )
    return np.where(finite, rounded, values)


def _format_plain(values: pd.Series) -> pd.Series:
    """Shortest round-trip text of each float, positional (no exponent), no trailing `.0`: worked
    once per distinct value (a million lab results share a few thousand), so the regexes run on
    those only."""
    return compute_per_distinct(_format_plain_distinct, values).astype("str")


def _format_plain_distinct(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.replace(r"\.0$", "", regex=True)
    text = text.replace({"-0": "0"})
    exp = text.str.extract(r"^(?P<sign>-?)(?P<lead>\d)(?:\.(?P<rest>\d+))?e(?P<exp>[+-]\d+)$")
    sci = exp["exp"].notna().to_numpy()
    if sci.any():
        e = exp[sci]
        power = e["exp"].astype("int64")
        rest = e["rest"].fillna("")
        digits = e["lead"] + rest
        zeros = pd.Series("0", index=e.index)
        small = e["sign"] + "0." + zeros.str.repeat((-power - 1).clip(lower=0).tolist()) + digits
        trailing = (power - rest.str.len()).clip(lower=0).tolist()
        large = e["sign"] + digits + zeros.str.repeat(trailing)
        text = text.copy()
        text[sci] = small.where(power < 0, large).to_numpy()
    return text.astype("str")
