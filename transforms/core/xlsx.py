"""Tables as an xlsx workbook, written directly as SpreadsheetML, one column at a time.

The run's reports (conformance.xlsx, queries.xlsx) hold a row per finding: hundreds of thousands of
rows on a large trial. openpyxl builds a Python object per cell and pandas' `to_excel` loops over
the cells to fill it; at 5,000 subjects that was a quarter of the write stage. Here each column's
cell XML is built with vectorised string operations, text goes to one shared-strings table
(escaped once per distinct value) and the parts are zipped with one fixed time, so the bytes
depend only on the tables and the stamp (ECMA-376 Part 1, SpreadsheetML; what is written is the
subset Excel, LibreOffice, openpyxl and calamine all read: shared strings, numbers, booleans, one
header style, frozen header row, column widths, wrapped columns, an autofilter).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

ZIP_EPOCH = datetime(1980, 1, 1)  # the zip format cannot store an earlier time
MAX_ROWS = 1_048_576  # Excel's limit per sheet, the header row included

# Control characters XML 1.0 cannot carry, written as SpreadsheetML's escape for them (_xHHHH_,
# ECMA-376 Part 1, the ST_Xstring type), and text that already looks like that escape, whose
# leading "_" is then escaped itself (_x005F_) so a reader gives back what was written. openpyxl's
# writer refuses such characters (IllegalCharacterError); Excel, LibreOffice and calamine decode
# them, openpyxl's reader shows the escape as it is.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]|_(?=x[0-9A-Fa-f]{4}_)")
_HEADER, _WRAPPED = 1, 2  # style indices in styles.xml below

_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"/><right style="thin"/><top style="thin"/><bottom style="thin"/><diagonal/></border>'
    '</borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1" applyAlignment="1">'
    '<alignment horizontal="center" vertical="top"/></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


@dataclass(frozen=True)
class Sheet:
    """One sheet: `table` (header row, then its rows), column `widths` by column name (others
    are the reader's default), the columns whose cells wrap, an autofilter over the table or not."""

    name: str
    table: pd.DataFrame
    widths: dict[str, float] = field(default_factory=dict)
    wrapped: tuple[str, ...] = ()
    autofilter: bool = False


def compute_tables_xlsx_bytes(sheets: list[Sheet], stamp: datetime, creator: str = "sdtmflow") -> bytes:
    """The workbook of `sheets` (header rows bold and frozen) as xlsx bytes, with `stamp` as its
    created and modified time and every zip entry's time."""
    for sheet in sheets:
        if len(sheet.table) + 1 > MAX_ROWS:
            raise ValueError(f"sheet {sheet.name!r}: {len(sheet.table):,} rows, more than an xlsx sheet holds")
    strings = _SharedStrings()
    parts = [(f"xl/worksheets/sheet{n}.xml", _worksheet_xml(sheet, strings)) for n, sheet in enumerate(sheets, 1)]
    parts += [
        ("[Content_Types].xml", _content_types_xml(len(sheets))),
        ("_rels/.rels", _package_rels_xml()),
        ("docProps/app.xml", _app_xml()),
        ("docProps/core.xml", _core_xml(creator, max(stamp, ZIP_EPOCH))),
        ("xl/workbook.xml", _workbook_xml(sheets)),
        ("xl/_rels/workbook.xml.rels", _workbook_rels_xml(len(sheets))),
        ("xl/styles.xml", _STYLES),
        ("xl/sharedStrings.xml", strings.xml()),
    ]
    return compute_zip_bytes(sorted(parts, key=lambda part: _part_order(part[0])), stamp)


def compute_zip_bytes(entries: list[tuple], stamp: datetime) -> bytes:
    """A deflated zip of (name, content[, external attributes]) in the order given, every entry
    stamped `stamp` (the zip format's earliest time if before it)."""
    when = max(stamp, ZIP_EPOCH).timetuple()[:6]
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content, *attributes in entries:
            entry = zipfile.ZipInfo(name, date_time=when)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = attributes[0] if attributes else 0o600 << 16
            archive.writestr(entry, content)
    return packed.getvalue()


def _part_order(name: str) -> tuple:
    # the content types first, as Office writes them; then the rest by name (sheets by number)
    number = re.search(r"sheet(\d+)\.xml$", name)
    return (name != "[Content_Types].xml", re.sub(r"sheet\d+\.xml$", "sheet", name), int(number.group(1)) if number else 0)


class _SharedStrings:
    """The workbook's shared-strings table: each distinct text once, numbered in order met."""

    def __init__(self):
        self.index: dict[str, int] = {}

    def numbers(self, distinct: np.ndarray) -> np.ndarray:
        index = self.index
        for text in distinct:  # the distinct texts of one column only
            index.setdefault(text, len(index))
        return np.fromiter((index[t] for t in distinct), dtype=np.int64, count=len(distinct))

    def xml(self) -> str:
        items = "".join(f"<si>{_text_element(t)}</si>" for t in self.index)
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_MAIN}" '
                f'count="{len(self.index)}" uniqueCount="{len(self.index)}">{items}</sst>')


def _text_element(text: str) -> str:
    text = _NOT_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    # a CR as a character reference: XML readers turn a literal one into LF
    return f"<t{space}>{escape(text).replace(chr(13), '&#13;')}</t>"


def _column_letters(count: int) -> list[str]:
    letters = []
    for number in range(1, count + 1):
        name = ""
        while number:
            number, rest = divmod(number - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


def _worksheet_xml(sheet: Sheet, strings: _SharedStrings) -> str:
    table = sheet.table
    letters = _column_letters(len(table.columns))
    rows = len(table)
    last = f"{letters[-1]}{rows + 1}" if letters else "A1"
    header = "".join(
        f'<c r="{letter}1" s="{_HEADER}" t="s"><v>{strings.numbers(np.array([str(name)], dtype=object))[0]}</v></c>'
        for letter, name in zip(letters, table.columns)
    )
    row_numbers = np.arange(2, rows + 2).astype(str).astype(object)
    body = np.full(rows, "", dtype=object)
    for letter, name in zip(letters, table.columns):
        style = f' s="{_WRAPPED}"' if name in sheet.wrapped else ""
        body = body + _column_cells(table[name], letter, row_numbers, style, strings)
    body = "<row r=\"" + row_numbers + "\">" + body + "</row>"
    widths = "".join(
        f'<col min="{n}" max="{n}" width="{sheet.widths[name]}" customWidth="1"/>'
        for n, name in enumerate(table.columns, 1) if name in sheet.widths
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}" xmlns:r="{_RELS}">'
        f'<dimension ref="A1:{last}"/>'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
        'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{widths}</cols>" if widths else "")
        + f'<sheetData><row r="1">{header}</row>{"".join(body)}</sheetData>'
        + (f'<autoFilter ref="A1:{last}"/>' if sheet.autofilter and letters else "")
        + '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/></worksheet>'
    )


def _column_cells(values: pd.Series, letter: str, row_numbers: np.ndarray, style: str,
                  strings: _SharedStrings) -> np.ndarray:
    """Each row's cell of one column as XML ("" where the value is missing: no cell), worked out
    once per distinct value."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    cells = np.array([_cell_content(v, strings) for v in distinct] + [None], dtype=object)
    content = cells[codes]  # code -1 (missing) takes the last entry, None
    present = np.flatnonzero(pd.notna(content))
    out = np.full(len(values), "", dtype=object)
    if len(present):
        opening = f'<c r="{letter}'
        out[present] = opening + row_numbers[present] + '"' + style + content[present]
    return out


def _cell_content(value, strings: _SharedStrings) -> str | None:
    """The rest of a cell's XML after its reference and style: type and value."""
    if isinstance(value, (bool, np.bool_)):
        return f' t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, np.integer)):
        return f"><v>{int(value)}</v></c>"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        if np.isfinite(value):
            return f"><v>{float(value)!r}</v></c>"
        value = str(float(value))  # Excel has no infinity: the text "inf"
    if isinstance(value, (datetime, pd.Timestamp)):
        value = value.isoformat()
    number = strings.numbers(np.array([str(value)], dtype=object))[0]
    return f' t="s"><v>{number}</v></c>'


def _workbook_xml(sheets: list[Sheet]) -> str:
    entries = "".join(
        f'<sheet name={quoteattr(sheet.name)} sheetId="{n}" r:id="rId{n}"/>' for n, sheet in enumerate(sheets, 1)
    )
    names = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n}" hidden="1">'
        f"{escape(_quoted_sheet(sheet.name))}!$A$1:${_column_letters(len(sheet.table.columns))[-1]}${len(sheet.table) + 1}"
        "</definedName>"
        for n, sheet in enumerate(sheets) if sheet.autofilter and len(sheet.table.columns)
    )
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}">'
            f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{entries}</sheets>'
            + (f"<definedNames>{names}</definedNames>" if names else "") + "</workbook>")


def _quoted_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _workbook_rels_xml(count: int) -> str:
    sheet_type = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
    links = "".join(
        f'<Relationship Id="rId{n}" Type="{sheet_type}" Target="worksheets/sheet{n}.xml"/>' for n in range(1, count + 1)
    )
    links += (f'<Relationship Id="rId{count + 1}" Type="{_RELS}/styles" Target="styles.xml"/>'
              f'<Relationship Id="rId{count + 2}" Type="{_RELS}/sharedStrings" Target="sharedStrings.xml"/>')
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PACKAGE_RELS}">{links}</Relationships>'


def _package_rels_xml() -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PACKAGE_RELS}">'
        f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
        'Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_RELS}/extended-properties" Target="docProps/app.xml"/>'
        "</Relationships>"
    )


def _content_types_xml(count: int) -> str:
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet}"/>' for n in range(1, count + 1))
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{overrides}"
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )


def _core_xml(creator: str, stamp: datetime) -> str:
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:creator>{escape(creator)}</dc:creator><cp:lastModifiedBy>{escape(creator)}</cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified>'
        "</cp:coreProperties>"
    )


def _app_xml() -> str:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            "<Application>sdtmflow</Application></Properties>")
