"""The XPT v5 / FDA rules of a dataset as its files will hold it, checked before anything is written.

derive_xpt_dataset types a mapped domain by its variable metadata (transforms/outputs/write.py's
apply_variable_metadata), checks every rule a transport file imposes (names, labels, lengths, ASCII,
control characters, numbers within the IBM range, no blank record, the file name) and measures
the lengths, once: the conform stage does it for every domain and hands the writers the result,
so writing checks nothing and a retry of the write task only writes. Violations are collected,
not raised one at a time: XptRuleError lists them all.
"""

from __future__ import annotations

import numbers
import re
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.core.findings import LINEAGE
from transforms.outputs.write import (
    CHAR, NUM, XptDataset, apply_variable_metadata, compute_distinct, compute_distinct_chars, compute_is_text,
    compute_lengths_from_distinct, order_variables,
)
from transforms.outputs.xpt import IBM_LIMIT

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
    meta = order_variables(meta_for_dataset)
    return _check_rules(frame, meta, dataset, dataset_label, compute_distinct_chars(frame, meta))


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
    is_text = compute_is_text(distinct)
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
        codes, distinct = compute_distinct(column)
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


def _records_with(column: pd.Series, codes: np.ndarray, distinct_mask: pd.Series) -> pd.Series:
    """The records of `column` whose distinct value is flagged in `distinct_mask`."""
    flagged = np.flatnonzero(distinct_mask.to_numpy(dtype=bool))
    if len(flagged) == 0:
        return column.iloc[:0]
    return column[np.isin(codes, flagged)]


def _is_number(values: pd.Series) -> pd.Series:
    # The same kinds apply_variable_metadata casts to float64 (bool and Decimal included).
    return values.map(
        lambda v: isinstance(v, numbers.Number) and not isinstance(v, complex)
    ).astype(bool)


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
    meta = order_variables(meta_for_dataset)
    data = apply_variable_metadata(frame, meta)
    distinct_chars = compute_distinct_chars(data, meta)  # factorised once: the rules and the lengths
    violations = _check_rules(data, meta, dataset, dataset_label, distinct_chars)
    if xpt_path is not None:
        violations = pd.concat(
            [violations, _file_name_violations(dataset, Path(xpt_path))], ignore_index=True
        )
    if not violations.empty:
        raise XptRuleError(dataset, violations)
    return XptDataset(data, meta, dataset, dataset_label, compute_lengths_from_distinct(meta, distinct_chars))


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
