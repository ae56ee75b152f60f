"""The XPT v5 writer (transforms.outputs.xpt): hand-worked bytes, then files read back by other readers.

Readers: pyreadstat and R's haven (both built on the ReadStat C library, so they are checked
against each other and against hand-worked values), SAS's own bytes for two SAS-written files,
and the Parquet files published beside the sample package's XPT files (written by pyarrow).
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from tests.conftest import REQUIRE_ALL_TOOLS
from transforms.conform.xpt_rules import XptRuleError
from transforms.outputs.write import write_xpt
from transforms.outputs.xpt import (
    DATETIME_FIELDS,
    RECORD,
    XptVariable,
    compute_char_field,
    compute_ibm_doubles,
    compute_xpt_header,
    read_xpt_datetimes,
    read_xpt_lengths,
    write_xpt_file,
)

SAS_FILES = Path(__file__).parents[1] / "data" / "sas"
STAMP = datetime(2026, 1, 2, 3, 4, 5)
LONG_200 = ("Subject withdrew consent, then re-consented; " * 5)[:199] + "."


# --- IBM doubles, worked by hand ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # 1 = 0.1(hex) x 16**1: exponent 64 + 1 = 0x41, fraction 0x10...
        (1.0, "41 10 00 00 00 00 00 00"),
        # -118.625 = -0x76.A = -0.76A(hex) x 16**2: sign | 0x42 = 0xC2, fraction 76 A0 ...
        (-118.625, "c2 76 a0 00 00 00 00 00"),
        (0.0, "00 00 00 00 00 00 00 00"),
        (-0.0, "00 00 00 00 00 00 00 00"),  # IBM has no signed zero
        (np.nan, "2e 00 00 00 00 00 00 00"),  # SAS missing "."
        # 2**53 = 0x20000000000000 = 0.2(hex) x 16**14: exponent 0x4E
        (2.0**53, "4e 20 00 00 00 00 00 00"),
        # 2**53 - 1 = 0x1FFFFFFFFFFFFF: 14 hex digits, all kept
        (2.0**53 - 1, "4e 1f ff ff ff ff ff ff"),
        # 0.1 = IEEE 0x3FB999999999999A = 1.999...9A(hex)/16: the IEEE bits shifted by 0
        (0.1, "40 19 99 99 99 99 99 9a"),
        # 16**-65 = 0.1(hex) x 16**-64: the smallest normalised IBM double, exponent 0
        (16.0**-65, "00 10 00 00 00 00 00 00"),
        # the largest IEEE double below 16**63 = 2**252: exponent 0x7F, 53 one bits then 000
        (np.nextafter(16.0**63, 0), "7f ff ff ff ff ff ff f8"),
        (1e-300, "00 00 00 00 00 00 00 00"),  # underflow
        (5e-324, "00 00 00 00 00 00 00 00"),  # an IEEE subnormal
    ],
)
def test_ibm_doubles_are_the_hand_worked_bytes(value, expected):
    assert compute_ibm_doubles(np.array([value])).tobytes().hex(" ") == expected


@pytest.mark.parametrize("value", [16.0**63, -(16.0**63), np.inf, -np.inf, 1e300])
def test_numbers_ibm_cannot_hold_raise(value):
    with pytest.raises(ValueError, match="outside the IBM/XPT range"):
        compute_ibm_doubles(np.array([1.0, value]))


def test_char_fields_are_blank_padded_and_missing_is_blank():
    got = compute_char_field(pd.Series(["ab", None, "", "abcd", np.nan], dtype=object), 4)
    assert [bytes(row) for row in got] == [b"ab  ", b"    ", b"    ", b"abcd", b"    "]


def test_a_value_longer_than_its_length_raises():
    with pytest.raises(ValueError, match="longer than its variable length 3"):
        compute_char_field(pd.Series(["abcd"], dtype=object), 3)


# --- header bytes ---------------------------------------------------------------------------


def test_header_records_are_laid_out_per_ts_140():
    variables = [XptVariable("USUBJID", "Unique Subject Identifier", "Char", 17),
                 XptVariable("AGE", "Age", "Num", 8)]
    header = compute_xpt_header("DM", "Demographics", variables, STAMP)
    records = [header[i : i + RECORD] for i in range(0, len(header), RECORD)]
    # 8 header records, 2 x 140 NAMESTR bytes padded to 4 records, then the OBS header
    assert len(header) == 13 * RECORD
    assert records[0] == b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    assert records[1][:40] == b"SAS     SAS     SASLIB  6.06    bsd4.2  "
    assert records[1][64:] == records[2][:16] == b"02JAN26:03:04:05"
    assert records[3][48:] == b"000000000000000001600000000140  "
    assert records[5][:24] == b"SAS     DM      SASDATA "
    assert records[6][32:72] == b"Demographics".ljust(40)
    assert records[7][48:] == b"000000000200000000000000000000  "
    first, second = header[640:780], header[780:920]
    assert first[:8] == bytes.fromhex("0002 0000 0011 0001")  # Char, hash 0, length 17, var 1
    assert first[8:16] == b"USUBJID "
    assert first[84:88] == bytes.fromhex("00000000")  # position 0
    assert second[:8] == bytes.fromhex("0001 0000 0008 0002")  # Num, length 8, var 2
    assert second[84:88] == bytes.fromhex("00000011")  # after USUBJID's 17 bytes
    assert header[920:960] == b" " * 40  # blank padding to the record boundary
    assert records[12] == b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "


# --- readers --------------------------------------------------------------------------------


@dataclass
class Read:
    """What a reader sees in an XPT file: enough to compare two readers or two files."""

    dataset: str
    label: str
    names: list[str]
    labels: list[str]
    types: list[str]  # Char / Num
    lengths: list[int]
    values: dict[str, list]  # Char: str ("" for missing); Num: float (nan for missing)

    def assert_same(self, other: Read) -> None:
        assert (self.dataset, self.label) == (other.dataset, other.label)
        assert self.names == other.names
        assert self.labels == other.labels
        assert self.types == other.types
        assert self.lengths == other.lengths
        for name, kind in zip(self.names, self.types, strict=True):
            if kind == "Char":
                assert self.values[name] == other.values[name], name
            else:
                np.testing.assert_array_equal(self.values[name], other.values[name], name)


def read_with_pyreadstat(path: Path) -> Read:
    data, info = pyreadstat.read_xport(path)
    names = list(data.columns)
    kinds = {"string": "Char", "double": "Num"}
    types = [kinds[info.readstat_variable_types[n]] for n in names]
    values = {
        n: data[n].fillna("").astype(str).tolist() if t == "Char" else data[n].astype(float).tolist()
        for n, t in zip(names, types, strict=True)
    }
    return Read(
        info.table_name,
        info.file_label or "",
        names,
        [info.column_names_to_labels[n] or "" for n in names],
        types,
        [info.variable_storage_width[n] for n in names],
        values,
    )


# What haven reads of one XPT (names, labels, types, stored lengths, whether haven set a width
# attribute, member name, dataset label, rows, every value to the exact double); test_write.py
# reads its files with it too.
R_READER = r"""
args <- commandArgs(trailingOnly = TRUE)
path <- args[1]; out <- args[2]
d <- haven::read_xpt(path)
# haven shows neither the member name nor stored lengths: read them from the header bytes.
raw <- readBin(path, "raw", file.info(path)$size)
field <- function(from, to) trimws(rawToChar(raw[from:to]), "right")
nvar <- as.integer(field(561 + 54, 561 + 57))
namestr <- 641 + (seq_len(nvar) - 1) * 140
stored <- vapply(namestr, function(s) readBin(raw[(s + 4):(s + 5)], "integer", size = 2,
                                              endian = "big", signed = TRUE), 1L)
names(stored) <- vapply(namestr, function(s) field(s + 8, s + 15), "")
label <- vapply(d, function(x) { l <- attr(x, "label"); if (is.null(l)) "" else l }, "")
write.csv(data.frame(name = names(d), label = label, type = vapply(d, typeof, ""),
                     length = unname(stored[names(d)]), width_attr = vapply(d, function(x)
                       !is.null(attr(x, "width")), TRUE)),
          file.path(out, "variables.csv"), row.names = FALSE)
dslabel <- attr(d, "label"); if (is.null(dslabel)) dslabel <- ""
writeLines(c(field(401 + 8, 401 + 15), dslabel, as.character(nrow(d))),
           file.path(out, "dataset.txt"))
text <- lapply(d, function(x) if (is.numeric(x)) ifelse(is.na(x), "NA", sprintf("%.17g", x)) else x)
write.csv(as.data.frame(text, stringsAsFactors = FALSE, check.names = FALSE),
          file.path(out, "values.csv"), row.names = FALSE, na = "NA")
"""


@pytest.fixture(scope="session")
def haven(rscript, tmp_path_factory) -> Path:
    """The R script reading an XPT with haven; skips without haven locally, fails in CI."""
    probe = subprocess.run([rscript, "-e", "library(haven)"], capture_output=True, text=True)
    if probe.returncode != 0:
        if REQUIRE_ALL_TOOLS:
            pytest.fail(f"R package haven is not installed; .ci/run installs it: {probe.stderr}")
        pytest.skip("R package haven not installed (apt-get install r-cran-haven)")
    script = tmp_path_factory.mktemp("haven") / "read.R"
    script.write_text(R_READER)
    return script


def read_with_haven(script: Path, path: Path, out: Path) -> Read:
    out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        ["Rscript", str(script), str(path), str(out)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    with open(out / "variables.csv", newline="") as handle:
        variables = list(csv.DictReader(handle))
    dataset, label, rows = (out / "dataset.txt").read_text().splitlines()
    # keep_default_na=False: "" stays "" and the text "NA" is never mistaken for missing.
    table = pd.read_csv(out / "values.csv", dtype=str, keep_default_na=False)
    assert len(table) == int(rows)
    types = ["Num" if v["type"] == "double" else "Char" for v in variables]
    values = {}
    for v, kind in zip(variables, types, strict=True):
        column = table[v["name"]] if len(table) else pd.Series([], dtype=str)
        values[v["name"]] = (
            column.tolist() if kind == "Char" else column.replace("NA", "nan").astype(float).tolist()
        )
    return Read(
        dataset,
        label,
        [v["name"] for v in variables],
        [v["label"] for v in variables],
        types,
        [int(v["length"]) for v in variables],
        values,
    )


# --- edge cases, through the product's write_xpt -------------------------------------------


def _meta(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": "XX",
            "variable": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "type": [r[2] for r in rows],
            "order": range(1, len(rows) + 1),
            "origin": "Derived",
            "sdtmig_version": "3.4",
        }
    )


EDGE_META = _meta(
    [
        ("CEMPTY", "Empty and missing text", "Char"),
        ("C200", "Two hundred bytes", "Char"),
        ("CNONE", "All missing text", "Char"),
        ("CLEAD", "Leading blanks", "Char"),
        ("NNONE", "All missing numbers", "Num"),
        ("NEDGE", "Signed zero, integers", "Num"),
        ("NRANGE", "Range limits", "Num"),
    ]
)
EDGE_FRAME = pd.DataFrame(
    {
        "CEMPTY": pd.Series(["", None, "a", "", "b"], dtype=object),
        "C200": pd.Series([LONG_200, "x", None, LONG_200[:100], 'say "hi", (ok)'], dtype=object),
        "CNONE": pd.Series([None] * 5, dtype=object),
        "CLEAD": pd.Series(["  two", " one", "none", "x  y", None], dtype=object),
        "NNONE": [np.nan] * 5,
        "NEDGE": [-0.0, 2.0**53, -(2.0**53), 2.0**53 - 1, 0.0],
        "NRANGE": [1e-300, 16.0**-65, np.nextafter(16.0**63, 0), -1e75, 5e-324],
    }
)
# Worked by hand: "" and missing text are both blanks and read back as ""; -0.0 and magnitudes
# below 16**-65 are 0; everything else comes back exactly.
EDGE_EXPECTED = {
    "CEMPTY": ["", "", "a", "", "b"],
    "C200": [LONG_200, "x", "", LONG_200[:100], 'say "hi", (ok)'],
    "CNONE": [""] * 5,
    "CLEAD": ["  two", " one", "none", "x  y", ""],
    "NNONE": [np.nan] * 5,
    "NEDGE": [0.0, 2.0**53, -(2.0**53), 2.0**53 - 1, 0.0],
    "NRANGE": [0.0, 16.0**-65, np.nextafter(16.0**63, 0), -1e75, 0.0],
}
EDGE_LENGTHS = [1, 200, 1, 5, 8, 8, 8]


def _expected_edge(rows: slice = slice(None)) -> Read:
    return Read(
        "XX",
        "Edge cases",
        list(EDGE_META["variable"]),
        list(EDGE_META["label"]),
        list(EDGE_META["type"]),
        EDGE_LENGTHS,
        {k: v[rows] for k, v in EDGE_EXPECTED.items()},
    )


def test_edge_cases_read_back_as_worked_by_hand_with_pyreadstat(tmp_path):
    path = tmp_path / "xx.xpt"
    lengths = write_xpt(EDGE_FRAME, EDGE_META, "XX", "Edge cases", path, STAMP)
    assert list(lengths.values()) == EDGE_LENGTHS == list(read_xpt_lengths(path).values())
    read_with_pyreadstat(path).assert_same(_expected_edge())
    assert (path.stat().st_size - 13 * RECORD) % RECORD == 0


def test_edge_cases_read_back_as_worked_by_hand_with_haven(tmp_path, haven):
    path = tmp_path / "xx.xpt"
    write_xpt(EDGE_FRAME, EDGE_META, "XX", "Edge cases", path, STAMP)
    read_with_haven(haven, path, tmp_path / "r").assert_same(_expected_edge())


def test_a_zero_record_dataset_is_header_only(tmp_path, haven):
    path = tmp_path / "xx.xpt"
    lengths = write_xpt(EDGE_FRAME.iloc[:0], EDGE_META, "XX", "Edge cases", path, STAMP)
    assert list(lengths.values()) == [1, 1, 1, 1, 8, 8, 8]  # no value: every Char length is 1
    expected = _expected_edge(slice(0, 0))
    expected.lengths = [1, 1, 1, 1, 8, 8, 8]
    # 8 header records + 7 NAMESTRs (980 bytes -> 13 records) + OBS header, nothing after
    assert path.stat().st_size == (8 + 13 + 1) * RECORD
    read_with_pyreadstat(path).assert_same(expected)
    read_with_haven(haven, path, tmp_path / "r").assert_same(expected)


def test_a_number_ibm_cannot_hold_is_listed_before_anything_is_written(tmp_path):
    frame = EDGE_FRAME.assign(NEDGE=[1.0, np.inf, 2.0, 16.0**63, 3.0])
    with pytest.raises(XptRuleError) as raised:
        write_xpt(frame, EDGE_META, "XX", "Edge cases", tmp_path / "xx.xpt", STAMP)
    assert raised.value.violations["rule"].tolist() == ["num_range", "num_range"]
    assert list(tmp_path.iterdir()) == []


def test_random_doubles_over_the_whole_ibm_range_come_back_exactly(tmp_path):
    rng = np.random.default_rng(20260102)
    magnitudes = 10.0 ** rng.uniform(-78, 75, 40_000)
    integers = rng.integers(-(2**53), 2**53, 10_000).astype(np.float64)
    values = np.concatenate([magnitudes * rng.choice([-1.0, 1.0], 40_000), integers])
    meta = _meta([("N", "Number", "Num"), ("C", "Text", "Char")])
    frame = pd.DataFrame({"N": values, "C": "x"})
    write_xpt(frame, meta, "XX", "Doubles", tmp_path / "xx.xpt", STAMP)
    back, _ = pyreadstat.read_xport(tmp_path / "xx.xpt")
    np.testing.assert_array_equal(back["N"].to_numpy(), values)


def test_observations_span_write_chunks_without_a_seam(tmp_path, monkeypatch):
    import transforms.outputs.xpt as xpt

    monkeypatch.setattr(xpt, "_CHUNK_BYTES", 1000)  # 5 records of 198 bytes per chunk
    meta = _meta([("I", "Index", "Num"), ("T", "Text", "Char")])
    text = [f"row {i}".ljust(190, "-") for i in range(1001)]
    frame = pd.DataFrame({"I": np.arange(1001.0), "T": text})
    write_xpt(frame, meta, "XX", "Chunks", tmp_path / "xx.xpt", STAMP)
    back, _ = pyreadstat.read_xport(tmp_path / "xx.xpt")
    assert back["I"].tolist() == frame["I"].tolist()
    assert back["T"].tolist() == frame["T"].tolist()


def test_the_header_date_times_are_the_timestamp_passed_in(tmp_path):
    path = tmp_path / "xx.xpt"
    write_xpt(EDGE_FRAME, EDGE_META, "XX", "Edge cases", path, datetime(2009, 5, 7, 23, 59, 59))
    assert set(read_xpt_datetimes(path).values()) == {"07MAY09:23:59:59"}
    _, info = pyreadstat.read_xport(path, metadataonly=True)
    assert info.creation_time == info.modification_time == datetime(2009, 5, 7, 23, 59, 59)


# --- SAS-written files ----------------------------------------------------------------------


def _rewrite_sas_file(source: Path, target: Path) -> None:
    """Read a SAS-written XPT with pyreadstat and write its data back with our writer."""
    data, info = pyreadstat.read_xport(source)
    kinds = {"string": "Char", "double": "Num"}
    variables = [
        XptVariable(
            n,
            info.column_names_to_labels[n],
            kinds[info.readstat_variable_types[n]],
            info.variable_storage_width[n],
        )
        for n in data.columns
    ]
    stamp = datetime.strptime(read_xpt_datetimes(source)["member created"], "%d%b%y:%H:%M:%S")
    frame = data.astype({v.name: object for v in variables if v.type == "Char"})
    write_xpt_file(target, frame, variables, info.table_name, info.file_label, stamp)


@pytest.mark.parametrize("name", ["dm", "ts"])
def test_a_sas_written_file_rewritten_reads_back_the_same(tmp_path, haven, name):
    source, rewritten = SAS_FILES / f"{name}.xpt", tmp_path / f"{name}.xpt"
    _rewrite_sas_file(source, rewritten)
    original = read_with_pyreadstat(source)
    read_with_pyreadstat(rewritten).assert_same(original)
    read_with_haven(haven, source, tmp_path / "r0").assert_same(original)
    read_with_haven(haven, rewritten, tmp_path / "r1").assert_same(original)


@pytest.mark.parametrize("name", ["dm", "ts"])
def test_a_sas_written_file_rewritten_has_sas_bytes_but_for_software_and_time(tmp_path, name):
    source, rewritten = SAS_FILES / f"{name}.xpt", tmp_path / f"{name}.xpt"
    _rewrite_sas_file(source, rewritten)
    ours, sas = rewritten.read_bytes(), source.read_bytes()
    assert len(ours) == len(sas)
    differ = np.flatnonzero(np.frombuffer(ours, np.uint8) != np.frombuffer(sas, np.uint8))
    # The version and OS fields (records 1 and 5, bytes 24-40) name the writing software;
    # the date-time fields hold the one timestamp we write where SAS may have two.
    allowed = set()
    for record in (1, 5):
        allowed |= set(range(record * RECORD + 24, record * RECORD + 40))
    for at, _ in DATETIME_FIELDS:
        allowed |= set(range(at, at + 16))
    assert differ.size > 0 and set(differ.tolist()) <= allowed
    assert sas[1 * RECORD + 24 : 1 * RECORD + 40] == b"9.4     X64_10PR"


# --- the bundled sample package -------------------------------------------------------------


def _read_parquet(path: Path) -> Read:
    table = pq.read_table(path)
    schema = table.schema
    fields = [schema.field(n) for n in table.column_names]
    types = [f.metadata[b"sdtm_type"].decode() for f in fields]
    values = {}
    for f, kind in zip(fields, types, strict=True):
        column = table.column(f.name).to_pylist()
        values[f.name] = (
            ["" if v is None else v for v in column]
            if kind == "Char"
            else [np.nan if v is None else v for v in column]
        )
    return Read(
        schema.metadata[b"dataset"].decode(),
        schema.metadata[b"dataset_label"].decode(),
        table.column_names,
        [f.metadata[b"label"].decode() for f in fields],
        types,
        [int(f.metadata[b"length"]) for f in fields],
        values,
    )


@pytest.mark.slow
def test_every_sample_domain_reads_back_like_its_parquet(sample_run, sample_sdtm, haven, tmp_path):
    xpts = sorted(sample_sdtm.glob("*.xpt"))
    assert len(xpts) >= 11
    for path in xpts:
        expected = _read_parquet(sample_run / "parquet" / f"{path.stem}.parquet")
        read_with_pyreadstat(path).assert_same(expected)
        read_with_haven(haven, path, tmp_path / path.stem).assert_same(expected)
