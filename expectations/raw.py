"""Great Expectations suites for the raw sheets, and the findings they produce.

The suite of a sheet is generated from the sheet's rows in `raw_columns.csv` (which columns are
required, which hold dates or numbers) and from the study's value sets passed in `context`; no
column is written out by hand. It holds only the checks the mapping cannot do without: a row that
fails an ERROR check would otherwise be mapped wrongly or not at all, so it is held back with a
finding the site can act on.

The frame validated is a raw sheet after standardisation has added its helper columns: for every
date column `<col>` a parsed `dtc_<col>` (and optionally `problem_<col>`, the parser's reason), and
for the sheets that have them `VISIT`, `LBTESTCD` and `LBORRESU` (the visit, test code and unit in
the study's normalised forms, NA when the raw text could not be recognised). Checks compare the
helper with its raw column ("`dtc_<col>` not NA where `<col>` is not NA"), so recognising a
spelling stays the standardiser's job and saying "not recognised" is this one's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from great_expectations import expectations as gxe
from great_expectations.expectations.row_conditions import Column

from expectations.engine import validate_frame
from transforms.core.distinct import compute_is_in, compute_per_distinct
from transforms.spec.study import EXPOSURE, FINDINGS, SUBJECTS
from transforms.core.findings import (
    ERROR,
    INFO,
    LINEAGE,
    WARNING,
    concat_findings,
    empty_findings,
    make_finding,
    make_row_findings,
    sort_findings,
)

STAGE = "validate"

# Helper columns the standardise stage adds before validation (see the module docstring).
VISIT_CODE, TEST_CODE, UNIT_CODE = "VISIT", "LBTESTCD", "LBORRESU"
DATE_PREFIX, PROBLEM_PREFIX = "dtc_", "problem_"

# Record keys (sheets.csv, context["record_keys"]): one row per key within one file. Later files may
# repeat a key on purpose (the newest export wins), so `_file` is part of every key here.
# What each key column is reported as: the raw column the site typed.
_KEY_SOURCES = {
    VISIT_CODE: "visit", TEST_CODE: "test", DATE_PREFIX + "collection_date": "collection_date"
}

_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"

RULES = {
    "SF-0101": "required value blank",
    "SF-0102": "subject not on the subjects sheet",
    "SF-0103": "date not readable",
    "SF-0104": "visit not recognised",
    "SF-0105": "lab test not recognised",
    "SF-0106": "lab unit missing, not recognised or not valid for the test",
    "SF-0107": "record key repeated within one file",
    "SF-0108": "number not readable",
    "SF-0117": "lab result is not a number or a recognised qualifier",
    "SF-0118": "lab result and not-done reason both given",
    "SF-0119": "lab result physiologically implausible",
    "SF-0120": "age at consent outside the eligible range",
    "SF-0121": "age at consent cannot be computed",
    "SF-0122": "raw answer makes the subject ineligible (eligibility.csv)",
    "SF-0123": "coded value not recognised",
    "SF-0124": "dose is not a planned arm's dose",
    "SF-0127": "time of day not usable",
}

# Helpers check_raw_sheet adds itself from `context` (they depend on other sheets or on study
# tables, not on the row alone): the subject where Demographics has it, and the plausible range
# of the row's test in its standard unit.
KNOWN_SUBJECT, PLAUSIBLE_LOW, PLAUSIBLE_HIGH = "dm_subject", "plausible_low", "plausible_high"


def build_raw_suite(sheet: str, raw_columns: pd.DataFrame, context: dict) -> list:
    """The expectations for one raw sheet, each carrying meta rule / severity / message.

    `raw_columns` is mappings/<study>/raw_columns.csv (sheet, column, header, required, kind, and
    optionally required_unless); `context` holds the study's value sets as plain lists:
    `known_subjects` (Demographics subjects; infusions, labs, assessments), `known_visits` (labs,
    assessments), `known_tests` (LBTESTCD codes; labs) and `known_units` ((LBTESTCD, unit) pairs,
    unit NA or "" for a test reported without unit; labs). Optional, each adding its checks when
    given: `plausible_ranges` ((LBTESTCD, low, high, standard unit); labs), `age_range`
    ((min, max) years at consent; demographics), `arm_doses` (the planned doses; infusions),
    `spellings` ({codelist: accepted raw spellings}, named in the not-recognised messages),
    `result_values` (the non-numeric results the study declares, named in SF-0117's message) and
    `eligibility` (eligibility.csv rows as dicts: sheet, column, value, reason; SF-0122).
    """
    columns = _sheet_columns(sheet, raw_columns, context)
    _check_context(sheet, columns, context)
    headers = dict(zip(columns["column"], columns["header"]))
    role = context["roles"][sheet]
    label = context.get("labels", {}).get(sheet, sheet)
    suite = []
    suite += _required_checks(sheet, columns, label)
    if _is_subject_sheet(sheet, columns, context):
        # The membership is computed into a helper (see check_raw_sheet): a value set of every
        # subject makes GX re-serialise the whole list for each metric, 15 s at 17,500 subjects.
        suite.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=KNOWN_SUBJECT,
                row_condition=Column("subject").is_not_null(),
                meta=_meta(
                    "SF-0102", ERROR, "subject",
                    f"{_named(headers, 'subject')} is not in the {context['subjects_label']} sheet: "
                    f"check the subject number, or send the subject's {context['subjects_label']} row",
                    uses=["subject"], helpers=[KNOWN_SUBJECT],
                ),
            )
        )
    suite += _date_checks(columns)
    if _is_visit_sheet(columns):
        suite += _recognised_checks(
            "SF-0104", "visit", VISIT_CODE, context["known_visits"],
            f"{_named(headers, 'visit')} is not one of the protocol visits ("
            + ", ".join(context["known_visits"]) + "): "
            "correct the visit name",
        )
    if role == FINDINGS:
        suite += _recognised_checks(
            "SF-0105", "test", TEST_CODE, context["known_tests"],
            f"{_named(headers, 'test')} is not one of the study's lab tests ("
            + ", ".join(context["known_tests"]) + "): "
            "correct the test name, or ask the data manager to add this spelling",
        )
        suite += _unit_checks(context["known_units"], headers)
        suite += _result_checks(headers, context.get("result_values") or [])
        if context.get("plausible_ranges") is not None:
            suite += _plausibility_checks(context["plausible_ranges"], headers)
    suite += _coded_checks(columns, context.get("spellings") or {})
    suite += _number_checks(columns, label)
    suite += _time_checks(columns)
    if role == SUBJECTS:
        if context.get("age_range") is not None:
            suite += _age_checks(context["age_range"], headers)
    suite += _eligibility_checks(context.get("eligibility") or [], sheet, columns, headers)
    if role == EXPOSURE and context.get("arm_doses") is not None and "EXDOSE" in _standard_names(columns):
        suite += _dose_checks(context["arm_doses"], headers, context.get("not_given_column"))
    suite.append(_key_check(context["record_keys"][sheet], headers, label))
    return suite


def check_raw_sheet(
    frame: pd.DataFrame,
    sheet: str,
    raw_columns: pd.DataFrame,
    context: dict,
    data_docs_dir=None,
    build_docs: bool = True,
    skip=None,
    codes: dict | None = None,
) -> pd.DataFrame:
    """Validate one standardised raw sheet: findings, one per failing row and check.

    `skip` (a boolean mask over `frame`) names rows no check may judge, e.g. the copies of an
    exact duplicate, which their own finding already holds back. `codes` is the sheet's
    value-code cache (transforms.core.distinct), shared with the other checks of the sheet.

    A check that cannot run because a raw column is missing gives one row-less finding per file
    of the frame. A missing helper column is the pipeline's bug, not the site's, and raises.
    """
    suite = build_raw_suite(sheet, raw_columns, context)
    frame = assign_context_helpers(frame, sheet, context, codes, raw_columns)
    _check_frame(frame, suite)
    failures = validate_frame(
        frame, f"raw_{sheet}", suite, data_docs_dir=data_docs_dir, build_docs=build_docs,
        skip_rows=skip, codes=codes,
    )
    headers = dict(zip(raw_columns["column"], raw_columns["header"]))
    parts = [empty_findings()]
    for _, group in failures.groupby("position", sort=True):
        meta = group["meta"].iloc[0]
        table_level = group["index"].isna()
        if table_level.any():
            detail = group.loc[table_level, "detail"].iloc[0]
            parts.append(_table_findings(frame, sheet, meta, detail, headers))
        indices = group.loc[~table_level, "index"].tolist()
        if indices:
            parts.append(_row_findings(frame.loc[indices, _finding_columns(frame, meta)], meta))
    return sort_findings(concat_findings(*parts))


def assign_context_helpers(
    frame: pd.DataFrame, sheet: str, context: dict, codes: dict | None = None,
    raw_columns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The helpers the suite reads that come from `context` rather than from standardisation:
    `dm_subject` (the subject where Demographics has it) and, for labs with `plausible_ranges`,
    `plausible_low` / `plausible_high` of each row's test (NaN for an unknown test)."""
    added = {}
    if context["roles"][sheet] != SUBJECTS and "subject" in frame.columns:
        known = _texts(context["known_subjects"])
        in_demographics = compute_per_distinct(
            lambda s: compute_is_in(s, known), frame["subject"], cache=codes
        )
        added[KNOWN_SUBJECT] = frame["subject"].where(in_demographics)
    ranges = context.get("plausible_ranges")
    if context["roles"][sheet] == FINDINGS and ranges is not None and TEST_CODE in frame.columns:
        limits = pd.DataFrame([r[:3] for r in ranges], columns=[TEST_CODE, "low", "high"]).astype(
            {TEST_CODE: "str", "low": "float64", "high": "float64"}
        ).set_index(TEST_CODE)
        for name, limit in ((PLAUSIBLE_LOW, "low"), (PLAUSIBLE_HIGH, "high")):
            values = compute_per_distinct(
                lambda test: test.map(limits[limit]).to_numpy("float64", na_value=np.nan),
                frame[TEST_CODE], cache=codes,
            )
            added[name] = pd.Series(values, index=frame.index, dtype="float64")
    return frame.assign(**added) if added else frame


# --- suite builders ---------------------------------------------------------------------------


def _required_checks(sheet: str, columns: pd.DataFrame, label: str) -> list:
    out = []
    for row in columns[columns["required"] == "Y"].itertuples():
        unless = _required_unless(sheet, row)
        if unless:
            message = (
                f"{row.header} is blank and no reason is given: send the {row.header.lower()}, "
                f"or fill in the column '{_header(columns, unless)}'"
            )
            condition = Column(unless).is_null()
        else:
            message = f"{row.header} is blank: it is required on every {label} row; fill it in"
            condition = None
        out.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=row.column,
                row_condition=condition,
                meta=_meta("SF-0101", ERROR, row.column, message,
                           uses=[row.column] + ([unless] if unless else [])),
            )
        )
    return out


def _date_checks(columns: pd.DataFrame) -> list:
    out = []
    for row in columns[columns["kind"] == "date"].itertuples():
        # ERROR even for an optional date: an unreadable end-of-study or death date passed on as
        # blank would silently change the subject's disposition
        severity = ERROR
        out.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=DATE_PREFIX + row.column,
                row_condition=Column(row.column).is_not_null(),
                meta=_meta(
                    "SF-0103", severity, row.column,
                    f"{row.header} is not a date we can read: write it as YYYY-MM-DD (also "
                    "accepted: 2026/3/5, 05-Mar-2026, 05MAR2026, an Excel date; 2026-03 or "
                    "UN-MAR-2026 when the day is unknown)",
                    uses=[row.column, DATE_PREFIX + row.column],
                    helpers=[DATE_PREFIX + row.column],
                    detail_column=PROBLEM_PREFIX + row.column,
                ),
            )
        )
    return out


def _recognised_checks(rule: str, raw: str, code: str, known: list, message: str) -> list:
    """`code` filled wherever `raw` is (the standardiser knew the spelling) and `code` one of the
    study's values (the study schedule or test list has it)."""
    meta = _meta(rule, ERROR, raw, message, uses=[raw, code], helpers=[code])
    return [
        gxe.ExpectColumnValuesToNotBeNull(
            column=code, row_condition=Column(raw).is_not_null(), meta=meta
        ),
        gxe.ExpectColumnValuesToBeInSet(column=code, value_set=_texts(known), meta=meta),
    ]


def _unit_checks(known_units: list, headers: dict) -> list:
    unit_header = _named(headers, "unit")
    units: dict[str, list[str]] = {}
    for test, unit in known_units:
        units.setdefault(str(test), [])
        if not _blank(unit):
            units[str(test)].append(str(unit))
    # a test with a unit-less form (INR) may be sent without one; the others need theirs
    # a unit matters only beside a result: a not-done row keeps whatever the template held
    reported = Column("result").is_not_null()
    accepted = {
        test: "accepted for " + test + ": "
        + (", ".join(sorted(set(u))) if u else "none, it is reported without a unit")
        for test, u in units.items()
    }
    # One check for the three ways a unit fails: the standardiser sets `factor` only where it
    # found (test, unit) in the study's conversion table, a blank unit counting as "" (INR). The
    # message names the way it failed, chosen on the failing rows only; one expectation instead
    # of one per case and per test, because every row condition costs GX a pass over the sheet.
    return [
        gxe.ExpectColumnValuesToNotBeNull(
            column="factor",
            # a known test, or any test with a unit we do not recognise at all
            # (GX wants OR of ANDs)
            row_condition=(reported & Column(TEST_CODE).is_in(sorted(units)))
            | (reported & Column("unit").is_not_null() & Column(UNIT_CODE).is_null()),
            meta=_meta(
                "SF-0106", ERROR, "unit",
                f"{unit_header} is not one the study accepts for this test: check the unit, or ask the data "
                "manager to add a conversion",
                uses=["unit", "result", TEST_CODE, UNIT_CODE, "factor"],
                helpers=[TEST_CODE, UNIT_CODE, "factor"],
                detail_map={"column": TEST_CODE, "texts": accepted},
                message_when_null=[
                    ["unit", f"{unit_header} is blank for a result that needs one: add the unit the lab "
                     "reported"],
                    [UNIT_CODE, f"{unit_header} is not one we recognise: write it as the lab reports it "
                     "(e.g. U/L, umol/L, mg/dL, g/L, s, mmol/L)"],
                ],
            ),
        )
    ]


def _result_checks(headers: dict, declared: list) -> list:
    """A result is a number (`6.98E+05` too), a number with a qualifier (`<5`, `>1000`), one of
    the study's `declared` results (result_values.csv: `TND`, `NEG` ...) or blank with a reason
    (the blank case is SF-0101); standardisation says in `problem_result` what it could not read,
    so a declared result never fails here."""
    reason = _named(headers, "not_done_reason")
    result = _named(headers, "result")
    accepted = "a number or a number with a qualifier (<5, >1000)"
    if declared:
        accepted = "a number, a number with a qualifier (<5, >1000) or one of " + ", ".join(declared)
    return [
        gxe.ExpectColumnValuesToBeNull(
            column=PROBLEM_PREFIX + "result",
            meta=_meta(
                "SF-0117", ERROR, "result",
                f"{result} is not {accepted}: send the number "
                f"as the lab printed it, or leave {result} blank and fill in '{reason}'",
                uses=["result", PROBLEM_PREFIX + "result"], helpers=[PROBLEM_PREFIX + "result"],
                detail_column=PROBLEM_PREFIX + "result",
            ),
        ),
        # WARNING: the result is real and maps; only the reason is dropped (LBREASND is for
        # tests not done), and the site should say which of the two is true
        gxe.ExpectColumnValuesToBeNull(
            column="not_done_reason",
            row_condition=Column("result").is_not_null(),
            meta=_meta(
                "SF-0118", WARNING, "not_done_reason",
                f"'{reason}' is filled although a {result} is given: the result is kept and the "
                "reason ignored; clear the reason, or clear the result if the test was not done",
                uses=["not_done_reason", "result"],
            ),
        ),
    ]


def _plausibility_checks(ranges, headers: dict) -> list:
    """Result, in the test's standard unit, within the study's physiologically possible range
    (lab_tests.csv plausible_low / plausible_high). ERROR: the limits sit beyond what a living
    patient shows, so a value past them is a typing or unit slip, and mapped it would feed the
    MELD and Child-Pugh scores. Two column-pair checks instead of one per test: no row filter."""
    texts = {
        str(test): f"possible for {test}: {_number_text(low)} to {_number_text(high)}"
        + ("" if _blank(unit) else f" {unit}")
        for test, low, high, unit in ranges
    }
    meta = dict(
        uses=["result", "result_standard", TEST_CODE, PLAUSIBLE_LOW, PLAUSIBLE_HIGH],
        helpers=["result_standard", TEST_CODE],
        detail_map={"column": TEST_CODE, "texts": texts},
    )
    message = (
        f"{_named(headers, 'result')} is outside what is physiologically possible for this test: check it for a "
        "typing error or a wrong unit, and correct it"
    )
    return [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="result_standard", column_B=PLAUSIBLE_LOW, or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta("SF-0119", ERROR, "result", message, **meta),
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=PLAUSIBLE_HIGH, column_B="result_standard", or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta("SF-0119", ERROR, "result", message, **meta),
        ),
    ]


def _coded_checks(columns: pd.DataFrame, spellings: dict) -> list:
    """Every coded column (raw_columns `codelist`, `coded_as`, `unrecognised`): where the site
    wrote something, the study terminology must know it. The severity comes from the table: ERROR
    where the value would otherwise reach SDTM as null (sex, arm, route) or change a score
    (ascites, encephalopathy, dialysis), WARNING where a blank is acceptable (race, ethnicity)."""
    if "unrecognised" not in columns.columns:
        return []
    out = []
    for row in columns[columns["unrecognised"].isin([ERROR, WARNING])].itertuples():
        accepted = ", ".join(str(v) for v in spellings.get(row.codelist, []))
        accepted = f" (accepted: {accepted})" if accepted else ""
        consequence = "correct it" if row.unrecognised == ERROR else (
            "correct it; until then the row is mapped without it"
        )
        out.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=row.coded_as,
                row_condition=Column(row.column).is_not_null(),
                meta=_meta(
                    "SF-0123", row.unrecognised, row.column,
                    f"{row.header} is not a value the study recognises{accepted}: {consequence}",
                    uses=[row.column, row.coded_as], helpers=[row.coded_as],
                ),
            )
        )
    return out


def _time_checks(columns: pd.DataFrame) -> list:
    """A time the standardiser had to drop (`problem_<col>`): WARNING, the date is kept, and a
    missing time only costs precision (EXSTDTC, LBDTC without the time)."""
    out = []
    for row in columns[columns["kind"] == "time"].itertuples():
        out.append(
            gxe.ExpectColumnValuesToBeNull(
                column=PROBLEM_PREFIX + row.column,
                meta=_meta(
                    "SF-0127", WARNING, row.column,
                    f"{row.header} could not be used, so the date is kept without it: write the "
                    "time as HH:MM (00:00-23:59) on a full date",
                    uses=[row.column, PROBLEM_PREFIX + row.column],
                    helpers=[PROBLEM_PREFIX + row.column],
                    detail_column=PROBLEM_PREFIX + row.column,
                ),
            )
        )
    return out


def _age_checks(age_range, headers: dict) -> list:
    """Age at consent within the protocol's range: WARNING, the subject is still mapped (the
    contract: "a subject outside 18-80 is a finding, not a crash"); INFO where a partial date
    leaves AGE blank."""
    low, high = age_range
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column="age_at_consent", min_value=float(low), max_value=float(high),
            meta=_meta(
                "SF-0120", WARNING, "birth_date",
                f"Age at consent is outside the eligible {_number_text(low)}-{_number_text(high)} "
                f"years: check {_named(headers, 'birth_date')} and {_named(headers, 'consent_date')}; "
                "if both are right, record the "
                "eligibility deviation (the subject is still mapped)",
                uses=["birth_date", "age_at_consent"], helpers=["age_at_consent"],
                detail_column="age_at_consent", detail_prefix="age ",
            ),
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="age_at_consent",
            row_condition=Column(DATE_PREFIX + "birth_date").is_not_null()
            & Column(DATE_PREFIX + "consent_date").is_not_null(),
            meta=_meta(
                "SF-0121", INFO, "birth_date",
                f"{_named(headers, 'birth_date')} or {_named(headers, 'consent_date')} is partial: "
                "AGE is left blank in DM and the "
                "eligible age range could not be checked",
                uses=["birth_date", "age_at_consent", DATE_PREFIX + "birth_date",
                      DATE_PREFIX + "consent_date"],
                helpers=["age_at_consent", DATE_PREFIX + "birth_date", DATE_PREFIX + "consent_date"],
            ),
        ),
    ]


def _eligibility_checks(rules: list[dict], sheet: str, columns: pd.DataFrame, headers: dict) -> list:
    """The study's eligibility.csv rows of this sheet: a raw answer that means the subject is not
    eligible (`value`, compared with the column's coded value where it is coded, else as sent).
    WARNING: the subject is still mapped; the site confirms and records the deviation, told why
    in the protocol's words (`reason`)."""
    coded = dict(zip(columns["column"], columns["coded_as"])) if "coded_as" in columns.columns else {}
    out = []
    for rule in (r for r in rules if r["sheet"] == sheet):
        column = rule["column"]
        checked = column if _blank(coded.get(column, "")) else coded[column]
        out.append(
            gxe.ExpectColumnValuesToNotBeInSet(
                column=checked, value_set=[rule["value"]],
                meta=_meta(
                    "SF-0122", WARNING, column,
                    f"{_named(headers, column)} is {rule['value']}: {rule['reason']}; "
                    "confirm the answer and record the eligibility deviation (the subject is still "
                    "mapped)",
                    uses=list(dict.fromkeys([column, checked])),
                    helpers=[checked] if checked != column else [],
                ),
            )
        )
    return out


def _standard_names(columns: pd.DataFrame) -> set[str]:
    return set(columns["standard_as"]) if "standard_as" in columns.columns else set()


def _dose_checks(arm_doses, headers: dict, not_given: str | None) -> list:
    """The dose given is one the protocol allows (an arm's dose or a reduction it allows).
    WARNING: EX keeps the dose as sent and DM then shows an unplanned treatment, which may be
    what happened. `not_given`: the column that marks a dose not given (those are not judged)."""
    doses = sorted({float(d) for d in arm_doses})
    listed = " or ".join(_number_text(d) for d in doses)
    header = _named(headers, "dose")
    condition = {"row_condition": Column(not_given).is_null()} if not_given else {}
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="EXDOSE", value_set=doses, **condition,
            meta=_meta(
                "SF-0124", WARNING, "dose",
                f"{header} is not a dose of the protocol ({listed}): check it; until corrected "
                "EX keeps it as sent and DM shows the subject's treatment as unplanned",
                uses=["dose", "EXDOSE", *([not_given] if not_given else [])], helpers=["EXDOSE"],
            ),
        )
    ]


def _number_checks(columns: pd.DataFrame, label: str) -> list:
    out = []
    for row in columns[columns["kind"] == "number"].itertuples():
        # a required number (infusion number, dose) is part of the record; an optional one (a
        # weight) is not worth holding back a subject or an infusion for
        severity = ERROR if row.required == "Y" else WARNING
        consequence = "" if severity == ERROR else "; until then it is left out"
        out.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=row.column,
                regex=_NUMBER,
                meta=_meta(
                    "SF-0108", severity, row.column,
                    f"{row.header} is not a number: write digits with a decimal point only, "
                    f"no unit or text (e.g. 63.5){consequence}",
                    uses=[row.column],
                ),
            )
        )
    return out


def _key_check(key: list[str], headers: dict, label: str):
    shown = [_KEY_SOURCES.get(c, c) for c in key]
    names = ", ".join(headers.get(c, c) for c in shown)
    # ERROR, not WARNING: the newest-file-wins rule has no winner between two rows of one file, and
    # keeping either would be a silent choice; holding both back names every row to the site
    return gxe.ExpectCompoundColumnsToBeUnique(
        column_list=["_file", *key],
        ignore_row_if="any_value_is_missing",  # a blank key part is already an SF-0101 finding
        meta=_meta(
            "SF-0107", ERROR, shown[0],
            f"Same {names} on more than one {label} row of this file: keep one row per "
            f"{names} (correct the key or delete the repeat)",
            uses=["_file", *key],
            helpers=[c for c in key if c in _KEY_SOURCES],
            key=key, value_columns=shown,
        ),
    )


# --- findings ---------------------------------------------------------------------------------


def _row_findings(rows: pd.DataFrame, meta: dict) -> pd.DataFrame:
    variable = meta["variable"]
    value = None
    if meta.get("value_columns"):
        value = _join_text(rows, meta["value_columns"])
    message: str | pd.Series = meta["message"]
    detail = None
    detail_column = meta.get("detail_column")
    if detail_column and detail_column in rows.columns:
        detail = rows[detail_column]
        if pd.api.types.is_numeric_dtype(detail):
            detail = detail.map(_number_text, na_action="ignore")
        detail = meta.get("detail_prefix", "") + detail.astype("str")
    detail_map = meta.get("detail_map")
    if detail_map and detail_map["column"] in rows.columns:
        detail = rows[detail_map["column"]].astype("str").map(detail_map["texts"])
    if detail is not None:
        message = pd.Series(meta["message"], index=rows.index).where(
            detail.isna(), meta["message"] + " (" + detail.astype("str") + ")"
        )
    # a more precise message where a column is blank on the failing row (first match wins)
    for column, text in reversed(meta.get("message_when_null", [])):
        if column in rows.columns:
            message = pd.Series(message, index=rows.index).where(rows[column].notna(), text)
    if meta.get("key"):
        # name the other rows so the site can find the repeat without searching
        message = meta["message"] + "; rows " + _rows_sharing_key(rows, ["_file", *meta["key"]])
    return make_row_findings(
        rows, severity=meta["severity"], stage=STAGE, rule=meta["rule"], variable=variable,
        message=message, value=value,
    )


def _rows_sharing_key(rows: pd.DataFrame, key: list) -> pd.Series:
    """For each row, the sorted row numbers of all rows with its key ("2, 4")."""
    groups = rows.groupby(key, dropna=False, sort=False).ngroup().to_numpy()
    members: dict[int, list[int]] = {}
    for group, number in zip(groups, rows["_row"].to_numpy()):
        members.setdefault(group, []).append(int(number))
    listed = {group: ", ".join(map(str, sorted(numbers))) for group, numbers in members.items()}
    return pd.Series([listed[g] for g in groups], index=rows.index, dtype="object")


def _finding_columns(frame: pd.DataFrame, meta: dict) -> list:
    """The columns a finding reads: taking only these keeps 100k-row failures cheap."""
    wanted = [*LINEAGE, "subject", meta["variable"], *meta.get("value_columns", []),
              *meta.get("key", []), meta.get("detail_column"),
              (meta.get("detail_map") or {}).get("column"),
              *[column for column, _ in meta.get("message_when_null", [])]]
    return [c for c in dict.fromkeys(wanted) if c is not None and c in frame.columns]


def _table_findings(frame, sheet, meta, detail, headers) -> pd.DataFrame:
    # name the site's columns; a helper is missing only because its raw column is
    missing = [c for c in meta["uses"] if c not in frame.columns and c not in meta["helpers"]]
    if missing:
        names = ", ".join(f"'{headers.get(c, c)}'" for c in missing)
        message = f"column {names} is missing, so this check could not run: {meta['message']}"
    else:
        message = f"this check could not run ({detail}): {meta['message']}"
    places = (
        frame[["_file", "_sheet"]].drop_duplicates().itertuples(index=False, name=None)
        if {"_file", "_sheet"} <= set(frame.columns) and len(frame)
        else [(None, sheet)]
    )
    return concat_findings(
        *[
            make_finding(
                severity=meta["severity"], stage=STAGE, rule=meta["rule"], file=file, sheet=name,
                variable=meta["variable"], message=message,
            )
            for file, name in places
        ]
    )


# --- small helpers ----------------------------------------------------------------------------


def _meta(rule, severity, variable, message, *, uses, helpers=(), **extra) -> dict:
    meta = {"rule": rule, "severity": severity, "message": message, "variable": variable,
            "uses": list(uses), "helpers": list(helpers)}
    meta.update(extra)
    return meta


def _sheet_columns(sheet: str, raw_columns: pd.DataFrame, context: dict) -> pd.DataFrame:
    if sheet not in context.get("roles", {}):
        raise ValueError(
            f"sheet '{sheet}' is not a raw sheet: use one of {', '.join(context.get('roles', {}))} "
            "(context['roles'], from sheets.csv)"
        )
    wanted = {"sheet", "column", "header", "required", "kind"}
    if not wanted <= set(raw_columns.columns):
        raise ValueError(
            "raw_columns lacks " + ", ".join(sorted(wanted - set(raw_columns.columns)))
            + ": pass mappings/<study>/raw_columns.csv as read with dtype=str"
        )
    columns = raw_columns[raw_columns["sheet"] == sheet]
    if columns.empty:
        raise ValueError(f"raw_columns has no rows for sheet '{sheet}'")
    return columns


def _is_subject_sheet(sheet: str, columns: pd.DataFrame, context: dict) -> bool:
    """A record sheet names its subject, who must be on the subjects sheet."""
    return context["roles"][sheet] != SUBJECTS and "subject" in set(columns["column"])


def _is_visit_sheet(columns: pd.DataFrame) -> bool:
    return "visit" in set(columns["column"])


def _check_context(sheet: str, columns: pd.DataFrame, context: dict) -> None:
    needed = ["record_keys"]
    if _is_subject_sheet(sheet, columns, context):
        needed.append("known_subjects")
    if _is_visit_sheet(columns):
        needed.append("known_visits")
    if context["roles"][sheet] == FINDINGS:
        needed += ["known_tests", "known_units"]
    absent = [k for k in needed if context.get(k) is None]
    if absent:
        raise ValueError(
            f"context for sheet '{sheet}' lacks {', '.join(absent)}: pass them as lists "
            "(known_units as (LBTESTCD, unit) pairs)"
        )


def _check_frame(frame: pd.DataFrame, suite: list) -> None:
    lineage = [c for c in LINEAGE if c not in frame.columns]
    if lineage:
        raise ValueError(
            f"frame lacks lineage columns {', '.join(lineage)}: validate frames from read_export"
        )
    helpers = set()
    for expectation in suite:
        meta = expectation.meta
        # without its raw column a helper cannot exist: that is the site's missing column,
        # reported as a table-level finding, not a pipeline error
        if meta["variable"] in frame.columns:
            helpers.update(h for h in meta["helpers"] if h not in frame.columns)
    if helpers:
        raise ValueError(
            f"frame lacks the standardised helper columns {', '.join(sorted(helpers))}: run the "
            "standardise step on the sheet before check_raw_sheet"
        )


def _required_unless(sheet: str, row) -> str | None:
    """The column whose value excuses a blank required value (raw_columns `required_unless`:
    e.g. a result left blank on purpose, with the reason it was not done)."""
    value = getattr(row, "required_unless", None)
    return None if value is None or _blank(value) else str(value)


def _named(headers: dict, column: str) -> str:
    """The site's header of a canonical column (raw_columns.csv), the column's name when the
    study has no such column: every message speaks the study's own words."""
    return headers.get(column, column)


def _header(columns: pd.DataFrame, column: str) -> str:
    match = columns.loc[columns["column"] == column, "header"]
    return match.iloc[0] if len(match) else column


def _number_text(value) -> str:
    """63.5 -> "63.5", 3.0 -> "3", 20000.0 -> "20000"."""
    return "%.12g" % float(value)


def _texts(values) -> list[str]:
    return sorted({str(v) for v in values if not _blank(v)})


def _blank(value) -> bool:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return True
    return str(value).strip() == ""


def _join_text(rows: pd.DataFrame, columns: list[str]) -> pd.Series:
    parts = [rows[c].astype("object").where(rows[c].notna(), "").astype("str") for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + " | " + part
    return joined
