"""Checks of the package's structure: files, datasets, variables, define.xml.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from transforms.conform.hits import Package, concat_hits, make_dataset_hit, make_hits, select_datasets
from transforms.conform.predicates import compute_filled


def check_files_present(package: Package, target: str) -> pd.DataFrame:
    """FDA TRC 1736: dm.xpt and define.xml are part of the package."""
    present = {Path(f).name for f in package.files}
    return concat_hits(
        make_dataset_hit(None, None, name, f"{name} is missing from the package")
        for name in target.split() if name not in present
    )


def check_dataset_present(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, None, None, f"dataset {name} is missing") for name in target.split()
        if name not in package.datasets
    )


def check_study_start_date(package: Package, target: str) -> pd.DataFrame:
    """FDA TRC 1734: ts.xpt with a TSPARMCD SSTDTC record whose TSVAL is an ISO 8601 date."""
    ts = package.frame("TS")
    if ts is None or "ts.xpt" not in {Path(f).name for f in package.files}:
        return make_dataset_hit("TS", None, None, "ts.xpt is missing: it must hold the study start date (SSTDTC)")
    sstdtc = ts[ts["TSPARMCD"] == "SSTDTC"]
    if sstdtc.empty:
        return make_dataset_hit("TS", "TSPARMCD", "SSTDTC", "no SSTDTC record in TS")
    valid = sstdtc["TSVAL"].astype("str").str.match(r"^\d{4}-\d{2}-\d{2}$") & sstdtc["TSVAL"].notna()
    return make_hits(ts, "TS", ts.index.isin(sstdtc.index[~valid]), "TSVAL", "SSTDTC TSVAL is not a complete ISO 8601 date")


def _core_variables(package: Package, core: str, target: str):
    for name in select_datasets(package, target):
        meta = package.meta(name)
        yield name, package.datasets[name], meta[meta["core"] == core]["variable"]


def check_required_present(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, v, None, f"Req variable {v} is not in {name}")
        for name, frame, required in _core_variables(package, "Req", target) for v in required if v not in frame.columns
    )


def check_expected_present(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, v, None, f"Exp variable {v} is not in {name}")
        for name, frame, expected in _core_variables(package, "Exp", target) for v in expected if v not in frame.columns
    )


def check_required_not_null(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(frame, name, ~compute_filled(frame[v]), v, f"Req variable {v} is null")
        for name, frame, required in _core_variables(package, "Req", target) for v in required if v in frame.columns
    )


def check_permissible_not_all_null(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, v, None, f"Perm variable {v} is null in every record of {name}: drop it")
        for name, frame, perm in _core_variables(package, "Perm", target)
        for v in perm if v in frame.columns and len(frame) and not compute_filled(frame[v]).any()
    )


def check_variable_order(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        expected = [v for v in package.meta(name).sort_values("order")["variable"] if v in package.datasets[name].columns]
        actual = [c for c in package.datasets[name].columns if c in set(expected)]
        if actual != expected:
            parts.append(make_dataset_hit(name, None, None, f"variables are not in SDTMIG order ({', '.join(expected)})"))
    return concat_hits(parts)


def check_domain_value(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(frame, name, frame["DOMAIN"] != name, "DOMAIN", f"DOMAIN is not {name}")
        for name in select_datasets(package, target) if "DOMAIN" in (frame := package.datasets[name]).columns
    )


def check_domain_length(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(frame, name, frame["DOMAIN"].astype("str").str.len() != 2, "DOMAIN", "DOMAIN is not 2 characters")
        for name in select_datasets(package, target) if "DOMAIN" in (frame := package.datasets[name]).columns
    )


def check_studyid_consistent(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    if dm is None or dm.empty:
        return concat_hits([])
    studyid = dm["STUDYID"].iloc[0]
    return concat_hits(
        make_hits(frame, name, frame["STUDYID"] != studyid, "STUDYID", f"STUDYID differs from DM ({studyid})")
        for name in select_datasets(package, target) if "STUDYID" in (frame := package.datasets[name]).columns
    )


def check_dataset_not_empty(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, None, None, f"{name} has no records") for name in select_datasets(package, target)
        if package.datasets[name].empty
    )


def check_dataset_absent(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, None, None, f"dataset {name} must not be submitted") for name in target.split()
        if name in package.datasets
    )


def check_variable_absent(package: Package, target: str) -> pd.DataFrame:
    """The variables (or --suffixes) of `target` appear in no dataset."""
    parts = []
    for name, frame in package.datasets.items():
        for column in frame.columns:
            if column in target.split() or any(t.startswith("--") and column == name + t[2:] for t in target.split()):
                parts.append(make_dataset_hit(name, column, None, f"{column} must not be present"))
    return concat_hits(parts)


def check_variables_in_model(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        known = set(package.meta(name)["variable"])
        parts += [make_dataset_hit(name, c, None, f"{c} is not an SDTMIG variable of {name}")
                  for c in package.datasets[name].columns if c not in known]
    return concat_hits(parts)


def check_label_length(package: Package, target: str) -> pd.DataFrame:
    meta = package.variables[package.variables["dataset"].isin(select_datasets(package, target))]
    long = meta[meta["label"].str.len() > 40]
    return concat_hits(make_dataset_hit(r.dataset, r.variable, r.label, f"label of {r.variable} is over 40 characters") for r in long.itertuples())


def check_variable_name_format(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, c, None, f"variable name {c} is over 8 characters or not A-Z, 0-9, _")
        for name in select_datasets(package, target) for c in package.datasets[name].columns
        if not re.match(r"^[A-Z][A-Z0-9_]{0,7}$", c)
    )


def check_dataset_name_format(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, None, name, f"dataset name {name} is over 8 characters or not letters and digits")
        for name in package.datasets if not re.match(r"^[A-Z][A-Z0-9]{0,7}$", name)
    )


def check_dataset_name_prefix(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        if "DOMAIN" not in frame.columns:
            continue
        wrong = [d for d in frame["DOMAIN"].dropna().unique() if not name.startswith(str(d))]  # distinct values
        parts.append(make_hits(frame, name, frame["DOMAIN"].isin(wrong), "DOMAIN", f"dataset name {name} does not begin with DOMAIN"))
    return concat_hits(parts)


def check_domain_code_known(package: Package, target: str) -> pd.DataFrame:
    known = set(package.dataset_labels)
    return concat_hits(
        make_hits(frame, name, compute_filled(frame["DOMAIN"]) & ~frame["DOMAIN"].isin(known), "DOMAIN", "DOMAIN is not a CDISC domain code")
        for name in select_datasets(package, target) if "DOMAIN" in (frame := package.datasets[name]).columns
    )


def check_file_size(package: Package, target: str) -> pd.DataFrame:
    limit = int(target)
    return concat_hits(
        make_dataset_hit(Path(path).stem.upper(), None, size, f"{path} is {size} bytes, over {limit}")
        for path, size in sorted(package.files.items()) if path.endswith(".xpt") and size > limit
    )


def _define_tree(package: Package):
    if package.define_xml is None:
        return None
    from lxml import etree  # define.xml parsing only

    return etree.fromstring(package.define_xml)


_ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def _define_variables(root) -> dict[str, list[tuple[str, str]]]:
    """{dataset: [(variable, DataType)]} of define.xml, in ItemRef order."""
    items = {i.get("OID"): (i.get("Name"), i.get("DataType")) for i in root.iter(f"{_ODM}ItemDef")}
    return {
        group.get("Name"): [items[ref.get("ItemOID")] for ref in group.iter(f"{_ODM}ItemRef")]
        for group in root.iter(f"{_ODM}ItemGroupDef")
    }


def check_define_datasets(package: Package, target: str) -> pd.DataFrame:
    """SD0061 / SD1063: every dataset is in define.xml and every define.xml dataset is submitted."""
    root = _define_tree(package)
    if root is None:
        return make_dataset_hit(None, None, "define.xml", "define.xml is missing")
    defined = set(_define_variables(root))
    return concat_hits(
        [make_dataset_hit(n, None, None, f"{n} is not in define.xml") for n in sorted(set(package.datasets) - defined)]
        + [make_dataset_hit(n, None, None, f"define.xml describes {n} but it is not submitted") for n in sorted(defined - set(package.datasets))]
    )


def check_define_variables(package: Package, target: str) -> pd.DataFrame:
    """SD0054 / SD0060: define.xml and each dataset have the same variables."""
    root = _define_tree(package)
    if root is None:
        return concat_hits([])
    parts = []
    for name, items in _define_variables(root).items():
        if name not in package.datasets:
            continue
        defined, present = [v for v, _ in items], list(package.datasets[name].columns)
        parts += [make_dataset_hit(name, v, None, f"{v} is in define.xml but not in {name}") for v in defined if v not in present]
        parts += [make_dataset_hit(name, v, None, f"{v} is in {name} but not in define.xml") for v in present if v not in defined]
    return concat_hits(parts)


def check_define_types(package: Package, target: str) -> pd.DataFrame:
    """SD0059: Num variables are integer/float in define.xml, Char variables are not."""
    root = _define_tree(package)
    if root is None:
        return concat_hits([])
    parts = []
    for name, items in _define_variables(root).items():
        frame = package.datasets.get(name)
        if frame is None:
            continue
        for variable, data_type in items:
            if variable not in frame.columns:
                continue
            numeric = pd.api.types.is_numeric_dtype(frame[variable])
            if numeric != (data_type in ("integer", "float")):
                parts.append(make_dataset_hit(name, variable, data_type, f"{variable} is {'Num' if numeric else 'Char'} but define.xml says {data_type}"))
    return concat_hits(parts)


CHECKS = {
    "check_files_present": check_files_present,
    "check_dataset_present": check_dataset_present,
    "check_study_start_date": check_study_start_date,
    "check_required_present": check_required_present,
    "check_expected_present": check_expected_present,
    "check_required_not_null": check_required_not_null,
    "check_permissible_not_all_null": check_permissible_not_all_null,
    "check_variable_order": check_variable_order,
    "check_domain_value": check_domain_value,
    "check_domain_length": check_domain_length,
    "check_studyid_consistent": check_studyid_consistent,
    "check_dataset_not_empty": check_dataset_not_empty,
    "check_dataset_absent": check_dataset_absent,
    "check_variable_absent": check_variable_absent,
    "check_variables_in_model": check_variables_in_model,
    "check_label_length": check_label_length,
    "check_variable_name_format": check_variable_name_format,
    "check_dataset_name_format": check_dataset_name_format,
    "check_dataset_name_prefix": check_dataset_name_prefix,
    "check_domain_code_known": check_domain_code_known,
    "check_file_size": check_file_size,
    "check_define_datasets": check_define_datasets,
    "check_define_variables": check_define_variables,
    "check_define_types": check_define_types,
}
