"""The mapping spec: how each SDTM variable is filled, as rows of the study's mapping.csv.

In the vocabulary of pharmaverse sdtm.oak, one row per (domain, variable, algorithm):

* `assign_no_ct`   the value of a standardised column of the source sheet, as it is;
* `assign_ct`      the coded value of a column whose codelist raw_columns.csv names (standardise
                   coded it through the study's terminology; a value it could not code is null);
* `assign_datetime` an ISO 8601 --DTC column made by standardise (a date, or a date and time);
* `hardcode_no_ct` / `hardcode_ct`  the row's `value` on every record;
* `assign_study`   a value of study.toml, named by its dotted key (`treatment.EXTRT`), so a fact
                   of the protocol keeps its one home there (TS reads it too);
* `derived`        filled by the named derivation in `value` (reference dates, actual arm ...):
                   listed so the spec names every variable's source.

`value` beside an `assign_*` algorithm is the default where the source is blank. `condition`
(sdtm.oak's condition_add) limits a row to the records it holds for; the rows of one variable are
tried in order and the first that gives a value wins, so a fallback is a second row. A condition
is one comparison, never an expression: `COLUMN is null`, `COLUMN not null`, `COLUMN = VALUE`,
`COLUMN != VALUE`, `COLUMN in A|B|C`.
"""

from __future__ import annotations

import re
import numpy as np
import pandas as pd

ASSIGN = ("assign_no_ct", "assign_ct", "assign_datetime")
HARDCODE = ("hardcode_no_ct", "hardcode_ct")
ALGORITHMS = (*ASSIGN, *HARDCODE, "assign_study", "derived")
SPEC_COLUMNS = ["domain", "variable", "algorithm", "source", "value", "condition", "comment"]

_CONDITION = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s+"
    r"(?P<op>is null|not null|=|!=|in)(?:\s+(?P<value>.*?))?\s*$"
)


def read_condition(condition: str) -> tuple[str, str, list[str]]:
    """(column, operator, values) of one condition; ValueError with the accepted forms."""
    match = _CONDITION.match(condition or "")
    if match is None or (match["op"] in ("=", "!=", "in") and not match["value"]):
        raise ValueError(
            f"condition {condition!r} is not one of: COLUMN is null, COLUMN not null, "
            "COLUMN = VALUE, COLUMN != VALUE, COLUMN in A|B|C"
        )
    values = [] if match["value"] is None else [v.strip() for v in match["value"].split("|")]
    return match["column"], match["op"], values


def compute_condition(frame: pd.DataFrame, condition: str) -> np.ndarray:
    """Where `condition` holds on `frame` (all rows for a blank condition)."""
    if not str(condition or "").strip():
        return np.ones(len(frame), dtype=bool)
    column, op, values = read_condition(condition)
    if column not in frame.columns:
        raise ValueError(f"condition {condition!r} names {column!r}, which the records do not have")
    data = frame[column]
    if op == "is null":
        return data.isna().to_numpy()
    if op == "not null":
        return data.notna().to_numpy()
    held = data.astype("str").isin(values).fillna(False).to_numpy(dtype=bool)
    return ~held & data.notna().to_numpy() if op == "!=" else held


def derive_mapped_variables(
    records: pd.DataFrame, spec: pd.DataFrame, study_config: dict
) -> pd.DataFrame:
    """One column per variable of `spec` (a domain's rows of mapping.csv, `derived` ones left out),
    in spec order, with `records`' index."""
    columns = {}
    for variable, rows in spec[spec["algorithm"] != "derived"].groupby("variable", sort=False):
        values = None
        for row in rows.itertuples():
            value = compute_value(records, row, study_config)
            held = compute_condition(records, row.condition)
            value = value if held.all() else value.where(held)
            # the first row that gives a record a value wins (a fallback is a later row)
            values = value if values is None else values.where(values.notna(), value)
        columns[variable] = values
    return pd.DataFrame(columns, index=records.index)


def compute_value(records: pd.DataFrame, row, study_config: dict) -> pd.Series:
    """The values one spec row gives every record (its condition not yet applied)."""
    if row.algorithm in ASSIGN:
        value = records[row.source]
        return value.fillna(row.value) if row.value else value
    if row.algorithm in HARDCODE:
        return pd.Series(row.value, index=records.index, dtype="object")
    if row.algorithm == "assign_study":
        return pd.Series(read_study_value(study_config, row.value), index=records.index, dtype="object")
    raise ValueError(f"algorithm {row.algorithm!r} is not one of {', '.join(ALGORITHMS)}")


def read_study_value(config: dict, key: str):
    """study.toml's value at a dotted key (`treatment.EXTRT`); KeyError naming the key."""
    value = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"study.toml has no {key!r} (mapping.csv assign_study)")
        value = value[part]
    return value
