"""CDISC Dataset-JSON v1.1 (JSON and NDJSON): written from the typed frames the XPT writer writes,
read back for the `sdtmflow convert` command.

A small writer on orjson, not a library: the most complete Python Dataset-JSON package is
AGPL-licensed, which an Apache-2.0 project cannot take, and the format is one metadata object plus
arrays of scalars. The official JSON Schemas (mappings/standards/dataset-json-1.1/schema/) check
the metadata of every file before it is written.

Choices (the specification leaves them to the writer):

* Column metadata is define.xml's: itemOID / itemGroupOID / studyOID / metaDataVersionOID come from
  the functions that form define.xml's OIDs, dataType from the same DataType computation
  (text -> string, integer, float, date, datetime, time; any other ISO 8601 type, e.g. a duration,
  -> string), keySequence from the study's dataset keys.
* `length` is given for string columns only (the XPT length): the specification defines it as the
  number of characters of a value held as text, and CDISC's own examples give none for numbers
  and dates.
* Values are the XPT's: a missing character value is "" (XPT cannot tell blank from missing, and
  CDISC's examples made from XPT write ""), a missing number is null, an integer column holds
  JSON integers, dates stay ISO 8601 strings.
* Deterministic: the creation and last-modified date-times are the caller's (the export date, as
  in the XPT header), never the wall clock; attributes follow the specification's order.
"""

from __future__ import annotations

import functools
import json
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyreadstat

from transforms.outputs.define import compute_data_type, compute_present_values, compute_item_group_oid, compute_item_oid
from transforms.spec.study import STANDARDS_DIR
from transforms.core.files import write_atomically
from transforms.outputs.write import CHAR, NUM

DATASET_JSON_VERSION = "1.1.0"
SCHEMA_DIR = STANDARDS_DIR / "dataset-json-1.1" / "schema"
JSON_SCHEMA = SCHEMA_DIR / "dataset.schema.json"
NDJSON_SCHEMA = SCHEMA_DIR / "dataset-ndjson-schema.json"
SUFFIXES = (".json", ".ndjson")
# Rows serialised per orjson call: large enough that the Python overhead vanishes, small enough
# that a million-row dataset never exists twice in memory as JSON.
CHUNK_ROWS = 50_000

# Define-XML DataType -> Dataset-JSON dataType; other ISO 8601 types are exchanged as strings.
_FROM_DEFINE = {"text": "string", "integer": "integer", "float": "float", "date": "date",
                "datetime": "datetime", "time": "time"}
_NUMBERS = {"integer", "float", "double"}
_ISO8601 = {"date", "datetime", "time"}
_SAS_EPOCH = pd.Timestamp("1960-01-01")
_REDUCED_DATE = r"^\d{4}(-\d{2}(-\d{2})?)?$"


@dataclass(frozen=True)
class DatasetJsonHeader:
    """The file-level attributes of a Dataset-JSON file that do not come from the dataset."""

    created: datetime
    modified: datetime | None = None
    file_oid: str | None = None
    originator: str | None = None
    source_system: tuple[str, str] | None = None  # (name, version)
    study_oid: str | None = None
    metadata_version_oid: str | None = None
    metadata_ref: str | None = None


@dataclass(frozen=True)
class XptDataset:
    """One dataset read from a SAS XPT file, with what Dataset-JSON needs from its header."""

    frame: pd.DataFrame
    variables: pd.DataFrame  # dataset, variable, label, type (Char/Num), order
    name: str
    label: str
    lengths: dict[str, int]
    modified: datetime


# --- metadata ------------------------------------------------------------------------------------


def compute_dataset_json_type(values: pd.Series, sdtm_type: str, variable: str) -> str:
    """The Dataset-JSON dataType of a column: define.xml's DataType, in Dataset-JSON's words.

    One refinement: define.xml calls a --DTC with a reduced-precision date ("1928", "2012-11")
    datetime, since its `date` is a complete date only; Dataset-JSON has no partial types and
    CDISC's own examples call such a column `date`, so it is `date` here whenever no value has a
    time part."""
    # every property below depends only on the distinct values: taken once, not masked and
    # re-hashed over the whole column (a million records) twice
    present = compute_present_values(values)
    if sdtm_type == CHAR:
        present = present[present.ne("")].reset_index(drop=True)  # a blank XPT value is a missing one
    data_type = _FROM_DEFINE.get(compute_data_type(present, sdtm_type, variable), "string")
    if data_type == "datetime" and pd.Series(present, dtype=object).str.match(_REDUCED_DATE).all():
        return "date"
    return data_type


def build_dataset_json_metadata(
    frame: pd.DataFrame,
    variables: pd.DataFrame,
    dataset: str,
    label: str,
    lengths: dict[str, int],
    keys: list[str],
    header: DatasetJsonHeader,
) -> dict:
    """The Dataset-JSON metadata object (everything but the rows), attributes in spec order.

    `frame`: the typed dataset as written to XPT; `variables`: its variable metadata (variable,
    label, type, order); `lengths`: the XPT lengths; `keys`: the dataset's key variables in order.
    """
    ordered = variables.sort_values("order", kind="stable")
    columns = []
    for v in ordered.itertuples():
        data_type = compute_dataset_json_type(frame[v.variable], v.type, v.variable)
        column = {"itemOID": compute_item_oid(dataset, v.variable), "name": v.variable,
                  "label": v.label or "", "dataType": data_type}
        if data_type == "string":
            column["length"] = int(lengths[v.variable])
        if v.variable in keys:
            column["keySequence"] = keys.index(v.variable) + 1
        columns.append(column)
    source = header.source_system
    top = {
        "datasetJSONCreationDateTime": _iso(header.created),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": header.file_oid,
        "dbLastModifiedDateTime": _iso(header.modified) if header.modified else None,
        "originator": header.originator,
        "sourceSystem": {"name": source[0], "version": source[1]} if source else None,
        "studyOID": header.study_oid,
        "metaDataVersionOID": header.metadata_version_oid,
        "metaDataRef": header.metadata_ref,
        "itemGroupOID": compute_item_group_oid(dataset),
        "records": len(frame),
        "name": dataset,
        "label": label,
        "columns": columns,
    }
    return {k: v for k, v in top.items() if v is not None}


def check_dataset_json_metadata(metadata: dict) -> list[str]:
    """Schema errors of a metadata object against the official Dataset-JSON schema (empty: valid)."""
    from jsonschema import Draft201909Validator  # only here: its import costs a third of a second

    validator = Draft201909Validator(read_dataset_json_schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(metadata)]


@functools.cache
def read_dataset_json_schema() -> dict:
    """The official schema of the JSON form."""
    return json.loads(JSON_SCHEMA.read_text(encoding="utf-8"))


def read_ndjson_schema() -> dict:
    """The official schema of the NDJSON metadata line, repaired.

    As published (cdisc-org/DataExchange-DatasetJson, issue #35) the file is UTF-16, and the
    definitions Column, DataTypesEnum and SourceSystem sit where their references should be
    (inside `DatasetMetadata.columns.items` and `.sourceSystem`) while `#/$defs/Column`,
    `#/$defs/DataTypesEnum` and `#/$defs/SourceSystem` resolve to nothing. The repair moves those
    three definitions to `$defs` and puts the references in their place; nothing else changes.
    """
    repaired = json.loads(NDJSON_SCHEMA.read_bytes().decode("utf-16"))
    metadata = repaired["$defs"]["DatasetMetadata"]["properties"]
    items = metadata["columns"]["items"]
    repaired["$defs"]["Column"] = items.pop("Column")
    repaired["$defs"]["DataTypesEnum"] = items.pop("DataTypesEnum")
    metadata["columns"]["items"] = {"$ref": "#/$defs/Column"}
    source = metadata["sourceSystem"]
    repaired["$defs"]["SourceSystem"] = source.pop("SourceSystem")
    metadata["sourceSystem"] = {"$ref": "#/$defs/SourceSystem", **source}
    return repaired


# --- values --------------------------------------------------------------------------------------


def compute_json_values(values: pd.Series, data_type: str) -> np.ndarray:
    """A column as the Python scalars orjson writes: int / float / None for numbers, str for the
    rest ("" where missing)."""
    if data_type in _NUMBERS:
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(numbers)
        if data_type == "integer":
            out = np.where(missing, 0, numbers).astype(np.int64).astype(object)
        else:
            out = numbers.astype(object)
        out[missing] = None
        return out
    text = values.to_numpy(dtype=object, copy=True)
    text[values.isna().to_numpy()] = ""
    return text


# --- write ---------------------------------------------------------------------------------------


def write_dataset_json(frame: pd.DataFrame, metadata: dict, *paths: Path, chunk_rows: int = CHUNK_ROWS) -> None:
    """Write `frame` as Dataset-JSON at each of `paths`: the JSON form for .json, NDJSON for .ndjson.
    The rows are converted and serialised once, a chunk at a time, for every file.

    Raises ValueError before writing when the metadata is not valid against the official schema
    or does not describe `frame`."""
    paths = [Path(path) for path in paths]
    for path in paths:
        if path.suffix not in SUFFIXES:
            raise ValueError(f"{path}: a Dataset-JSON file name ends in .json or .ndjson")
    errors = check_dataset_json_metadata(metadata)
    names = [c["name"] for c in metadata["columns"]]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        errors.append(f"columns {missing} are described but not in the dataset")
    if metadata["records"] != len(frame):
        errors.append(f"records is {metadata['records']} but the dataset has {len(frame)}")
    if errors:
        raise ValueError(f"{', '.join(p.name for p in paths)}: not valid Dataset-JSON 1.1:\n" + "\n".join(errors[:20]))
    head = orjson.dumps(metadata)

    def write(temporaries: list[Path]) -> None:
        with ExitStack() as stack:
            handles = [stack.enter_context(open(tmp, "wb")) for tmp in temporaries]
            lines = [path.suffix == ".ndjson" for path in paths]
            for handle, ndjson in zip(handles, lines):
                handle.write(head + b"\n" if ndjson else head[:-1] + b',"rows":[')
            for number, rows in enumerate(_row_chunks(frame, metadata["columns"], chunk_rows)):
                blob = orjson.dumps(rows)
                for handle, ndjson in zip(handles, lines):
                    handle.write(compute_ndjson_lines(rows, blob) if ndjson else (b"," if number else b"") + blob[1:-1])
            for handle, ndjson in zip(handles, lines):
                if not ndjson:
                    handle.write(b"]}")

    _write_all_atomically(paths, write)


def _write_all_atomically(paths: list[Path], write, temporaries: tuple[Path, ...] = ()) -> None:
    """`write(temporaries)` with one temporary name beside each of `paths`, each renamed onto
    its path once all are written (transforms.core.files.write_atomically, nested)."""
    if not paths:
        write(list(temporaries))
        return
    write_atomically(paths[0], lambda tmp: _write_all_atomically(paths[1:], write, (*temporaries, tmp)))


def compute_ndjson_lines(rows: list[tuple], blob: bytes | None = None) -> bytes:
    """Rows as NDJSON lines, each ending in a newline (`blob`: orjson's array of `rows`, if made).

    One orjson call for the whole chunk, then the row boundaries `],[` become `]\n[`: rows are flat
    arrays of scalars, so each boundary is one `],[`, and if the count says there are no others
    (a string may contain the text `],[`) the replacement is exact; otherwise one call per row."""
    if not rows:
        return b""
    blob = orjson.dumps(rows) if blob is None else blob
    if blob.count(b"],[") == len(rows) - 1:
        return blob[1:-1].replace(b"],[", b"]\n[") + b"\n"
    return b"\n".join(map(orjson.dumps, rows)) + b"\n"


def _row_chunks(frame: pd.DataFrame, columns: list[dict], size: int):
    # converted a chunk at a time: a number as orjson takes it is a Python float per value, and
    # the whole of a million-record dataset that way outweighed the dataset itself
    for start in range(0, len(frame), size):
        chunk = frame.iloc[start : start + size]
        yield list(zip(*(compute_json_values(chunk[c["name"]], c["dataType"]) for c in columns)))


# --- read ----------------------------------------------------------------------------------------


def read_dataset_json(path: Path) -> tuple[pd.DataFrame, dict]:
    """A Dataset-JSON file (.json or .ndjson) as (frame, metadata without rows).

    Columns come back as the XPT holds them: numbers (integer, float, double, decimal) as float64
    with NaN for null; dates with targetDataType integer as SAS numbers (days, or seconds for
    date-times and times); everything else as str, None for null."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix == ".ndjson":
        first, _, rest = data.partition(b"\n")
        metadata = orjson.loads(first)
        lines = [line for line in rest.splitlines() if line.strip()]
        rows = orjson.loads(b"[" + b",".join(lines) + b"]")
    elif path.suffix == ".json":
        metadata = orjson.loads(data)
        rows = metadata.pop("rows", [])
    else:
        raise ValueError(f"{path}: a Dataset-JSON file name ends in .json or .ndjson")
    columns = metadata["columns"]
    if metadata.get("records", len(rows)) != len(rows):
        raise ValueError(f"{path.name}: records says {metadata['records']} but the file holds {len(rows)} rows")
    values = list(zip(*rows)) if rows else [() for _ in columns]
    frame = pd.DataFrame({c["name"]: _read_column(values[i], c) for i, c in enumerate(columns)})
    return frame, metadata


def _read_column(values: tuple, column: dict) -> pd.Series:
    data_type, target = column["dataType"], column.get("targetDataType")
    if data_type in _NUMBERS or data_type == "decimal" or target == "decimal":
        return pd.to_numeric(pd.Series(values, dtype=object), errors="raise").astype("float64")
    if data_type in _ISO8601 and target == "integer":
        return _sas_number(pd.Series(values, dtype=object), data_type)
    if data_type == "boolean":
        return pd.Series(values, dtype=object).map({True: 1.0, False: 0.0}).astype("float64")
    return pd.Series(values, dtype=object)


def _sas_number(values: pd.Series, data_type: str) -> pd.Series:
    """ISO 8601 text as SAS stores it: days since 1960-01-01, seconds since then, seconds of day."""
    if data_type == "time":
        return pd.to_timedelta(values.replace("", None)).dt.total_seconds()
    moments = pd.to_datetime(values.replace("", None), format="ISO8601")
    elapsed = (moments - _SAS_EPOCH).dt
    return (elapsed.days if data_type == "date" else elapsed.total_seconds()).astype("float64")


def build_xpt_variables(metadata: dict) -> pd.DataFrame:
    """The variable metadata write_xpt needs (dataset, variable, label, type, order) from a
    Dataset-JSON metadata object."""
    columns = metadata["columns"]
    numeric = [c["dataType"] in _NUMBERS or c["dataType"] in ("decimal", "boolean")
               or c.get("targetDataType") in ("integer", "decimal") for c in columns]
    return pd.DataFrame({
        "dataset": metadata["name"],
        "variable": [c["name"] for c in columns],
        "label": [c.get("label", "") for c in columns],
        "type": [NUM if n else CHAR for n in numeric],
        "order": range(1, len(columns) + 1),
    })


def read_xpt_dataset(path: Path) -> XptDataset:
    """One SAS XPT v5 dataset with its names, labels, types, lengths and last-modified stamp."""
    frame, meta = pyreadstat.read_xport(str(path))
    labels = meta.column_names_to_labels
    types = meta.readstat_variable_types
    variables = pd.DataFrame({
        "dataset": meta.table_name,
        "variable": list(frame.columns),
        "label": [labels.get(c) or "" for c in frame.columns],
        "type": [CHAR if types[c] == "string" else NUM for c in frame.columns],
        "order": range(1, len(frame.columns) + 1),
    })
    return XptDataset(frame, variables, meta.table_name, meta.file_label or "",
                      dict(meta.variable_storage_width), meta.modification_time)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")

