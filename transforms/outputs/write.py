"""The metadata-driven writer chain: order -> type -> length -> labels -> write.

Like R's xportr, every step is driven by the variable metadata (transforms.core.metadata) and nothing
is guessed from the data: the metadata says which columns exist, in what order, of what type and
with what label. XPT rule violations are all collected before anything is written, then reported
in one XptRuleError. Files are written beside their target and renamed onto it, so a crash never
leaves a half-written dataset. The XPT bytes themselves come from transforms.outputs.xpt, with the
caller's timestamp in the header, so identical input gives identical bytes.
"""

from __future__ import annotations

import numbers
import re
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
    IBM_LIMIT,
    IBM_MIN,
    XptVariable,
    read_xpt_lengths,  # noqa: F401 -- part of this module's interface (define, tests)
    write_xpt_file,
)

CHAR, NUM = "Char", "Num"
XPT_NUM_LENGTH = 8  # full IBM double: shorter numerics lose precision
XPT_MAX_VALUE_BYTES = 200
XPT_MAX_NAME = 8
XPT_MAX_LABEL = 40

VIOLATION_COLUMNS = ["dataset", "variable", "rule", "value", "message"]

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_DATASET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_NON_ASCII = r"[^\x00-\x7f]"
# Control characters, line breaks included: XPT stores them, and readers then disagree (haven and
# pyreadstat read a line break differently). transforms/standardise/text.py cleans them before mapping.
_CONTROL = r"[\x00-\x1f\x7f]"
_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"))
_QUOTES = ("'", '"')
# Numeric kinds pandas.api.types.infer_dtype reports for columns we may cast to float64.
_NUMERIC_KINDS = {"integer", "floating", "mixed-integer-float", "boolean", "decimal", "empty"}

class XptRuleError(ValueError):
    """A dataset breaks XPT v5 / FDA rules; `violations` holds every one (VIOLATION_COLUMNS)."""

    def __init__(self, dataset: str, violations: pd.DataFrame):
        self.dataset = dataset
        self.violations = violations
        lines = [
            f"  - [{v.rule}] {v.variable or dataset}: {v.message}" for v in violations.itertuples()
        ]
        super().__init__(
            f"{dataset}: {len(violations)} XPT v5 rule violation(s), nothing written:\n"
            + "\n".join(lines)
        )


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
    meta = _in_order(meta_for_dataset)
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
    return _lengths(_in_order(meta), _distinct_chars(frame, meta))


def _lengths(meta: pd.DataFrame, distinct_chars: dict[str, tuple[np.ndarray, pd.Series]]) -> dict[str, int]:
    lengths = {}
    for v in meta.itertuples():
        if v.type == NUM:
            lengths[v.variable] = XPT_NUM_LENGTH
            continue
        longest = 0
        if v.variable in distinct_chars:
            _, distinct = distinct_chars[v.variable]
            text = distinct[_is_text(distinct)]
            longest = 0 if text.empty else int(text.str.encode("utf-8").str.len().max())
        lengths[v.variable] = max(1, longest)
    return lengths


# --- checks ---------------------------------------------------------------------------------


def check_xpt_rules(
    frame: pd.DataFrame,
    meta_for_dataset: pd.DataFrame,
    dataset: str,
    *,
    dataset_label: str | None = None,
) -> pd.DataFrame:
    """Every XPT v5 / FDA rule violation of a typed frame, one row each (VIOLATION_COLUMNS).

    Value rules report each distinct offending value once, with how many records hold it and
    the index label of the first. An empty frame means the dataset can be written.
    """
    meta = _in_order(meta_for_dataset)
    return _check_rules(frame, meta, dataset, dataset_label, _distinct_chars(frame, meta))


def _check_rules(
    frame: pd.DataFrame,
    meta: pd.DataFrame,
    dataset: str,
    dataset_label: str | None,
    distinct_chars: dict[str, tuple[np.ndarray, pd.Series]],
) -> pd.DataFrame:
    names = pd.Series(
        list(dict.fromkeys([*meta["variable"], *[c for c in frame.columns if c not in LINEAGE]])),
        dtype=object,
    )
    parts = [
        _dataset_name_violations(dataset),
        _label_violations(dataset, pd.Series([dataset_label], dtype=object), [""], "dataset_label")
        if dataset_label is not None
        else None,
        _name_violations(dataset, names),
        _label_violations(dataset, meta["label"], list(meta["variable"]), "variable_label"),
    ]
    for v in meta.itertuples():
        if v.variable not in frame.columns:
            continue
        column = frame[v.variable]
        if v.type == CHAR:
            parts.append(_char_violations(dataset, v.variable, column, distinct_chars[v.variable]))
        else:
            parts.append(_num_violations(dataset, v.variable, column))
    parts.append(_blank_record_violations(dataset, frame, meta))
    found = [p for p in parts if p is not None and not p.empty]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in VIOLATION_COLUMNS})
    return pd.concat(found, ignore_index=True)[VIOLATION_COLUMNS]


def _violations(dataset: str, variable, rule: str, value, message) -> pd.DataFrame:
    out = pd.DataFrame({"variable": variable, "value": value, "message": message})
    out.insert(0, "dataset", dataset)
    out.insert(2, "rule", rule)
    return out.astype(object)


def _dataset_name_violations(dataset: str) -> pd.DataFrame | None:
    if len(dataset) <= XPT_MAX_NAME and _DATASET_NAME.match(dataset):
        return None
    return _violations(
        dataset,
        [""],
        "dataset_name",
        [dataset],
        [
            f"dataset name {dataset!r} must be 1-{XPT_MAX_NAME} letters or digits starting with "
            "a letter"
        ],
    )


def _name_violations(dataset: str, names: pd.Series) -> pd.DataFrame:
    too_long = names.str.len() > XPT_MAX_NAME
    bad_chars = ~names.str.match(_NAME.pattern)
    bad = names[too_long | bad_chars]
    messages = (
        "variable name "
        + bad.map(repr)
        + f" must be 1-{XPT_MAX_NAME} characters: upper-case letters, digits or _, starting "
        "with a letter"
    )
    names = bad.to_numpy()
    return _violations(dataset, names, "variable_name", names, messages.to_numpy())


def _label_violations(
    dataset: str, labels: pd.Series, variables: list[str], rule: str
) -> pd.DataFrame:
    labels = labels.fillna("").astype(object).reset_index(drop=True)
    variables = pd.Series(variables, dtype=object)
    problems = pd.Series("", index=labels.index, dtype=object)
    problems = problems.mask(labels.str.len() == 0, problems + "; missing")
    problems = problems.mask(
        labels.str.len() > XPT_MAX_LABEL,
        problems + "; " + labels.str.len().astype(str) + f" characters, over {XPT_MAX_LABEL}",
    )
    problems = problems.mask(labels.str.contains(_NON_ASCII, regex=True), problems + "; not ASCII")
    problems = problems.mask(_unbalanced(labels), problems + "; unbalanced quotes or brackets")
    bad = problems != ""
    kind = "dataset label" if rule == "dataset_label" else "label"
    messages = kind + " " + labels[bad].map(repr) + ": " + problems[bad].str.removeprefix("; ")
    return _violations(
        dataset, variables[bad].to_numpy(), rule, labels[bad].to_numpy(), messages.to_numpy()
    )


def _unbalanced(labels: pd.Series) -> pd.Series:
    unbalanced = pd.Series(False, index=labels.index)
    for opening, closing in _PAIRS:
        unbalanced |= labels.str.count(re.escape(opening)) != labels.str.count(re.escape(closing))
    for quote in _QUOTES:
        unbalanced |= labels.str.count(quote) % 2 == 1
    return unbalanced


def _char_violations(
    dataset: str, variable: str, column: pd.Series, distinct_of_column: tuple[np.ndarray, pd.Series]
) -> pd.DataFrame | None:
    codes, distinct = distinct_of_column
    is_text = _is_text(distinct)
    text = distinct.where(is_text, "")
    too_long = text.str.encode("utf-8").str.len() > XPT_MAX_VALUE_BYTES
    non_ascii = text.str.contains(_NON_ASCII, regex=True)
    control = text.str.contains(_CONTROL, regex=True)
    not_text = _records_with(column, codes, ~is_text)
    long_text = _records_with(column, codes, too_long)
    foreign = _records_with(column, codes, non_ascii)
    controlled = _records_with(column, codes, control)
    parts = [
        _value_violations(
            dataset,
            variable,
            "char_type",
            not_text,
            "a Char variable holds a non-text value: map it to text upstream",
        ),
        _value_violations(
            dataset,
            variable,
            "value_length",
            long_text,
            long_text.str.encode("utf-8").str.len().astype(str)
            + f" bytes, over the XPT v5 limit of {XPT_MAX_VALUE_BYTES}: split the text",
        ),
        _value_violations(
            dataset,
            variable,
            "value_ascii",
            foreign,
            "non-ASCII character(s) "
            + foreign.str.findall(_NON_ASCII).str.join("").map(repr)
            + ": XPT v5 is ASCII; standardise or transliterate the value upstream",
        ),
        _value_violations(
            dataset,
            variable,
            "value_control",
            controlled,
            "control character(s) or line break(s): XPT readers disagree on them; clean the "
            "text upstream (transforms.standardise.text)",
        ),
    ]
    found = [p for p in parts if p is not None]
    return pd.concat(found, ignore_index=True) if found else None


def _num_violations(dataset: str, variable: str, column: pd.Series) -> pd.DataFrame | None:
    if not pd.api.types.is_float_dtype(column):
        codes, distinct = _distinct(column)
        not_number = _records_with(column, codes, ~_is_number(distinct))
        return _value_violations(
            dataset,
            variable,
            "num_type",
            not_number,
            "a Num variable holds a non-numeric value: convert or move it upstream "
            "(e.g. a result with an operator belongs in --STRESC)",
        )
    # Infinities and magnitudes of 16**63 or more; tiny ones are not listed: they underflow to 0.
    out_of_range = column.abs() >= IBM_LIMIT
    return _value_violations(
        dataset,
        variable,
        "num_range",
        column[out_of_range],
        f"outside the range XPT (IBM) numbers can hold (magnitude below {IBM_LIMIT:.4e})",
    )


def _blank_record_violations(
    dataset: str, frame: pd.DataFrame, meta: pd.DataFrame
) -> pd.DataFrame | None:
    # XPT pads its last record with blanks, so readers (pyreadstat, haven) drop trailing records
    # that are all blank: such a record would silently vanish. Numeric missing is not blank.
    variables = [v for v in meta["variable"] if v in frame.columns]
    if frame.empty or not variables or (meta["type"] == NUM).any():
        return None
    blank = frame[variables].isna().all(axis=1)
    if not blank.any():
        return None
    rows = frame.index[blank]
    return _violations(
        dataset,
        [""],
        "blank_record",
        [str(rows[0])],
        [
            f"{int(blank.sum())} record(s) with every variable blank (first at row {rows[0]}): "
            "XPT readers drop them; remove them upstream"
        ],
    )


def _value_violations(
    dataset: str, variable: str, rule: str, offending: pd.Series, message
) -> pd.DataFrame | None:
    """One row per distinct offending value: `message` + how often and where it first occurs."""
    if offending.empty:
        return None
    as_text = offending.astype(str)
    first = ~as_text.duplicated()
    counts = as_text.map(as_text.value_counts())
    if isinstance(message, pd.Series):
        message = message[first]
    where = (
        " ("
        + counts[first].astype(str)
        + " record(s), first at row "
        + pd.Series(offending.index[first.to_numpy()], index=as_text[first].index).astype(str)
        + ")"
    )
    shown = as_text[first].map(_shorten)
    messages = f"{variable} " + shown + ": " + message + where
    return _violations(dataset, variable, rule, as_text[first].to_numpy(), messages.to_numpy())


def _shorten(value: str, limit: int = 60) -> str:
    # The full value is in the `value` column; a message only has to identify it.
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} chars)"


def _distinct(column: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Record codes (-1 for null) and the distinct non-null values.

    Value rules run once per distinct value: SDTM columns repeat few values over many records,
    so this keeps the checks fast on millions of rows.
    """
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype=object)


def _distinct_chars(
    frame: pd.DataFrame, meta: pd.DataFrame
) -> dict[str, tuple[np.ndarray, pd.Series]]:
    """_distinct of every Char variable the frame holds: the rules and the lengths share them."""
    return {
        v.variable: _distinct(frame[v.variable])
        for v in meta.itertuples()
        if v.type == CHAR and v.variable in frame.columns
    }


def _records_with(column: pd.Series, codes: np.ndarray, distinct_mask: pd.Series) -> pd.Series:
    """The records of `column` whose distinct value is flagged in `distinct_mask`."""
    flagged = np.flatnonzero(distinct_mask.to_numpy(dtype=bool))
    if len(flagged) == 0:
        return column.iloc[:0]
    return column[np.isin(codes, flagged)]


def _is_text(values: pd.Series) -> pd.Series:
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pd.Series(True, index=values.index)
    # Only reached when a column is already wrong; a per-value test is acceptable there.
    return values.map(lambda v: isinstance(v, str)).astype(bool)


def _is_number(values: pd.Series) -> pd.Series:
    # The same kinds apply_variable_metadata casts to float64 (bool and Decimal included).
    return values.map(
        lambda v: isinstance(v, numbers.Number) and not isinstance(v, complex)
    ).astype(bool)


# --- write ----------------------------------------------------------------------------------


class XptDataset(NamedTuple):
    """One dataset ready for every writer: typed once, checked once, measured once."""

    data: pd.DataFrame  # apply_variable_metadata's frame: the values every file holds
    meta: pd.DataFrame  # the variable metadata in SDTMIG order
    name: str  # upper-case dataset name
    label: str
    lengths: dict[str, int]  # compute_variable_lengths: the XPT, Parquet and define.xml length


def derive_xpt_dataset(
    frame: pd.DataFrame,
    meta_for_dataset: pd.DataFrame,
    dataset: str,
    dataset_label: str,
    xpt_path: Path | None = None,
) -> XptDataset:
    """Type, check and measure one dataset once for all its writers.

    Raises XptRuleError listing every violation (with `xpt_path`, also a file name other than
    `<dataset>.xpt`). A package writes each dataset as XPT, Parquet and Dataset-JSON: typing,
    checking and measuring a million-record frame once per file cost more than the writing.
    """
    dataset = dataset.upper()
    meta = _in_order(meta_for_dataset)
    data = apply_variable_metadata(frame, meta)
    distinct_chars = _distinct_chars(data, meta)  # factorised once: the rules and the lengths
    violations = _check_rules(data, meta, dataset, dataset_label, distinct_chars)
    if xpt_path is not None:
        violations = pd.concat(
            [violations, _file_name_violations(dataset, Path(xpt_path))], ignore_index=True
        )
    if not violations.empty:
        raise XptRuleError(dataset, violations)
    return XptDataset(data, meta, dataset, dataset_label, _lengths(meta, distinct_chars))


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
    prepared = derive_xpt_dataset(frame, meta_for_dataset, dataset, dataset_label, path)
    write_xpt_dataset(prepared, path, timestamp)
    return prepared.lengths


def write_xpt_dataset(prepared: XptDataset, path: Path, timestamp: datetime) -> None:
    """Write a dataset derive_xpt_dataset has typed and checked as XPT v5 at `path`."""
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
    prepared = derive_xpt_dataset(frame, meta_for_dataset, dataset, dataset_label)
    write_parquet_dataset(prepared, path, run_id)
    return prepared.lengths


def write_parquet_dataset(prepared: XptDataset, path: Path, run_id: str) -> None:
    """Write a dataset derive_xpt_dataset has typed and checked as Parquet at `path`."""
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


def _file_name_violations(dataset: str, path: Path) -> pd.DataFrame | None:
    # FDA rejects a dataset whose file name is not the lower-case member name (e.g. dm.xpt).
    expected = f"{dataset.lower()}.xpt"
    if path.name == expected:
        return None
    return _violations(
        dataset,
        [""],
        "file_name",
        [path.name],
        [f"file name {path.name!r} must be {expected!r}"],
    )


# --- helpers --------------------------------------------------------------------------------


def _in_order(meta: pd.DataFrame) -> pd.DataFrame:
    return meta.sort_values("order", kind="stable").reset_index(drop=True)


def _dataset_of(meta: pd.DataFrame) -> str:
    datasets = meta["dataset"].unique() if "dataset" in meta.columns else []
    return str(datasets[0]) if len(datasets) == 1 else "dataset"
