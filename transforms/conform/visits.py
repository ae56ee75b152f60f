"""Checks of visits: VISIT / VISITNUM, TV and SV.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from transforms.conform.hits import Package, concat_hits, make_dataset_hit, make_hits, select_datasets
from transforms.conform.predicates import compute_filled


def _visit_frames(package: Package, target: str):
    for name in select_datasets(package, target):
        frame = package.datasets[name]
        if {"VISITNUM", "VISIT"} <= set(frame.columns):
            yield name, frame


def _one_to_one_across(frames, key: str, other: str, message: str) -> pd.DataFrame:
    """Records whose `key` has more than one `other` anywhere in `frames` [(name, frame)]."""
    pairs = pd.concat([f[[key, other]] for _, f in frames] or [pd.DataFrame(columns=[key, other])]).dropna().drop_duplicates()
    many = set(pairs.loc[pairs.duplicated(key, keep=False), key])
    return concat_hits(make_hits(f, n, f[key].isin(many), other, message) for n, f in frames)


def check_visit_within_visitnum(package: Package, target: str) -> pd.DataFrame:
    """One VISIT per VISITNUM across every dataset (TV, SV and the Findings)."""
    return _one_to_one_across(list(_visit_frames(package, target)), "VISITNUM", "VISIT", "one VISITNUM has more than one VISIT")


def check_visitnum_within_visit(package: Package, target: str) -> pd.DataFrame:
    return _one_to_one_across(list(_visit_frames(package, target)), "VISIT", "VISITNUM", "one VISIT has more than one VISITNUM")


def _tv(package: Package) -> pd.DataFrame:
    tv = package.frame("TV")
    return tv if tv is not None else pd.DataFrame(columns=["VISITNUM", "VISIT", "VISITDY"])


def check_planned_visits_match_tv(package: Package, target: str) -> pd.DataFrame:
    """SD1023 / SD1018: a planned visit (its VISITNUM in TV) has TV's VISIT and VISITDY."""
    tv = _tv(package).drop_duplicates("VISITNUM").set_index("VISITNUM")
    parts = []
    for name, frame in _visit_frames(package, target):
        if name == "TV":
            continue
        planned = frame["VISITNUM"].isin(tv.index)
        visit = frame["VISITNUM"].map(tv["VISIT"])
        bad = planned & (frame["VISIT"] != visit)
        if "VISITDY" in frame.columns:
            visitdy = frame["VISITNUM"].map(tv["VISITDY"])
            bad |= planned & ~((frame["VISITDY"] == visitdy) | (frame["VISITDY"].isna() & visitdy.isna()))
        parts.append(make_hits(frame, name, bad, "VISIT", "VISITNUM/VISIT/VISITDY of a planned visit differ from TV"))
    return concat_hits(parts)


def check_visitdy_only_planned(package: Package, target: str) -> pd.DataFrame:
    tv = _tv(package)
    return concat_hits(
        make_hits(f, n, f["VISITDY"].notna() & ~f["VISITNUM"].isin(tv["VISITNUM"]), "VISITDY", "VISITDY is given for a visit not in TV")
        for n, f in _visit_frames(package, target) if n != "TV" and "VISITDY" in f.columns
    )


def check_unplanned_visitdy_null(package: Package, target: str) -> pd.DataFrame:
    sv = package.frame("SV")
    if sv is None:
        return concat_hits([])
    return make_hits(sv, "SV", compute_filled(sv["SVUPDES"]) & sv["VISITDY"].notna(), "VISITDY", "VISITDY is given for an unplanned visit (SVUPDES)")


def check_sv_visitnum_unique(package: Package, target: str) -> pd.DataFrame:
    sv = package.frame("SV")
    if sv is None:
        return concat_hits([])
    return make_hits(sv, "SV", sv.duplicated(["USUBJID", "VISITNUM"], keep=False), "VISITNUM", "VISITNUM occurs twice for the subject")


def check_visits_in_sv(package: Package, target: str) -> pd.DataFrame:
    sv = package.frame("SV")
    if sv is None:
        return make_dataset_hit("SV", None, None, "SV is missing")
    known = sv[["USUBJID", "VISITNUM", "VISIT"]].drop_duplicates().assign(_in_sv=True)
    parts = []
    for name, frame in _visit_frames(package, target):
        if name in ("SV", "TV") or "USUBJID" not in frame.columns:
            continue
        merged = frame[["USUBJID", "VISITNUM", "VISIT"]].merge(known, how="left", on=["USUBJID", "VISITNUM", "VISIT"])
        bad = frame["VISITNUM"].notna().to_numpy() & merged["_in_sv"].isna().to_numpy()
        parts.append(make_hits(frame, name, bad, "VISITNUM", "USUBJID/VISITNUM/VISIT is not in SV"))
    return concat_hits(parts)


def _sv_rule(condition: Callable[[pd.DataFrame, pd.DataFrame], pd.Series], variable: str, message: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        sv = package.frame("SV")
        if sv is None:
            return concat_hits([])
        return make_hits(sv, "SV", condition(sv, _tv(package)), variable, message)
    check.__doc__ = message
    return check


check_svpresp_values = _sv_rule(lambda sv, tv: compute_filled(sv["SVPRESP"]) & (sv["SVPRESP"] != "Y"), "SVPRESP", "SVPRESP is neither Y nor null")
check_svoccur_needs_presp = _sv_rule(lambda sv, tv: compute_filled(sv["SVOCCUR"]) & (sv["SVPRESP"] != "Y"), "SVOCCUR", "SVOCCUR is given but SVPRESP is not Y")
check_presp_visit_in_tv = _sv_rule(lambda sv, tv: (sv["SVPRESP"] == "Y") & ~sv["VISITNUM"].isin(tv["VISITNUM"]), "VISITNUM", "SVPRESP = Y but VISITNUM is not in TV")
check_unplanned_visit_not_in_tv = _sv_rule(lambda sv, tv: ~compute_filled(sv["SVPRESP"]) & sv["VISITNUM"].isin(tv["VISITNUM"]), "SVPRESP", "VISITNUM is a TV visit but SVPRESP is null")
check_svpresp_visitdy = _sv_rule(lambda sv, tv: ~compute_filled(sv["SVPRESP"]) & sv["VISITDY"].notna(), "VISITDY", "SVPRESP is null but VISITDY is given")


CHECKS = {
    "check_visit_within_visitnum": check_visit_within_visitnum,
    "check_visitnum_within_visit": check_visitnum_within_visit,
    "check_planned_visits_match_tv": check_planned_visits_match_tv,
    "check_visitdy_only_planned": check_visitdy_only_planned,
    "check_unplanned_visitdy_null": check_unplanned_visitdy_null,
    "check_sv_visitnum_unique": check_sv_visitnum_unique,
    "check_visits_in_sv": check_visits_in_sv,
    "check_svpresp_values": check_svpresp_values,
    "check_svoccur_needs_presp": check_svoccur_needs_presp,
    "check_presp_visit_in_tv": check_presp_visit_in_tv,
    "check_unplanned_visit_not_in_tv": check_unplanned_visit_not_in_tv,
    "check_svpresp_visitdy": check_svpresp_visitdy,
}
