"""Variable and dataset metadata: the SDTMIG export plus the study's variable spec.

SDTMIG (a CDISC Library export under `mappings/standards/sdtmig-<version>/`) owns every label,
type, order, core and codelist; the study spec (`mappings/<study>/variables.csv`) only says which
datasets the study writes, which Perm variables it uses, and where every value comes from
(Define-XML origin). Nothing SDTMIG defines is retyped here, so a newer IG is a folder copy.

One frame of VARIABLE_COLUMNS drives the XPT/Parquet writers and, later, define.xml, so the three
cannot disagree.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd

SDTMIG_VARIABLES_FILE = "Variables.csv"
SDTMIG_DATASETS_FILE = "Datasets.csv"
STUDY_SPEC_FILE = "variables.csv"

VARIABLE_COLUMNS = [
    "dataset",
    "variable",
    "label",
    "type",  # Char / Num
    "order",  # SDTMIG variable order within the dataset (1-based)
    "core",  # Req / Exp / Perm
    "role",
    "codelist",  # CDISC CT codelist C-code(s) from SDTMIG, "; "-separated, "" when none
    "study_codelist",  # the codelist the values come from: mappings/ct/codelists.csv, else ARMCD/VISIT/...
    "origin",  # Define-XML origin type
    "source",  # Define-XML origin source
    "comment",
    "sdtmig_version",
]
DATASET_COLUMNS = ["dataset", "label", "class", "structure"]
SPEC_COLUMNS = ["dataset", "variable", "origin", "source", "codelist", "comment"]

# Terms of the Define-XML CT codelists ORIGINT (C170449) and ORIGINS (C170450) that this
# pipeline produces; tests check they are still terms of the vendored Define-XML CT.
ORIGIN_TYPES = ("Collected", "Derived", "Assigned", "Protocol", "Predecessor", "Not Available")
ORIGIN_SOURCES = ("Investigator", "Sponsor", "Subject", "Vendor")

# SDTMIG describes every SUPP-- dataset once, as SUPPQUAL.
SUPPQUAL = "SUPPQUAL"

_IG_VARIABLE_RENAMES = {
    "Dataset Name": "dataset",
    "Variable Name": "variable",
    "Variable Label": "label",
    "Type": "type",
    "Variable Order": "order",
    "Core": "core",
    "Role": "role",
    "CDISC CT Codelist Code(s)": "codelist",
    "Version": "sdtmig_version",
}
_IG_DATASET_RENAMES = {
    "Dataset Name": "dataset",
    "Dataset Label": "label",
    "Class": "class",
    "Structure": "structure",
}


def read_variable_metadata(standards_dir: Path, study_dir: Path) -> pd.DataFrame:
    """One row per (dataset, variable) the study writes, in dataset then SDTMIG order.

    `standards_dir` is `mappings/standards` (the IG folder `sdtmig-<version>` is chosen by the
    study's `[study] sdtmig_version`) or an IG folder itself; `study_dir` holds `variables.csv`.
    A dataset's variables are all its Req and Exp ones plus the Perm ones the spec lists.
    Raises ValueError for any inconsistency in the spec.
    """
    study_dir = Path(study_dir)
    ig_dir = find_sdtmig_dir(standards_dir, read_study_sdtmig_version(study_dir))
    spec_path = study_dir / STUDY_SPEC_FILE
    return build_variable_metadata(
        read_sdtmig_variables(ig_dir), read_study_spec(spec_path), spec_file=spec_path
    )


def read_dataset_metadata(standards_dir: Path, sdtmig_version: str | None = None) -> pd.DataFrame:
    """SDTMIG dataset metadata: DATASET_COLUMNS, one row per dataset the IG defines.

    `standards_dir` as for read_variable_metadata; without `sdtmig_version` the only
    `sdtmig-*` folder is used.
    """
    path = find_sdtmig_dir(standards_dir, sdtmig_version) / SDTMIG_DATASETS_FILE
    # The CDISC Library export starts with a byte-order mark.
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    _require_columns(raw, list(_IG_DATASET_RENAMES), path)
    return _as_object(raw.rename(columns=_IG_DATASET_RENAMES)[DATASET_COLUMNS])


def find_sdtmig_dir(standards_dir: Path, sdtmig_version: str | None = None) -> Path:
    """The folder holding the SDTMIG export: `standards_dir` itself if it holds one, else
    `standards_dir/sdtmig-<version>` (or the only `sdtmig-*` folder when no version is given)."""
    standards_dir = Path(standards_dir)
    if (standards_dir / SDTMIG_VARIABLES_FILE).is_file():
        return standards_dir
    available = sorted(p.name for p in standards_dir.glob("sdtmig-*") if p.is_dir())
    have = f"have: {', '.join(available) or 'none'}"
    if sdtmig_version is not None:
        chosen = standards_dir / f"sdtmig-{sdtmig_version}"
        if chosen.is_dir():
            return chosen
        raise ValueError(
            f"{standards_dir}: no folder sdtmig-{sdtmig_version} ({have}); "
            "vendor that SDTMIG version or change [study] sdtmig_version in study.toml"
        )
    if len(available) == 1:
        return standards_dir / available[0]
    raise ValueError(
        f"{standards_dir}: cannot tell which SDTMIG to use ({have}); "
        "pass sdtmig_version or an sdtmig-<version> folder"
    )


def read_study_sdtmig_version(study_dir: Path) -> str | None:
    """`[study] sdtmig_version` from the study's study.toml, None when it is not given."""
    path = Path(study_dir) / "study.toml"
    if not path.is_file():
        return None
    with open(path, "rb") as handle:
        version = tomllib.load(handle).get("study", {}).get("sdtmig_version")
    return None if version is None else str(version)


def read_sdtmig_variables(standards_dir: Path) -> pd.DataFrame:
    """The SDTMIG variable export with our column names; `order` as int, version as "3.4"."""
    path = Path(standards_dir) / SDTMIG_VARIABLES_FILE
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    _require_columns(raw, list(_IG_VARIABLE_RENAMES), path)
    ig = raw.rename(columns=_IG_VARIABLE_RENAMES)[list(_IG_VARIABLE_RENAMES.values())]
    ig = _as_object(ig)
    ig["order"] = ig["order"].astype(int)
    # "SDTMIG v3.4" -> "3.4": the form define.xml and Parquet metadata carry.
    ig["sdtmig_version"] = ig["sdtmig_version"].str.replace(r"^SDTMIG v", "", regex=True)
    return ig


def read_study_spec(path: Path) -> pd.DataFrame:
    """The study's variable spec (SPEC_COLUMNS) as text, blanks as ""."""
    spec = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    _require_columns(spec, SPEC_COLUMNS, path)
    spec = _as_object(spec[SPEC_COLUMNS])
    for column in SPEC_COLUMNS:
        spec[column] = spec[column].str.strip()
    spec["dataset"] = spec["dataset"].str.upper()
    spec["variable"] = spec["variable"].str.upper()
    return spec


def build_variable_metadata(
    ig: pd.DataFrame, spec: pd.DataFrame, *, spec_file: Path | str = STUDY_SPEC_FILE
) -> pd.DataFrame:
    """Join the study spec onto SDTMIG: VARIABLE_COLUMNS for every dataset the spec lists.

    Every configuration problem is collected and raised as one ValueError naming `spec_file`,
    so a study author fixes the whole spec in one pass.
    """
    problems = check_study_spec(ig, spec)
    if problems:
        raise ValueError(
            f"{spec_file}: the study variable spec does not match SDTMIG "
            f"{_version(ig)}:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    per_dataset = [_dataset_rows(ig, spec, dataset) for dataset in spec["dataset"].unique()]
    meta = pd.concat(per_dataset, ignore_index=True)[VARIABLE_COLUMNS]
    text = {c: object for c in VARIABLE_COLUMNS if c != "order"}
    return meta.astype(text).reset_index(drop=True)


def check_study_spec(ig: pd.DataFrame, spec: pd.DataFrame) -> list[str]:
    """Every way `spec` disagrees with SDTMIG or Define-XML, one message (with its fix) each."""
    version = _version(ig)
    problems: list[str] = []
    known_datasets = set(ig["dataset"])
    duplicated = spec[spec.duplicated(["dataset", "variable"], keep="first")]
    problems += [
        f"{r.dataset}.{r.variable} is listed more than once: keep one row"
        for r in duplicated.itertuples()
    ]
    for dataset in spec["dataset"].unique():
        standard = standard_dataset_name(dataset)
        if standard not in known_datasets:
            problems.append(
                f"dataset {dataset!r} is not defined by SDTMIG {version}: correct the dataset "
                "name or remove its rows"
            )
            continue
        problems += _dataset_problems(ig[ig["dataset"] == standard], spec, dataset, version)
    problems += _origin_problems(spec)
    return problems


def standard_dataset_name(dataset: str) -> str:
    """The SDTMIG dataset that describes `dataset` (SUPPDM -> SUPPQUAL, else itself)."""
    if dataset.startswith("SUPP") and dataset != SUPPQUAL:
        return SUPPQUAL
    return dataset


def _dataset_problems(
    ig_rows: pd.DataFrame, spec: pd.DataFrame, dataset: str, version: str
) -> list[str]:
    listed = spec.loc[spec["dataset"] == dataset, "variable"]
    defined = set(ig_rows["variable"])
    unknown = [v for v in listed if v not in defined]
    required = ig_rows.loc[ig_rows["core"].isin(["Req", "Exp"]), "variable"]
    unlisted = [v for v in required if v not in set(listed)]
    problems = [
        f"{dataset}.{v} is not an SDTMIG {version} variable of {dataset}: correct the name, or "
        f"remove the row and carry the value in SUPP{dataset[:4]} (non-standard variable)"
        for v in unknown
    ]
    problems += [
        f"{dataset}.{v} ({core}) has no row: add one with its origin (an Exp variable the study "
        "does not collect still ships, with a comment saying so)"
        for v, core in ig_rows.set_index("variable").loc[unlisted, "core"].items()
    ]
    return problems


def _origin_problems(spec: pd.DataFrame) -> list[str]:
    bad_type = spec[~spec["origin"].isin(ORIGIN_TYPES)]
    needs_source = spec["origin"] != "Not Available"
    bad_source = spec[needs_source & ~spec["source"].isin(ORIGIN_SOURCES)]
    return [
        f"{r.dataset}.{r.variable}: origin {r.origin!r} is not a Define-XML origin type; use one "
        f"of {', '.join(ORIGIN_TYPES)}"
        for r in bad_type.itertuples()
    ] + [
        f"{r.dataset}.{r.variable}: source {r.source!r} is not a Define-XML origin source; use "
        f"one of {', '.join(ORIGIN_SOURCES)}"
        for r in bad_source.itertuples()
    ]


def _dataset_rows(ig: pd.DataFrame, spec: pd.DataFrame, dataset: str) -> pd.DataFrame:
    ig_rows = ig[ig["dataset"] == standard_dataset_name(dataset)]
    study = spec[spec["dataset"] == dataset].drop(columns="dataset")
    study = study.rename(columns={"codelist": "study_codelist"})
    # Inner join: the checks above guarantee every Req/Exp variable has a spec row, so the rows
    # kept are exactly Req + Exp + the listed Perm ones.
    rows = ig_rows.drop(columns="dataset").merge(study, on="variable", how="inner")
    rows.insert(0, "dataset", dataset)
    return rows.sort_values("order", kind="stable")


def _require_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; the file needs {', '.join(columns)}"
        )


def _as_object(frame: pd.DataFrame) -> pd.DataFrame:
    # Metadata is small and read by writers that expect plain Python strings.
    return frame.astype(object)


def _version(ig: pd.DataFrame) -> str:
    versions = ig["sdtmig_version"].unique()
    return str(versions[0]) if len(versions) == 1 else "/".join(map(str, versions))
