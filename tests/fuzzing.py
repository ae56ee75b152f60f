"""Mutated exports and the invariants every run must keep: shared by tests/test_fuzz.py (a
bounded number of examples) and bench/fuzz_exports.py (hundreds, before an issue is resolved).

A mutation is one thing a hospital system or a person does to a good export: drop, rename or
reorder columns; blank, retype or garble cells; shuffle, duplicate or truncate rows and files;
change a CSV's encoding or delimiter; add stray files. The invariants are checked against the
files as written, counted by an independent reader (openpyxl for workbooks, the csv module for
text), never against what the pipeline says it read.
"""

from __future__ import annotations

import csv
import io
import random
import string
from pathlib import Path

import openpyxl
import pandas as pd
from hypothesis import strategies as st

from transforms.sample_export import generate_sample_export, read_sample_spec, write_sample_export

GARBLE = ["", " ", "N/A", "?", "\x00", "\x1b[0m", "line\nbreak", "１２３", "99999999", "-1", "2026-02-30",
          "ＷＥＥＫ４", "\u200b01-001", "x" * 250, "=1+1", "NaN", "<5", "6.98E+05", "总胆红素"]
MUTATIONS = [
    "drop_column", "rename_column", "reorder_columns", "blank_cell", "garble_cell", "duplicate_rows",
    "shuffle_rows", "truncate_csv", "encode_csv", "delimit_csv", "stray_file", "duplicate_file",
    "drop_rows", "title_row",
]


# The files the generator writes (mappings/ucmsc-esld/sample.toml [export]).
WORKBOOK_NAME, LABS_CSV_NAME = read_sample_spec().workbook_name, read_sample_spec().csv_name


def sample_frames(subjects: int = 3) -> dict[str, pd.DataFrame]:
    return generate_sample_export(subjects=subjects)


mutation_plans = st.lists(
    st.tuples(st.sampled_from(MUTATIONS), st.integers(min_value=0, max_value=10**6)), min_size=1, max_size=3
)


def write_mutated_export(frames: dict[str, pd.DataFrame], plan: list[tuple[str, int]], folder: Path) -> None:
    """Write the sample export into `folder`, then apply each (mutation, seed) of `plan`."""
    frames = {name: frame.copy() for name, frame in frames.items()}
    file_actions = []
    for mutation, seed in plan:
        rng = random.Random(seed)
        sheet = rng.choice(sorted(frames))
        frame = frames[sheet]
        if mutation == "drop_column" and len(frame.columns) > 1:
            frames[sheet] = frame.drop(columns=rng.choice(list(frame.columns)))
        elif mutation == "rename_column":
            column = rng.choice(list(frame.columns))
            frames[sheet] = frame.rename(columns={column: rng.choice(["", "Unnamed", column.upper(), column + " (x)", "Notes"])})
        elif mutation == "reorder_columns":
            columns = list(frame.columns)
            rng.shuffle(columns)
            frames[sheet] = frame[columns]
        elif mutation in ("blank_cell", "garble_cell") and len(frame):
            row, column = rng.randrange(len(frame)), rng.choice(list(frame.columns))
            frame = frame.astype(object)
            frame.iat[row, frame.columns.get_loc(column)] = None if mutation == "blank_cell" else rng.choice(GARBLE)
            frames[sheet] = frame
        elif mutation == "duplicate_rows" and len(frame):
            picked = frame.iloc[[rng.randrange(len(frame)) for _ in range(rng.randint(1, 3))]]
            frames[sheet] = pd.concat([frame, picked], ignore_index=True)
        elif mutation == "shuffle_rows":
            frames[sheet] = frame.sample(frac=1, random_state=seed % 2**32).reset_index(drop=True)
        elif mutation == "drop_rows" and len(frame) > 1:
            frames[sheet] = frame.drop(index=frame.index[rng.randrange(len(frame))]).reset_index(drop=True)
        else:
            file_actions.append((mutation, seed))
    # a workbook cannot hold control characters (Excel and openpyxl refuse them): only a CSV can
    frames = {
        name: frame if name == "Labs" else frame.replace(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", regex=True)
        for name, frame in frames.items()
    }
    write_sample_export(frames, folder)
    for mutation, seed in file_actions:
        apply_file_mutation(folder, mutation, random.Random(seed))


def apply_file_mutation(folder: Path, mutation: str, rng: random.Random) -> None:
    labs = folder / LABS_CSV_NAME
    if mutation == "truncate_csv" and labs.exists():
        data = labs.read_bytes()
        labs.write_bytes(data[: rng.randrange(len(data) // 2, len(data))])
    elif mutation == "encode_csv" and labs.exists():
        text = _decode(labs.read_bytes())
        labs.write_bytes(text.encode(rng.choice(["utf-16", "gb18030", "utf-8-sig"]), errors="replace"))
    elif mutation == "delimit_csv" and labs.exists():
        rows = list(csv.reader(io.StringIO(_decode(labs.read_bytes()))))
        out = io.StringIO()
        csv.writer(out, delimiter=rng.choice([";", "\t", "|"]), lineterminator="\n").writerows(rows)
        labs.write_text(out.getvalue(), encoding="utf-8")
    elif mutation == "stray_file":
        name = rng.choice(["notes.txt", ".DS_Store", "~$site01.xlsx", "README", "empty.csv", "image.png"])
        # notes a person writes (no quote characters: a stray text's CSV reading is not the point)
        alphabet = string.ascii_letters + string.digits + " .,;:-_/()\n"
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200)))
        (folder / name).write_text(body, encoding="utf-8")
    elif mutation == "duplicate_file":
        source = folder / rng.choice([WORKBOOK_NAME, LABS_CSV_NAME])
        if source.exists():
            (folder / ("copy_of_" + source.name)).write_bytes(source.read_bytes())
    elif mutation == "title_row":
        book = openpyxl.load_workbook(folder / WORKBOOK_NAME)
        sheet = book[rng.choice(book.sheetnames)]
        sheet.insert_rows(1)
        sheet["A1"] = "Site 01 export"
        book.save(folder / WORKBOOK_NAME)


def count_rows_present(folder: Path) -> int:
    """Rows a site would say it sent, counted without the pipeline: every non-blank row of every
    sheet or text file below its first non-blank row (the header). A file no reader can open
    counts its non-blank lines; hidden and lock files hold none."""
    total = 0
    for path in sorted(folder.iterdir()):
        # a hidden file or Excel's lock file is the system's, not the site's: it holds no rows
        if not path.is_file() or path.name.startswith((".", "~$")):
            continue
        try:
            book = openpyxl.load_workbook(path, read_only=True)
        except Exception:  # noqa: BLE001 — not a workbook: a table's rows or a text file's lines
            records = _text_rows(path)
            # a CSV's header is its first record (the mutations put no title above it)
            total += max(len(records) - 1, 0) if path.suffix.lower() in (".csv", ".tsv") else len(records)
            continue
        for sheet in book.worksheets:
            total += _table_rows([list(row) for row in sheet.iter_rows(values_only=True)])
    return total


def _table_rows(rows: list[list]) -> int:
    """Non-blank rows below the header: the first row with two or more filled cells (a title row
    above it, one filled cell, is not data)."""
    filled = [sum(_filled(v) for v in row) for row in rows]
    nonblank = [n for n in filled if n]
    header = next((i for i, n in enumerate(nonblank) if n >= 2), 0)
    return max(len(nonblank) - header - 1, 0)


def _text_rows(path: Path) -> list[list]:
    """A text file's non-blank records: CSV records for a table (any delimiter reads as one
    field or more; quoted line breaks stay in their record), else its lines."""
    text = _decode(path.read_bytes())
    if path.suffix.lower() in (".csv", ".tsv"):
        return [row for row in csv.reader(io.StringIO(text)) if any(_filled(v) for v in row)]
    return [[line] for line in text.splitlines() if line.strip()]


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _filled(value) -> bool:
    return value is not None and str(value).strip() != ""
