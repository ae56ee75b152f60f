"""The file layer: every entry of the export folder, every sheet and every row is accounted for.

Each class of bad delivery is a real file written in tmp_path (openpyxl workbooks, CSVs in each
encoding, links, a zip bomb) beside a good labs file; each test asserts the exact finding (rule,
severity, file, sheet, row, message) and that every other row arrived, with the reconciliation
(every loaded row taken as mapped) counting over the rows present.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from transforms.core.findings import LINEAGE
from transforms.ingest import export as ingest
from transforms.ingest.read_files import (
    compute_column_letter,
    compute_csv_delimiter,
    compute_zip_bomb_verdict,
    decode_text,
    list_input_entries,
    list_input_files,
    read_file_tables,
    split_unterminated_tail,
)
from transforms.conform.reconcile import check_reconciliation, format_reconciliation, reconcile_rows
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

DATA = Path(__file__).parents[1] / "data" / "workbooks"
HEADER = ["Subject", "Visit", "Collection date", "Test", "Result", "Unit"]
ROWS = [["01-001", "Baseline", "2026-03-05", "ALT", "35", "U/L"],
        ["01-002", "Week 4", "2026-03-09", "TBIL", "<5", "µmol/L"],
        ["01-003", "Week 4", "2026-03-10", "INR", "1.2", ""]]
GOOD_CSV = "Subject,Visit,Collection date,Test,Result,Unit\n01-009,Baseline,2026-03-05,ALT,40,U/L\n"
FINDING = ["rule", "severity", "file", "sheet", "row", "message"]


@pytest.fixture(scope="module")
def raw_columns():
    return read_study(DEFAULT_STUDY_DIR).raw_columns


def read_export(folder, raw_columns, entries=None):
    return ingest.read_export(folder, raw_columns, read_study(DEFAULT_STUDY_DIR).sheet_names, entries)


def workbook(path: Path, sheets: dict[str, list[list]], merge: str | None = None) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if merge:
            sheet.merge_cells(merge)
    book.save(path)
    return path


def found(export, rule: str) -> list[list]:
    table = export.findings.loc[export.findings["rule"] == rule, FINDING].astype("object")
    return [[None if pd.isna(v) else (int(v) if c == "row" else v) for c, v in zip(FINDING, row)]
            for row in table.itertuples(index=False, name=None)]


def reconciled(export) -> pd.DataFrame:
    """Counts as if every loaded row mapped: the invariant then rests on ingest's inventory."""
    domains = {"XX": pd.concat([f[LINEAGE] for f in export.sheets.values()], ignore_index=True)}
    counts = reconcile_rows(export.sheets, export.inventory, export.findings, domains)
    assert check_reconciliation(counts) == []
    return counts


def labs_rows(export) -> list[tuple]:
    labs = export.sheets["labs"]
    return list(zip(labs["_file"], labs["_row"], labs["subject"], labs["result"].fillna("")))


# --- the folder ------------------------------------------------------------------------------


def test_every_entry_of_the_folder_is_listed_with_its_fate(tmp_path, raw_columns):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "labs.csv").write_text(GOOD_CSV, encoding="utf-8")
    (folder / "notes.txt").write_text("call the site\n\nresend Friday\nthanks\n", encoding="utf-8")
    (folder / "~$site01.xlsx").write_bytes(b"\x05owner" + b" " * 100)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "old").mkdir()
    (folder / "old" / "labs.csv").write_text(GOOD_CSV, encoding="utf-8")
    (tmp_path / "elsewhere.csv").write_text(GOOD_CSV, encoding="utf-8")
    (folder / "outside.csv").symlink_to(tmp_path / "elsewhere.csv")
    (folder / "gone.csv").symlink_to(folder / "missing.csv")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4\x00\x01\x02binary")

    entries = list_input_entries(folder)
    assert entries[["name", "entry", "read", "rule", "rows"]].values.tolist() == [
        [".DS_Store", "file", False, "SF-0007", 0],
        ["gone.csv", "link", False, "SF-0009", 0],
        ["labs.csv", "file", True, None, 0],
        ["notes.txt", "file", False, "SF-0006", 3],  # three non-blank lines
        ["old", "folder", False, "SF-0008", 0],
        ["outside.csv", "link", False, "SF-0009", 0],
        ["report.pdf", "file", False, "SF-0006", 0],
        ["~$site01.xlsx", "file", False, "SF-0007", 0],
    ]
    assert list_input_files(folder)["name"].tolist() == ["labs.csv"]

    export = read_export(folder, raw_columns)
    assert sorted(found(export, "SF-0009")) == [
        ["SF-0009", "ERROR", "gone.csv", None, None,
         f"link to '{folder / 'missing.csv'}', which does not exist: nothing read; put the file itself in the export folder"],
        ["SF-0009", "ERROR", "outside.csv", None, None,
         f"link to '{tmp_path / 'elsewhere.csv'}', outside the export folder: not followed, nothing read; "
         "put the file itself in the export folder"],
    ]
    assert sorted(found(export, "SF-0006")) == [
        ["SF-0006", "WARNING", "notes.txt", None, None,
         "not a spreadsheet export file (3 lines of text): not read; if it holds study data, export it as xlsx or CSV"],
        ["SF-0006", "WARNING", "report.pdf", None, None,
         "not a spreadsheet export file (not text, not a workbook): not read; if it holds study data, "
         "export it as xlsx or CSV"],
    ]
    assert found(export, "SF-0008") == [[
        "SF-0008", "WARNING", "old", None, None,
        "a folder (1 entries): its contents are not read; put the export files directly in the export folder"]]
    assert sorted(f[2] for f in found(export, "SF-0007")) == [".DS_Store", "~$site01.xlsx"]
    assert labs_rows(export) == [("labs.csv", 2, "01-009", "40")]

    counts = reconciled(export)
    assert counts[["file", "sheet", "read", "held_back", "status"]].values.tolist() == [
        ["labs.csv", "labs", 1, 0, "read"],
        [".DS_Store", None, 0, 0, "SF-0007"], ["gone.csv", None, 0, 0, "SF-0009"],
        ["notes.txt", None, 3, 3, "SF-0006"], ["old", None, 0, 0, "SF-0008"],
        ["outside.csv", None, 0, 0, "SF-0009"], ["report.pdf", None, 0, 0, "SF-0006"],
        ["~$site01.xlsx", None, 0, 0, "SF-0007"],
    ]
    last = format_reconciliation(counts).splitlines()[-1]
    assert last.endswith("files: 8 seen, 1 read, 7 not read; rows read = mapped + held back: OK")
    assert last.split()[1:4] == ["4", "1", "3"]  # read, mapped, held back


def test_a_link_inside_the_folder_is_followed_and_its_copy_is_one_finding(tmp_path, raw_columns):
    (tmp_path / "labs_2026-03-01.csv").write_text(GOOD_CSV, encoding="utf-8")
    (tmp_path / "labs_2026-03-02.csv").symlink_to(tmp_path / "labs_2026-03-01.csv")
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0010") == [[
        "SF-0010", "WARNING", "labs_2026-03-02.csv", None, None,
        "same content as 'labs_2026-03-01.csv' (identical bytes): not read again (1 rows); send each export once"]]
    assert labs_rows(export) == [("labs_2026-03-01.csv", 2, "01-009", "40")]
    counts = reconciled(export)
    assert counts[["file", "read", "mapped", "held_back"]].values.tolist() == [
        ["labs_2026-03-01.csv", 1, 1, 0], ["labs_2026-03-02.csv", 1, 0, 1]]


def test_the_same_export_under_two_names_is_one_finding_not_a_query_per_row(tmp_path, raw_columns):
    workbook(tmp_path / "site01_2026-03-31.xlsx", {"Labs": [HEADER, *ROWS]})
    shutil.copy(tmp_path / "site01_2026-03-31.xlsx", tmp_path / "site01_2026-03-31 (copy).xlsx")
    export = read_export(tmp_path, raw_columns)
    # both name their sheet alike and carry the date: the shorter name (the copy adds to it) is read,
    # though ' (copy)' sorts before '.xlsx'
    assert found(export, "SF-0010") == [[
        "SF-0010", "WARNING", "site01_2026-03-31 (copy).xlsx", None, None,
        "same content as 'site01_2026-03-31.xlsx' (identical bytes): not read again (3 rows); send each export once"]]
    assert len(export.findings) == 1
    assert [r[:2] for r in labs_rows(export)] == [("site01_2026-03-31.xlsx", n) for n in (2, 3, 4)]
    counts = reconciled(export)
    assert counts[["read", "held_back"]].sum().tolist() == [6, 3]


def lab_csv(rows=ROWS) -> str:
    return "\n".join(",".join(row) for row in [HEADER, *rows]) + "\n"


def test_a_copy_whose_name_is_no_sheet_never_wins_over_the_recognised_original(tmp_path, raw_columns):
    # 'copy_of_labs_...' sorts before 'labs_...', but its name is no sheet of sheets.csv: were it kept,
    # the original would be held back as its duplicate and LB would be empty
    (tmp_path / "labs_2026-03-31.csv").write_text(lab_csv(), encoding="utf-8")
    shutil.copy(tmp_path / "labs_2026-03-31.csv", tmp_path / "copy_of_labs_2026-03-31.csv")
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0010") == [[
        "SF-0010", "WARNING", "copy_of_labs_2026-03-31.csv", None, None,
        "same content as 'labs_2026-03-31.csv' (identical bytes): not read again (3 rows); send each export once"]]
    assert export.findings["rule"].tolist() == ["SF-0010"]  # no 'unknown sheet', no 'no data'
    # every lab row arrived, from the recognised file, with its own row numbers
    assert labs_rows(export) == [("labs_2026-03-31.csv", n, s, r) for n, (s, _, _, _, r, _) in
                                 zip((2, 3, 4), ROWS)]
    counts = reconciled(export)
    assert counts[["file", "sheet", "read", "mapped", "held_back", "status"]].values.tolist() == [
        ["labs_2026-03-31.csv", "labs_2026-03-31", 3, 3, 0, "read"],
        ["copy_of_labs_2026-03-31.csv", None, 3, 0, 3, "duplicate file"]]


def test_among_recognised_copies_the_dated_then_the_shortest_name_is_read(tmp_path, raw_columns):
    (tmp_path / "Labs (1).csv").write_text(lab_csv(), encoding="utf-8")  # undated: sorts first
    shutil.copy(tmp_path / "Labs (1).csv", tmp_path / "labs_final_2026-03-31.csv")
    shutil.copy(tmp_path / "Labs (1).csv", tmp_path / "labs_2026-03-31.csv")
    export = read_export(tmp_path, raw_columns)
    assert [f[2:] for f in found(export, "SF-0010")] == [
        [name, None, None, f"same content as 'labs_2026-03-31.csv' (identical bytes): not read again (3 rows); "
         "send each export once"] for name in ("Labs (1).csv", "labs_final_2026-03-31.csv")]
    assert {r[0] for r in labs_rows(export)} == {"labs_2026-03-31.csv"}
    assert len(labs_rows(export)) == 3
    counts = reconciled(export)
    assert counts[["read", "mapped", "held_back"]].sum().tolist() == [9, 3, 6]


# --- workbooks by content --------------------------------------------------------------------


def _tables(path: Path):
    return read_file_tables(path, lambda sheet, cells: 0)


def test_a_legacy_xls_renamed_xlsx_is_simply_read(tmp_path):
    shutil.copy(DATA / "base.xls", tmp_path / "site01.xlsx")
    read = _tables(tmp_path / "site01.xlsx")
    assert list(read.tables) == ["Sheet1", "Sheet2", "Merged Cells"]
    # base.xls: Sheet1 row 1 is blank, row 2 holds String, 1, 1.1, True, False, 2010-10-10 ...;
    # with no known headers its first non-blank row is taken as the header
    assert read.findings[["rule", "file", "sheet", "row", "message"]].values.tolist() == [
        ["SF-0013", "site01.xlsx", "Sheet1", 2, "header row is row 2, not row 1: row 1 (blank) is not data and was skipped"]]
    assert list(read.tables["Sheet1"].columns[:5]) == ["String", "1", "1.1", "True", "False"]
    assert read.sheets[["sheet", "rows", "status"]].values.tolist() == [
        ["Sheet1", 0, "read"], ["Sheet2", 0, "read"], ["Merged Cells", 0, "read"]]


def test_an_ods_workbook_is_read(tmp_path):
    read = _tables(DATA / "base.ods")
    assert read.findings["rule"].tolist() == ["SF-0013"] and list(read.tables["Sheet1"].columns[:3]) == ["String", "1", "1.1"]


def test_a_password_protected_workbook_is_one_finding_naming_it(tmp_path, raw_columns):
    shutil.copy(DATA / "password.xlsx", tmp_path / "site01.xlsx")
    (tmp_path / "labs.csv").write_text(GOOD_CSV, encoding="utf-8")
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0001") == [[
        "SF-0001", "ERROR", "site01.xlsx", None, None,
        "workbook is password-protected: save it again without a password (File > Info > Protect Workbook "
        "> Encrypt with Password: clear it) and re-export"]]
    assert labs_rows(export) == [("labs.csv", 2, "01-009", "40")]
    reconciled(export)


def test_a_workbook_cut_short_and_a_zip_that_is_no_workbook_are_findings(tmp_path, raw_columns):
    good = workbook(tmp_path / "whole.xlsx", {"Labs": [HEADER, *ROWS]}).read_bytes()
    (tmp_path / "whole.xlsx").unlink()
    (tmp_path / "cut.xlsx").write_bytes(good[: len(good) // 2])
    with zipfile.ZipFile(tmp_path / "photos.xlsx", "w") as archive:
        archive.writestr("IMG_0001.txt", "not a sheet")
    (tmp_path / "labs.csv").write_text(GOOD_CSV, encoding="utf-8")
    export = read_export(tmp_path, raw_columns)
    assert sorted(found(export, "SF-0001")) == [
        ["SF-0001", "ERROR", "cut.xlsx", None, None,
         "workbook is damaged (its zip structure is broken or cut short, e.g. by an interrupted transfer): "
         "re-export it and send it again"],
        ["SF-0001", "ERROR", "photos.xlsx", None, None,
         "a zip archive, not a workbook: unzip it and send the files it holds"],
    ]
    assert labs_rows(export) == [("labs.csv", 2, "01-009", "40")]
    counts = reconciled(export)
    assert counts.loc[counts["sheet"].isna(), ["file", "read", "status"]].values.tolist() == [
        ["cut.xlsx", 0, "unreadable"], ["photos.xlsx", 0, "unreadable"]]


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, raw_columns):
    with zipfile.ZipFile(tmp_path / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(80):  # 80 MiB of zeros deflate to ~80 KB
                member.write(chunk)
    size = (tmp_path / "bomb.xlsx").stat().st_size
    inflated = 80 * (1 << 20) + len("<workbook/>")
    (tmp_path / "labs.csv").write_text(GOOD_CSV, encoding="utf-8")
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0012") == [[
        "SF-0012", "ERROR", "bomb.xlsx", None, None,
        f"workbook refused unread: it would decompress to {inflated:,} bytes, {inflated // size:,} times its "
        "size (a zip bomb; real workbooks stay under 100x); if the file is genuine, send the sheets as CSV files instead"]]
    assert labs_rows(export) == [("labs.csv", 2, "01-009", "40")]
    reconciled(export)


def _lie_about_sizes(path: Path, member: str, declared: int) -> None:
    """Rewrite `member`'s uncompressed size in its local header and in the central directory."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = data.find(signature)
        while at != -1 and data[at + name_at:at + name_at + len(name)] != name:
            at = data.find(signature, at + 1)
        assert at != -1, (signature, member)
        data[at + size_at:at + size_at + 4] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_a_zip_bomb_that_lies_about_its_sizes_is_refused_before_a_reader_opens_it(tmp_path, raw_columns,
                                                                                monkeypatch):
    with zipfile.ZipFile(tmp_path / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(80):  # 80 MiB of zeros deflate to ~80 KB
                member.write(b"\0" * (1 << 20))
    _lie_about_sizes(tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", 2000)
    with zipfile.ZipFile(tmp_path / "bomb.xlsx") as archive:  # the directory now says 2 KB in all
        assert sum(m.file_size for m in archive.infolist()) == 2000 + len("<workbook/>")
    size = (tmp_path / "bomb.xlsx").stat().st_size
    (tmp_path / "labs.csv").write_text(GOOD_CSV, encoding="utf-8")
    opened = []
    real_read_excel = pd.read_excel
    monkeypatch.setattr(pd, "read_excel", lambda data, *a, **k: opened.append(1) or real_read_excel(data, *a, **k))
    export = read_export(tmp_path, raw_columns)
    # the limit is 64 MiB (the file is far under 1/100 of it); the count stops once past it: the
    # workbook.xml's 11 bytes, then the sheet's zeros 1 MiB at a time up to 64 MiB
    limit, counted = 64 << 20, 11 + (64 << 20)
    assert found(export, "SF-0012") == [[
        "SF-0012", "ERROR", "bomb.xlsx", None, None,
        f"workbook refused unread: its members decompress to more than {limit:,} bytes "
        f"({counted // size:,} times its size, though its zip directory declares {2011:,}): a zip bomb; "
        "if the file is genuine, send the sheets as CSV files instead"]]
    assert opened == []  # calamine never saw it
    assert labs_rows(export) == [("labs.csv", 2, "01-009", "40")]
    counts = reconciled(export)
    assert counts.loc[counts["file"] == "bomb.xlsx", ["read", "status"]].values.tolist() == [[0, "unreadable"]]


def test_an_honest_workbook_inflates_to_what_it_declares():
    from transforms.ingest.read_files import check_inflated_size, compute_inflated_bytes

    good = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.save(good)
    with zipfile.ZipFile(good) as archive:
        members = archive.infolist()
        assert check_inflated_size(good.getvalue(), members) is None
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    raw = good.getvalue()
    start = sheet.header_offset + 30 + len(sheet.filename) + len(sheet.extra)
    stream = memoryview(raw)[start:start + sheet.compress_size]
    assert compute_inflated_bytes(stream, 1 << 30) == sheet.file_size
    assert compute_inflated_bytes(stream, 10) >= 10  # stops once past its budget


def test_zip_bomb_limits():
    mib = 1 << 20
    assert compute_zip_bomb_verdict(2 * 1024 * mib, 1024 * mib) == (
        f"it would decompress to {2 * 1024 * mib:,} bytes, more than the limit of {1024 * mib:,}")
    assert compute_zip_bomb_verdict(60 * mib, 1000) is None  # small: any ratio is harmless
    assert compute_zip_bomb_verdict(200 * mib, 20 * mib) is None  # 10x, a real big sheet
    assert compute_zip_bomb_verdict(200 * mib, mib).startswith(f"it would decompress to {200 * mib:,} bytes, 200 times")


# --- sheets: header rows, headerless columns, copies ----------------------------------------


def test_a_title_row_above_the_headers_is_tolerated_and_said(tmp_path, raw_columns):
    workbook(tmp_path / "site01.xlsx", {"Labs": [["UC-MSC site 01 lab export"], [], HEADER, *ROWS]})
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0013") == [[
        "SF-0013", "INFO", "site01.xlsx", "Labs", 3,
        "header row is row 3, not row 1: rows 1-2 ('UC-MSC site 01 lab export') are not data and were skipped"]]
    # the rows the site sees as 4, 5, 6, every one of them
    assert labs_rows(export) == [("site01.xlsx", 4, "01-001", "35"), ("site01.xlsx", 5, "01-002", "<5"),
                                 ("site01.xlsx", 6, "01-003", "1.2")]
    assert reconciled(export)[["read", "mapped", "held_back"]].values.tolist() == [[3, 3, 0]]


def test_a_merged_header_cell_hiding_a_column_is_named_by_its_letter(tmp_path, raw_columns):
    # 'Result' merged over E:F hides the unit column F's header
    header = ["Subject", "Visit", "Collection date", "Test", "Result", None]
    workbook(tmp_path / "site01.xlsx", {"Labs": [header, *ROWS]}, merge="E1:F1")
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0014") == [[
        "SF-0014", "WARNING", "site01.xlsx", "Labs", None,
        "column F has values in 2 rows but no header (a merged header cell?): its values are not read; "
        "give the column its own header and re-export"]]
    assert [r[1] for r in labs_rows(export)] == [2, 3, 4]
    reconciled(export)


def test_a_row_with_values_only_in_unread_columns_is_held_back_not_lost(tmp_path, raw_columns):
    workbook(tmp_path / "site01.xlsx", {"Labs": [HEADER + ["Comment"], ROWS[0] + [""], [""] * 6 + ["see page 2"]]})
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0017") == [[
        "SF-0017", "WARNING", "site01.xlsx", "Labs", 3,
        "row has values only in columns that are not read: not loaded; move the values into the sheet's "
        "columns or delete the row"]]
    assert reconciled(export)[["read", "mapped", "held_back"]].values.tolist() == [[2, 1, 1]]


def test_a_sheet_copied_twice_is_one_finding_and_its_rows_are_counted_once(tmp_path, raw_columns):
    workbook(tmp_path / "site01.xlsx", {"Labs": [HEADER, *ROWS], "Labs (2)": [HEADER, *ROWS]})
    export = read_export(tmp_path, raw_columns)
    assert export.findings[FINDING].values.tolist() == [[
        "SF-0011", "WARNING", "site01.xlsx", "Labs (2)", pd.NA,
        "sheet 'Labs (2)' is an exact copy of sheet 'Labs': its 3 rows are not read twice; delete the copy"]]
    assert [r[1] for r in labs_rows(export)] == [2, 3, 4]
    counts = reconciled(export)
    assert counts[["sheet", "read", "mapped", "held_back", "status"]].values.tolist() == [
        ["Labs", 3, 3, 0, "read"], ["Labs (2)", 3, 0, 3, "duplicate sheet"]]


def test_an_unknown_sheet_is_counted_as_held_back(tmp_path, raw_columns):
    workbook(tmp_path / "site01.xlsx", {"Labs": [HEADER, *ROWS], "Notes": [["Note"], ["a"], ["b"]]})
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0004") == [[
        "SF-0004", "WARNING", "site01.xlsx", "Notes", None,
        "unknown sheet 'Notes' ignored (2 rows not read): expected one of Demographics, Infusions, Labs, Assessments"]]
    counts = reconciled(export)
    assert counts[["sheet", "kind", "read", "held_back"]].values.tolist() == [
        ["Labs", "labs", 3, 0], ["Notes", None, 2, 2]]


# --- CSV: encoding, delimiter, truncated last line -------------------------------------------


def _csv(rows: list[list], delimiter: str) -> str:
    return "".join(delimiter.join(r) + "\r\n" for r in [HEADER, *rows])


@pytest.mark.parametrize(
    "encoding, delimiter, bom, said",
    [
        ("utf-8", ",", b"", None),
        ("utf-8", ";", b"\xef\xbb\xbf", "read as UTF-8 with byte-order mark text with semicolon-separated fields"),
        ("utf-16-le", "\t", b"\xff\xfe", "read as UTF-16-LE text with tab-separated fields"),
        ("utf-16-be", ",", b"\xfe\xff", "read as UTF-16-BE text with comma-separated fields"),
        ("gb18030", "|", b"", "read as GB18030 text with pipe-separated fields"),
    ],
)
def test_csv_encoding_and_delimiter_are_detected_and_said(tmp_path, raw_columns, encoding, delimiter, bom, said):
    rows = [r[:3] + ["谷丙转氨酶"] + r[4:] for r in ROWS]
    (tmp_path / "labs.csv").write_bytes(bom + _csv(rows, delimiter).encode(encoding))
    export = read_export(tmp_path, raw_columns)
    expected = [] if said is None else [["SF-0015", "INFO", "labs.csv", "labs", None, said]]
    assert found(export, "SF-0015") == expected
    assert (export.findings["rule"] == "SF-0015").all()
    labs = export.sheets["labs"]
    assert labs[["_row", "subject", "test", "result", "unit"]].fillna("").values.tolist() == [
        [2, "01-001", "谷丙转氨酶", "35", "U/L"], [3, "01-002", "谷丙转氨酶", "<5", "µmol/L"],
        [4, "01-003", "谷丙转氨酶", "1.2", ""]]
    reconciled(export)


def test_decoding_and_sniffing_on_bare_values():
    assert decode_text("a;b".encode("utf-16-le")) == ("a;b", "utf-16-le")  # no BOM: by its zero bytes
    assert decode_text("总胆红素".encode("gb18030"))[1] == "gb18030"
    assert compute_csv_delimiter("Title, with a comma\na;b;c\n1;2;3\n") == ";"
    assert compute_csv_delimiter("just one column\nx\n") == ","
    assert split_unterminated_tail('a,b\n1,"x\ny"\n2,"z') == ('a,b\n1,"x\ny"\n', '2,"z')
    assert split_unterminated_tail('a,b\n1,"x\ny') == ("a,b\n", '1,"x\ny')
    assert [compute_column_letter(i) for i in (0, 5, 25, 26, 701, 702)] == ["A", "F", "Z", "AA", "ZZ", "AAA"]


@pytest.mark.parametrize(
    "tail, fields",
    [("01-003,Week 4,2026-03-1", "3 of 6 fields"), ('01-003,Week 4,2026-03-10,INR,1.2,"mg', "6 of 6 fields, an unclosed quote")],
)
def test_a_last_line_cut_mid_line_is_held_back_as_truncated(tmp_path, raw_columns, tail, fields):
    (tmp_path / "labs.csv").write_text(_csv(ROWS[:2], ",") + tail, encoding="utf-8")
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0016") == [[
        "SF-0016", "ERROR", "labs.csv", "labs", 4,
        f"last row truncated: it ends mid-line ({fields}), as when a transfer is cut off; not read: send the file again"]]
    assert export.findings.loc[export.findings["rule"] == "SF-0016", "value"].tolist() == [tail]
    assert [r[1] for r in labs_rows(export)] == [2, 3]
    assert reconciled(export)[["read", "mapped", "held_back"]].values.tolist() == [[3, 2, 1]]


def test_a_transfer_cut_inside_a_character_still_counts_every_row(tmp_path, raw_columns):
    # the cut falls inside the last character of 谷 (3 UTF-8 bytes): the file is not "undecodable"
    data = (_csv(ROWS[:2], ",") + "01-003,Week 4,2026-03-10,谷").encode("utf-8")[:-1]
    (tmp_path / "labs.csv").write_bytes(data)
    export = read_export(tmp_path, raw_columns)
    assert not (export.findings["rule"] == "SF-0001").any()
    assert found(export, "SF-0016")[0][:5] == ["SF-0016", "ERROR", "labs.csv", "labs", 4]
    assert reconciled(export)[["read", "mapped", "held_back"]].values.tolist() == [[3, 2, 1]]


def test_a_nul_typed_into_a_cell_does_not_make_a_csv_binary(tmp_path, raw_columns):
    rows = [ROWS[0][:1] + ["Base\x00line"] + ROWS[0][2:], *ROWS[1:]]
    (tmp_path / "labs.csv").write_bytes(_csv(rows, ",").encode("utf-8"))
    export = read_export(tmp_path, raw_columns)
    assert not export.findings["rule"].isin(["SF-0001", "SF-0006"]).any()
    assert reconciled(export)["read"].tolist() == [len(ROWS)]


def test_a_whole_last_line_without_a_newline_is_read(tmp_path, raw_columns):
    (tmp_path / "labs.csv").write_text(_csv(ROWS[:2], ",") + ",".join(ROWS[2]), encoding="utf-8")
    export = read_export(tmp_path, raw_columns)
    assert export.findings.empty
    assert [r[1:] for r in labs_rows(export)] == [(2, "01-001", "35"), (3, "01-002", "<5"), (4, "01-003", "1.2")]


def test_a_title_line_above_a_csv_header_keeps_the_row_numbers(tmp_path, raw_columns):
    (tmp_path / "labs.csv").write_text("Lab export 2026-03-31\n" + _csv(ROWS, ";"), encoding="utf-8")
    export = read_export(tmp_path, raw_columns)
    assert found(export, "SF-0013") == [[
        "SF-0013", "INFO", "labs.csv", "labs", 2,
        "header row is row 2, not row 1: row 1 ('Lab export 2026-03-31') is not data and was skipped"]]
    assert [r[1] for r in labs_rows(export)] == [3, 4, 5]
    reconciled(export)


# --- the reconciliation counts rows present ---------------------------------------------------


def test_rows_present_but_in_no_frame_break_the_invariant(tmp_path, raw_columns):
    workbook(tmp_path / "site01.xlsx", {"Labs": [HEADER, *ROWS]})
    export = read_export(tmp_path, raw_columns)
    lost = {"labs": export.sheets["labs"].iloc[:2]}  # a stage that silently dropped row 4
    counts = reconcile_rows(lost, export.inventory, export.findings, {"XX": lost["labs"][LINEAGE]})
    assert counts[["read", "mapped", "held_back", "unaccounted"]].values.tolist() == [[3, 2, 0, 1]]
    assert check_reconciliation(counts) == [
        "site01.xlsx / Labs: 3 rows read but 2 mapped + 0 held back (1 rows have neither a record nor a finding)"]
    assert format_reconciliation(counts).endswith("rows read = mapped + held back: MISMATCH")


def test_nothing_in_the_folder_raises(tmp_path, raw_columns):
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "weird.csv").write_bytes(b'a,"b\n')
    export = read_export(tmp_path, raw_columns)
    assert set(export.findings["file"]) == {"pipe.csv", "weird.csv"}
    reconciled(export)


def test_the_newest_export_date_ignores_files_whose_name_carries_none():
    from transforms.ingest.read_files import UNDATED, compute_newest_export_date

    files = pd.DataFrame({"export_date": ["20260330", UNDATED, "20260331"]})
    assert compute_newest_export_date(files) == "20260331"
    assert compute_newest_export_date(files.iloc[[1]]) is None
    assert compute_newest_export_date(files.iloc[:0]) is None
