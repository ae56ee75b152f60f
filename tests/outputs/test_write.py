"""The writer chain: metadata-driven order/type/length/labels, XPT v5 rules, deterministic files.

Written files are read back with pyreadstat and with R's haven (an independent implementation),
never with pandas.read_sas alone (it mis-reads small XPT files).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

import transforms.outputs.write as write_module
from transforms.core.metadata import read_variable_metadata
from transforms.conform.xpt_rules import VIOLATION_COLUMNS, XptRuleError, check_xpt_rules
from transforms.outputs.write import (
    apply_variable_metadata,
    compute_variable_lengths,
    write_parquet,
    write_xpt,
)
from transforms.outputs.xpt import compute_xpt_datetime, read_xpt_datetimes, read_xpt_lengths
from tests.outputs.test_xpt import R_READER

ROOT = Path(__file__).resolve().parents[2]
STAMP = datetime(2026, 1, 2, 3, 4, 5)
DOMAINS = [("DM", "Demographics"), ("LB", "Laboratory Test Results")]
NO_R = shutil.which("Rscript") is None
LONG_200 = ("Subject withdrew consent, then re-consented; " * 5)[:199] + "."


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return read_variable_metadata(ROOT / "mappings" / "standards", ROOT / "mappings" / "ucmsc-esld")


@pytest.fixture(scope="module")
def dm_meta(meta):
    return meta[meta["dataset"] == "DM"]


@pytest.fixture(scope="module")
def lb_meta(meta):
    return meta[meta["dataset"] == "LB"]


def _meta(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Hand-made metadata: (variable, label, type) in order."""
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


def dm_frame() -> pd.DataFrame:
    # Columns out of order, some Exp ones missing, lineage present: the chain must sort it out.
    return pd.DataFrame(
        {
            "SEX": ["M", "F", "F"],
            "AGE": [45, np.nan, 0],
            "SUBJID": ["01-001", "01-007", "02-010"],
            "USUBJID": ["UCMSC-ESLD-01-001", "UCMSC-ESLD-01-007", "UCMSC-ESLD-02-010"],
            "DOMAIN": "DM",
            "STUDYID": "UCMSC-ESLD",
            "SITEID": ["01", "01", "02"],
            "RFSTDTC": ["2025-01-15T10:30", None, "2025-02-03"],
            "RFICDTC": ["2025-01-02", "2025-01-05", ""],
            "BRTHDTC": ["1970-03", None, "1955-12-31"],
            "AGEU": ["YEARS", None, "YEARS"],
            "RACE": ["ASIAN", None, "ASIAN"],
            "ARMCD": ["MHIGH", "LOW", None],
            "ARM": ["UC-MSC 3x10^6 cells/kg", "UC-MSC 1x10^6 cells/kg", None],
            "ARMNRS": [None, None, "ASSIGNED, NOT TREATED"],
            "ACTARMUD": [LONG_200, 'He said "no", then (later) yes', None],
            "COUNTRY": "CHN",
            "_file": "export.xlsx",
            "_sheet": "demographics",
            "_row": [2, 3, 4],
        }
    )


def lb_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": "UCMSC-ESLD",
            "DOMAIN": "LB",
            "USUBJID": ["UCMSC-ESLD-01-001"] * 6,
            "LBSEQ": [1, 2, 3, 4, 5, 6],
            "LBTESTCD": ["ALT", "BILI", "INR", "ALB", "CREAT", "SODIUM"],
            "LBTEST": [
                "Alanine Aminotransferase",
                "Bilirubin",
                "Prothrombin Intl. Normalized Ratio",
                "Albumin",
                "Creatinine",
                "Sodium",
            ],
            "LBORRES": ["40", "<5", "1.0E-10", "-3.5", "", "138"],
            "LBSTRESC": ["40", "<85.5", "1E-10", "-3.5", None, "138"],
            "LBSTRESN": [40.0, np.nan, 1e-10, -3.5, np.nan, 0.0],
            "LBSTNRLO": [0, np.nan, -0.25, 35, 123456789.123456, 135],
            "LBSTAT": [None, None, None, None, "NOT DONE", None],
            "LBREASND": [None, None, None, None, "Sample haemolysed", None],
            "VISITNUM": [2, 3, 3.01, 4, 5, 6],
            "VISIT": ["Baseline", "Week 1", "Unscheduled", "Week 4", "Week 8", "Week 12"],
            "LBDTC": ["2025-01-15", "2025-01-22", "2025-01-24T08:05", "2025-02-12", "2025-03", ""],
            "LBDY": [1, 8, 10, -5, np.nan, 85],
        }
    )


def _as_written(frame: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """What an XPT reader returns: blanks for missing text, NaN for missing numbers."""
    typed = apply_variable_metadata(frame, meta)
    char = list(meta.loc[meta["type"] == "Char", "variable"])
    typed[char] = typed[char].fillna("")
    return typed.reset_index(drop=True)


# --- apply_variable_metadata ----------------------------------------------------------------


def test_apply_orders_adds_missing_and_drops_lineage(dm_meta):
    frame = dm_frame()
    before = frame.copy()
    out = apply_variable_metadata(frame, dm_meta)
    assert list(out.columns) == list(dm_meta.sort_values("order")["variable"])
    assert list(out.columns[:4]) == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]
    assert out["DTHDTC"].tolist() == [None, None, None]  # Exp, not in the frame
    assert out["ETHNIC"].tolist() == [None, None, None]  # listed Perm, not in the frame
    assert not {"_file", "_sheet", "_row"} & set(out.columns)
    pd.testing.assert_frame_equal(frame, before)  # input untouched


def test_apply_types_char_as_object_str_or_none_and_num_as_float(dm_meta):
    frame = dm_frame().astype({"SEX": "str"})
    frame["RACE"] = pd.Series(["ASIAN", pd.NA, np.nan], dtype=object)
    out = apply_variable_metadata(frame, dm_meta)
    char = dm_meta.loc[dm_meta["type"] == "Char", "variable"]
    assert all(dtype == np.dtype(object) for dtype in out[char].dtypes)
    assert out["RACE"].tolist() == ["ASIAN", None, None]
    assert out["RFICDTC"].tolist() == ["2025-01-02", "2025-01-05", None]  # "" is missing in XPT
    assert out["SEX"].tolist() == ["M", "F", "F"]
    assert out["AGE"].dtype == "float64"
    assert out["AGE"].tolist()[0] == 45.0 and out["AGE"].tolist()[2] == 0.0


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", "string[python]"])
def test_apply_types_string_columns_as_the_same_str_or_none(dm_meta, dtype):
    # Arrow-backed text is converted through its distinct values: the result must be what the
    # object path gives, "" and every kind of missing as None, in record order, even when the
    # Arrow data comes in several chunks.
    words = ["2025-01-02", "", None, "2025-01-05", "2025-01-02", "", "Ünïcode", None]
    column = pd.concat([pd.Series(words[:3], dtype=dtype), pd.Series(words[3:], dtype=dtype)],
                       ignore_index=True)
    frame = pd.DataFrame({"RFICDTC": column, "USUBJID": pd.Series([f"S{i}" for i in range(8)], dtype=dtype)})
    out = apply_variable_metadata(frame, dm_meta)
    assert out["RFICDTC"].dtype == np.dtype(object)
    assert out["RFICDTC"].tolist() == ["2025-01-02", None, None, "2025-01-05", "2025-01-02", None, "Ünïcode", None]
    assert all(type(v) is str for v in out["USUBJID"])
    assert out["USUBJID"].tolist() == [f"S{i}" for i in range(8)]
    empty = apply_variable_metadata(frame.iloc[:0], dm_meta)
    assert empty["RFICDTC"].tolist() == [] and empty["RFICDTC"].dtype == np.dtype(object)


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([1, 2, None], dtype="Int64"),
        pd.Series([1.5, None, 3], dtype="Float64"),
        pd.Series([1, None, 3.5], dtype=object),
        pd.Series([True, False, None], dtype=object),
    ],
)
def test_apply_casts_any_numeric_kind_to_float64(values):
    meta = _meta([("N", "Number", "Num")])
    out = apply_variable_metadata(pd.DataFrame({"N": values}), meta)
    assert out["N"].dtype == "float64"
    assert out["N"].isna().tolist() == values.isna().tolist()


def test_apply_rejects_a_column_the_metadata_does_not_know(dm_meta):
    frame = dm_frame().assign(WEIGHT=[70.0, 60.0, 80.0], INITIALS="AB")
    with pytest.raises(ValueError, match=r"DM: column\(s\) \['WEIGHT', 'INITIALS'\] are not in"):
        apply_variable_metadata(frame, dm_meta)


def test_apply_leaves_non_numbers_in_a_num_column_for_the_checks():
    meta = _meta([("LBSTRESN", "Numeric Result", "Num")])
    frame = pd.DataFrame({"LBSTRESN": pd.Series([1.0, "<5", "<5", None], dtype=object)})
    out = apply_variable_metadata(frame, meta)
    violations = check_xpt_rules(out, meta, "XX")
    assert violations[["variable", "rule", "value"]].values.tolist() == [
        ["LBSTRESN", "num_type", "<5"]
    ]
    assert "(2 record(s), first at row 1)" in violations.loc[0, "message"]


# --- lengths --------------------------------------------------------------------------------


def test_lengths_are_the_longest_value_in_bytes_at_least_one():
    meta = _meta([("A", "a", "Char"), ("B", "b", "Char"), ("N", "n", "Num"), ("U", "u", "Char")])
    frame = pd.DataFrame(
        {
            "A": pd.Series(["ab", None, "abcde"], dtype=object),
            "B": pd.Series([None, None, None], dtype=object),
            "N": [1.0, np.nan, 2.0],
            "U": pd.Series(["éx", "ab", None], dtype=object),
        }
    )
    assert compute_variable_lengths(frame, meta) == {"A": 5, "B": 1, "N": 8, "U": 3}


# --- XPT rules ------------------------------------------------------------------------------


def test_all_violations_are_reported_in_one_error_and_nothing_is_written(tmp_path):
    meta = _meta(
        [
            ("STUDYID", "L" * 41, "Char"),
            ("VARIABLE9", "Nine-character name", "Char"),
            ("TEXT", "Long text", "Char"),
            ("NOTE", "Note", "Char"),
        ]
    )
    frame = pd.DataFrame(
        {
            "STUDYID": ["S1", "S1"],
            "VARIABLE9": ["a", "b"],
            "TEXT": ["x" * 201, "ok"],
            "NOTE": ["ok", "café"],
        }
    )
    path = tmp_path / "xx.xpt"
    with pytest.raises(XptRuleError) as caught:
        write_xpt(frame, meta, "XX", "Test", path, STAMP)
    violations = caught.value.violations
    assert list(violations.columns) == VIOLATION_COLUMNS
    assert violations[["variable", "rule"]].values.tolist() == [
        ["VARIABLE9", "variable_name"],
        ["STUDYID", "variable_label"],
        ["TEXT", "value_length"],
        ["NOTE", "value_ascii"],
    ]
    assert violations.loc[3, "value"] == "café"
    message = str(caught.value)
    assert message.startswith("XX: 4 XPT v5 rule violation(s), nothing written")
    for text in ("VARIABLE9", "41 characters, over 40", "201 bytes", "'é'"):
        assert text in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("dataset", "dataset_label", "rule"),
    [
        ("1DM", "Demographics", "dataset_name"),
        ("DEMOGRAPH", "Demographics", "dataset_name"),
        ("DM_X", "Demographics", "dataset_name"),
        ("DM", "D" * 41, "dataset_label"),
        ("DM", "Démographie", "dataset_label"),
    ],
)
def test_dataset_name_and_label_rules(dataset, dataset_label, rule):
    meta = _meta([("STUDYID", "Study Identifier", "Char")])
    frame = pd.DataFrame({"STUDYID": ["S1"]})
    violations = check_xpt_rules(frame, meta, dataset, dataset_label=dataset_label)
    assert violations["rule"].tolist() == [rule]


@pytest.mark.parametrize(
    ("variable", "label", "message"),
    [
        ("lbtest", "Lab Test", "upper-case letters"),
        ("_SEQ", "Sequence", "starting with a letter"),
        ("XVAL", "Value (original", "unbalanced quotes or brackets"),
        ("XVAL", "Subject's value", "unbalanced quotes or brackets"),
        ("XVAL", "", "missing"),
    ],
)
def test_variable_name_and_label_rules(variable, label, message):
    meta = _meta([(variable, label, "Char")])
    violations = check_xpt_rules(pd.DataFrame({variable: ["a"]}), meta, "XX")
    assert len(violations) == 1 and message in violations.loc[0, "message"]


def test_balanced_brackets_and_quotes_are_fine():
    meta = _meta([("XVAL", 'Value (in "units") [x] {y}', "Char")])
    assert check_xpt_rules(pd.DataFrame({"XVAL": ["a"]}), meta, "XX").empty


def test_number_rules_flag_values_xpt_cannot_hold():
    # IBM doubles stop below 16**63 (7.237e75); below 16**-65 they underflow to 0, not an error.
    meta = _meta([("N", "Number", "Num"), ("C", "Text", "Char")])
    frame = pd.DataFrame(
        {
            "N": [1e300, np.inf, 1e-300, 0.0, -7.2e75, np.nan, -(16.0**63)],
            "C": pd.Series(["a", 5, "b", None, "c", "d", "e"], dtype=object),
        }
    )
    violations = check_xpt_rules(frame, meta, "XX")
    assert violations[["variable", "rule", "value"]].values.tolist() == [
        ["N", "num_range", "1e+300"],
        ["N", "num_range", "inf"],
        ["N", "num_range", "-7.237005577332262e+75"],
        ["C", "char_type", "5"],
    ]


def test_numbers_below_the_ibm_range_and_negative_zero_are_typed_as_zero():
    meta = _meta([("N", "Number", "Num")])
    frame = pd.DataFrame({"N": [1e-300, -5e-79, 5.5e-79, -0.0, np.nan]})
    typed = apply_variable_metadata(frame, meta)["N"].to_numpy()
    np.testing.assert_array_equal(typed, [0.0, 0.0, 5.5e-79, 0.0, np.nan])
    assert not np.signbit(typed[:4]).any()


def test_an_all_blank_character_record_is_flagged():
    # XPT readers cannot tell it from end-of-file padding and drop it.
    meta = _meta([("A", "a", "Char"), ("B", "b", "Char")])
    frame = pd.DataFrame({"A": ["x", None, None], "B": ["y", None, None]})
    violations = check_xpt_rules(frame, meta, "XX")
    assert violations["rule"].tolist() == ["blank_record"]
    assert "2 record(s)" in violations.loc[0, "message"]


def test_the_file_must_be_named_after_the_dataset(tmp_path, dm_meta):
    with pytest.raises(XptRuleError, match=r"file name 'DM.xpt' must be 'dm.xpt'"):
        write_xpt(dm_frame(), dm_meta, "DM", "Demographics", tmp_path / "DM.xpt", STAMP)


def test_a_clean_frame_has_no_violations(dm_meta):
    typed = apply_variable_metadata(dm_frame(), dm_meta)
    assert check_xpt_rules(typed, dm_meta, "DM", dataset_label="Demographics").empty


# --- XPT round trip -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "label"), DOMAINS)
def test_xpt_round_trip_with_pyreadstat(tmp_path, meta, name, label):
    frame = dm_frame() if name == "DM" else lb_frame()
    domain_meta = meta[meta["dataset"] == name]
    path = tmp_path / f"{name.lower()}.xpt"
    lengths = write_xpt(frame, domain_meta, name, label, path, STAMP)

    back, info = pyreadstat.read_xport(path)
    expected = _as_written(frame, domain_meta)
    assert list(back.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(back.astype(expected.dtypes.to_dict()), expected)
    labels = dict(zip(domain_meta["variable"], domain_meta["label"], strict=True))
    assert info.column_names_to_labels == labels
    assert (info.table_name, info.file_label) == (name, label)
    assert info.variable_storage_width == lengths == read_xpt_lengths(path)
    typed = apply_variable_metadata(frame, domain_meta)
    assert lengths == compute_variable_lengths(typed, domain_meta)


def test_record_order_is_kept_whatever_the_index(tmp_path, dm_meta):
    frame = dm_frame()
    frame.index = [10, 5, 7]
    write_xpt(frame, dm_meta, "DM", "Demographics", tmp_path / "dm.xpt", STAMP)
    back, _ = pyreadstat.read_xport(tmp_path / "dm.xpt")
    assert back["USUBJID"].tolist() == frame["USUBJID"].tolist()


def test_xpt_character_lengths_are_hand_worked(tmp_path, dm_meta):
    lengths = write_xpt(dm_frame(), dm_meta, "DM", "Demographics", tmp_path / "dm.xpt", STAMP)
    assert lengths["ACTARMUD"] == 200
    assert lengths["USUBJID"] == len("UCMSC-ESLD-01-001")
    assert lengths["ARMNRS"] == len("ASSIGNED, NOT TREATED")
    assert lengths["DTHDTC"] == 1  # all null
    assert lengths["AGE"] == 8


def _read_with_haven(path: Path, out: Path) -> tuple[list[dict], list[str], list[dict]]:
    script = out / "read.R"
    script.write_text(R_READER)
    run = subprocess.run(
        ["Rscript", str(script), str(path), str(out)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    with open(out / "variables.csv", newline="") as handle:
        variables = list(csv.DictReader(handle))
    dataset = (out / "dataset.txt").read_text().splitlines()
    with open(out / "values.csv", newline="") as handle:
        values = list(csv.DictReader(handle))
    return variables, dataset, values


@pytest.mark.skipif(NO_R, reason="Rscript not installed (CI installs r-cran-haven)")
@pytest.mark.parametrize(("name", "label"), DOMAINS)
def test_xpt_round_trip_with_r_haven(tmp_path, meta, name, label):
    frame = dm_frame() if name == "DM" else lb_frame()
    domain_meta = meta[meta["dataset"] == name]
    path = tmp_path / f"{name.lower()}.xpt"
    lengths = write_xpt(frame, domain_meta, name, label, path, STAMP)

    variables, dataset, values = _read_with_haven(path, tmp_path)
    assert dataset == [name, label, str(len(frame))]
    assert [v["name"] for v in variables] == list(domain_meta["variable"])
    assert [v["label"] for v in variables] == list(domain_meta["label"])
    assert {v["name"]: int(v["length"]) for v in variables} == lengths
    types = {"Char": "character", "Num": "double"}
    assert [v["type"] for v in variables] == [types[t] for t in domain_meta["type"]]

    expected = _as_written(frame, domain_meta)
    for variable, sdtm_type in zip(domain_meta["variable"], domain_meta["type"], strict=True):
        got = [row[variable] for row in values]
        if sdtm_type == "Char":
            assert got == expected[variable].tolist(), variable
        else:
            numbers = [np.nan if g == "NA" else float(g) for g in got]
            np.testing.assert_array_equal(numbers, expected[variable].to_numpy(), err_msg=variable)


# --- determinism ----------------------------------------------------------------------------


def test_xpt_bytes_do_not_depend_on_the_wall_clock(tmp_path, lb_meta):
    first, second = tmp_path / "a" / "lb.xpt", tmp_path / "b" / "lb.xpt"
    first.parent.mkdir()
    second.parent.mkdir()
    write_xpt(lb_frame(), lb_meta, "LB", "Laboratory Test Results", first, STAMP)
    time.sleep(1.1)  # the header clock has one-second resolution
    write_xpt(lb_frame(), lb_meta, "LB", "Laboratory Test Results", second, STAMP)
    assert first.read_bytes() == second.read_bytes()


def test_header_date_times_are_the_timestamp_passed_in(tmp_path, dm_meta):
    path = tmp_path / "dm.xpt"
    write_xpt(dm_frame(), dm_meta, "DM", "Demographics", path, STAMP)
    assert set(read_xpt_datetimes(path).values()) == {"02JAN26:03:04:05"}
    _, info = pyreadstat.read_xport(path, metadataonly=True)
    assert info.creation_time == info.modification_time == STAMP


def test_an_aware_timestamp_is_written_in_utc(tmp_path, dm_meta):
    path = tmp_path / "dm.xpt"
    shanghai = timezone(timedelta(hours=8))
    local = datetime(2026, 1, 2, 11, 4, 5, tzinfo=shanghai)
    write_xpt(dm_frame(), dm_meta, "DM", "Demographics", path, local)
    assert set(read_xpt_datetimes(path).values()) == {"02JAN26:03:04:05"}


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (datetime(2026, 11, 25, 8, 56, 20), b"25NOV26:08:56:20"),
        (datetime(1960, 1, 1), b"01JAN60:00:00:00"),
        (datetime(2009, 5, 7, 23, 59, 59, 999999), b"07MAY09:23:59:59"),
    ],
)
def test_xpt_datetime_format(timestamp, expected):
    assert compute_xpt_datetime(timestamp) == expected


# --- atomic writes --------------------------------------------------------------------------


def test_a_failed_write_leaves_the_previous_file_and_no_temp_file(tmp_path, dm_meta, monkeypatch):
    path = tmp_path / "dm.xpt"
    write_xpt(dm_frame(), dm_meta, "DM", "Demographics", path, STAMP)
    good = path.read_bytes()

    def crash(dst_path, *args, **kwargs):
        Path(dst_path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(write_module, "write_xpt_file", crash)
    with pytest.raises(OSError, match="disk full"):
        write_xpt(dm_frame(), dm_meta, "DM", "Demographics", path, datetime(2027, 1, 1))
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["dm.xpt"]


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_round_trip_carries_values_labels_and_run_metadata(tmp_path, lb_meta):
    path = tmp_path / "lb.parquet"
    lengths = write_parquet(lb_frame(), lb_meta, "LB", "Laboratory Test Results", path, "run-42")
    table = pq.read_table(path)
    typed = apply_variable_metadata(lb_frame(), lb_meta)
    assert table.column_names == list(typed.columns)
    for variable, sdtm_type in zip(lb_meta["variable"], lb_meta["type"], strict=True):
        got = table.column(variable).to_pylist()
        if sdtm_type == "Char":
            assert got == typed[variable].tolist(), variable
        else:
            assert str(table.schema.field(variable).type) == "double"
            want = [None if np.isnan(x) else x for x in typed[variable]]
            assert got == want, variable
    assert table.column("LBSTRESN").to_pylist()[2] == 1e-10
    field = table.schema.field("LBSTRESN")
    assert field.metadata == {
        b"label": b"Numeric Result/Finding in Standard Units",
        b"sdtm_type": b"Num",
        b"length": b"8",
        b"origin": b"Derived",
    }
    assert table.schema.field("LBTEST").metadata[b"length"] == str(lengths["LBTEST"]).encode()
    assert table.schema.metadata == {
        b"dataset": b"LB",
        b"dataset_label": b"Laboratory Test Results",
        b"run_id": b"run-42",
        b"sdtmig_version": b"3.4",
    }


def test_parquet_and_xpt_hold_the_same_values(tmp_path, lb_meta):
    label = "Laboratory Test Results"
    write_parquet(lb_frame(), lb_meta, "LB", label, tmp_path / "lb.parquet", "r")
    write_xpt(lb_frame(), lb_meta, "LB", label, tmp_path / "lb.xpt", STAMP)
    from_parquet = pq.read_table(tmp_path / "lb.parquet").to_pandas()
    from_xpt, _ = pyreadstat.read_xport(tmp_path / "lb.xpt")
    char = list(lb_meta.loc[lb_meta["type"] == "Char", "variable"])
    from_parquet[char] = from_parquet[char].fillna("")
    pd.testing.assert_frame_equal(from_parquet, from_xpt, check_dtype=False)


def test_parquet_refuses_what_the_xpt_would_refuse(tmp_path, lb_meta):
    frame = lb_frame().astype({"LBSTRESN": object})
    frame.loc[1, "LBSTRESN"] = "<5"
    with pytest.raises(XptRuleError, match=r"\[num_type\] LBSTRESN: LBSTRESN '<5'"):
        write_parquet(frame, lb_meta, "LB", "Laboratory Test Results", tmp_path / "lb.parquet", "r")
    assert list(tmp_path.iterdir()) == []


def test_parquet_bytes_are_deterministic(tmp_path, dm_meta):
    first, second = tmp_path / "a" / "dm.parquet", tmp_path / "b" / "dm.parquet"
    first.parent.mkdir()
    second.parent.mkdir()
    write_parquet(dm_frame(), dm_meta, "DM", "Demographics", first, "run-1")
    time.sleep(1.1)
    write_parquet(
        dm_frame().sample(frac=1, random_state=1).sort_index(),
        dm_meta,
        "DM",
        "Demographics",
        second,
        "run-1",
    )
    assert first.read_bytes() == second.read_bytes()
    assert b"pandas" not in pq.read_schema(first).metadata


def test_control_characters_and_line_breaks_are_a_violation_of_their_own():
    # a safety net: transforms/standardise/text.py cleans raw text, so only a mapping bug reaches here
    meta = _meta([("STUDYID", "Study Identifier", "Char"), ("NOTE", "Note", "Char")])
    frame = pd.DataFrame(
        {"STUDYID": ["S1", "S1", "S1", "S1"], "NOTE": ["a\nb", "esc\x1b", "a\nb", "fine text"]}
    )
    violations = check_xpt_rules(frame, meta, "XX")
    assert violations[["variable", "rule", "value"]].values.tolist() == [
        ["NOTE", "value_control", "a\nb"],
        ["NOTE", "value_control", "esc\x1b"],
    ]
    assert violations.loc[0, "message"] == (
        "NOTE 'a\\nb': control character(s) or line break(s): XPT readers disagree on them; "
        "clean the text upstream (transforms.standardise.text) (2 record(s), first at row 0)"
    )
