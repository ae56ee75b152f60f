"""Dataset-JSON v1.1: valid against the official schemas, equal to the XPT it stands beside, named by
define.xml's OIDs, and, for CDISC's own examples, equal to the Dataset-JSON CDISC made."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from jsonschema import Draft201909Validator
from lxml import etree

from flows.cli import main
from transforms.outputs.dataset_json import (
    NDJSON_SCHEMA,
    DatasetJsonHeader,
    build_dataset_json_metadata,
    compute_dataset_json_type,
    compute_json_values,
    compute_ndjson_lines,
    read_dataset_json,
    read_dataset_json_schema,
    read_ndjson_schema,
    write_dataset_json,
)
from transforms.spec.study import STANDARDS_DIR

EXAMPLES = STANDARDS_DIR / "dataset-json-1.1" / "examples" / "sdtm"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
# What an XPT file cannot tell, so a conversion cannot reproduce CDISC's value:
#   datasetJSONCreationDateTime - when CDISC ran its converter (2024-11-11); ours is the XPT's
#       last-modified stamp, which is CDISC's dbLastModifiedDateTime (compared);
#   fileOID, originator, studyOID, metaDataVersionOID, metaDataRef - CDISC's identifiers and its
#       define.xml, named nowhere in the XPT;
#   sourceSystem - "SAS on X64_10PRO" / "9.0401M7": the XPT header holds "SAS", "9.4" and the
#       operating system cut to 8 characters ("X64_10PR");
#   keySequence (per column) - the dataset's keys are define.xml's, not the XPT's.
NOT_IN_XPT = {"datasetJSONCreationDateTime", "fileOID", "originator", "sourceSystem", "studyOID",
              "metaDataVersionOID", "metaDataRef"}
NOT_IN_XPT_COLUMN = {"keySequence"}
# define.xml DataType -> Dataset-JSON dataType (a reduced-precision --DTC is define's datetime and
# Dataset-JSON's date: checked separately).
DEFINE_TO_JSON = {"text": "string", "integer": "integer", "float": "float", "date": "date",
                  "datetime": "datetime", "durationDatetime": "string"}


def _validate(document: dict, schema: dict) -> list[str]:
    return [e.message for e in Draft201909Validator(schema).iter_errors(document)]


def _read_ndjson(path: Path) -> tuple[dict, list]:
    lines = path.read_bytes().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


# --- values and types, by hand -------------------------------------------------------------------


def test_json_values_are_the_xpt_values_as_json_scalars():
    integers = compute_json_values(pd.Series([84.0, float("nan"), -3.0]), "integer")
    assert integers.tolist() == [84, None, -3] and [type(v) for v in integers] == [int, type(None), int]
    floats = compute_json_values(pd.Series([1.25, float("nan"), 1e-9]), "float")
    assert floats.tolist() == [1.25, None, 1e-9] and type(floats[0]) is float
    # XPT cannot tell a missing character value from a blank one: both are "".
    assert compute_json_values(pd.Series(["A", None, ""], dtype=object), "string").tolist() == ["A", "", ""]
    assert compute_json_values(pd.Series(["2026-03-31", None], dtype=object), "date").tolist() == ["2026-03-31", ""]


def test_ndjson_lines_are_one_json_array_per_row():
    rows = [("S1", 1, None), ("a ],[ b", 2.5, "x"), ("", -3, "]"), ("[", 0, ",")]
    assert compute_ndjson_lines(rows).splitlines() == [json.dumps(list(r), separators=(",", ":")).encode() for r in rows]
    plain = rows[:1] + rows[2:]  # no string holding the row separator: the one-call path
    assert [json.loads(line) for line in compute_ndjson_lines(plain).splitlines()] == [list(r) for r in plain]
    assert compute_ndjson_lines(plain).endswith(b"\n") and compute_ndjson_lines([]) == b""


@pytest.mark.parametrize(
    ("values", "sdtm_type", "variable", "expected"),
    [
        ([84.0, None, 61.0], "Num", "AGE", "integer"),
        ([1.5, 2.0], "Num", "LBSTRESN", "float"),
        (["2012-11-30", ""], "Char", "RFSTDTC", "date"),
        (["1928", "1951-04"], "Char", "BRTHDTC", "date"),  # reduced precision: still a date
        (["2012-11-30T08:15", "2012-12-01"], "Char", "EXSTDTC", "datetime"),
        (["P3D"], "Char", "TEDUR", "string"),  # Dataset-JSON has no duration type
        (["WHITE"], "Char", "RACE", "string"),
    ],
)
def test_data_type_follows_define_xml(values, sdtm_type, variable, expected):
    series = pd.Series(values, dtype="float64" if sdtm_type == "Num" else object)
    assert compute_dataset_json_type(series, sdtm_type, variable) == expected


def test_ndjson_schema_is_repaired_and_checks_the_metadata_line():
    published = json.loads(NDJSON_SCHEMA.read_bytes().decode("utf-16"))
    metadata, _ = _read_ndjson(EXAMPLES / "dm.ndjson")
    with pytest.raises(Exception):  # as published, #/$defs/Column resolves to nothing
        _validate(metadata, published)
    schema = read_ndjson_schema()
    assert _validate(metadata, schema) == []
    broken = {**metadata, "columns": [{k: v for k, v in metadata["columns"][0].items() if k != "dataType"}]}
    assert any("dataType" in e for e in _validate(broken, schema))
    wrong = {**metadata, "columns": [{**metadata["columns"][0], "dataType": "text"}]}
    assert _validate(wrong, schema)


def test_writer_refuses_metadata_the_schema_rejects(tmp_path):
    frame = pd.DataFrame({"STUDYID": ["S1"]})
    variables = pd.DataFrame({"variable": ["STUDYID"], "label": ["Study Identifier"], "type": ["Char"], "order": [1]})
    header = DatasetJsonHeader(created=pd.Timestamp("2026-03-31").to_pydatetime())
    metadata = build_dataset_json_metadata(frame, variables, "DM", "Demographics", {"STUDYID": 2}, [], header)
    with pytest.raises(ValueError, match="records"):
        write_dataset_json(frame, {**metadata, "records": -1}, tmp_path / "dm.json")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("chunk_rows", [1, 2, 50_000])
def test_both_forms_written_together_are_each_form_written_alone(chunk_rows, tmp_path):
    frame = pd.DataFrame({"STUDYID": ["S1", "S1", "S1"], "USUBJID": ["S1-1", "a ],[ b", ""],
                          "AGE": [61.0, float("nan"), 7.0]})
    variables = pd.DataFrame({"variable": ["STUDYID", "USUBJID", "AGE"], "label": ["Study", "Subject", "Age"],
                              "type": ["Char", "Char", "Num"], "order": [1, 2, 3]})
    header = DatasetJsonHeader(created=pd.Timestamp("2026-03-31").to_pydatetime())
    metadata = build_dataset_json_metadata(frame, variables, "DM", "Demographics", {"STUDYID": 2, "USUBJID": 7},
                                           ["USUBJID"], header)
    together = [tmp_path / "together" / name for name in ("dm.json", "dm.ndjson")]
    together[0].parent.mkdir()
    write_dataset_json(frame, metadata, *together, chunk_rows=chunk_rows)
    for path in together:
        alone = tmp_path / path.name
        write_dataset_json(frame, metadata, alone, chunk_rows=chunk_rows)
        assert path.read_bytes() == alone.read_bytes()
    # each read back by a plain JSON reader: the rows as given
    rows = [["S1", "S1-1", 61], ["S1", "a ],[ b", None], ["S1", "", 7]]
    assert json.loads(together[0].read_text())["rows"] == rows
    assert [json.loads(line) for line in together[1].read_text().splitlines()[1:]] == rows
    assert sorted(p.name for p in together[0].parent.iterdir()) == ["dm.json", "dm.ndjson"]  # no temporaries


# --- CDISC's own examples ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dm", "ts"])
@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
def test_cdisc_example_xpt_converts_to_cdisc_dataset_json(name, suffix, tmp_path):
    target = tmp_path / f"{name}{suffix}"
    to = "dataset-json" if suffix == ".json" else "ndjson"
    assert main(["convert", str(EXAMPLES / f"{name}.xpt"), "--to", to, "--output", str(target)]) == 0
    if suffix == ".json":
        ours, cdisc = json.loads(target.read_text()), json.loads((EXAMPLES / f"{name}.json").read_text())
        assert _validate(ours, read_dataset_json_schema()) == []
        ours_rows, cdisc_rows = ours.pop("rows"), cdisc.pop("rows")
    else:
        (ours, ours_rows), (cdisc, cdisc_rows) = _read_ndjson(target), _read_ndjson(EXAMPLES / f"{name}.ndjson")
        assert _validate(ours, read_ndjson_schema()) == []
    assert {k: v for k, v in ours.items() if k not in NOT_IN_XPT and k != "columns"} == {
        k: v for k, v in cdisc.items() if k not in NOT_IN_XPT and k != "columns"
    }
    assert ours["columns"] == [{k: v for k, v in c.items() if k not in NOT_IN_XPT_COLUMN} for c in cdisc["columns"]]
    assert ours_rows == cdisc_rows
    # value for value includes the JSON type: 84 is an integer, not 84.0
    assert [[type(v) for v in row] for row in ours_rows] == [[type(v) for v in row] for row in cdisc_rows]


@pytest.mark.parametrize("name", ["dm", "ts"])
def test_cdisc_json_and_ndjson_read_back_alike(name):
    from_json, json_meta = read_dataset_json(EXAMPLES / f"{name}.json")
    from_ndjson, ndjson_meta = read_dataset_json(EXAMPLES / f"{name}.ndjson")
    pd.testing.assert_frame_equal(from_json, from_ndjson)
    assert json_meta == ndjson_meta and len(from_json) == json_meta["records"]
    xpt, _ = pyreadstat.read_xport(EXAMPLES / f"{name}.xpt")
    _assert_same_values(from_json.fillna({c: "" for c in from_json.select_dtypes(object)}), xpt)


# --- the sample package --------------------------------------------------------------------------


def _define_groups(sample_sdtm: Path) -> tuple[dict, dict, etree._Element]:
    root = etree.parse(str(sample_sdtm / "define.xml")).getroot()
    groups = {g.get("Name"): g for g in root.iterfind(".//odm:ItemGroupDef", NS)}
    items = {i.get("OID"): i for i in root.iterfind(".//odm:ItemDef", NS)}
    return groups, items, root


def test_every_dataset_has_schema_valid_dataset_json(sample_run, sample_sdtm):
    xpts = sorted(sample_sdtm.glob("*.xpt"))
    assert len(xpts) == 11
    stems = {p.name for p in (sample_run / "dataset-json").iterdir()}
    assert stems == {f"{p.stem}{s}" for p in xpts for s in (".json", ".ndjson")}
    for xpt in xpts:
        document = json.loads((sample_run / "dataset-json" / f"{xpt.stem}.json").read_text())
        assert _validate(document, read_dataset_json_schema()) == [], xpt.name
        metadata, rows = _read_ndjson(sample_run / "dataset-json" / f"{xpt.stem}.ndjson")
        assert _validate(metadata, read_ndjson_schema()) == [], xpt.name
        assert metadata == {k: v for k, v in document.items() if k != "rows"}
        assert rows == document["rows"]


def test_dataset_json_values_equal_the_xpt(sample_run, sample_sdtm):
    for xpt in sorted(sample_sdtm.glob("*.xpt")):
        data, meta = pyreadstat.read_xport(xpt)
        document = json.loads((sample_run / "dataset-json" / f"{xpt.stem}.json").read_text())
        assert (document["name"], document["label"], document["records"]) == (meta.table_name, meta.file_label, len(data))
        assert [c["name"] for c in document["columns"]] == list(data.columns)
        assert [c["label"] for c in document["columns"]] == meta.column_labels
        for position, column in enumerate(document["columns"]):
            values = [row[position] for row in document["rows"]]
            expected = data[column["name"]].tolist()
            if column["dataType"] in ("integer", "float"):
                assert [None if math.isnan(v) else v for v in expected] == values, (xpt.name, column["name"])
                if column["dataType"] == "integer":
                    assert all(v is None or type(v) is int for v in values)
            else:
                assert values == expected, (xpt.name, column["name"])
            if column["dataType"] == "string":
                assert column["length"] == meta.variable_storage_width[column["name"]]


def test_dataset_json_names_define_xml_oids(sample_run, sample_sdtm):
    groups, items, root = _define_groups(sample_sdtm)
    study = root.find("odm:Study", NS)
    mdv = study.find("odm:MetaDataVersion", NS)
    for name, group in groups.items():
        path = sample_run / "dataset-json" / f"{name.lower()}.json"
        document = json.loads(path.read_text())
        assert document["itemGroupOID"] == group.get("OID")
        assert document["studyOID"] == study.get("OID")
        assert document["metaDataVersionOID"] == mdv.get("OID")
        assert (path.parent / document["metaDataRef"]).resolve() == (sample_sdtm / "define.xml").resolve()
        refs = group.findall("odm:ItemRef", NS)
        assert [c["itemOID"] for c in document["columns"]] == [r.get("ItemOID") for r in refs]
        assert [c.get("keySequence") for c in document["columns"]] == [
            int(r.get("KeySequence")) if r.get("KeySequence") else None for r in refs
        ]
        for column in document["columns"]:
            item = items[column["itemOID"]]
            assert item.get("Name") == column["name"]
            data_type = DEFINE_TO_JSON[item.get("DataType")]
            reduced_date = item.get("DataType") == "datetime" and column["dataType"] == "date"
            assert column["dataType"] == data_type or reduced_date, column["itemOID"]
            if reduced_date:
                position = document["columns"].index(column)
                assert all("T" not in row[position] for row in document["rows"])
            if item.get("DataType") == "text":  # define.xml gives no Length to an ISO 8601 duration
                assert column["length"] == int(item.get("Length")), column["itemOID"]


def test_dataset_json_is_dated_like_the_xpt(sample_run, sample_sdtm):
    from transforms.outputs.xpt import read_xpt_datetimes

    stamp = read_xpt_datetimes(sample_sdtm / "dm.xpt")["member modified"]
    assert stamp == "31MAR26:00:00:00"  # the export date of the bundled sample
    document = json.loads((sample_run / "dataset-json" / "dm.json").read_text())
    assert document["datasetJSONCreationDateTime"] == document["dbLastModifiedDateTime"] == "2026-03-31T00:00:00"


# --- the converter -------------------------------------------------------------------------------


def _assert_same_values(left: pd.DataFrame, right: pd.DataFrame) -> None:
    assert list(left.columns) == list(right.columns)
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_numeric_dtype(b):
            pd.testing.assert_series_equal(a.astype("float64"), b.astype("float64"), check_names=False)
        else:
            assert a.tolist() == b.tolist(), column


@pytest.mark.parametrize("form", ["dataset-json", "ndjson"])
@pytest.mark.parametrize("source", ["sample lb", "cdisc dm"])
def test_convert_round_trip_keeps_every_value(form, source, sample_sdtm, tmp_path):
    xpt = sample_sdtm / "lb.xpt" if source == "sample lb" else EXAMPLES / "dm.xpt"
    middle = tmp_path / f"{xpt.stem}{'.json' if form == 'dataset-json' else '.ndjson'}"
    back = tmp_path / "back" / xpt.name
    assert main(["convert", str(xpt), "--to", form, "--output", str(middle)]) == 0
    assert main(["convert", str(middle), "--to", "xpt", "--output", str(back)]) == 0
    before, before_meta = pyreadstat.read_xport(xpt)
    after, after_meta = pyreadstat.read_xport(back)
    _assert_same_values(after, before)
    assert (after_meta.table_name, after_meta.file_label) == (before_meta.table_name, before_meta.file_label)
    assert after_meta.column_labels == before_meta.column_labels
    assert after_meta.readstat_variable_types == before_meta.readstat_variable_types
    # a second conversion of the same file gives the same bytes
    again = tmp_path / f"again{middle.suffix}"
    assert main(["convert", str(xpt), "--to", form, "--output", str(again)]) == 0
    assert again.read_bytes() == middle.read_bytes()


def test_convert_refuses_what_it_cannot_do(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["convert", str(tmp_path / "notes.txt"), "--to", "xpt"]) == 2
    assert main(["convert", str(tmp_path / "absent.xpt"), "--to", "dataset-json"]) == 2
    json_file = tmp_path / "dm.json"
    assert main(["convert", str(EXAMPLES / "dm.xpt"), "--to", "dataset-json", "--output", str(json_file)]) == 0
    # FDA names a dataset file after its dataset: write_xpt refuses anything else
    assert main(["convert", str(json_file), "--to", "xpt", "--output", str(tmp_path / "demo.xpt")]) == 1
    assert "must be 'dm.xpt'" in capsys.readouterr().err
    assert not (tmp_path / "demo.xpt").exists()


def test_reader_turns_adam_style_columns_into_sas_numbers(tmp_path):
    """targetDataType integer: ISO 8601 text that SAS holds as a number (days / seconds since
    1960-01-01, seconds of the day); decimal: text holding an exact decimal."""
    columns = [
        {"itemOID": "IT.ADSL.TRTSDT", "name": "TRTSDT", "label": "Start", "dataType": "date", "targetDataType": "integer"},
        {"itemOID": "IT.ADSL.TRTSDTM", "name": "TRTSDTM", "label": "Start", "dataType": "datetime", "targetDataType": "integer"},
        {"itemOID": "IT.ADSL.TRTSTM", "name": "TRTSTM", "label": "Start", "dataType": "time", "targetDataType": "integer"},
        {"itemOID": "IT.ADSL.BMIBL", "name": "BMIBL", "label": "BMI", "dataType": "decimal", "targetDataType": "decimal"},
    ]
    rows = [["1960-01-02", "1960-01-01T00:01:00", "01:00:00", "30.8983333232059"], [None, None, None, None]]
    path = tmp_path / "adsl.json"
    path.write_text(json.dumps({"datasetJSONCreationDateTime": "2026-03-31T00:00:00", "datasetJSONVersion": "1.1.0",
                                "itemGroupOID": "IG.ADSL", "records": 2, "name": "ADSL", "label": "Subject-Level",
                                "columns": columns, "rows": rows}))
    frame, _ = read_dataset_json(path)
    assert frame.iloc[0].tolist() == [1.0, 60.0, 3600.0, 30.8983333232059]
    assert frame.iloc[1].isna().all() and (frame.dtypes == "float64").all()
