"""CDISC controlled terminology the study uses, as data (`mappings/ct/`).

`codelists.csv` holds one row per (codelist, submission value) the pipeline can write: the NCI
codelist code and extensibility, the term's NCI code (blank when not verified), a decode where
the codelist pairs codes with names, and `extended` = Yes for a sponsor-extended term (for example
`10^6 cells/kg` in UNIT). `ts_parameters.csv` says, per TSPARMCD, which codelist its TSVAL comes
from and in what reference terminology. `ct.toml` pins the CT package version and names the
external dictionaries (ISO 3166). define.xml and TS read the same tables, so they cannot disagree.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CODELIST_COLUMNS = ["codelist", "name", "nci_codelist", "extensible", "value", "nci_code", "decode", "extended"]
TS_PARAMETER_COLUMNS = ["TSPARMCD", "value_codelist", "TSVCDREF", "value_type"]


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
