"""Ingest: read the site's export folder into one text frame per known sheet, with lineage.

The export is the outside world (docs/raw-data-contract.md): any mix of .xlsx workbooks and .csv
files, sheets and headers recognised loosely. Every value is kept as the text the site sent; every
row carries `_file`, `_sheet` and `_row` (the spreadsheet row number the site sees, header = row 1)
so each later record or finding points back to its cell. A file or sheet that cannot be used becomes
a finding and the rest of the export is still read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.core.findings import (
    ERROR,
    INFO,
    LINEAGE,
    WARNING,
    concat_findings,
    empty_findings,
    make_finding,
    make_row_findings,
)
from transforms.ingest.read_files import (  # noqa: F401 — list_input_files: ingest's public API
    INVENTORY_COLUMNS,
    UNDATED,
    STAGE,
    check_input_entries,
    compute_file_order,
    compute_filled_rows,
    compute_inventory_frame,
    list_input_entries,
    list_input_files,
    read_file_tables,
)



@dataclass(frozen=True)
class Export:
    """What ingest read: one text frame per sheet kind (all files stacked, oldest file first), the
    findings, the files read (name, size, export date, order), the inventory the reconciliation
    counts from, and the headers as the site wrote them (file, sheet, column, header), for queries
    that speak the site's language.

    The inventory (columns: transforms.ingest.read_files.INVENTORY_COLUMNS) has one row per sheet of
    every file read, recognised or not, and one per entry of the folder not read (sheet and kind
    None: a stray file, a link, a folder, an unreadable or duplicate file):
    file, sheet, kind (contract sheet or None), rows (data rows present: below the header, blank
    rows excluded; lines of a text file; 0 where nothing can be counted), loaded (the rows went on
    to standardise), held_back (rows ingest held back: all of them when not loaded, each covered
    by a finding), status ("read", or why not: unknown sheet, duplicate sheet, required column
    missing, or the entry's rule for an entry not read)."""

    sheets: dict[str, pd.DataFrame]
    findings: pd.DataFrame
    files: pd.DataFrame
    inventory: pd.DataFrame
    headers: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["file", "sheet", "column", "header"])
    )


def read_export(
    input_dir: Path, raw_columns: pd.DataFrame, sheet_names: dict[str, list[str]],
    entries: pd.DataFrame | None = None,
) -> Export:
    """Read every entry of `input_dir`; nothing in it can make this raise.

    `raw_columns` (raw_columns.csv) and `sheet_names` ({sheet id: the names it may carry}, from
    sheets.csv) are the study's: which sheets and headers the site sends is data, not code.

    `entries` (list_input_entries) describes the folder as the site left it when the files are
    read from elsewhere (the pipeline reads archived copies through a folder of links, named as
    the entries to read); by default the folder itself is listed."""
    input_dir = Path(input_dir)
    entries = list_input_entries(input_dir) if entries is None else entries
    inputs = compute_file_order(entries)
    parts: dict[str, list[pd.DataFrame]] = {sheet: [] for sheet in sheet_names}
    inventory, headers = list_skipped_entries(entries), []
    findings = [empty_findings(), check_input_entries(entries)]
    count_known = count_known_headers(raw_columns, sheet_names)
    reads = {name: read_file_tables(input_dir / name, count_known) for name in inputs["name"]}
    originals = select_original_files(inputs, reads, sheet_names)
    for name, read in reads.items():
        # --- the file layer's verdicts: a copy of another file, an unreadable file, copied sheets
        original = originals.get(read.sha256, name)
        if original != name:
            rows = int(read.sheets["rows"].sum())
            findings.append(check_duplicate_file(name, original, rows))
            inventory.append(_inventory_row(name, None, None, rows, False, rows, "duplicate file"))
            continue
        findings.append(read.findings)
        if read.sheets.empty:
            inventory.append(_inventory_row(name, None, None, 0, False, 0, "unreadable"))
            continue
        for copy in read.sheets[read.sheets["status"] != "read"].itertuples(index=False):
            inventory.append(_inventory_row(name, copy.sheet, match_sheet_kind(copy.sheet, sheet_names), copy.rows,
                                            False, copy.rows, copy.status))
        present = read.sheets.set_index("sheet")
        tables = read.tables
        # --- the sheet/column layer
        findings.append(check_no_data(tables, name, sheet_names))
        for sheet_name, table in tables.items():
            rows, truncated = int(present.at[sheet_name, "rows"]), int(present.at[sheet_name, "held_back"])
            kind = match_sheet_kind(sheet_name, sheet_names)
            if kind is None:
                findings.append(
                    make_finding(
                        severity=WARNING, stage=STAGE, rule="SF-0004", file=name,
                        sheet=sheet_name,
                        message=f"unknown sheet '{sheet_name}' ignored ({rows} rows not read): expected one of "
                        + _expected_sheets(sheet_names),
                    )
                )
                inventory.append(_inventory_row(name, sheet_name, None, rows, False, rows, "unknown sheet"))
                continue
            if table.columns.empty and table.empty:
                # a blank sheet: nothing to load, and not N missing columns (check_no_data says
                # so when the whole file is blank)
                inventory.append(_inventory_row(name, sheet_name, kind, 0, True, 0, "read"))
                continue
            columns = raw_columns[raw_columns["sheet"] == kind]
            frame, sheet_findings, loaded = assign_canonical_columns(
                table, columns, name, sheet_name
            )
            rename, _ = match_columns(table.columns, columns)
            headers += [
                {"file": name, "sheet": sheet_name, "column": column, "header": str(header)}
                for header, column in rename.items()
            ]
            findings.append(sheet_findings)
            if loaded:
                dropped = check_rows_without_contract_values(table, frame, name, sheet_name)
                findings.append(dropped)
                inventory.append(_inventory_row(name, sheet_name, kind, rows, True, truncated + len(dropped), "read"))
                parts[kind].append(frame)
            else:
                inventory.append(_inventory_row(name, sheet_name, kind, rows, False, rows,
                                                "required column missing"))
    sheets = {
        kind: (
            pd.concat(frames, ignore_index=True)
            if frames
            else _empty_sheet(raw_columns[raw_columns["sheet"] == kind])
        )
        for kind, frames in parts.items()
    }
    inventory = compute_inventory_frame(inventory)
    headers = pd.DataFrame(headers, columns=["file", "sheet", "column", "header"])
    return Export(sheets, concat_findings(*findings), inputs.drop(columns="path"), inventory, headers)


def count_known_headers(raw_columns: pd.DataFrame, sheet_names: dict[str, list[str]]):
    """For read_files' header-row search: (sheet name, cells) -> how many cells are headers (or
    header aliases) of the study sheet that name is (0 for a sheet we do not know)."""
    keys = {kind: set(compute_header_lookup(group)) for kind, group in raw_columns.groupby("sheet")}

    def count(sheet_name: str, cells: list) -> int:
        known = keys.get(match_sheet_kind(sheet_name, sheet_names), set())
        return sum(key in known for key in compute_header_key(cells))

    return count


def select_original_files(inputs: pd.DataFrame, reads: dict, sheet_names: dict[str, list[str]]) -> dict[str, str]:
    """{sha256: the file read} for the files of the export whose bytes are identical (the same
    export delivered under two names); the others are held back as duplicates of it.

    The original is the file whose name the study recognises: the most rows in sheets that
    sheets.csv names (so `labs_2026-03-31.csv` wins over `copy_of_labs_2026-03-31.csv`, whose
    name is no sheet, whatever the alphabet says); among equals, the one with an export date in
    its name (its rows are then dated like the rest of the export), then the shortest name (a
    copy's name adds to the original's: `Labs (1).csv`, `site01 (copy).xlsx`), then the first in
    file order (export date, then name)."""
    preference = {}
    for order, (name, export_date) in enumerate(zip(inputs["name"], inputs["export_date"])):
        read = reads[name]
        if read.sha256 is None:
            continue
        sheets = read.sheets[read.sheets["status"] == "read"]
        recognised = sum(int(rows) for sheet, rows in zip(sheets["sheet"], sheets["rows"])
                         if match_sheet_kind(sheet, sheet_names) is not None)
        preference.setdefault(read.sha256, []).append((-recognised, export_date == UNDATED, len(name), order, name))
    return {sha: min(candidates)[-1] for sha, candidates in preference.items()}


def list_skipped_entries(entries: pd.DataFrame) -> list[dict]:
    """Inventory rows of the folder's entries not read: their rows (where counted) held back."""
    skipped = entries[~entries["read"]]
    return [
        _inventory_row(e.name, None, None, int(e.rows), False, int(e.rows), e.rule)
        for e in skipped.itertuples(index=False)
    ]


def check_duplicate_file(file: str, original: str, rows: int) -> pd.DataFrame:
    """One finding for a file whose bytes are those of another one, the file read
    (select_original_files): it is not read again."""
    return make_finding(
        severity=WARNING, stage=STAGE, rule="SF-0010", file=file,
        message=f"same content as '{original}' (identical bytes): not read again ({rows} rows); "
        "send each export once",
    )


def check_rows_without_contract_values(table: pd.DataFrame, frame: pd.DataFrame, file: str,
                                       sheet: str) -> pd.DataFrame:
    """WARNING for each row with values only in columns that are not read (an extra or headerless
    column): the row is not loaded, and says so instead of vanishing."""
    filled = table.index[compute_filled_rows(table).to_numpy()] + 2
    missing = np.setdiff1d(filled.to_numpy(), frame["_row"].to_numpy())
    if not len(missing):
        return empty_findings()
    rows = pd.DataFrame({"_file": file, "_sheet": sheet, "_row": missing})
    return make_row_findings(
        rows, severity=WARNING, stage=STAGE, rule="SF-0017", variable=None, value=pd.Series(None, index=rows.index),
        message="row has values only in columns that are not read: not loaded; move the values into "
        "the sheet's columns or delete the row",
    )


def _inventory_row(file, sheet, kind, rows, loaded, held_back, status) -> dict:
    return dict(zip(INVENTORY_COLUMNS, (file, sheet, kind, rows, loaded, held_back, status)))


def check_no_data(
    tables: dict[str, pd.DataFrame], file: str, sheet_names: dict[str, list[str]]
) -> pd.DataFrame:
    """ERROR for a readable file whose known sheets hold no data row (a workbook saved from an
    empty template, a CSV with only its header): the export did not carry what it should."""
    known = {
        name: table for name, table in tables.items()
        if match_sheet_kind(name, sheet_names) is not None
    }
    if not tables or any(_has_data(table) for table in known.values()):
        return empty_findings()
    if known:
        names = ", ".join(f"'{name}'" for name in known)
        message = (
            f"no data rows in {names}: the export wrote headers only (or nothing); re-export it "
            "with the data"
        )
    else:
        message = (
            f"no sheet of this file is one we know ({_expected_sheets(sheet_names)}), so "
            "nothing in it was read: rename the sheets or send the right file"
        )
    return make_finding(severity=ERROR, stage=STAGE, rule="SF-0005", file=file, message=message)


def _has_data(table: pd.DataFrame) -> bool:
    """Any row with a non-blank cell (the first rows decide for any real sheet)."""
    for part in (table.head(100), table):
        if part.empty:
            return False
        text = part.astype("str")
        if text.apply(lambda c: c.str.strip().fillna("") != "").to_numpy().any():
            return True
    return False


def match_sheet_kind(name: str, sheet_names: dict[str, list[str]]) -> str | None:
    """Which of the study's sheets a workbook sheet or CSV file name is.

    A name matches a sheet's name when its words begin with that name's words (`Labs`,
    `labs_2026-03-01`, `Labs final`, `LABS (2)`), or when both read the same with case, spacing
    and punctuation ignored (` Demo graphics `); `Labsheet` is not `Labs`. Of several matches the
    longest name wins, so `Lab results` beats `Lab`.
    """
    words = compute_name_words(name)
    best, best_length = None, 0
    for sheet, names in sheet_names.items():
        for candidate in names:
            wanted = compute_name_words(candidate)
            if not wanted:
                continue
            if words[: len(wanted)] == wanted or "".join(words) == "".join(wanted):
                length = len("".join(wanted))
                if length > best_length:
                    best, best_length = sheet, length
    return best


def compute_name_words(name: str) -> list[str]:
    """The words of a sheet or file name: runs of letters and runs of digits, NFKC and case
    folded (`Labs_2026-03-01` -> labs, 2026, 03, 01)."""
    text = unicodedata.normalize("NFKC", str(name)).casefold()
    return re.findall(r"[^\W\d_]+|\d+", text)


def _expected_sheets(sheet_names: dict[str, list[str]]) -> str:
    return ", ".join(names[0] for names in sheet_names.values() if names)


def compute_header_key(headers: pd.Index | list) -> list[str]:
    """Header match key: compatibility-decomposed (NFKD), case folded, any bracketed unit dropped,
    only letters and digits kept — letters of any script, so `受试者编号` keeps a key of its own
    (an ASCII-only key made every Chinese header the same empty key); the accents NFKD splits off
    are dropped with the punctuation, so `Date de prélèvement` and `Date de prelevement` match."""
    keys = []
    for header in headers:
        text = unicodedata.normalize("NFKD", str(header))
        text = re.sub(r"[\(\[].*?[\)\]]", "", text).casefold()
        keys.append(re.sub(r"[\W_]", "", text))
    return keys


def assign_canonical_columns(
    table: pd.DataFrame, columns: pd.DataFrame, file: str, sheet: str
) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """Rename a sheet's headers to the canonical names, add lineage, report extra/missing columns.

    Returns (frame, findings, loaded). A missing required column rejects the sheet (loaded False;
    one finding naming file, sheet and column); the reconciliation then counts all its rows as
    held back by that file-level finding.
    """
    findings = [empty_findings()]
    rename, extras = match_columns(table.columns, columns)
    for extra in extras:
        findings.append(
            make_finding(
                severity=INFO, stage=STAGE, rule="SF-0003", file=file, sheet=sheet,
                variable=str(extra), message=f"extra column '{extra}' ignored",
            )
        )
    missing = columns[(columns["required"] == "Y") & ~columns["column"].isin(rename.values())]
    for _, column in missing.iterrows():
        findings.append(
            make_finding(
                severity=ERROR, stage=STAGE, rule="SF-0002", file=file, sheet=sheet,
                variable=column["header"],
                message=f"required column '{column['header']}' is missing: sheet not loaded; "
                "add the column and re-export",
            )
        )
    text = table.rename(columns=rename)[list(rename.values())]
    text = _as_clean_text(text)
    # +2: pandas row 0 is the site's row 2 (row 1 holds the headers)
    text = text.assign(_file=file, _sheet=sheet, _row=pd.array(table.index + 2, dtype="int64"))
    blank = text[list(rename.values())].isna().all(axis=1)
    text = text[~blank]
    for column in columns["column"]:
        if column not in text.columns:
            text[column] = pd.Series(pd.NA, index=text.index, dtype="str")
    text = text[list(columns["column"]) + LINEAGE].reset_index(drop=True)
    return text, concat_findings(*findings), missing.empty


def match_columns(headers: pd.Index, columns: pd.DataFrame) -> tuple[dict, list]:
    """({site header: canonical column}, extra headers) for one sheet's header row; the first
    header matching a column wins, later ones are extras. A column is known by its `header` and
    by every one of its `aliases` (raw_columns.csv, `|`-separated: one spelling per site)."""
    wanted = compute_header_lookup(columns)
    rename, extras = {}, []
    for original, key in zip(headers, compute_header_key(headers)):
        if key in wanted and wanted[key] not in rename.values():
            rename[original] = wanted[key]
        elif not str(original).startswith("Unnamed:"):
            extras.append(original)
    return rename, extras


def compute_header_lookup(columns: pd.DataFrame) -> dict[str, str]:
    """{header key: canonical column} over each column's header and aliases."""
    aliases = columns["aliases"] if "aliases" in columns.columns else pd.Series("", index=columns.index)
    names = [
        (column, [header, *[a for a in str(alias or "").split("|") if a.strip()]])
        for column, header, alias in zip(columns["column"], columns["header"], aliases)
    ]
    lookup = {}
    for column, spellings in names:
        for key in compute_header_key(spellings):
            lookup.setdefault(key, column)
    return lookup


def _as_clean_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip surrounding space; an empty cell is missing (NA), never the empty string."""
    out = frame.astype("str")
    for column in out.columns:
        stripped = out[column].str.strip()
        out[column] = stripped.where(stripped != "", pd.NA)
    return out


def _empty_sheet(columns: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in columns["column"]})
    return frame.assign(
        _file=pd.Series(dtype="str"), _sheet=pd.Series(dtype="str"), _row=pd.Series(dtype="int64")
    )

