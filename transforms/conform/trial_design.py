"""Checks of the trial design datasets (TA, TE, TI, TS, TV).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.conform.hits import NULL_FLAVOR_WORDS, Package, VALUE_TYPE_PATTERNS, concat_hits, make_dataset_hit, make_hits, one_to_one_rule, select_datasets, ta_values, trial_design_rule, ts_parameter
from transforms.conform.predicates import compute_filled


def check_epoch_in_ta(package: Package, target: str) -> pd.DataFrame:
    epochs = ta_values(package, "EPOCH")
    return concat_hits(
        make_hits(frame, name, compute_filled(frame["EPOCH"]) & ~frame["EPOCH"].isin(epochs), "EPOCH", "EPOCH is not in TA.EPOCH")
        for name in select_datasets(package, target) if name != "TA" and "EPOCH" in (frame := package.datasets[name]).columns
    )


def _te_values(package: Package, column: str) -> set:
    te = package.frame("TE")
    return set() if te is None else set(te[column].dropna())


check_taetord_unique = trial_design_rule("TA", lambda ta, p: ta.duplicated(["ARMCD", "TAETORD"], keep=False), "TAETORD", "TAETORD is not unique within ARMCD")
check_taetord_integer = trial_design_rule("TA", lambda ta, p: ta["TAETORD"].notna() & (ta["TAETORD"] != np.round(ta["TAETORD"])), "TAETORD", "TAETORD is not an integer")
check_etcd_in_te = trial_design_rule("TA", lambda ta, p: ~ta["ETCD"].isin(_te_values(p, "ETCD")), "ETCD", "TA.ETCD is not in TE")
check_element_unique = trial_design_rule("TE", lambda te, p: te.duplicated("ELEMENT", keep=False), "ELEMENT", "ELEMENT is not unique in TE")
check_te_end_rule = trial_design_rule("TE", lambda te, p: ~compute_filled(te["TEENRL"]) & ~compute_filled(te["TEDUR"]), "TEENRL", "neither TEENRL nor TEDUR is given")
check_te_rules_unique = trial_design_rule("TE", lambda te, p: te.duplicated(["TESTRL", "TEENRL", "TEDUR"], keep=False), "TESTRL", "TESTRL/TEENRL/TEDUR repeat another element's")
check_tsseq_unique = trial_design_rule("TS", lambda ts, p: ts.duplicated(["TSPARMCD", "TSSEQ"], keep=False), "TSSEQ", "TSSEQ is not unique within TSPARMCD")
check_tsval_or_null_flavor = trial_design_rule("TS", lambda ts, p: compute_filled(ts["TSVAL"]) == compute_filled(ts["TSVALNF"]), "TSVALNF", "exactly one of TSVAL and TSVALNF must be given")
check_tsvcdver_has_tsvcdref = trial_design_rule("TS", lambda ts, p: compute_filled(ts["TSVCDVER"]) & ~compute_filled(ts["TSVCDREF"]), "TSVCDREF", "TSVCDVER is given but TSVCDREF is null")
check_tsval_not_null_flavor = trial_design_rule("TS", lambda ts, p: ts["TSVAL"].astype("str").str.upper().isin(NULL_FLAVOR_WORDS) & ts["TSVAL"].notna(), "TSVAL", "TSVAL holds a null flavour: use TSVALNF")


check_etcd_element_one_to_one = one_to_one_rule(("TA", "TE"), "ETCD", "ELEMENT")
check_tsparm_one_to_one = one_to_one_rule(("TS",), "TSPARMCD", "TSPARM")
check_tsval_tsvalcd_one_to_one = one_to_one_rule(("TS",), "TSVAL", "TSVALCD", given="TSVALCD")


def check_ts_parameter_present(package: Package, target: str) -> pd.DataFrame:
    """A TS record for the parameter (CURTRT only when ADDON = Y, TDIGRP only when HLTSUBJI = N)."""
    ts, parameter = package.frame("TS"), ts_parameter(target)
    if ts is None:
        return make_dataset_hit("TS", "TSPARMCD", parameter, "TS is missing")
    condition = {"CURTRT": ("ADDON", "Y"), "TDIGRP": ("HLTSUBJI", "N")}.get(parameter)
    if condition is not None and not ((ts["TSPARMCD"] == condition[0]) & (ts["TSVAL"] == condition[1])).any():
        return concat_hits([])
    if (ts["TSPARMCD"] == parameter).any():
        return concat_hits([])
    return make_dataset_hit("TS", "TSPARMCD", parameter, f"no {parameter} record in TS")


def check_ts_parameter_single(package: Package, target: str) -> pd.DataFrame:
    ts, parameter = package.frame("TS"), ts_parameter(target)
    if ts is None:
        return concat_hits([])
    rows = ts["TSPARMCD"] == parameter
    return make_hits(ts, "TS", rows & (rows.sum() > 1), "TSPARMCD", f"more than one {parameter} record")


def check_ts_value_format(package: Package, target: str) -> pd.DataFrame:
    """The TSVAL of the parameter has the type mappings/ct/ts_parameters.csv gives it."""
    ts, parameter = package.frame("TS"), ts_parameter(target)
    if ts is None:
        return concat_hits([])
    types = package.ts_parameters.set_index("TSPARMCD")["value_type"]
    pattern = VALUE_TYPE_PATTERNS.get(types.get(parameter, "text"))
    if pattern is None:
        return concat_hits([])
    rows = (ts["TSPARMCD"] == parameter) & compute_filled(ts["TSVAL"])
    return make_hits(ts, "TS", rows & ~ts["TSVAL"].astype("str").str.match(pattern), "TSVAL",
                 f"{parameter} TSVAL is not {types.get(parameter)}")


def check_ts_yes_no(package: Package, target: str) -> pd.DataFrame:
    ts, parameter = package.frame("TS"), ts_parameter(target)
    if ts is None:
        return concat_hits([])
    rows = (ts["TSPARMCD"] == parameter) & compute_filled(ts["TSVAL"])
    return make_hits(ts, "TS", rows & ~ts["TSVAL"].isin(["Y", "N"]), "TSVAL", f"{parameter} TSVAL is not Y or N")


CHECKS = {
    "check_epoch_in_ta": check_epoch_in_ta,
    "check_taetord_unique": check_taetord_unique,
    "check_taetord_integer": check_taetord_integer,
    "check_etcd_in_te": check_etcd_in_te,
    "check_element_unique": check_element_unique,
    "check_te_end_rule": check_te_end_rule,
    "check_te_rules_unique": check_te_rules_unique,
    "check_tsseq_unique": check_tsseq_unique,
    "check_tsval_or_null_flavor": check_tsval_or_null_flavor,
    "check_tsvcdver_has_tsvcdref": check_tsvcdver_has_tsvcdref,
    "check_tsval_not_null_flavor": check_tsval_not_null_flavor,
    "check_etcd_element_one_to_one": check_etcd_element_one_to_one,
    "check_tsparm_one_to_one": check_tsparm_one_to_one,
    "check_tsval_tsvalcd_one_to_one": check_tsval_tsvalcd_one_to_one,
    "check_ts_parameter_present": check_ts_parameter_present,
    "check_ts_parameter_single": check_ts_parameter_single,
    "check_ts_value_format": check_ts_value_format,
    "check_ts_yes_no": check_ts_yes_no,
}
