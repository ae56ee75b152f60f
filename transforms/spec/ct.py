"""CDISC controlled terminology the study uses, as data (`mappings/ct/`).

`codelists.csv` holds one row per (codelist, submission value) the pipeline can write: the NCI
codelist code and extensibility, the term's NCI code (blank when not verified), a decode where
the codelist pairs codes with names, and `extended` = Yes for a sponsor-extended term (for example
`10^6 cells/kg` in UNIT). `ts_parameters.csv` says, per TSPARMCD, which codelist its TSVAL comes
from and in what reference terminology. `ct.toml` pins the CT package version and names the
external dictionaries (ISO 3166). define.xml and TS read the same tables, so they cannot disagree.

A study narrows or extends that shared CT in its own `mappings/<study>/codelists.csv` (same
columns, every one but `codelist` and `value` optional, plus `excluded`); `merge_study_ct` is the
one place the two meet, and `Study.ct` holds the result that every consumer (the SDTM suites,
define.xml, conformance, TS) reads:

* a study row for a shared term overrides its `nci_code` / `decode` where the study fills them;
* a study row with `excluded` = Yes removes a shared term from the study's codelist;
* a new term in a shared codelist is sponsor-extended (`extended` = Yes, define.xml
  def:ExtendedValue) unless the study gives its NCI code: then it is a CDISC term the shared
  subset does not carry yet. A non-extensible codelist takes no new term;
* a codelist the shared CT lacks is the study's own: a sponsor codelist (no `nci_codelist`) or a
  CDISC codelist not vendored yet (its `nci_codelist` given, `extended` as the study writes it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

CODELIST_COLUMNS = ["codelist", "name", "nci_codelist", "extensible", "value", "nci_code", "decode", "extended"]
TS_PARAMETER_COLUMNS = ["TSPARMCD", "value_codelist", "TSVCDREF", "value_type"]
STUDY_CODELIST_COLUMNS = CODELIST_COLUMNS + ["excluded"]
_KEY = ["codelist", "value"]
_CODELIST_ATTRIBUTES = ["name", "nci_codelist", "extensible"]


@dataclass(frozen=True)
class ControlledTerminology:
    """The loaded `mappings/ct/` folder."""

    version: str
    codelists: pd.DataFrame
    ts_parameters: pd.DataFrame
    external: dict

    def lookup(self, codelist: str, values: pd.Series, column: str) -> pd.Series:
        """`column` (nci_code, decode ...) of each value in `codelist`; missing where unknown."""
        table = self.codelists.loc[self.codelists["codelist"] == codelist, ["value", column]]
        mapped = values.map(table.drop_duplicates("value").set_index("value")[column])
        return mapped.where(mapped != "")


def read_ct(ct_dir: Path) -> ControlledTerminology:
    """Load `ct_dir`; a missing file or column is a configuration error naming the fix."""
    ct_dir = Path(ct_dir)
    config_path = ct_dir / "ct.toml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: it pins the SDTM CT version ([sdtm] version)")
    with config_path.open("rb") as handle:
        config = tomllib.load(handle)
    codelists = _read_table(ct_dir / "codelists.csv", CODELIST_COLUMNS)
    duplicated = codelists[codelists.duplicated(["codelist", "value"])]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        raise ValueError(
            f"{ct_dir / 'codelists.csv'}: {first['codelist']} lists {first['value']!r} twice; keep one row"
        )
    return ControlledTerminology(
        version=str(config["sdtm"]["version"]),
        codelists=codelists,
        ts_parameters=_read_table(ct_dir / "ts_parameters.csv", TS_PARAMETER_COLUMNS),
        external=config.get("external", {}),
    )


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (columns: {', '.join(columns)})")
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8").astype(object)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return table[columns]


def merge_study_ct(
    shared: ControlledTerminology, study_codelists: pd.DataFrame, source: str | Path = "codelists.csv"
) -> ControlledTerminology:
    """The study's effective CT: `shared` with the study's codelists.csv rows merged over it (see
    the module docstring). Raises ValueError listing every inconsistent study row, naming `source`."""
    study = _fill_columns(study_codelists, STUDY_CODELIST_COLUMNS, source)
    terms = shared.codelists
    attributes = terms.drop_duplicates("codelist").set_index("codelist")[_CODELIST_ATTRIBUTES]
    known = _has_key(study, terms)
    shared_list = study["codelist"].isin(attributes.index).to_numpy()
    excluded = (study["excluded"] == "Yes").to_numpy()
    # The codelist's own attributes come from CDISC where the shared CT has the codelist.
    inherited = attributes.reindex(study["codelist"]).set_axis(study.index).fillna("")
    study = study.assign(**{
        a: study[a].where(study[a] != "", inherited[a]) for a in _CODELIST_ATTRIBUTES
    })
    problems = check_study_codelists(study, inherited, known, shared_list, excluded)
    if problems:
        raise ValueError(f"{source}:\n" + "\n".join(f"  - {p}" for p in problems))

    overrides = study[known & ~excluded].set_index(_KEY)[["nci_code", "decode"]]
    merged = terms.set_index(_KEY)
    merged.update(overrides.replace("", None))  # a blank study cell keeps the CDISC value
    merged = merged[~merged.index.isin(study[excluded].set_index(_KEY).index)].reset_index()
    added = study[~known & ~excluded]
    added_to_shared = added["codelist"].isin(attributes.index)
    added = added.assign(extended=added["extended"].where(
        ~added_to_shared, (added["nci_code"] == "").map({True: "Yes", False: ""})
    ))
    codelists = pd.concat([merged[CODELIST_COLUMNS], added[CODELIST_COLUMNS]], ignore_index=True)
    return replace(shared, codelists=codelists.astype(object))


def check_study_codelists(
    study: pd.DataFrame, inherited: pd.DataFrame, known, shared_list, excluded
) -> list[str]:
    """Every study codelists.csv row that contradicts the shared CT or itself, one sentence each.
    `inherited`: the shared codelist attributes per row ("" where the codelist is the study's);
    `known`, `shared_list`, `excluded`: per row, whether the term / the codelist is shared and
    whether the row excludes it."""
    problems = [
        f"{r.codelist} lists {r.value!r} twice: keep one row"
        for r in study[study.duplicated(_KEY)].itertuples()
    ]
    for attribute in _CODELIST_ATTRIBUTES:
        clash = shared_list & (study[attribute] != inherited[attribute]).to_numpy()
        problems += [
            f"{r.codelist} {r.value!r}: {attribute} {getattr(r, attribute)!r} differs from the shared "
            f"CT's {i!r}; leave it blank (the shared CT's is used)"
            for r, i in zip(study[clash].itertuples(), inherited.loc[clash, attribute])
        ]
    problems += [
        f"{r.codelist} {r.value!r}: excluded, but the shared CT has no such term to exclude"
        for r in study[excluded & ~known].itertuples()
    ]
    new = ~known & ~excluded
    sponsor_extension = new & shared_list & (study["nci_code"] == "").to_numpy()
    problems += [
        f"{r.codelist} {r.value!r}: codelist {r.nci_codelist} is not extensible; map the site's "
        "value to one of its terms in terminology.csv instead"
        for r in study[sponsor_extension & (study["extensible"] == "No").to_numpy()].itertuples()
    ]
    marked = (study["extended"] == "Yes").to_numpy()
    problems += [
        f"{r.codelist} {r.value!r}: extended = Yes but it is a CDISC term (it is in the shared CT or "
        "has an NCI code); clear `extended`"
        for r in study[marked & (known | (study["nci_code"] != "").to_numpy())].itertuples()
    ]
    problems += [
        f"{r.codelist} {r.value!r}: extended = Yes in a codelist without nci_codelist; only a CDISC "
        "codelist is extended (a sponsor codelist's terms are all the sponsor's): clear `extended`"
        for r in study[marked & ~shared_list & (study["nci_codelist"] == "").to_numpy()].itertuples()
    ]
    problems += [
        f"{r.codelist} {r.value!r}: extended = Yes, but codelist {r.nci_codelist} is not marked "
        "extensible = Yes; a CDISC codelist takes sponsor terms only when it is extensible"
        for r in study[marked & ~shared_list & (study["nci_codelist"] != "").to_numpy()
                       & (study["extensible"] != "Yes").to_numpy()].itertuples()
    ]
    bad_flags = ~study["excluded"].isin(["", "Yes"]) | ~study["extended"].isin(["", "Yes"])
    problems += [
        f"{r.codelist} {r.value!r}: `extended` and `excluded` are Yes or blank"
        for r in study[bad_flags].itertuples()
    ]
    return problems


def check_terminology_in_ct(terminology: pd.DataFrame, ct: ControlledTerminology) -> list[str]:
    """Submission values of terminology.csv (codelist, raw, value) that the study's CT does not
    allow, for the codelists the CT has: each would be a 'not in codelist' error on every record."""
    mapped = terminology[terminology["codelist"].isin(ct.codelists["codelist"]) & (terminology["value"] != "")]
    missing = mapped[~_has_key(mapped, ct.codelists)].drop_duplicates(_KEY)
    return [
        f"{r.codelist} {r.value!r} (from {r.raw!r}) is not a term of the study's codelist {r.codelist}: "
        "add it to the study's codelists.csv (a sponsor extension) or map to a CDISC term"
        for r in missing.itertuples()
    ]


def _has_key(rows: pd.DataFrame, terms: pd.DataFrame):
    """Per row of `rows`, whether `terms` has its (codelist, value), as a NumPy mask."""
    keys = pd.MultiIndex.from_frame(terms[_KEY])
    return pd.MultiIndex.from_frame(rows[_KEY]).isin(keys)


def _fill_columns(table: pd.DataFrame, columns: list[str], source) -> pd.DataFrame:
    """`table` with its `columns` only; an absent optional column is blank. codelist and value are
    required."""
    missing = [c for c in _KEY if c not in table.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)} (columns: {', '.join(columns)})")
    filled = table.reindex(columns=columns).astype(object).fillna("").astype(str).astype(object)
    return filled.reset_index(drop=True)
