"""Reading the export folder: every entry it holds, and each file's tables as raw text.

The file layer of ingest (transforms/ingest/export.py recognises sheets and columns in what this reads).
The folder comes from outside, so nothing is assumed from a name: every entry (any extension,
hidden files, sub-folders, links) is listed with what happened to it; workbooks are recognised by
their bytes (xlsx/xlsm/xlsb and ods are zip containers, legacy xls an OLE container, a
password-protected xlsx an OLE container holding an 'EncryptedPackage' stream); a CSV's encoding
and delimiter are detected; a header row is found, not assumed to be row 1. What is not read is
said in a finding with the rows it holds, so the reconciliation counts rows present, not rows
recognised.

Row numbers are the site's: a sheet's table comes back with the header row's cells as columns and
an index equal to the spreadsheet row number minus 2 (so row 1's header gives index 0 = row 2, the
numbering `assign_canonical_columns` expects), whatever rows stand above the header.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from transforms.core.findings import ERROR, INFO, WARNING, concat_findings, empty_findings, make_finding

STAGE = "ingest"
_DATE_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")

# Content signatures (the first bytes), not extensions: an .xls renamed .xlsx is still read.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TEXT_TABLE_SUFFIXES = (".csv", ".tsv")  # a text file is a table only when its name says so
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_SNIFF_BYTES = 8192

# Zip bombs: a workbook is refused before any reader inflates it when its members would
# decompress to more than MAX_UNCOMPRESSED_BYTES, or to more than MAX_COMPRESSION_RATIO times the
# file's size once past RATIO_FLOOR_BYTES (real xlsx sheets compress 5-20x; a small workbook may
# compress far more and is harmless, hence the floor). The sizes the zip's directory declares are
# the site's (or an attacker's) word, so each member is also inflated here, a chunk at a time and
# thrown away, until the real total passes the limit (check_inflated_size).
MAX_UNCOMPRESSED_BYTES = 1 << 30  # 1 GiB
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR_BYTES = 64 << 20  # 64 MiB
_INFLATE_CHUNK = 1 << 20
_LOCAL_HEADER = b"PK\x03\x04"
_DAMAGED_ZIP = ("workbook is damaged (its zip structure is broken or cut short, e.g. by an interrupted "
                "transfer): re-export it and send it again")

# A header row is the first of the first HEADER_SEARCH_ROWS rows with at least
# MIN_KNOWN_HEADERS cells that are headers the sheet expects; else the first non-blank row.
HEADER_SEARCH_ROWS = 30
MIN_KNOWN_HEADERS = 2
CSV_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

# Every entry of the folder, one row each (list_input_entries).
ENTRY_COLUMNS = ["name", "path", "entry", "format", "size", "read", "severity", "rule", "rows", "message"]

# Ingest's inventory (Export.inventory): one row per sheet of every file read and one per entry
# not read. `sheet` and `kind` are None for an entry with no sheet read; `rows` are the data rows
# present (below the header, blank rows excluded; lines for a text file; 0 where nothing can be
# counted); `loaded` says the sheet's rows went on to standardise; `held_back` are the rows ingest
# held back (all of them when not loaded), each covered by a finding; `status` is "read" or why not.
INVENTORY_COLUMNS = ["file", "sheet", "kind", "rows", "loaded", "held_back", "status"]

# The export date of a file whose name carries none: sorts before every real date.
UNDATED = "00000000"


def compute_newest_export_date(files: pd.DataFrame) -> str | None:
    """The newest export date (YYYYMMDD) the file names carry; None when none carries one. The
    run id, the XPT header date and the "date in the future" check all read it from here."""
    dates = files["export_date"]
    dates = dates[dates != UNDATED]
    return None if dates.empty else str(dates.max())


def compute_inventory_frame(rows: list[dict]) -> pd.DataFrame:
    """The inventory as a frame: text columns hold None (not NaN) where empty, so it is written to
    CSV and JSON as a blank / null."""
    frame = pd.DataFrame(rows, columns=INVENTORY_COLUMNS).astype(
        {"file": object, "sheet": object, "kind": object, "status": object,
         "rows": "int64", "held_back": "int64", "loaded": bool})
    for column in ("file", "sheet", "kind", "status"):
        frame[column] = frame[column].where(frame[column].notna(), None)
    return frame


# Called with a sheet's name and one row's cells, says how many are headers that sheet expects
# (ingest knows the sheets and their headers; this module does not).
CountKnownHeaders = Callable[[str, list], int]


@dataclass(frozen=True)
class FileTables:
    """What one file held: the tables handed on (sheet -> header-named text frame, index = row - 2),
    every sheet met (sheet, rows, held_back, status: read / duplicate sheet) and the findings.
    `sha256` identifies the bytes (None when the file could not be read at all)."""

    tables: dict[str, pd.DataFrame]
    sheets: pd.DataFrame
    findings: pd.DataFrame
    sha256: str | None


# --- the folder ------------------------------------------------------------------------------


def list_input_entries(input_dir: Path) -> pd.DataFrame:
    """Every entry of the export folder (ENTRY_COLUMNS), by name, with its fate: `read` for a file
    to be read (a workbook by content, a .csv/.tsv text), else the finding that says why not
    (severity, rule, message) and the rows it holds where they can be counted (lines of text).
    A link is followed only when it stays inside the folder."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input folder {input_dir} does not exist")
    root = input_dir.resolve()
    rows = [_describe_entry(path, root) for path in sorted(input_dir.iterdir())]
    entries = pd.DataFrame(rows, columns=ENTRY_COLUMNS).astype(object).astype(
        {"size": "int64", "rows": "int64", "read": bool})
    for column in ("format", "severity", "rule", "message"):
        entries[column] = entries[column].where(entries[column].notna(), None)
    return entries


def list_input_files(input_dir: Path) -> pd.DataFrame:
    """The files of the export to be read, oldest first: a date in the name
    (`Labs_2026-03-01.csv`) orders them, then the name. File dates, not modification times,
    because a copy or a git clone resets mtimes and the newest export must win the same way on
    every machine."""
    return compute_file_order(list_input_entries(input_dir))


def compute_file_order(entries: pd.DataFrame) -> pd.DataFrame:
    """The `files` frame (path, name, size, export_date, order) of the entries to be read."""
    readable = entries[entries["read"]]
    dates = [
        "".join(m.groups()) if (m := _DATE_IN_NAME.search(name)) else UNDATED
        for name in readable["name"]
    ]
    files = pd.DataFrame(
        {
            "path": readable["path"].tolist(),
            "name": readable["name"].tolist(),
            "size": readable["size"].astype("int64").tolist(),
            "export_date": dates,
        },
        columns=["path", "name", "size", "export_date"],
    ).astype({"size": "int64"})
    files = files.sort_values(["export_date", "name"], kind="stable").reset_index(drop=True)
    return files.assign(order=range(len(files)))


def check_input_entries(entries: pd.DataFrame) -> pd.DataFrame:
    """One finding per entry not read, naming it."""
    skipped = entries[~entries["read"]]
    return concat_findings(
        *(
            make_finding(severity=e.severity, stage=STAGE, rule=e.rule, file=e.name, message=e.message)
            for e in skipped.itertuples(index=False)
        )
    )


def _describe_entry(path: Path, root: Path) -> dict:
    entry = {"name": path.name, "path": str(path), "entry": "file", "format": None, "size": 0,
             "read": False, "severity": None, "rule": None, "rows": 0, "message": None}

    def skip(severity, rule, message, rows=0):
        return entry | {"severity": severity, "rule": rule, "message": message, "rows": rows}

    if path.is_symlink():
        entry["entry"] = "link"
        target = os.readlink(path)
        resolved = path.resolve()
        if not resolved.exists():
            return skip(ERROR, "SF-0009", f"link to '{target}', which does not exist: nothing read; "
                        "put the file itself in the export folder")
        if not resolved.is_relative_to(root):
            return skip(ERROR, "SF-0009", f"link to '{target}', outside the export folder: not followed, "
                        "nothing read; put the file itself in the export folder")
    if path.is_dir():
        entry["entry"] = "folder" if entry["entry"] == "file" else "link"
        inside = sum(1 for _ in path.iterdir())
        return skip(WARNING, "SF-0008", f"a folder ({inside} entries): its contents are not read; "
                    "put the export files directly in the export folder")
    if not path.is_file():
        entry["entry"] = "other"
        return skip(WARNING, "SF-0006", "not a regular file: not read")
    entry["size"] = size = path.stat().st_size
    lowered = path.name.lower()
    if lowered.startswith("~$"):
        return skip(INFO, "SF-0007", "Excel's lock file (the workbook was open during the export): not read")
    if lowered in SYSTEM_FILES or lowered.startswith("."):
        return skip(INFO, "SF-0007", "hidden or system file: not read")
    if size == 0:
        entry["format"] = "empty"
        return skip(ERROR, "SF-0001", "file is empty: the export did not write any data")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    entry["format"] = fmt = compute_file_format(head, path.suffix)
    if fmt in ("zip", "ole", "csv"):
        return entry | {"read": True}
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return skip(ERROR, "SF-0001", f"named like a workbook ({path.suffix}) but its content is not one "
                    "(damaged, or another file renamed): re-export it and send it again")
    if fmt == "text":
        lines = count_text_lines(path)
        return skip(WARNING, "SF-0006", f"not a spreadsheet export file ({lines} lines of text): not read; "
                    "if it holds study data, export it as xlsx or CSV", rows=lines)
    return skip(WARNING, "SF-0006", "not a spreadsheet export file (not text, not a workbook): not read; "
                "if it holds study data, export it as xlsx or CSV")


def compute_file_format(head: bytes, suffix: str) -> str:
    """zip / ole (workbook containers, whatever the name says), csv (text named .csv/.tsv),
    text (any other text), binary."""
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_OLE_MAGIC):
        return "ole"
    if _looks_like_text(head):
        return "csv" if suffix.lower() in TEXT_TABLE_SUFFIXES else "text"
    return "binary"


def _looks_like_text(head: bytes) -> bool:
    """UTF-16 by its byte-order mark or zero bytes; else text that decodes, where a stray NUL
    (a control character typed into a cell: one in a hundred bytes at most) does not make the
    file binary — the text cleaning removes it with a finding."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(head):
        return True
    if head.count(b"\x00") * 100 > len(head):
        return False
    stripped = head.replace(b"\x00", b"")
    for encoding in ("utf-8", "gb18030"):
        try:
            _decode_cut(stripped, encoding)
            return True
        except UnicodeDecodeError:
            continue
    return b"\x00" not in head


def count_text_lines(path: Path) -> int:
    """Non-blank lines of a text file (its rows, for a file not read)."""
    data = Path(path).read_bytes()
    text = decode_text(data)[0] if data else ""
    return sum(1 for line in text.splitlines() if line.strip())


# --- one file --------------------------------------------------------------------------------


def read_file_tables(path: Path, count_known_headers: CountKnownHeaders) -> FileTables:
    """Every table of one file, or the finding that says why it cannot be read. Nothing raises."""
    path = Path(path)
    sha = None
    try:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if data.startswith(_ZIP_MAGIC) or data.startswith(_OLE_MAGIC):
            return read_workbook_tables(data, path.name, count_known_headers, sha)
        return read_csv_tables(data, path, count_known_headers, sha)
    except _Unreadable as problem:
        message = str(problem)
        rule = problem.rule
    except Exception as error:  # noqa: BLE001 — any reader failure is the site's file, not our bug
        message = (f"file cannot be read ({type(error).__name__}: {error}); it may be damaged: "
                   "re-export it and send it again")
        rule = "SF-0001"
    return FileTables({}, _sheet_table([]), make_finding(
        severity=ERROR, stage=STAGE, rule=rule, file=path.name, message=message), sha)


class _Unreadable(Exception):
    def __init__(self, message: str, rule: str = "SF-0001"):
        super().__init__(message)
        self.rule = rule


def read_workbook_tables(data: bytes, file: str, count_known_headers: CountKnownHeaders,
                         sha: str | None = None) -> FileTables:
    """Every sheet of a workbook (xlsx, xlsm, xlsb, ods, legacy xls) as a header-named text table.
    calamine is ~6x faster than openpyxl on large sheets, and reads legacy xls and ods too."""
    check_workbook_container(data)
    # keep_default_na=False: "None" (no ascites) and "NA" are answers the site gave, not blanks.
    grids = pd.read_excel(io.BytesIO(data), sheet_name=None, engine="calamine", dtype=str,
                          header=None, keep_default_na=False)
    return derive_file_tables(grids, file, count_known_headers, sha)


def check_workbook_container(data: bytes) -> None:
    """Raise _Unreadable (with what the site must do) for a container no reader should open:
    password-protected, damaged, not a workbook, or a zip bomb."""
    if data.startswith(_OLE_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise _Unreadable("workbook is password-protected: save it again without a password "
                              "(File > Info > Protect Workbook > Encrypt with Password: clear it) and re-export")
        if not any(name.encode("utf-16-le") in data for name in ("Workbook", "Book")):
            raise _Unreadable("an OLE (Office) file that holds no workbook: send the export workbook itself")
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _Unreadable(_DAMAGED_ZIP) from None
    members = archive.infolist()
    names = {m.filename for m in members}
    verdict = compute_zip_bomb_verdict(sum(m.file_size for m in members), len(data)) or check_inflated_size(
        data, members)
    if verdict:
        raise _Unreadable(f"workbook refused unread: {verdict}; if the file is genuine, send the sheets "
                          "as CSV files instead", rule="SF-0012")
    if "META-INF/manifest.xml" in names and b"encryption-data" in archive.read("META-INF/manifest.xml"):
        raise _Unreadable("workbook is password-protected: save it again without a password and re-export")
    if not ({"xl/workbook.xml", "xl/workbook.bin", "content.xml"} & names):
        raise _Unreadable("a zip archive, not a workbook: unzip it and send the files it holds")


def compute_zip_bomb_verdict(uncompressed: int, size: int, *, max_bytes: int = MAX_UNCOMPRESSED_BYTES,
                             max_ratio: int = MAX_COMPRESSION_RATIO,
                             ratio_floor: int = RATIO_FLOOR_BYTES) -> str | None:
    """Why a zip whose members sum to `uncompressed` bytes in a `size`-byte file is refused, or None."""
    if uncompressed > max_bytes:
        return (f"it would decompress to {uncompressed:,} bytes, more than the limit of {max_bytes:,}")
    if uncompressed > ratio_floor and uncompressed > max_ratio * max(size, 1):
        return (f"it would decompress to {uncompressed:,} bytes, {uncompressed // max(size, 1):,} times "
                f"its size (a zip bomb; real workbooks stay under {max_ratio}x)")
    return None


def check_inflated_size(data: bytes, members: list[zipfile.ZipInfo]) -> str | None:
    """Why a zip whose directory declares harmless sizes is refused after all, or None: its
    members, really inflated, pass the largest size compute_zip_bomb_verdict accepts for the file.

    Each member's compressed bytes are read from its local header on, whatever the directory
    says of their length, and inflated a chunk at a time (memory stays at one chunk); the count
    stops as soon as the total passes the limit. Only the methods workbooks use are inflated:
    stored (its size is its bytes) and deflate."""
    limit = min(MAX_UNCOMPRESSED_BYTES, max(RATIO_FLOOR_BYTES, MAX_COMPRESSION_RATIO * len(data)))
    declared, total, view = sum(m.file_size for m in members), 0, memoryview(data)
    for member in members:
        start = _member_data_start(view, member)
        if member.compress_type == zipfile.ZIP_STORED:
            total += min(member.compress_size, len(data) - start)
        elif member.compress_type == zipfile.ZIP_DEFLATED:
            total += compute_inflated_bytes(view[start:], limit - total + 1)
        else:
            raise _Unreadable(f"workbook member '{member.filename}' is compressed with zip method "
                              f"{member.compress_type}, which spreadsheet programs do not write: open the "
                              "workbook in Excel, save it again and re-export")
        if total > limit:
            return (f"its members decompress to more than {limit:,} bytes ({total // max(len(data), 1):,} times "
                    f"its size, though its zip directory declares {declared:,}): a zip bomb")
    return None


def compute_inflated_bytes(stream: memoryview, budget: int) -> int:
    """How many bytes a raw deflate stream inflates to, counted up to `budget` (a count past it
    stops there: the caller refuses the file); a stream that breaks off counts what came out."""
    inflater, total, position, pending = zlib.decompressobj(-zlib.MAX_WBITS), 0, 0, b""
    try:
        while not inflater.eof and total < budget:
            if not pending:
                if position >= len(stream):
                    break
                pending, position = stream[position:position + _INFLATE_CHUNK], position + _INFLATE_CHUNK
            total += len(inflater.decompress(pending, _INFLATE_CHUNK))
            pending = inflater.unconsumed_tail
    except zlib.error:
        pass  # damaged: the reader says so
    return total


def _member_data_start(view: memoryview, member: zipfile.ZipInfo) -> int:
    """Where a member's compressed bytes begin: after its local header (30 bytes, its name and
    its extra field, whose lengths the local header gives)."""
    at = member.header_offset
    if bytes(view[at:at + 4]) != _LOCAL_HEADER:
        raise _Unreadable(_DAMAGED_ZIP)
    name, extra = int.from_bytes(view[at + 26:at + 28], "little"), int.from_bytes(view[at + 28:at + 30], "little")
    return at + 30 + name + extra


def read_csv_tables(data: bytes, path: Path, count_known_headers: CountKnownHeaders,
                    sha: str | None = None) -> FileTables:
    """A CSV (or TSV) as one table named after the file's stem: encoding and delimiter detected
    (and said when not plain UTF-8 and comma), a last line cut short held back as truncated."""
    file, sheet = path.name, path.stem
    text, encoding = decode_text(data)
    delimiter = compute_csv_delimiter(text)
    body, tail = split_unterminated_tail(text)
    if not body.strip():  # one line, no newline: its only record is the header, nothing to judge
        body, tail = text + "\n", ""
    grid = pd.read_csv(io.StringIO(body), sep=delimiter, header=None, dtype=str, keep_default_na=False,
                       skip_blank_lines=False, names=range(_csv_width(body, delimiter)), quotechar='"')
    findings = []
    if encoding not in ("utf-8", "utf-8-sig") or delimiter != ",":
        findings.append(make_finding(
            severity=INFO, stage=STAGE, rule="SF-0015", file=file, sheet=sheet,
            message=f"read as {encoding.upper().replace('-SIG', ' with byte-order mark')} text with "
            f"{_DELIMITER_NAMES[delimiter]}-separated fields"))
    tables = derive_file_tables({sheet: grid}, file, count_known_headers, sha, tail=(tail, delimiter))
    return FileTables(tables.tables, tables.sheets, concat_findings(*findings, tables.findings), sha)


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): a byte-order mark decides (UTF-8, UTF-16 LE/BE); else UTF-16 by its zero
    bytes, else UTF-8, else GB18030 (what Chinese Excel writes for 'CSV'); else _Unreadable."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return _decode_cut(data[len(bom):], encoding.replace("-sig", "")), encoding
            except UnicodeDecodeError:
                break
    guess = _utf16_without_bom(data[:_SNIFF_BYTES])
    for encoding in ([guess] if guess else []) + ["utf-8", "gb18030"]:
        try:
            return _decode_cut(data, encoding), encoding
        except UnicodeDecodeError:
            continue
    raise _Unreadable("file is text in no encoding we can read (not UTF-8, UTF-16 or GB18030): "
                      "re-export it as 'CSV UTF-8' so Chinese text and units like µmol/L survive")


def _decode_cut(data: bytes, encoding: str) -> str:
    """`data` decoded; a transfer cut inside the last character (at most 3 bytes of a UTF-8 or
    GB18030 sequence, 1 of UTF-16) loses only that character: the text before it is kept, and its
    last line, now without a line end, is judged as a truncated line."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        if error.start < len(data) - 3 or error.reason not in ("unexpected end of data", "truncated data"):
            raise
        return data[: error.start].decode(encoding)


def _utf16_without_bom(head: bytes) -> str | None:
    """utf-16-le/be when every other byte of an ASCII-ish text is zero."""
    if len(head) < 4 or b"\x00" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def compute_csv_delimiter(text: str, sample_lines: int = 50) -> str:
    """The delimiter (comma, semicolon, tab, pipe) that splits the most of the first lines into the
    same number (> 1) of fields; comma when none does."""
    sample = "\n".join(text.splitlines()[:sample_lines])
    best, best_score = ",", 0
    for delimiter in CSV_DELIMITERS:
        widths = pd.Series([len(r) for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r])
        widths = widths[widths > 1]
        score = int(widths.value_counts().iloc[0]) if len(widths) else 0
        if score > best_score:
            best, best_score = delimiter, score
    return best


def split_unterminated_tail(text: str) -> tuple[str, str]:
    """(body, tail): a file not ending in a newline has its last record split off as `tail` (the
    caller judges whether it was cut short). The record starts after the last newline that lies
    outside quotes (an even number of quote characters before it)."""
    if not text or text.endswith(("\n", "\r")):
        return text, ""
    cut = len(text)
    while (cut := text.rfind("\n", 0, cut)) != -1:
        if text.count('"', 0, cut) % 2 == 0:
            return text[: cut + 1], text[cut + 1:]
    return "", text


def _csv_width(body: str, delimiter: str) -> int:
    """The widest record's field count (so a row wider than the header is kept, not an error)."""
    return max(map(len, csv.reader(io.StringIO(body), delimiter=delimiter)), default=1)


# --- sheets: header row, unnamed columns, copies ----------------------------------------------


def derive_file_tables(grids: dict[str, pd.DataFrame], file: str, count_known_headers: CountKnownHeaders,
                       sha: str | None = None, tail: tuple[str, str] = ("", ",")) -> FileTables:
    """Header-named tables from raw grids (row i = spreadsheet row i + 1), with the findings of
    their header rows, headerless columns, copied sheets and (CSV) a truncated last record."""
    tables, sheets, findings, seen = {}, [], [], {}
    for sheet, grid in grids.items():
        # a CSV row shorter than the widest is padded with NaN: a blank cell, as in a workbook
        grid = grid.fillna("").astype("str") if not grid.empty else grid
        signature = _grid_signature(grid)
        header = locate_header_row(grid, lambda cells, name=sheet: count_known_headers(name, cells))
        table = derive_header_table(grid, header)
        rows = int(compute_filled_rows(table).sum())
        if signature is not None and signature in seen and grid.equals(seen[signature][1]):
            original = seen[signature][0]
            findings.append(make_finding(
                severity=WARNING, stage=STAGE, rule="SF-0011", file=file, sheet=sheet,
                message=f"sheet '{sheet}' is an exact copy of sheet '{original}': its {rows} rows are not "
                "read twice; delete the copy"))
            sheets.append({"sheet": sheet, "rows": rows, "held_back": rows, "status": "duplicate sheet"})
            continue
        if signature is not None:
            seen.setdefault(signature, (sheet, grid))
        findings += [check_header_row(grid, header, file, sheet), check_unnamed_columns(table, file, sheet)]
        held = 0
        if tail[0]:
            truncated = check_truncated_tail(tail[0], tail[1], table, len(grid) + 1, file, sheet)
            if truncated.empty:
                table = pd.concat([table, _tail_row(tail[0], tail[1], table, len(grid) + 1)])
            else:
                findings.append(truncated)
                held = 1
            rows += 1
        tables[sheet] = table
        sheets.append({"sheet": sheet, "rows": rows, "held_back": held, "status": "read"})
    return FileTables(tables, _sheet_table(sheets), concat_findings(*findings), sha)


def locate_header_row(grid: pd.DataFrame, count_known: Callable[[list], int]) -> int | None:
    """0-based position of the header row: the first of the first HEADER_SEARCH_ROWS rows with at
    least MIN_KNOWN_HEADERS known headers, else the first non-blank row; None for a blank sheet."""
    non_blank = np.flatnonzero(compute_filled_rows(grid).to_numpy())
    if not len(non_blank):
        return None
    for position in non_blank[non_blank < HEADER_SEARCH_ROWS]:
        if count_known(grid.iloc[position].tolist()) >= MIN_KNOWN_HEADERS:
            return int(position)
    return int(non_blank[0])


def derive_header_table(grid: pd.DataFrame, header: int | None) -> pd.DataFrame:
    """The rows under the header row, its cells as (unique) columns, index = spreadsheet row - 2.
    A blank header is 'Unnamed: <position>' and a repeated one gets '.1', '.2' (as pandas names
    them), so the sheet/column layer sees what it saw before."""
    if header is None:
        return pd.DataFrame(index=pd.RangeIndex(0))
    names = [str(v) for v in grid.iloc[header].tolist()]  # as the site wrote them, spaces too
    last = max((i for i, n in enumerate(names) if n.strip()), default=-1)
    # trailing blank header columns are kept only where they hold data (they become 'Unnamed')
    columns, counts = [], {}
    for position, name in enumerate(names):
        if not name.strip():
            columns.append(f"Unnamed: {position}")
            continue
        count = counts.get(name, 0)
        counts[name] = count + 1
        columns.append(name if count == 0 else f"{name}.{count}")
    table = grid.iloc[header + 1:].set_axis(columns, axis=1)
    trailing = [c for i, c in enumerate(columns) if i > last and not compute_filled_rows(table[[c]]).any()]
    table = table.drop(columns=trailing)
    # spreadsheet row = position + 1; index = row - 2 (assign_canonical_columns adds 2)
    return table.set_axis(pd.RangeIndex(header, header + len(table)), axis=0)


def check_header_row(grid: pd.DataFrame, header: int | None, file: str, sheet: str) -> pd.DataFrame:
    """INFO when rows stand above the header row (a title): tolerated, and said."""
    if header is None or header == 0:
        return empty_findings()
    above = grid.iloc[:header]
    titles = [v for v in above.to_numpy().ravel() if str(v).strip()]
    shown = f"'{str(titles[0]).strip()}'" if titles else "blank"
    skipped = f"row 1 ({shown}) is not data and was" if header == 1 else f"rows 1-{header} ({shown}) are not data and were"
    return make_finding(
        severity=INFO, stage=STAGE, rule="SF-0013", file=file, sheet=sheet, row=header + 1,
        message=f"header row is row {header + 1}, not row 1: {skipped} skipped")


def check_unnamed_columns(table: pd.DataFrame, file: str, sheet: str) -> pd.DataFrame:
    """WARNING for each column with values but a blank header (often a merged header cell that
    hides the column): its values are not read."""
    findings = []
    for column in [c for c in table.columns if str(c).startswith("Unnamed: ")]:
        filled = int(compute_filled_rows(table[[column]]).sum())
        if filled:
            letter = compute_column_letter(int(str(column).split(": ")[1]))
            findings.append(make_finding(
                severity=WARNING, stage=STAGE, rule="SF-0014", file=file, sheet=sheet, variable=letter,
                message=f"column {letter} has values in {filled} rows but no header (a merged header "
                "cell?): its values are not read; give the column its own header and re-export"))
    return concat_findings(*findings)


def check_truncated_tail(tail: str, delimiter: str, table: pd.DataFrame, row: int,
                         file: str, sheet: str) -> pd.DataFrame:
    """ERROR when a CSV's last record, not ended by a newline, was cut short: an open quote, or
    fewer fields than the header."""
    fields = next(csv.reader(io.StringIO(tail), delimiter=delimiter), [])
    width = len([c for c in table.columns if not str(c).startswith("Unnamed: ")])
    if tail.count('"') % 2 == 0 and len(fields) >= width:
        return empty_findings()
    return make_finding(
        severity=ERROR, stage=STAGE, rule="SF-0016", file=file, sheet=sheet, row=row, value=tail[:80],
        message=f"last row truncated: it ends mid-line ({len(fields)} of {width} fields"
        f"{', an unclosed quote' if tail.count(chr(34)) % 2 else ''}), as when a transfer is cut off; "
        "not read: send the file again")


def _tail_row(tail: str, delimiter: str, table: pd.DataFrame, row: int) -> pd.DataFrame:
    fields = next(csv.reader(io.StringIO(tail), delimiter=delimiter), [])
    values = (fields + [""] * len(table.columns))[: len(table.columns)]
    return pd.DataFrame([values], columns=table.columns, index=[row - 2])


def compute_column_letter(position: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the column as the spreadsheet labels it."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def compute_filled_rows(frame: pd.DataFrame) -> pd.Series:
    """Per row: has it at least one non-blank cell (a row present, whatever its columns)."""
    if frame.empty:
        return pd.Series(False, index=frame.index)
    return frame.apply(lambda c: c.astype("str").str.strip().fillna("") != "").any(axis=1)


def _grid_signature(grid: pd.DataFrame) -> tuple | None:
    """A cheap fingerprint to find copied sheets; None for a blank sheet (blank sheets are alike
    without being copies)."""
    if grid.empty or not compute_filled_rows(grid).any():
        return None
    return (grid.shape, int(pd.util.hash_pandas_object(grid, index=False).sum()))


def _sheet_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sheet", "rows", "held_back", "status"]).astype(
        {"rows": "int64", "held_back": "int64"})
