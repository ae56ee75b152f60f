"""Checks of the Findings class datasets (--ORRES, --STRESC, --TESTCD ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.conform.hits import NOT_TREATED_ARMS, Package, concat_hits, findings_pairs, make_hits, select_datasets
from transforms.conform.predicates import TESTCD_PATTERN, compute_filled, compute_number


def check_derived_has_stresc(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, (f[drvfl] == "Y") & ~compute_filled(f[stresc]), stresc, f"{drvfl} = Y but {stresc} is null")
        for n, f, (drvfl, stresc) in findings_pairs(package, target, "DRVFL", "STRESC")
    )


def check_testcd_format(package: Package, target: str) -> pd.DataFrame:
    """--TESTCD (and TI's IETESTCD): at most 8 of A-Z, 0-9, _, not starting with a digit."""
    pairs = [(n, f, (f"{n}TESTCD",)) for n, f, _ in findings_pairs(package, target, "TESTCD")]
    if "TI" in select_datasets(package, target) and "IETESTCD" in package.datasets["TI"].columns:
        pairs.append(("TI", package.datasets["TI"], ("IETESTCD",)))
    return concat_hits(
        make_hits(f, n, compute_filled(f[testcd]) & ~f[testcd].astype("str").str.match(TESTCD_PATTERN), testcd,
              f"{testcd} is over 8 characters, starts with a digit or holds other than A-Z, 0-9, _")
        for n, f, (testcd,) in pairs
    )


def check_reasnd_has_stat(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, compute_filled(f[reasnd]) & (f[stat] != "NOT DONE"), stat, f"{reasnd} is given but {stat} is not NOT DONE")
        for n, f, (reasnd, stat) in findings_pairs(package, target, "REASND", "STAT")
    )


def check_not_done_has_reasnd(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, (f[stat] == "NOT DONE") & ~compute_filled(f[reasnd]), reasnd, f"{stat} is NOT DONE but {reasnd} is null")
        for n, f, (stat, reasnd) in findings_pairs(package, target, "STAT", "REASND")
    )


def check_not_done_has_no_result(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, (f[stat] == "NOT DONE") & (compute_filled(f[orres]) | compute_filled(f[stresc])), orres,
              f"{stat} is NOT DONE but a result is given")
        for n, f, (stat, orres, stresc) in findings_pairs(package, target, "STAT", "ORRES", "STRESC")
    )


def check_normal_range_order(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, f[high] < f[low], high, f"{high} is below {low}")
        for n, f, (low, high) in findings_pairs(package, target, "STNRLO", "STNRHI")
    )


def check_missing_orres_explained(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (orres, stat) in findings_pairs(package, target, "ORRES", "STAT"):
        derived = f[f"{n}DRVFL"] == "Y" if f"{n}DRVFL" in f.columns else False
        bad = ~compute_filled(f[orres]) & (f[stat] != "NOT DONE") & ~derived
        parts.append(make_hits(f, n, bad, orres, f"{orres} is null but {stat} is not NOT DONE and the record is not derived"))
    return concat_hits(parts)


def check_stresn_matches_stresc(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (stresc, stresn) in findings_pairs(package, target, "STRESC", "STRESN"):
        number = compute_number(f[stresc])
        bad = number.notna() & ~np.isclose(number.fillna(0), f[stresn].fillna(np.inf), rtol=1e-9, atol=0)
        parts.append(make_hits(f, n, bad, stresn, f"{stresc} is numeric but {stresn} is null or differs"))
    return concat_hits(parts)


def check_stresn_needs_numeric_stresc(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, f[stresn].notna() & compute_number(f[stresc]).isna(), stresn, f"{stresn} is given but {stresc} is not a number")
        for n, f, (stresc, stresn) in findings_pairs(package, target, "STRESC", "STRESN")
    )


def check_lobxfl_has_stresc(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, (f[lobxfl] == "Y") & ~compute_filled(f[stresc]), stresc, f"{lobxfl} = Y but {stresc} is null")
        for n, f, (lobxfl, stresc) in findings_pairs(package, target, "LOBXFL", "STRESC")
    )


def check_flag_values(package: Package, target: str) -> pd.DataFrame:
    """--LOBXFL, --DRVFL, DTHFL: Y or null."""
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for column in [c for c in frame.columns if c.endswith(("LOBXFL", "DRVFL", "BLFL")) or c == "DTHFL"]:
            parts.append(make_hits(frame, name, compute_filled(frame[column]) & (frame[column] != "Y"), column, f"{column} is neither Y nor null"))
    return concat_hits(parts)


def check_paired_codes(package: Package, target: str) -> pd.DataFrame:
    """CT2003: --TESTCD and --TEST (TSPARMCD and TSPARM) carry terms with the same NCI code."""
    codes = package.codelists[package.codelists["nci_code"] != ""]
    parts = []
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        for code_var, name_var in ((f"{name}TESTCD", f"{name}TEST"), ("TSPARMCD", "TSPARM")):
            if code_var not in frame.columns or name_var not in frame.columns:
                continue
            code_of_code = frame[code_var].map(codes.drop_duplicates("value").set_index("value")["nci_code"])
            code_of_name = frame[name_var].map(codes.drop_duplicates("value").set_index("value")["nci_code"])
            bad = code_of_code.notna() & code_of_name.notna() & (code_of_code != code_of_name)
            parts.append(make_hits(frame, name, bad, name_var, f"{code_var} and {name_var} are different CT terms"))
    return concat_hits(parts)


def check_baseline_present(package: Package, target: str) -> pd.DataFrame:
    """SD0006 read for SDTMIG 3.4 (LOBXFL replaces BLFL): every treated subject of DM has at least
    one --LOBXFL = Y record in the domain."""
    dm = package.frame("DM")
    if dm is None:
        return concat_hits([])
    treated = dm[compute_filled(dm["ACTARMCD"]) & ~dm["ACTARMCD"].isin(NOT_TREATED_ARMS)] if "ACTARMCD" in dm.columns else dm
    parts = []
    for name in select_datasets(package, target):
        frame, flag = package.datasets[name], f"{name}LOBXFL"
        if flag not in frame.columns:
            continue
        with_baseline = set(frame.loc[frame[flag] == "Y", "USUBJID"])
        parts.append(make_hits(dm, "DM", dm.index.isin(treated.index) & ~dm["USUBJID"].isin(with_baseline), "USUBJID",
                           f"treated subject has no {flag} = Y record in {name}"))
    return concat_hits(parts)


CHECKS = {
    "check_derived_has_stresc": check_derived_has_stresc,
    "check_testcd_format": check_testcd_format,
    "check_reasnd_has_stat": check_reasnd_has_stat,
    "check_not_done_has_reasnd": check_not_done_has_reasnd,
    "check_not_done_has_no_result": check_not_done_has_no_result,
    "check_normal_range_order": check_normal_range_order,
    "check_missing_orres_explained": check_missing_orres_explained,
    "check_stresn_matches_stresc": check_stresn_matches_stresc,
    "check_stresn_needs_numeric_stresc": check_stresn_needs_numeric_stresc,
    "check_lobxfl_has_stresc": check_lobxfl_has_stresc,
    "check_flag_values": check_flag_values,
    "check_paired_codes": check_paired_codes,
    "check_baseline_present": check_baseline_present,
}
