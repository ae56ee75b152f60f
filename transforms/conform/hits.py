"""What every check sees and returns: the Package (the datasets as written, their metadata, the
files of the run), the hit table (HIT_COLUMNS) and the helpers that build hits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.conform.predicates import ISO8601_DURATION_PATTERN, NUMBER_PATTERN, compute_filled, compute_not_one_to_one


HIT_COLUMNS = ["dataset", "record", "subject", "variable", "value", "message"]


NULL_FLAVOR_WORDS = {"NA", "N/A", "UNK", "UNKNOWN", "NI", "NASK", "ASKU", "NAV", "OTH", "PINF", "NINF", "MSK", "NP", "NULL", "NONE GIVEN"}
VALUE_TYPE_PATTERNS = {
    "integer": r"^\d+$",
    "float": NUMBER_PATTERN,
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "durationDatetime": ISO8601_DURATION_PATTERN,
}
NOT_TREATED_ARMS = {"SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN"}


@dataclass(frozen=True)
class Package:
    """What the checks see: the datasets as written, their metadata and the files of the run."""

    datasets: dict[str, pd.DataFrame]
    variables: pd.DataFrame
    files: dict[str, int]  # path in the run folder -> size in bytes
    ts_parameters: pd.DataFrame
    codelists: pd.DataFrame
    dataset_labels: dict[str, str] = field(default_factory=dict)  # every SDTMIG dataset
    define_xml: bytes | None = None

    def frame(self, name: str) -> pd.DataFrame | None:
        return self.datasets.get(name)

    def meta(self, name: str) -> pd.DataFrame:
        return self.variables[self.variables["dataset"] == name]


def select_datasets(package: Package, target: str) -> list[str]:
    if target in ("", "all"):
        return sorted(package.datasets)
    return [name for name in target.split() if name in package.datasets]


def make_hits(frame: pd.DataFrame, dataset: str, mask, variable: str | None, message) -> pd.DataFrame:
    mask = pd.Series(mask, index=frame.index).fillna(False).astype(bool).to_numpy()
    records = np.flatnonzero(mask)
    if len(records) == 0:
        # most checks find nothing: the empty table at once, not six empty arrays made into one
        return empty_hits()
    # only the two columns a hit reports are taken at the hit rows: selecting the rows of the whole
    # frame took every column of a million-row dataset for each of some 250 checks
    def taken(column: str | None, dtype=None) -> np.ndarray:
        if column is None or column not in frame.columns:
            return np.full(len(records), None, dtype=object)
        return frame[column].iloc[records].to_numpy(dtype=dtype)
    message = message[mask] if isinstance(message, pd.Series) else message
    return pd.DataFrame(
        {
            "dataset": dataset,
            "record": records,
            "subject": taken("USUBJID"),
            "variable": variable,
            "value": taken(variable, object),
            "message": message.to_numpy() if isinstance(message, pd.Series) else message,
        }
    )


def make_dataset_hit(dataset: str | None, variable: str | None, value, message: str) -> pd.DataFrame:
    """A hit about a dataset or the package rather than a record."""
    return pd.DataFrame([{"dataset": dataset, "record": pd.NA, "subject": None, "variable": variable,
                          "value": value, "message": message}])


def empty_hits() -> pd.DataFrame:
    return pd.DataFrame(columns=HIT_COLUMNS)


def concat_hits(parts) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        return empty_hits()
    return pd.concat(parts, ignore_index=True)


def suffix_columns(frame: pd.DataFrame, dataset: str, suffix: str) -> list[str]:
    """Columns --SUFFIX of a dataset: the domain-prefixed name only (LBTESTCD for TESTCD)."""
    name = f"{dataset}{suffix}"
    return [name] if name in frame.columns else []


def as_text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), None)


def dm_column(package: Package, frame: pd.DataFrame, column: str) -> pd.Series:
    dm = package.frame("DM")
    if dm is None or "USUBJID" not in frame.columns or column not in dm.columns:
        return pd.Series(None, index=frame.index, dtype=object)
    lookup = dm.drop_duplicates("USUBJID").set_index("USUBJID")[column]
    return frame["USUBJID"].map(lookup)


def findings_pairs(package: Package, target: str, *suffixes: str):
    """(dataset, frame, [<dataset><suffix> ...]) for each dataset that has all the variables."""
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        columns = [f"{name}{s}" for s in suffixes]
        if all(c in frame.columns for c in columns):
            yield name, frame, columns


def one_to_one_hits(frame: pd.DataFrame, dataset: str, key: str, other: str) -> pd.DataFrame:
    return make_hits(frame, dataset, compute_not_one_to_one(frame, key, other), other, f"one {key} has more than one {other}")


def one_to_one_rule(datasets: tuple[str, ...], first: str, second: str, given: str | None = None):
    """A check that `first` and `second` are one to one both ways in each of `datasets` (the FDA
    rules state each direction, and one check reports both), over the records where `given` is
    filled (None: all)."""
    def check(package: Package, target: str) -> pd.DataFrame:
        frames = [(name, package.datasets[name]) for name in datasets if name in package.datasets]
        frames = [(name, frame[compute_filled(frame[given])] if given else frame) for name, frame in frames]
        return concat_hits(
            [one_to_one_hits(frame, name, first, second) for name, frame in frames]
            + [one_to_one_hits(frame, name, second, first) for name, frame in frames]
        )
    check.__doc__ = f"{first} and {second} one to one in {' '.join(datasets)}"
    return check


def value_hits(package: Package, target: str, columns_of: Callable[[pd.DataFrame], list[str]],
               is_bad: Callable[[pd.Series], pd.Series], message: str) -> pd.DataFrame:
    """Hits of every value `is_bad` judges wrong, in the `columns_of` each target dataset;
    `message` names the column as {column}."""
    return concat_hits(
        make_hits(frame, name, is_bad(frame[column]), column, message.format(column=column))
        for name in select_datasets(package, target)
        for frame in [package.datasets[name]]
        for column in columns_of(frame)
    )


def dm_rule(condition: Callable[[pd.DataFrame, Package], pd.Series], variable: str, message: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        dm = package.frame("DM")
        if dm is None:
            return concat_hits([])
        return make_hits(dm, "DM", condition(dm, package), variable, message)
    check.__doc__ = message
    return check


def ta_values(package: Package, column: str) -> set:
    ta = package.frame("TA")
    return set() if ta is None else set(ta[column].dropna())


def trial_design_rule(dataset: str, condition: Callable[[pd.DataFrame, Package], pd.Series], variable: str, message: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        frame = package.frame(dataset)
        if frame is None:
            return concat_hits([])
        return make_hits(frame, dataset, condition(frame, package), variable, message)
    check.__doc__ = message
    return check


def ts_parameter(target: str) -> str:
    return target.split(".", 1)[1] if target.startswith("TS.") else target
