"""A corpus of bad inputs: each case corrupts ONE thing in a small generated export and asserts
the exact finding it produces (rule, severity, file, sheet, row, variable, value) and that every
other row still arrived (the reconciliation holds and every row mapped before is mapped again).

Each case is its own small export: `generate_sample_export(subjects=3)` written as the site
delivers it (a workbook with Demographics, Infusions and Assessments, and a Labs CSV), with the
case's number in its file names and subject numbers (`07-001` for case 7). It carries the
sample's own planted errors; the clean export (case 0) is the baseline each case is compared with.
The stages run as transforms (ingest -> standardise -> validate -> map -> reconcile), without
Prefect.

Speed: Great Expectations costs ~10 ms per expectation whatever the size of the sheet, so sixty
separate runs would take two minutes. The cases whose subjects and files cannot meet are
therefore put side by side in ONE export folder and run once; nothing the pipeline does crosses
subjects or files except the export date (the same for all) and the Demographics lookup (by
subject). The cases that reject a whole sheet run alone, so an export really without, say,
infusions is exercised.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import openpyxl
import pandas as pd
import pytest

from flows.build import build
from transforms.core.findings import ERROR, INFO, LINEAGE, WARNING
from transforms.outputs.package import read_transliteration
from transforms.outputs.queries import build_queries
from transforms.conform.reconcile import check_reconciliation
from transforms.samples.sample_export import generate_sample_export, read_sample_spec, write_sample_export
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

# The whole chain (ingest to reconcile) on some sixty exports: end to end without Prefect, about
# a minute of CPU, so out of the inner loop (`pytest -m "not slow"`) and in the full suite.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

KEY = ["rule", "severity", "file", "sheet", "row", "variable", "value"]
TODAY = "2026-04-30"  # the run's day, fixed: the sample's export is dated 2026-03-31
WORKBOOK_SHEETS = {"Demographics", "Infusions", "Assessments"}
# The files the generator writes (mappings/ucmsc-esld/sample.toml [export]).
WORKBOOK_NAME, LABS_CSV_NAME = read_sample_spec().workbook_name, read_sample_spec().csv_name
_SUBJECT = re.compile(r"\b01-0(\d\d)\b")  # the generator's subject numbers, 01-001 ...


# --- running an export ------------------------------------------------------------------------


@dataclass
class Outcome:
    findings: pd.DataFrame
    counts: pd.DataFrame
    domains: dict
    export: object


def run_export(folder: Path, study, transliteration) -> Outcome:
    built = build(folder, study, transliteration, check_output=False, today=TODAY)
    return Outcome(built.findings, built.counts, built.domains, built.export)


def keys(findings: pd.DataFrame) -> set[tuple]:
    table = findings[KEY].astype("object")
    table = table.where(table.notna(), None)
    return {
        tuple(None if v is None else (int(v) if c == "row" else str(v)) for c, v in zip(KEY, row))
        for row in table.itertuples(index=False, name=None)
    }


def mapped_rows(domains: dict) -> set[tuple]:
    parts = [f[LINEAGE] for f in domains.values() if set(LINEAGE) <= set(f.columns)]
    rows = pd.concat(parts, ignore_index=True).dropna().drop_duplicates()
    return {(f, s, int(r)) for f, s, r in rows.itertuples(index=False, name=None)}


# --- naming: every case its own files and subjects --------------------------------------------


def workbook_name(k: int) -> str:
    return WORKBOOK_NAME.replace(".xlsx", f"_{k:02d}.xlsx")


def labs_name(k: int) -> str:
    return LABS_CSV_NAME.replace(".csv", f"_{k:02d}.csv")


def extra_name(filename: str, k: int) -> str:
    path = Path(filename)
    return f"{path.stem}_{k:02d}{path.suffix}"


def renamed(value, k: int):
    return value if not isinstance(value, str) else _SUBJECT.sub(rf"{k:02d}-0\1", value)


def place(kind: str, k: int) -> tuple[str, str]:
    """(file, sheet) of a sheet kind as ingest names them for case k."""
    if kind in WORKBOOK_SHEETS:
        return workbook_name(k), kind
    return labs_name(k), Path(labs_name(k)).stem


def resolve(expected: tuple, k: int) -> tuple:
    """A case's expected finding with its sheet kind (or extra file) turned into case k's names."""
    rule, severity, where, row, variable, value = expected
    if where in WORKBOOK_SHEETS or where == "Labs":
        file, sheet = place(where, k)
    else:  # an extra file: (filename, sheet or None)
        file, sheet = extra_name(where[0], k), where[1]
    return (rule, severity, file, sheet, row, variable, renamed(value, k))


def write_case(frames: dict, folder: Path, k: int) -> None:
    """Write case k's export into `folder` under its own file names and subject numbers."""
    frames = {
        name: frame.assign(Subject=frame["Subject"].map(lambda v: renamed(v, k)))
        if "Subject" in frame.columns else frame
        for name, frame in frames.items()
    }
    scratch = folder / f".case{k:02d}"
    write_sample_export(frames, scratch)
    shutil.move(scratch / WORKBOOK_NAME, folder / workbook_name(k))
    shutil.move(scratch / LABS_CSV_NAME, folder / labs_name(k))
    scratch.rmdir()


def case_keys(outcome_keys: set, k: int, extra_files=()) -> set:
    files = {workbook_name(k), labs_name(k), *(extra_name(f, k) for f in extra_files)}
    return {key for key in outcome_keys if key[2] in files}


# --- building cases ---------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    mutate: Callable  # (frames) -> expected findings as (rule, severity, where, row, variable, value)
    files: Callable | None = None  # (folder, k) -> None: a file-level corruption after writing
    extra_files: tuple = ()  # names (before numbering) of files the case adds
    rejected: str | None = None  # sheet kind held back whole: the case runs alone


def put(frames, sheet, index, column, value):
    frame = frames[sheet]
    frame[column] = frame[column].astype("object")
    frame.at[index, column] = value


def expect(rule, severity, sheet, index, variable, value):
    return (rule, severity, sheet, None if index is None else index + 2, variable, value)


def cascade(frames, subject):
    """SF-0114 on every row of other sheets for a subject whose Demographics row is held back."""
    out = []
    for sheet in ("Infusions", "Labs", "Assessments"):
        rows = frames[sheet].index[frames[sheet]["Subject"] == subject]
        out += [expect("SF-0114", ERROR, sheet, i, "subject", subject) for i in rows]
    return out


def cell(name, sheet, index, column, value, rule, severity, variable, *, cascade_subject=None):
    """Set one cell; expect one finding on it (plus the SF-0114 cascade for Demographics)."""

    def mutate(frames):
        put(frames, sheet, index, column, value)
        expected = [expect(rule, severity, sheet, index, variable, value)]
        return expected + (cascade(frames, cascade_subject) if cascade_subject else [])

    return Case(name, mutate)


TEST_NAMES = {
    "ALT": ["ALT", "ALT (GPT)", "谷丙转氨酶"],
    "INR": ["INR", "国际标准化比值"],
    "BILI": ["TBIL", "Total bilirubin", "总胆红素"],
}


def lab_row(frames, test, subject="01-002", visits=("Week 4", "W4", "Wk 4")):
    labs = frames["Labs"]
    hits = labs.index[(labs["Subject"] == subject) & labs["Visit"].isin(visits)
                      & labs["Test"].isin(TEST_NAMES[test])]
    return int(hits[0])


def lab_cell(name, test, column, value, rule, severity, variable):
    def mutate(frames):
        index = lab_row(frames, test)
        put(frames, "Labs", index, column, value)
        return [expect(rule, severity, "Labs", index, variable, value)]

    return Case(name, mutate)


def duplicate_row(name, sheet, index):
    """Append an exact copy of a row: the copy is held back, the original maps."""

    def mutate(frames):
        frame = frames[sheet]
        frames[sheet] = pd.concat([frame, frame.loc[[index]]], ignore_index=True)
        copy = len(frames[sheet]) - 1
        return [expect("SF-0112", ERROR, sheet, copy, "subject", frame.at[index, "Subject"])]

    return Case(name, mutate)


def repeated_key(name, sheet, index, column, value, key_value, cascade_subject=None):
    """Append a row with the same record key but one other value: both rows are held back."""

    def mutate(frames):
        frame = frames[sheet]
        copy = frame.loc[[index]].astype("object")
        copy.iloc[0, copy.columns.get_loc(column)] = value
        frames[sheet] = pd.concat([frame.astype("object"), copy], ignore_index=True)
        last = len(frames[sheet]) - 1
        expected = [expect("SF-0107", ERROR, sheet, i, "subject", key_value) for i in (index, last)]
        return expected + (cascade(frames, cascade_subject) if cascade_subject else [])

    return Case(name, mutate)


def extra_file(name, filename, content: bytes, rule):
    """One more file in the export; it alone is a file-level ERROR, the rest arrives."""

    def files(folder, k):
        (folder / extra_name(filename, k)).write_bytes(content)

    def mutate(frames):
        return [(rule, ERROR, (filename, None), None, None, None)]

    return Case(name, mutate, files, extra_files=(filename,))


def folder_case(name, filename, make, rule, severity, sheet=None):
    """Something beside the export (a stray file, a link, a copy): one finding about it, the rest
    arrives. `make(folder, path, k)` creates it at `path`."""

    def files(folder, k):
        make(folder, folder / extra_name(filename, k), k)

    def mutate(frames):
        return [(rule, severity, (filename, sheet), None, None, None)]

    return Case(name, mutate, files, extra_files=(filename,))


def copy_sheet(folder, path, k):
    book = openpyxl.load_workbook(path)
    book.copy_worksheet(book["Infusions"])  # 'Infusions Copy'
    book.save(path)


def missing_column(name, sheet, header):
    def mutate(frames):
        frames[sheet] = frames[sheet].drop(columns=[header])
        return [("SF-0002", ERROR, sheet, None, header, None)]

    return Case(name, mutate, rejected=sheet)


def no_subject_column(frames):
    """Demographics without its Subject column: the sheet is held back, and with it every other
    row (its subject is then not in Demographics: SF-0102, as for an unknown subject)."""
    enrolled = set(frames["Demographics"]["Subject"])
    frames["Demographics"] = frames["Demographics"].drop(columns=["Subject"])
    expected = [("SF-0002", ERROR, "Demographics", None, "Subject", None)]
    for sheet in ("Infusions", "Labs", "Assessments"):
        frame = frames[sheet]
        # an exact copy is held back as a copy (SF-0112) before the suites judge the rest
        rows = frame.index[frame["Subject"].isin(enrolled) & ~frame.duplicated(keep="first")]
        expected += [expect("SF-0102", ERROR, sheet, i, "subject", frame.at[i, "Subject"]) for i in rows]
    return expected


def workbook_with(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for sheet, rows in sheets.items():
        target = book.create_sheet(sheet)
        for row in rows:
            target.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def unknown_sheet(frames):
    return [("SF-0004", WARNING, ("site01_export_2026-03-31.xlsx", "Notes"), None, None, None)]


def add_notes_sheet(folder, k):
    path = folder / workbook_name(k)
    book = openpyxl.load_workbook(path)
    book.create_sheet("Notes").append(["anything"])
    book.save(path)


def extra_column(frames):
    frames["Labs"] = frames["Labs"].assign(**{"Lab comment": "ok"})
    return [("SF-0003", INFO, "Labs", None, "Lab comment", None)]


def not_done_in_chinese(frames):
    index = lab_row(frames, "BILI")
    put(frames, "Labs", index, "Result", None)
    put(frames, "Labs", index, "Not done reason", "溶血")
    return [expect("SF-0113", ERROR, "Labs", index, "not_done_reason", "溶血")]


def dose_of_other_arm(frames):
    put(frames, "Infusions", 0, "Dose (10^6 cells/kg)", "3")  # 01-001 is randomised to LOW
    return [
        expect("SF-0125", WARNING, "Infusions", 0, "dose", "3"),
        # and its total cells (81.8) no longer match 3 x 81.8 kg
        expect("SF-0126", WARNING, "Infusions", 0, "total_cells", "81.8"),
    ]


def dose_of_no_arm(frames):
    put(frames, "Infusions", 0, "Dose (10^6 cells/kg)", "2")
    return [
        expect("SF-0124", WARNING, "Infusions", 0, "dose", "2"),
        expect("SF-0126", WARNING, "Infusions", 0, "total_cells", "81.8"),
    ]


def subject_too_young(frames):
    put(frames, "Demographics", 0, "Date of birth", "2008-01-01")  # 17 at consent 2025-03-08
    return [expect("SF-0120", WARNING, "Demographics", 0, "birth_date", "2008-01-01")]


def labs_before_consent(frames):
    labs = frames["Labs"]
    index = int(labs.index[(labs["Subject"] == "01-003") & (labs["Visit"] == "Screening")][0])
    put(frames, "Labs", index, "Collection date", "2025-06-01")  # consent 2025/6/13
    return [expect("SF-0116", WARNING, "Labs", index, "collection_date", "2025-06-01")]


def infusion_before_consent(frames):
    put(frames, "Infusions", 0, "Infusion date", "2025-03-01")
    subject = frames["Infusions"].at[0, "Subject"]
    dm = int(frames["Demographics"].index[frames["Demographics"]["Subject"] == subject][0])  # consent 2025-03-08
    return [
        expect("SF-0116", WARNING, "Infusions", 0, "infusion_date", "2025-03-01"),
        # and the subject's consent is now after its first infusion
        expect("SF-0136", WARNING, "Demographics", dm, "consent_date",
               "2025-03-08 00:00:00"),  # a date cell, as ingest reads it
    ]


def visit_spelled_week4(frames):
    labs = frames["Labs"]
    index = int(labs.index[labs["Visit"].isin(["Week 4", "W4", "Wk 4"])][0])
    put(frames, "Labs", index, "Visit", "week4")
    return []  # read as Week 4: no finding, and the row maps


def subject_with_zero_width_space(frames):
    index = lab_row(frames, "ALT")
    put(frames, "Labs", index, "Subject", "01-002\u200b")
    # matched to 01-002 and mapped; the site is told which character, in which cell
    return [expect("SF-0130", WARNING, "Labs", index, "subject", "01-002<U+200B>")]


def lab_reason(text, rule, severity, shown):
    """A not-done lab (result blank) whose reason is `text`."""

    def mutate(frames):
        index = lab_row(frames, "BILI")
        put(frames, "Labs", index, "Result", None)
        put(frames, "Labs", index, "Not done reason", text)
        return [expect(rule, severity, "Labs", index, "not_done_reason", shown)]

    return mutate


CASES = [
    # Demographics
    cell("dm_sex_blank", "Demographics", 2, "Sex", None, "SF-0101", ERROR, "sex", cascade_subject="01-003"),
    cell("dm_sex_unknown", "Demographics", 2, "Sex", "X", "SF-0123", ERROR, "sex", cascade_subject="01-003"),
    cell("dm_arm_unknown", "Demographics", 2, "Arm", "Placebo", "SF-0123", ERROR, "arm", cascade_subject="01-003"),
    cell("dm_race_unknown", "Demographics", 0, "Race", "Martian", "SF-0123", WARNING, "race"),
    cell("dm_birth_unreadable", "Demographics", 2, "Date of birth", "14/08/61", "SF-0103", ERROR, "birth_date",
         cascade_subject="01-003"),
    cell("dm_randomised_in_future", "Demographics", 2, "Randomisation date", "2026-06-01", "SF-0115", ERROR,
         "randomisation_date", cascade_subject="01-003"),
    cell("dm_randomised_before_consent", "Demographics", 0, "Randomisation date", "2025-03-01", "SF-0116",
         WARNING, "randomisation_date"),
    Case("dm_age_17_at_consent", subject_too_young),
    cell("dm_birth_partial", "Demographics", 0, "Date of birth", "1996-03", "SF-0121", INFO, "birth_date"),
    cell("dm_transplant_yes", "Demographics", 0, "Liver transplant", "Y", "SF-0122", WARNING, "liver_transplant"),
    cell("dm_weight_comma", "Demographics", 0, "Weight (kg)", "82,6", "SF-0108", WARNING, "weight"),
    cell("dm_site_chinese", "Demographics", 2, "Site", "院", "SF-0113", ERROR, "site", cascade_subject="01-003"),
    duplicate_row("dm_exact_duplicate", "Demographics", 1),
    repeated_key("dm_subject_twice", "Demographics", 1, "Weight (kg)", "90.0", "01-002", cascade_subject="01-002"),
    # Infusions
    cell("ex_date_blank", "Infusions", 8, "Infusion date", None, "SF-0101", ERROR, "infusion_date"),
    cell("ex_subject_unknown", "Infusions", 8, "Subject", "01-777", "SF-0102", ERROR, "subject"),
    cell("ex_date_unreadable", "Infusions", 3, "Infusion date", "2025-13-01", "SF-0103", ERROR, "infusion_date"),
    cell("ex_date_in_future", "Infusions", 3, "Infusion date", "2026-04-15", "SF-0115", ERROR, "infusion_date"),
    Case("ex_date_before_consent", infusion_before_consent),
    cell("ex_dose_text", "Infusions", 3, "Dose (10^6 cells/kg)", "1 x10^6", "SF-0108", ERROR, "dose"),
    Case("ex_dose_of_no_arm", dose_of_no_arm),
    Case("ex_dose_of_other_arm", dose_of_other_arm),
    cell("ex_total_cells_off", "Infusions", 1, "Total cells (10^6)", "200", "SF-0126", WARNING, "total_cells"),
    cell("ex_start_time_invalid", "Infusions", 1, "Start time", "25:00", "SF-0127", WARNING, "start_time"),
    cell("ex_route_unknown", "Infusions", 1, "Route", "IM", "SF-0123", ERROR, "route"),
    cell("ex_number_text", "Infusions", 1, "Infusion number", "two", "SF-0108", ERROR, "infusion_number"),
    repeated_key("ex_infusion_number_twice", "Infusions", 3, "Infusion date", "2025-05-29", "01-001 | 4"),
    # Labs
    lab_cell("lb_test_blank", "ALT", "Test", None, "SF-0101", ERROR, "test"),
    lab_cell("lb_result_blank_no_reason", "ALT", "Result", None, "SF-0101", ERROR, "result"),
    lab_cell("lb_subject_unknown", "ALT", "Subject", "01-777", "SF-0102", ERROR, "subject"),
    lab_cell("lb_date_unreadable", "ALT", "Collection date", "31/02/2026", "SF-0103", ERROR, "collection_date"),
    lab_cell("lb_visit_unknown", "ALT", "Visit", "Week 99", "SF-0104", ERROR, "visit"),
    lab_cell("lb_test_unknown", "ALT", "Test", "GGT", "SF-0105", ERROR, "test"),
    lab_cell("lb_unit_unknown", "ALT", "Unit", "furlongs", "SF-0106", ERROR, "unit"),
    lab_cell("lb_unit_blank", "ALT", "Unit", None, "SF-0106", ERROR, "unit"),
    lab_cell("lb_unit_wrong_for_test", "ALT", "Unit", "g/L", "SF-0106", ERROR, "unit"),
    lab_cell("lb_result_decimal_comma", "BILI", "Result", "12,6", "SF-0117", ERROR, "result"),
    lab_cell("lb_result_text", "ALT", "Result", "positive", "SF-0117", ERROR, "result"),
    lab_cell("lb_result_and_reason", "ALT", "Not done reason", "Clotted", "SF-0118", WARNING, "not_done_reason"),
    lab_cell("lb_alt_implausible", "ALT", "Result", "25000", "SF-0119", ERROR, "result"),
    lab_cell("lb_result_negative", "ALT", "Result", "-3", "SF-0119", ERROR, "result"),
    lab_cell("lb_inr_implausible", "INR", "Result", "16", "SF-0119", ERROR, "result"),
    lab_cell("lb_date_in_future", "ALT", "Collection date", "2026-05-01", "SF-0115", ERROR, "collection_date"),
    Case("lb_date_before_consent", labs_before_consent),
    lab_cell("lb_time_invalid", "ALT", "Collection time", "9.40", "SF-0127", WARNING, "collection_time"),
    Case("lb_reason_not_ascii", not_done_in_chinese),
    duplicate_row("lb_exact_duplicate", "Labs", 20),
    Case("lb_visit_week4", visit_spelled_week4),
    Case("lb_subject_zero_width_space", subject_with_zero_width_space),
    Case("lb_reason_250_characters",
         lab_reason("Sample " + "x" * 243, "SF-0129", ERROR, "Sample " + "x" * 193 + "... (250 characters)")),
    Case("lb_cell_32000_characters",
         lab_reason("y" * 32000, "SF-0129", ERROR, "y" * 200 + "... (32000 characters)")),
    Case("lb_reason_control_character",
         lab_reason("Clotted\x1b[0m", "SF-0130", WARNING, "Clotted<U+001B>[0m")),
    Case("lb_reason_line_break",
         lab_reason("Haemolysed\nsample", "SF-0131", INFO, "Haemolysed<U+000A>sample")),
    # Assessments
    cell("qs_ascites_unknown", "Assessments", 3, "Ascites", "Lots", "SF-0123", ERROR, "ascites"),
    cell("qs_dialysis_unknown", "Assessments", 3, "Dialysis in past week", "maybe", "SF-0123", ERROR, "dialysis"),
    cell("qs_visit_unknown", "Assessments", 3, "Visit", "Week 5", "SF-0104", ERROR, "visit"),
    cell("qs_encephalopathy_blank", "Assessments", 3, "Encephalopathy", None, "SF-0101", ERROR, "encephalopathy"),
    # Files
    extra_file("file_corrupt_workbook", "site01_extra_2026-03-30.xlsx", b"PK\x03\x04 not really a zip", "SF-0001"),
    extra_file("file_password_protected", "site01_locked_2026-03-30.xlsx",
               b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "SF-0001"),
    # GB18030 text is read (tests/ingest/test_read_files.py); 0xFF starts a character in no encoding we read
    extra_file("file_csv_undecodable", "labs_2026-03-30.csv",
               b"Subject,Visit,Collection date,Test,Result\n01-001,Baseline,2025-03-28,\xff\xfe\xff,35\n",
               "SF-0001"),
    extra_file("file_empty_csv", "labs_2026-03-29.csv", b"", "SF-0001"),
    extra_file("file_headers_only", "site01_2026-03-30.xlsx",
               workbook_with({"Labs": [["Subject", "Visit", "Collection date", "Test", "Result"]]}), "SF-0005"),
    Case("file_unknown_sheet", unknown_sheet, add_notes_sheet),
    folder_case("file_stray_notes", "notes.txt",
                lambda folder, path, k: path.write_text("resend Friday\n", encoding="utf-8"), "SF-0006", WARNING),
    folder_case("file_dangling_link", "labs_link.csv",
                lambda folder, path, k: path.symlink_to(folder / "nowhere.csv"), "SF-0009", ERROR),
    folder_case("file_same_export_twice", "labs_copy_2026-03-31.csv",
                lambda folder, path, k: shutil.copy(folder / labs_name(k), path), "SF-0010", WARNING),
    folder_case("file_sheet_copied", WORKBOOK_NAME,
                lambda folder, path, k: copy_sheet(folder, path, k), "SF-0011", WARNING, sheet="Infusions Copy"),
    Case("file_extra_column", extra_column),
    missing_column("file_missing_required_column", "Infusions", "Dose (10^6 cells/kg)"),
    missing_column("file_missing_result_column", "Labs", "Result"),
    Case("file_missing_subject_in_demographics", lambda frames: no_subject_column(frames), rejected="Demographics"),
]
NUMBER = {case.name: k for k, case in enumerate(CASES, start=1)}


# --- running the corpus -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def study():
    return read_study(DEFAULT_STUDY_DIR)


@pytest.fixture(scope="module")
def transliteration():
    return read_transliteration()


@pytest.fixture(scope="module")
def frames():
    return generate_sample_export(subjects=3)


def corrupt(case: Case, frames: dict) -> tuple[dict, list]:
    copies = {name: frame.copy() for name, frame in frames.items()}
    return copies, case.mutate(copies)


@pytest.fixture(scope="module")
def together(frames, study, transliteration, tmp_path_factory):
    """Case 0 (clean) and every case that rejects no sheet, side by side in one export."""
    folder = tmp_path_factory.mktemp("corpus")
    write_case(frames, folder, 0)
    for case in CASES:
        if case.rejected is None:
            k = NUMBER[case.name]
            corrupted, _ = corrupt(case, frames)
            write_case(corrupted, folder, k)
            if case.files is not None:
                case.files(folder, k)
    return run_export(folder, study, transliteration)


@pytest.fixture(scope="module")
def alone_baseline(frames, study, transliteration, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    write_case(frames, folder, 0)
    return run_export(folder, study, transliteration)


def as_case(key: tuple, k: int) -> tuple:
    """A finding of case 0 as case k would have it."""
    rule, severity, file, sheet, row, variable, value = key
    rename = {workbook_name(0): workbook_name(k), labs_name(0): labs_name(k),
              Path(labs_name(0)).stem: Path(labs_name(k)).stem}
    if isinstance(value, str):
        value = re.sub(r"\b00-0(\d\d)\b", rf"{k:02d}-0\1", value)
    return (rule, severity, rename.get(file, file), rename.get(sheet, sheet), row, variable, value)


def as_case_rows(rows: set, k: int) -> set:
    rename = {workbook_name(0): workbook_name(k), labs_name(0): labs_name(k),
              Path(labs_name(0)).stem: Path(labs_name(k)).stem}
    return {(rename[f], rename.get(s, s), r) for f, s, r in rows if f in rename}


def test_the_corpus_is_big_and_distinct():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, frames, together, alone_baseline, study, transliteration, tmp_path):
    k = NUMBER[case.name]
    _, mutated = corrupt(case, frames)
    expected = {resolve(e, k) for e in mutated}
    if case.rejected is None:
        outcome, baseline = together, together
    else:
        write_case(corrupt(case, frames)[0], tmp_path, k)
        outcome, baseline = run_export(tmp_path, study, transliteration), alone_baseline

    # exactly the expected findings are new, and none of the clean export's went missing
    found = case_keys(keys(outcome.findings), k, case.extra_files)
    before = {as_case(key, k) for key in case_keys(keys(baseline.findings), 0)}
    assert found - before == expected
    rejected = place(case.rejected, k) if case.rejected else None
    assert {key for key in before if key[2:4] != rejected} <= found

    # every raw row is accounted for, and every other row still arrived
    assert check_reconciliation(outcome.counts) == []
    was_mapped = as_case_rows(mapped_rows(baseline.domains), k)
    held = {(f, s, r) for (_, sev, f, s, r, _, _) in expected if sev == ERROR and r is not None}
    if rejected is not None:
        counts = outcome.counts.set_index(["file", "sheet"])
        assert counts.loc[rejected, "mapped"] == 0
        held |= {row for row in was_mapped if row[:2] == rejected}
        if case.rejected == "Demographics":  # no subject in DM: no other row can map
            held = was_mapped
    files = {workbook_name(k), labs_name(k)}
    now_mapped = {row for row in mapped_rows(outcome.domains) if row[0] in files}
    assert now_mapped == was_mapped - held

    # the site gets a query for every new ERROR and WARNING, pointing at the same cell
    queries = build_queries(outcome.findings, outcome.export.sheets, outcome.export.headers)
    asked = {(q.Rule, q.File, q.Sheet, None if pd.isna(q.Row) else int(q.Row)) for q in queries.itertuples()}
    for rule, severity, file, sheet, row, _, _ in expected:
        if severity in (ERROR, WARNING):
            assert (rule, file, sheet, row) in asked


def test_every_planted_error_of_the_bundled_sample_is_found_and_queried(study, transliteration):
    """The bundled sample (sdtmflow run's default input): its planted errors are in findings and
    queries with file, sheet and row, and none of those rows reached an SDTM domain."""
    outcome = run_export(DEFAULT_STUDY_DIR / "sample_export", study, transliteration)
    labs_sheet = Path(LABS_CSV_NAME).stem
    planted = {("SF-0102", row) for row in range(1282, 1291)}  # orphan subject 01-099
    planted |= {("SF-0103", 685), ("SF-0105", 768), ("SF-0106", 768), ("SF-0112", 583)}
    errors = outcome.findings[outcome.findings["severity"] == ERROR]
    assert {(r.rule, int(r.row)) for r in errors.itertuples() if r.file == LABS_CSV_NAME} >= planted
    queries = build_queries(outcome.findings, outcome.export.sheets, outcome.export.headers)
    assert {(q.Rule, int(q.Row)) for q in queries.itertuples() if q.File == LABS_CSV_NAME} >= planted
    assert (queries.loc[queries["File"] == LABS_CSV_NAME, "Sheet"] == labs_sheet).all()
    assert not {(LABS_CSV_NAME, labs_sheet, row) for _, row in planted} & mapped_rows(outcome.domains)
    assert check_reconciliation(outcome.counts) == []
