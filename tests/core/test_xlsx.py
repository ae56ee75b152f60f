"""transforms/core/xlsx.py: workbooks written as SpreadsheetML, read back by two independent readers
(openpyxl, python-calamine) cell by cell against the values put in."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from transforms.core.xlsx import MAX_ROWS, Sheet, compute_tables_xlsx_bytes

STAMP = datetime(2026, 3, 31, 12, 30, 5)
TEXTS = [
    "plain", " leading and trailing ", "two\nlines", "tab\there", "carriage\r\nreturn", "bell\x07and\x1f",
    "_x0041_ looks escaped", "a_x005F_b", "<tag> & \"quotes\" 'apostrophe'", "é ü 中文", "emoji \U0001F9EA", "",
]
# openpyxl's reader leaves the _xHHHH_ escape of a control character as it is, and drops every
# "x005F_" (so the escaped "_x005F_" of the text a_x005F_b reads as "_"); calamine decodes both
OPENPYXL_READS = {"bell\x07and\x1f": "bell_x0007_and_x001F_", "a_x005F_b": "a_b"}


def hostile_table() -> pd.DataFrame:
    rows = len(TEXTS)
    return pd.DataFrame({
        "text": TEXTS,
        "count": pd.array([1, None, 3, -4, 0, 2**31, 7, 8, 9, 10, 11, 12], dtype="Int64"),
        "number": [0.1, -0.0, 1e-300, 1e300, 2.0**53, np.nan, 1.5, -2.25, 3.0, 1 / 3, 100.0, 7.0],
        "flag": [True, False] * (rows // 2),
        "mixed": ["a", 1, 2.5, None, np.nan, "b", True, "c", 3, "", "d", "e"],
        "missing": [None] * rows,
    })


def expected_cells(table: pd.DataFrame) -> list[list]:
    """What a reader should give back for each cell: the value itself, None where missing."""
    def cell(value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            return value.item()
        return value
    return [list(table.columns)] + [[cell(v) for v in row] for row in table.astype(object).itertuples(index=False)]


def read_with_openpyxl(data: bytes, sheet: str) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [[c.value for c in row] for row in book[sheet].iter_rows()]


def test_every_value_reads_back_through_openpyxl():
    table = hostile_table()
    data = compute_tables_xlsx_bytes([Sheet("data", table)], STAMP)
    back = read_with_openpyxl(data, "data")
    expected = expected_cells(table)
    for row in expected:
        row[0] = OPENPYXL_READS.get(row[0], row[0])
    assert back == expected
    # numbers stay numbers, -0.0 included, and exactly
    assert [type(v) for v in back[1][1:4]] == [int, float, bool]
    assert np.signbit(back[2][2]) and back[5][2] == 2.0**53 and back[10][2] == 1 / 3


def test_every_value_reads_back_through_calamine():
    table = hostile_table()
    data = compute_tables_xlsx_bytes([Sheet("data", table)], STAMP)
    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name("data").to_python()
    # calamine gives "" for an empty cell and whole floats as int; the texts and values are exact
    expected = [["" if v is None else v for v in row] for row in expected_cells(table)]
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert [(float(g) if isinstance(g, (int, float)) and not isinstance(g, bool) else g) for g in got] == [
            (float(w) if isinstance(w, (int, float)) and not isinstance(w, bool) else w) for w in want]


def test_bytes_depend_only_on_the_tables_and_the_stamp():
    table = hostile_table()
    sheets = [Sheet("one", table), Sheet("two", table.iloc[::-1].reset_index(drop=True))]
    first = compute_tables_xlsx_bytes(sheets, STAMP)
    assert first == compute_tables_xlsx_bytes(sheets, STAMP)
    assert first != compute_tables_xlsx_bytes(sheets, datetime(2026, 4, 1))
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 3, 31, 12, 30, 4)}  # zip: 2-second steps
        assert archive.testzip() is None
    book = openpyxl.load_workbook(io.BytesIO(first))
    assert book.sheetnames == ["one", "two"]
    assert book.properties.created == STAMP and book.properties.modified == STAMP
    assert book.properties.creator == "sdtmflow"


def test_layout_frozen_header_widths_wrapping_and_filter():
    table = pd.DataFrame({"short": ["a", "b"], "long text": ["x " * 50, "y"], "n": [1, 2]})
    data = compute_tables_xlsx_bytes(
        [Sheet("Queries", table, widths={"long text": 80, "n": 6.5}, wrapped=("long text",), autofilter=True)], STAMP)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Queries"]
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 80 and sheet.column_dimensions["C"].width == 6.5
    assert sheet.auto_filter.ref == "A1:C3"
    assert all(cell.font.b for cell in sheet[1])
    assert sheet["B2"].alignment.wrap_text and not sheet["A2"].alignment.wrap_text
    assert sheet.dimensions == "A1:C3"


def test_empty_tables_write_a_header_or_nothing():
    data = compute_tables_xlsx_bytes(
        [Sheet("header only", pd.DataFrame(columns=["a", "b"])), Sheet("nothing", pd.DataFrame())], STAMP)
    assert read_with_openpyxl(data, "header only") == [["a", "b"]]
    assert openpyxl.load_workbook(io.BytesIO(data))["nothing"].max_row == 1


def test_a_table_longer_than_a_sheet_is_refused():
    too_long = pd.DataFrame({"a": np.zeros(MAX_ROWS, dtype="int8")})  # with its header, one row too many
    with pytest.raises(ValueError, match="more than an xlsx sheet holds"):
        compute_tables_xlsx_bytes([Sheet("big", too_long)], STAMP)
