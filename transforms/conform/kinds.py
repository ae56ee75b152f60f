"""Rules as data: the predicate kinds of the rule table.

A rule of a known kind is a row of mappings/conformance_rules.csv: `predicate` names the kind,
`parameters` its variables (and a number or word), space-separated. `--X` is the dataset's own
variable (LBX in LB); a bare name is that variable (AGE); `DS.X` is variable X of dataset DS.
The datasets are the rule's `applies_to`, as for a function; a dataset lacking a variable is
not checked. The message of each kind is fixed, so two rules of one kind read alike.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from transforms.conform.hits import Package, concat_hits, make_hits, select_datasets
from transforms.conform.predicates import compute_is_word, compute_not_in, compute_not_one_to_one, compute_not_unique, compute_over_length, compute_requires


def _variable(dataset: str, parameter: str) -> str:
    return f"{dataset}{parameter[2:]}" if parameter.startswith("--") else parameter


def _predicate_frames(package: Package, target: str, parameters: list[str]):
    """(dataset, frame, [variables]) for each target dataset holding every variable."""
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        columns = [_variable(name, p) for p in parameters]
        if all(c in frame.columns for c in columns):
            yield name, frame, columns


def check_requires(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A B`: where A is given, B is given too."""
    return concat_hits(
        make_hits(f, n, compute_requires(f[a], f[b]), b, f"{a} is given but {b} is null")
        for n, f, (a, b) in _predicate_frames(package, target, parameters)
    )


def check_unique(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`KEY ...`: no two records share the combination of the keys (the last one is reported)."""
    def message(name: str, keys: list[str]) -> str:
        if len(keys) == 1:
            return f"{keys[0]} is not unique in {name}"
        return f"{keys[-1]} is not unique within {' '.join(keys[:-1])}"

    return concat_hits(
        make_hits(f, n, compute_not_unique(f, keys), keys[-1], message(n, keys))
        for n, f, keys in _predicate_frames(package, target, parameters)
    )


def check_one_to_one(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`KEY OTHER`: each KEY goes with one OTHER."""
    return concat_hits(
        make_hits(f, n, compute_not_one_to_one(f, key, other), other, f"one {key} has more than one {other}")
        for n, f, (key, other) in _predicate_frames(package, target, parameters)
    )


def check_not_word(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A WORD`: A is never WORD, in any case (--TESTCD is not OTHER)."""
    variable, word = parameters
    return concat_hits(
        make_hits(f, n, compute_is_word(f[a], word), a, f"{a} is '{word}'")
        for n, f, (a,) in _predicate_frames(package, target, [variable])
    )


def check_max_length(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A N`: A is at most N characters."""
    variable, limit = parameters
    return concat_hits(
        make_hits(f, n, compute_over_length(f[a], int(limit)), a, f"{a} is over {limit} characters")
        for n, f, (a,) in _predicate_frames(package, target, [variable])
    )


def check_subset(package: Package, target: str, parameters: list[str]) -> pd.DataFrame:
    """`A DS.B`: a given A is one of the values of B in dataset DS (none when DS is missing)."""
    variable, reference = parameters
    dataset, column = reference.split(".", 1)
    other = package.frame(dataset)
    allowed = set() if other is None or column not in other.columns else set(other[column].dropna())
    return concat_hits(
        make_hits(f, n, compute_not_in(f[a], allowed), a, f"{a} is not in {reference}")
        for n, f, (a,) in _predicate_frames(package, target, [variable])
    )


PREDICATES: dict[str, Callable[[Package, str, list[str]], pd.DataFrame]] = {
    "requires": check_requires,
    "unique": check_unique,
    "one_to_one": check_one_to_one,
    "not_word": check_not_word,
    "max_length": check_max_length,
    "subset": check_subset,
}
_ARITY = {"requires": 2, "one_to_one": 2, "not_word": 2, "max_length": 2, "subset": 2}


def check_predicate_parameters(predicate: str, parameters: str) -> list[str]:
    """What is wrong with a rule row's predicate and parameters, one sentence each."""
    if predicate not in PREDICATES:
        return [f"predicate {predicate!r} is not one of {', '.join(PREDICATES)}"]
    given = parameters.split()
    arity = _ARITY.get(predicate)
    if not given or (arity is not None and len(given) != arity):
        return [f"predicate {predicate} takes {arity or 'one or more'} parameter(s), not {parameters!r}"]
    if predicate == "max_length" and not given[1].isdigit():
        return [f"max_length's second parameter is a number of characters, not {given[1]!r}"]
    if predicate == "subset" and "." not in given[1]:
        return [f"subset's second parameter is DATASET.VARIABLE, not {given[1]!r}"]
    return []
