"""Mutated exports and the invariants every run must keep: shared by tests/e2e/test_fuzz.py (a
bounded number of examples) and bench/fuzz_exports.py (hundreds, before an issue is resolved).

A mutation is one thing a hospital system or a person does to a good export: drop, rename or
reorder columns; blank, retype or garble cells; shuffle, duplicate or truncate rows and files;
change a CSV's encoding or delimiter; add stray files. The invariants are checked against the
files as written, counted by an independent reader (openpyxl for workbooks, the csv module for
text), never against what the pipeline says it read.

The invariants of issue 11, on every example (check_example):
- the exit code is 0, 1 or 2 and no exception is "internal error — please report" (a traceback);
- if a package is published, every raw row present is read, and mapped or held back with a
  finding; and R haven and pyreadstat read every XPT of it identically;
- if not, `latest` and the run it points to are byte-for-byte what they were: each example's
  output folder starts as a copy of one holding a published run (make_previous_output).

An example runs in-process (run_in_process): the stage chain of flows/build.py, then the
package written by transforms.outputs.package.write_package and published by transforms.publish.publish, the
calls flows/pipeline.py makes in its tasks, in the same order, under the same lock; an exception
gets the exit code and line the CLI's boundary gives it (flows.cli.describe_failure). Prefect is
left out (a server start per example would make fuzzing too slow); tests/e2e/test_fuzz.py runs a few
examples through the real `sdtmflow run` as well.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import random
import shutil
import string
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pyreadstat
from hypothesis import strategies as st

from transforms.samples.sample_export import generate_sample_export, read_sample_spec, write_sample_export

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
        # a transfer cut mid-character leaves an odd byte: the rows before it are still there
        return data.decode("utf-16", errors="replace")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _filled(value) -> bool:
    return value is not None and str(value).strip() != ""


# --- one example, in-process: build, write, publish ------------------------------------------

EXIT_CODES = {0, 1, 2}
EXIT_CONFIGURATION = 2
INTERNAL_ERROR = "internal error"
INTERNAL_ERROR_LOG = "internal-error.log"  # where describe_failure writes the traceback of one


@dataclass(frozen=True)
class Outcome:
    """What one run did: its exit code and line (as the CLI would print them), the run folder
    published (None when nothing was), and the stages' result when the build got that far."""

    exit_code: int
    message: str
    published: Path | None
    built: object | None


def run_in_process(input_dir: Path, output_dir: Path, study, transliteration, today: str) -> Outcome:
    """One run as flows/pipeline.py makes it (list, archive, identity, unchanged?, build in a
    staging folder from the archived snapshot, write, publish), without Prefect."""
    from flows.cli import describe_failure
    from flows.build import build
    from transforms.outputs.package import write_package
    from transforms.publish.publish import (
        RunFailed, archive_inputs, clear_stale_staging, compute_run_identity, find_published_run,
        hold_output_lock, link_input_snapshot, publish_run, repoint_unchanged, stage_run_dir,
    )
    from transforms.ingest.read_files import compute_file_order, list_input_entries
    from transforms.spec.study import MAPPINGS_DIR

    built = None
    try:
        with hold_output_lock(output_dir):
            clear_stale_staging(output_dir)
            entries = list_input_entries(input_dir)
            inputs = archive_inputs(compute_file_order(entries).drop(columns="path"), input_dir, output_dir)
            run_id, _ = compute_run_identity(inputs, input_dir, study.directory, MAPPINGS_DIR, entries)
            published = find_published_run(output_dir, run_id)
            if published is not None:
                return Outcome(0, repoint_unchanged(output_dir, published), published, None)
            staging = stage_run_dir(output_dir, run_id)
            snapshot = staging.with_name(staging.name + ".input")
            try:
                built = build(link_input_snapshot(inputs, output_dir, snapshot), study, transliteration,
                              check_output=False, today=today, entries=entries)
                if built.problems:
                    raise RunFailed("rows lost or mis-mapped, nothing published:\n" + "\n".join(built.problems))
                export = built.export
                write_package(built.domains, built.analysis, built.findings, staging, study, run_id,
                              export.files, built.counts, built.conformed, sheets=export.sheets,
                              headers=export.headers)
                run_dir = publish_run(staging, output_dir, run_id)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                shutil.rmtree(snapshot, ignore_errors=True)
            return Outcome(0, f"published {run_dir}", run_dir, built)
    except Exception as error:  # noqa: BLE001 — the CLI's boundary decides what the operator reads
        args = argparse.Namespace(command="run", input=input_dir, output=output_dir, study=study.directory,
                                  log_path=Path(output_dir) / INTERNAL_ERROR_LOG)
        code, message = describe_failure(error, args)
        return Outcome(code, message, None, built)


def make_previous_output(frames: dict[str, pd.DataFrame], output_dir: Path, study, transliteration,
                         today: str) -> Path:
    """An output folder holding one published run (of the unmutated export) that `latest`
    points to: what every example's output folder starts from."""
    with tempfile.TemporaryDirectory() as folder:
        write_sample_export(frames, Path(folder))
        outcome = run_in_process(Path(folder), output_dir, study, transliteration, today)
    assert outcome.exit_code == 0 and outcome.published is not None, outcome.message
    return output_dir


def compute_output_state(output_dir: Path) -> dict:
    """What `latest` is: where it points, and the path and sha256 of every file of that run,
    plus the published runs there are."""
    latest = Path(output_dir) / "latest"
    if not latest.is_symlink():
        return {"latest": None}
    run = latest.resolve()
    files = {
        path.relative_to(run).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run.rglob("*")) if path.is_file()
    }
    runs = sorted(p.name for p in (Path(output_dir) / "runs").iterdir())
    return {"latest": os.readlink(latest), "files": files, "runs": runs}


def check_example(input_dir: Path, output_dir: Path, outcome: Outcome, before: dict, studyid: str,
                  strict: bool = False) -> list[str]:
    """Every broken invariant of one finished example (empty: none). `strict` adds one issue 11
    does not ask for: no exit 2 (a configuration problem) for a mutated export (bench/fuzz_exports.py
    turns it on; it finds define.xml's empty value lists, a bug of transforms/outputs/define.py)."""
    from transforms.conform.reconcile import check_reconciliation
    from transforms.outputs.submission import compute_sdtm_folder

    problems = []
    if outcome.exit_code not in EXIT_CODES:
        problems.append(f"exit code {outcome.exit_code}: {outcome.message}")
    elif strict and outcome.exit_code == EXIT_CONFIGURATION:
        # stricter than issue 11 asks: only the export was mutated, the study and the folders are
        # sound, so a 'configuration problem' is a data problem told as the wrong kind
        problems.append(f"exit 2 (configuration) for a mutated export: {outcome.message}")
    if INTERNAL_ERROR in outcome.message:
        log = Path(output_dir) / INTERNAL_ERROR_LOG
        last = log.read_text(encoding="utf-8").strip().splitlines()[-1] if log.exists() else ""
        problems.append(f"{outcome.message}: {last}")
    if outcome.built is not None:
        # rows lost are a bug of ours even when the run, rightly, refuses to publish them
        problems += check_reconciliation(outcome.built.counts)
        present, read = count_rows_present(input_dir), int(outcome.built.counts["read"].sum())
        if read != present:
            problems.append(f"rows present {present}, rows read {read}")
    if outcome.published is None:
        if compute_output_state(output_dir) != before:
            problems.append(f"nothing published (exit {outcome.exit_code}) but latest changed")
    else:
        if os.readlink(Path(output_dir) / "latest") != f"runs/{outcome.published.name}":
            problems.append(f"published {outcome.published.name} but latest is {os.readlink(Path(output_dir) / 'latest')}")
        problems += check_xpt_readers_agree(outcome.published / compute_sdtm_folder(studyid))
    return problems


# --- two independent XPT readers ---------------------------------------------------------------

HAVEN_READER = r"""
suppressPackageStartupMessages({library(haven); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- list()
for (path in sort(list.files(args[1], pattern = "\\.xpt$", full.names = TRUE))) {
  d <- read_xpt(path)
  label <- function(x) { l <- attr(x, "label"); if (is.null(l)) "" else l }
  out[[basename(path)]] <- list(
    label = unbox(label(d)), rows = unbox(nrow(d)), names = names(d),
    labels = unname(vapply(d, label, "")), types = unname(vapply(d, typeof, "")),
    # numbers as 17 significant digits: the exact double, whatever JSON does to numbers
    values = lapply(d, function(x) if (is.numeric(x)) ifelse(is.na(x), NA, sprintf("%.17g", x)) else x))
}
writeLines(toJSON(out, na = "null", null = "null"), args[2], useBytes = TRUE)
"""


def read_xpts_with_haven(folder: Path) -> dict:
    """Every XPT of `folder` as R haven reads it, in one Rscript call."""
    with tempfile.TemporaryDirectory() as scratch:
        script, out = Path(scratch) / "read.R", Path(scratch) / "read.json"
        script.write_text(HAVEN_READER, encoding="utf-8")
        run = subprocess.run(["Rscript", str(script), str(folder), str(out)], capture_output=True, text=True,
                             timeout=300)
        if run.returncode != 0:
            raise RuntimeError(f"haven could not read {folder}: {run.stderr.strip()}")
        read = json.loads(out.read_text(encoding="utf-8"))
    return {
        name: {
            "label": dataset["label"], "rows": dataset["rows"], "names": dataset["names"],
            "labels": dataset["labels"], "types": ["Num" if t == "double" else "Char" for t in dataset["types"]],
            "values": {
                variable: [_number(v) for v in values] if kind == "double" else [v for v in values]
                for (variable, values), kind in zip(dataset["values"].items(), dataset["types"])
            } if dataset["rows"] else {variable: [] for variable in dataset["names"]},
        }
        for name, dataset in read.items()
    }


def read_xpts_with_pyreadstat(folder: Path) -> dict:
    """Every XPT of `folder` as pyreadstat reads it."""
    read = {}
    for path in sorted(Path(folder).glob("*.xpt")):
        frame, meta = pyreadstat.read_xport(str(path))
        types = ["Num" if meta.readstat_variable_types[c] == "double" else "Char" for c in meta.column_names]
        read[path.name] = {
            "label": meta.file_label or "", "rows": len(frame), "names": list(meta.column_names),
            "labels": [label or "" for label in meta.column_labels], "types": types,
            "values": {
                column: [_number(v) for v in frame[column]] if kind == "Num" else frame[column].tolist()
                for column, kind in zip(meta.column_names, types)
            },
        }
    return read


def check_xpt_readers_agree(folder: Path) -> list[str]:
    """Where R haven and pyreadstat read the XPTs of `folder` differently (empty: nowhere)."""
    haven, readstat = read_xpts_with_haven(folder), read_xpts_with_pyreadstat(folder)
    if not readstat:
        return [f"no XPT in {folder}"]
    if sorted(haven) != sorted(readstat):
        return [f"haven read {sorted(haven)}, pyreadstat {sorted(readstat)}"]
    problems = []
    for name, expected in readstat.items():
        got = haven[name]
        for key in ("label", "rows", "names", "labels", "types"):
            if got[key] != expected[key]:
                problems.append(f"{name}: {key} differs: haven {got[key]!r}, pyreadstat {expected[key]!r}")
        for variable in expected["names"]:
            a, b = got["values"].get(variable, []), expected["values"][variable]
            differ = [i for i, (x, y) in enumerate(zip(a, b)) if not _same(x, y)]
            if differ or len(a) != len(b):
                i = differ[0] if differ else min(len(a), len(b))
                problems.append(f"{name} {variable} row {i + 1}: haven {a[i:i + 1]!r}, pyreadstat {b[i:i + 1]!r}")
    return problems


def _number(value) -> float:
    return math.nan if value is None or value == "" else float(value)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b
