"""The mapping spec: how each SDTM variable is filled, as rows of the study's mapping.csv.

In the vocabulary of pharmaverse sdtm.oak, one row per (domain, variable, algorithm):

* `assign_no_ct`   the value of a standardised column of the source sheet, as it is;
* `assign_ct`      the coded value of a column whose codelist raw_columns.csv names (standardise
                   coded it through the study's terminology; a value it could not code is null);
* `assign_datetime` an ISO 8601 --DTC column made by standardise (a date, or a date and time);
* `hardcode_no_ct` / `hardcode_ct`  the row's `value` on every record;
* `assign_study`   a value of study.toml, named by its dotted key (`treatment.EXTRT`), so a fact
                   of the protocol keeps its one home there (TS reads it too);
* `derived`        filled by the named derivation in `value` (reference dates, actual arm,
                   visit numbering, study day ...): the domain's module registers its
                   derivations by name, so the spec names every variable's source and a study
                   chooses among them as data.

`value` beside an `assign_*` algorithm is the default where the source is blank. `condition`
(sdtm.oak's condition_add) limits a row to the records it holds for; the rows of one variable are
tried in order and the first that gives a value wins, so a fallback is a second row. A condition
is one comparison, never an expression: `COLUMN is null`, `COLUMN not null`, `COLUMN = VALUE`,
`COLUMN != VALUE`, `COLUMN in A|B|C`. It reads the variables the spec has filled before it, else
the source records' columns (LBORRESU `LBSTAT is null`: no result, no unit).

An assigned empty text is no value: SDTM has no empty string (XPT cannot tell it from missing), so
a unit the conversion table leaves blank (INR) is null and a fallback row may fill it.

`build_domain` is the one engine every domain is built by: STUDYID, DOMAIN, USUBJID, then the
spec's variables in the file's order (each row's algorithm, or a derivation once for all the
variables it gives), then the lineage. A domain whose spec has a `sequence` derivation (--SEQ)
comes out ordered by subject and --SEQ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from transforms.core.findings import LINEAGE

if TYPE_CHECKING:
    from transforms.spec.study import Study

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


@dataclass(frozen=True)
class Sources:
    """What a domain's derivations read besides the variables filled before them: the source
    records (one per SDTM record, same index), the study, and what earlier domains give (DM's
    reference dates, the unscheduled visits' numbering). `settings` is study.toml
    [domains.<domain>]."""

    records: pd.DataFrame
    study: "Study"
    domain: str
    dm: pd.DataFrame | None = None
    unscheduled: pd.DataFrame | None = None

    @property
    def settings(self) -> dict:
        return self.study.domain_settings(self.domain)


# derivation(the domain's variables filled so far, sources) -> {variable: values}
Derivation = Callable[[pd.DataFrame, Sources], dict[str, pd.Series]]


def build_domain(sources: Sources, derivations: dict[str, Derivation]) -> pd.DataFrame:
    """The domain `sources.domain` of `sources.records` as the study's mapping.csv fills it.

    `derivations` are the domain's named derivations; a spec naming another one is a
    configuration error naming the ones there are (check-study reports it first).
    """
    study, domain = sources.study, sources.domain
    # one label per record: a derivation may set values by label (--LOBXFL's last result)
    records = sources.records.reset_index(drop=True)
    sources = replace(sources, records=records)
    spec = study.mapping_of(domain)
    frame = pd.DataFrame(
        {"STUDYID": study.studyid, "DOMAIN": domain, "USUBJID": records["USUBJID"]}, index=records.index
    )
    # a frame we own, grown one variable at a time: each row's condition and each derivation
    # reads the variables filled before it
    done: set[str] = set()
    for variable, rows in spec.groupby("variable", sort=False):
        kinds = set(rows["algorithm"] == "derived")
        if kinds == {True}:
            name = _derivation_name(rows, domain, derivations)
            if name in done:
                continue
            done.add(name)
            given = derivations[name](frame, sources)
            for listed in spec.loc[(spec["algorithm"] == "derived") & (spec["value"] == name), "variable"].unique():
                if listed not in given:
                    raise ValueError(
                        f"mapping.csv: {domain} derivation {name!r} gives {', '.join(given)}, not {listed}"
                    )
                frame[listed] = given[listed]
        elif kinds == {False}:
            frame[variable] = compute_variable(records, rows, study.config, frame)
        else:
            raise ValueError(
                f"mapping.csv: {domain}.{variable} mixes `derived` with other algorithms: fill a "
                "variable either by rows of its own or by one derivation"
            )
    order = ["STUDYID", "DOMAIN", "USUBJID", *spec["variable"].unique()]
    out = frame[[c for c in dict.fromkeys(order) if c in frame.columns]].assign(
        **{column: records[column] for column in LINEAGE}
    )
    seq = spec.loc[(spec["algorithm"] == "derived") & (spec["value"] == "sequence"), "variable"]
    if len(seq):
        out = out.sort_values(["USUBJID", seq.iloc[0]], kind="stable")
    return out.reset_index(drop=True)


def _derivation_name(rows: pd.DataFrame, domain: str, derivations: dict[str, Derivation]) -> str:
    names = rows["value"].unique()
    if len(names) != 1 or names[0] not in derivations:
        raise ValueError(
            f"mapping.csv: {domain} derivation {', '.join(map(repr, names))} does not exist; use one of "
            + ", ".join(derivations)
        )
    return names[0]


def derive_mapped_variables(
    records: pd.DataFrame, spec: pd.DataFrame, study_config: dict
) -> pd.DataFrame:
    """One column per variable of `spec` (a domain's rows of mapping.csv, `derived` ones left out),
    in spec order, with `records`' index."""
    columns = {
        variable: compute_variable(records, rows, study_config)
        for variable, rows in spec[spec["algorithm"] != "derived"].groupby("variable", sort=False)
    }
    return pd.DataFrame(columns, index=records.index)


def compute_variable(
    records: pd.DataFrame, rows: pd.DataFrame, study_config: dict, filled: pd.DataFrame | None = None
) -> pd.Series:
    """One variable's values from its spec rows: tried in order, the first that gives a record a
    value wins (a fallback is a later row). A condition reads `filled` (the variables filled so
    far) before `records`."""
    values = None
    for row in rows.itertuples():
        value = compute_value(records, row, study_config)
        held = compute_condition(_condition_columns(records, filled, row.condition), row.condition)
        value = value if held.all() else value.where(held, None)
        values = value if values is None else values.where(values.notna(), value)
    return values


def _condition_columns(records: pd.DataFrame, filled: pd.DataFrame | None, condition: str) -> pd.DataFrame:
    """The column a condition reads, from the filled variables first (no copy of the records)."""
    if not str(condition or "").strip():
        return records
    column = read_condition(condition)[0]
    if filled is not None and column in filled.columns:
        return filled[[column]]
    return records


def compute_value(records: pd.DataFrame, row, study_config: dict) -> pd.Series:
    """The values one spec row gives every record (its condition not yet applied)."""
    if row.algorithm in ASSIGN:
        value = compute_blank_as_null(records[row.source])
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


def compute_blank_as_null(values: pd.Series) -> pd.Series:
    """Empty text as missing (numbers as they are)."""
    if pd.api.types.is_numeric_dtype(values):
        return values
    blank = values.eq("").fillna(False).to_numpy(dtype=bool)
    return values.mask(blank) if blank.any() else values
