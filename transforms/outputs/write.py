"""The metadata-driven writer chain: order -> type -> length -> labels -> write.

Like R's xportr, every step is driven by the variable metadata (transforms.core.metadata) and nothing
is guessed from the data: the metadata says which columns exist, in what order, of what type and
with what label. The XPT rules are the conform stage's (transforms/conform/xpt_rules.py), which
types, checks and measures each dataset once and hands this module an XptDataset to write: the
writers here check nothing. Files are written beside their target and renamed onto it, so a crash
never leaves a half-written dataset. The XPT bytes themselves come from transforms.outputs.xpt,
with the caller's timestamp in the header, so identical input gives identical bytes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.core.findings import LINEAGE
from transforms.core.files import write_atomically
from transforms.outputs.xpt import (
    IBM_MIN,
    XptVariable,
    write_xpt_file,
)

CHAR, NUM = "Char", "Num"
XPT_NUM_LENGTH = 8  # full IBM double: shorter numerics lose precision
# Numeric kinds pandas.api.types.infer_dtype reports for columns we may cast to float64.
_NUMERIC_KINDS = {"integer", "floating", "mixed-integer-float", "boolean", "decimal", "empty"}


# --- order + type ---------------------------------------------------------------------------


def apply_variable_metadata(frame: pd.DataFrame, meta_for_dataset: pd.DataFrame) -> pd.DataFrame:
    """A new frame with exactly the metadata's variables, in SDTMIG order, typed for XPT.

    Missing variables become all-null columns. Char columns are `object` holding str or None
    (XPT cannot tell "" from missing, so "" becomes None and Parquet agrees with XPT); Num columns
    are float64 (XPT has no integers), with -0.0 and magnitudes below the IBM range (16**-65)
    as 0.0, which is what the XPT holds. A Num column holding anything but numbers is left as it is
    for check_xpt_rules to report. Lineage columns are dropped; any other column the metadata
    does not define raises ValueError, since silently dropping data would hide a mapping bug.
    """
    meta = order_variables(meta_for_dataset)
    if meta.empty:
        raise ValueError(
            "no variable metadata for this dataset: list its variables in the study's "
            "variables.csv (or select the dataset's rows from read_variable_metadata)"
        )
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise ValueError(f"duplicate column(s) {duplicated}: each variable must appear once")
    known = set(meta["variable"]) | set(LINEAGE)
    unknown = [c for c in frame.columns if c not in known]
    if unknown:
        dataset = _dataset_of(meta)
        raise ValueError(
            f"{dataset}: column(s) {unknown} are not in the {dataset} variable metadata: add them "
            "to the study variable spec (if SDTMIG defines them) or stop producing them"
        )
    columns = {v.variable: _typed_column(frame, v.variable, v.type) for v in meta.itertuples()}
    return pd.DataFrame(columns, index=frame.index)


def _typed_column(frame: pd.DataFrame, variable: str, sdtm_type: str) -> pd.Series:
    if variable not in frame.columns:
        if sdtm_type == CHAR:
            return pd.Series(np.full(len(frame), None, dtype=object), index=frame.index)
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    column = frame[variable]
    return _as_char(column) if sdtm_type == CHAR else _as_num(column)


def _as_char(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.StringDtype):
        return _arrow_as_char(column)
    values = column.to_numpy(dtype=object, na_value=None, copy=True)
    values[values == ""] = None
    return pd.Series(values, index=column.index, dtype=object)


def _arrow_as_char(column: pd.Series) -> pd.Series:
    # The same str/None values, built from the column's distinct values: an SDTM column repeats
    # a few values over a million records, so converting each record to a Python str (and
    # holding a million of them) cost more time and memory than the writing.
    arrow = pa.array(column.array)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    encoded = arrow.dictionary_encode()
    words = np.append(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), None)
    words[words == ""] = None  # the last word stands for missing
    codes = encoded.indices.fill_null(len(words) - 1).to_numpy()
    return pd.Series(words[codes], index=column.index, dtype=object)


def _as_num(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return _as_ibm_zero(column.astype("float64"))
    if pd.api.types.infer_dtype(column, skipna=True) in _NUMERIC_KINDS:
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        return _as_ibm_zero(pd.Series(values, index=column.index))
    return column


def _as_ibm_zero(column: pd.Series) -> pd.Series:
    # IBM doubles underflow to 0 and have no signed zero: Parquet must hold what the XPT holds.
    return column.mask(column.abs() < IBM_MIN, 0.0)


# --- length ---------------------------------------------------------------------------------


def compute_variable_lengths(frame: pd.DataFrame, meta: pd.DataFrame) -> dict[str, int]:
    """XPT length per variable: the longest Char value in UTF-8 bytes (at least 1), Num 8.

    FDA asks for the longest value actually present, not a default of 200; define.xml reports
    the same numbers.
    """
    return compute_lengths_from_distinct(order_variables(meta), compute_distinct_chars(frame, meta))


def compute_lengths_from_distinct(meta: pd.DataFrame, distinct_chars: dict[str, tuple[np.ndarray, pd.Series]]) -> dict[str, int]:
    lengths = {}
    for v in meta.itertuples():
        if v.type == NUM:
            lengths[v.variable] = XPT_NUM_LENGTH
            continue
        longest = 0
        if v.variable in distinct_chars:
            _, distinct = distinct_chars[v.variable]
            text = distinct[compute_is_text(distinct)]
            longest = 0 if text.empty else int(text.str.encode("utf-8").str.len().max())
        lengths[v.variable] = max(1, longest)
    return lengths


# --- distinct values: the XPT rules (transforms/conform/xpt_rules.py) and the lengths share them


def compute_distinct(column: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Record codes (-1 for null) and the distinct non-null values.

    Value rules run once per distinct value: SDTM columns repeat few values over many records,
    so this keeps the checks fast on millions of rows.
    """
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype=object)


def compute_distinct_chars(
    frame: pd.DataFrame, meta: pd.DataFrame
) -> dict[str, tuple[np.ndarray, pd.Series]]:
    """_distinct of every Char variable the frame holds: the rules and the lengths share them."""
    return {
        v.variable: compute_distinct(frame[v.variable])
        for v in meta.itertuples()
        if v.type == CHAR and v.variable in frame.columns
    }


def compute_is_text(values: pd.Series) -> pd.Series:
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pd.Series(True, index=values.index)
    # Only reached when a column is already wrong; a per-value test is acceptable there.
    return values.map(lambda v: isinstance(v, str)).astype(bool)


# --- write ----------------------------------------------------------------------------------


class XptDataset(NamedTuple):
    """One dataset ready for every writer: typed once, checked once, measured once."""

    data: pd.DataFrame  # apply_variable_metadata's frame: the values every file holds
    meta: pd.DataFrame  # the variable metadata in SDTMIG order
    name: str  # upper-case dataset name
    label: str
    lengths: dict[str, int]  # compute_variable_lengths: the XPT, Parquet and define.xml length


# _ONE_OFF: write_xpt and write_parquet take a frame, as a one-off write does (`sdtmflow convert`,
# the tests, the benchmarks), and check it with the conform stage's XPT rules first. A run never
# calls them: its conform stage derives every dataset once and write_package writes what it got.
# The import is inside them because conform/xpt_rules.py builds on this module's typing.


def write_xpt(
    frame: pd.DataFrame,
    meta_for_dataset: pd.DataFrame,
    dataset: str,
    dataset_label: str,
    path: Path,
    timestamp: datetime,
) -> dict[str, int]:
    """Write one SDTM dataset as SAS XPORT v5 at `path`; returns the variable lengths.

    `timestamp` is the header's created/modified date-time (aware datetimes are converted to
    UTC), so identical input gives identical bytes. Raises XptRuleError listing
    every violation (including a file name other than `<dataset>.xpt`) before writing.
    """
    from transforms.conform.xpt_rules import derive_xpt_dataset  # see _ONE_OFF below

    prepared = derive_xpt_dataset(frame, meta_for_dataset, dataset, dataset_label, path)
    write_xpt_dataset(prepared, path, timestamp)
    return prepared.lengths


def write_xpt_dataset(prepared: XptDataset, path: Path, timestamp: datetime) -> None:
    """Write a dataset the conform stage typed and checked (xpt_rules.derive_xpt_dataset) as XPT v5 at `path`."""
    variables = [
        XptVariable(v.variable, v.label, v.type, prepared.lengths[v.variable])
        for v in prepared.meta.itertuples()
    ]
    write_atomically(
        Path(path),
        lambda tmp: write_xpt_file(
            tmp, prepared.data, variables, prepared.name, prepared.label, timestamp
        ),
    )


def write_parquet(
    frame: pd.DataFrame,
    meta_for_dataset: pd.DataFrame,
    dataset: str,
    dataset_label: str,
    path: Path,
    run_id: str,
) -> dict[str, int]:
    """Write one SDTM dataset as Parquet with its metadata in the schema; returns the lengths.

    Field metadata: label, sdtm_type, length (the XPT length), origin. Schema metadata: dataset,
    dataset_label, run_id, sdtmig_version. Numbers stay float64 and "" is null, as in the XPT,
    so both files hold the same values. The XPT rules are enforced here too (XptRuleError): a
    Parquet file the XPT cannot match must not be published beside it. No pandas metadata is
    stored: it would tie the bytes to the pandas version and the frame's index, neither of
    which is part of the dataset.
    """
    from transforms.conform.xpt_rules import derive_xpt_dataset  # see _ONE_OFF below

    prepared = derive_xpt_dataset(frame, meta_for_dataset, dataset, dataset_label)
    write_parquet_dataset(prepared, path, run_id)
    return prepared.lengths


def write_parquet_dataset(prepared: XptDataset, path: Path, run_id: str) -> None:
    """Write a dataset the conform stage typed and checked (xpt_rules.derive_xpt_dataset) as Parquet at `path`."""
    schema = _parquet_schema(
        prepared.meta, prepared.lengths, prepared.name, prepared.label, run_id
    )
    arrays = [
        pa.array(prepared.data[field.name].to_numpy(), type=field.type, from_pandas=True)
        for field in schema
    ]
    table = pa.Table.from_arrays(arrays, schema=schema)
    write_atomically(Path(path), lambda tmp: pq.write_table(table, tmp))


def _parquet_schema(
    meta: pd.DataFrame, lengths: dict[str, int], dataset: str, dataset_label: str, run_id: str
) -> pa.Schema:
    fields = [
        pa.field(
            v.variable,
            pa.string() if v.type == CHAR else pa.float64(),
            metadata={
                "label": v.label,
                "sdtm_type": v.type,
                "length": str(lengths[v.variable]),
                "origin": v.origin,
            },
        )
        for v in meta.itertuples()
    ]
    versions = meta["sdtmig_version"].unique()
    return pa.schema(
        fields,
        metadata={
            "dataset": dataset,
            "dataset_label": dataset_label,
            "run_id": run_id,
            "sdtmig_version": str(versions[0]) if len(versions) else "",
        },
    )


# --- helpers --------------------------------------------------------------------------------


def order_variables(meta: pd.DataFrame) -> pd.DataFrame:
    return meta.sort_values("order", kind="stable").reset_index(drop=True)


def _dataset_of(meta: pd.DataFrame) -> str:
    datasets = meta["dataset"].unique() if "dataset" in meta.columns else []
    return str(datasets[0]) if len(datasets) == 1 else "dataset"
