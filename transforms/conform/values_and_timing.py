"""More checks of values and timing (time points, results, ranges, trial summary).
"""

from __future__ import annotations

import pandas as pd

from transforms.core.dates import compute_complete_date
from transforms.conform.hits import Package, concat_hits, dm_column, dm_rule, findings_pairs, make_dataset_hit, make_hits, select_datasets, trial_design_rule, ts_parameter
from transforms.conform.predicates import compute_filled, compute_number


def check_screen_failure_arms(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    if dm is None:
        return concat_hits([])
    return make_hits(dm, "DM", dm["ACTARMCD"].isin(["SCRNFAIL", "NOTASSGN"]) & (dm["ACTARMCD"] != dm["ARMCD"]), "ACTARMCD",
                 "ACTARMCD is SCRNFAIL/NOTASSGN but differs from ARMCD")


def _timepoint_check(kind: str):
    columns = {"end": ("ENDTC", "ENRF", "ENRTPT", "DUR"), "start": ("STDTC", "STRF", "STRTPT")}[kind]

    def check(package: Package, target: str) -> pd.DataFrame:
        parts = []
        for name in select_datasets(package, target):
            frame = package.datasets[name]
            present = [f"{name}{c}" for c in columns if f"{name}{c}" in frame.columns]
            given = pd.Series(False, index=frame.index)
            for column in present:
                given |= compute_filled(frame[column])
            if f"{name}OCCUR" in frame.columns:
                given |= frame[f"{name}OCCUR"] == "N"
            if kind == "end" and f"{name}STAT" in frame.columns:
                given |= compute_filled(frame[f"{name}STAT"])
            parts.append(make_hits(frame, name, ~given, present[0] if present else None,
                               f"no {kind} time point ({', '.join('--' + c for c in columns)}) for an event or intervention that occurred"))
        return concat_hits(parts)
    check.__doc__ = f"SD002{'1' if kind == 'end' else '2'}: an {kind} time point is expected for an occurred event or intervention."
    return check


check_end_timepoint_present = _timepoint_check("end")
check_start_timepoint_present = _timepoint_check("start")


def check_stresc_when_done(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, ~compute_filled(f[stat]) & ~compute_filled(f[stresc]), stresc, f"{stresc} is null but {stat} is not NOT DONE")
        for n, f, (stat, stresc) in findings_pairs(package, target, "STAT", "STRESC")
    )


def check_lobxfl_has_orres(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (lobxfl, orres) in findings_pairs(package, target, "LOBXFL", "ORRES"):
        derived = f[f"{n}DRVFL"] == "Y" if f"{n}DRVFL" in f.columns else False
        parts.append(make_hits(f, n, (f[lobxfl] == "Y") & ~derived & ~compute_filled(f[orres]), orres, f"{lobxfl} = Y on a collected record but {orres} is null"))
    return concat_hits(parts)


def check_entpt_has_enrtpt(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, compute_filled(f[entpt]) & ~compute_filled(f[enrtpt]), enrtpt, f"{entpt} is given but {enrtpt} is null")
        for n, f, (entpt, enrtpt) in findings_pairs(package, target, "ENTPT", "ENRTPT")
    )


def check_entpt_enrtpt_pair_present(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        columns = set(package.datasets[name].columns)
        for have, need in (("ENRTPT", "ENTPT"), ("ENTPT", "ENRTPT")):
            if f"{name}{have}" in columns and f"{name}{need}" not in columns:
                parts.append(make_dataset_hit(name, f"{name}{need}", None, f"{name}{have} is in {name} but {name}{need} is not"))
    return concat_hits(parts)


def check_enrtpt_values(package: Package, target: str) -> pd.DataFrame:
    allowed = {"BEFORE", "COINCIDENT", "ONGOING", "UNKNOWN"}
    return concat_hits(
        make_hits(f, n, compute_filled(f[enrtpt]) & ~f[enrtpt].isin(allowed), enrtpt, f"{enrtpt} is not BEFORE, COINCIDENT, ONGOING or UNKNOWN")
        for n, f, (enrtpt,) in findings_pairs(package, target, "ENRTPT")
    )


def check_findings_no_stdtc(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(name, f"{name}STDTC", None, f"{name}STDTC is in a Findings dataset")
        for name in select_datasets(package, target) if f"{name}STDTC" in package.datasets[name].columns
    )


def check_cat_not_redundant(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame, cat = package.datasets[name], f"{name}CAT"
        if cat not in frame.columns:
            continue
        label = package.dataset_labels.get(name, "")
        redundant = frame[cat].astype("str").str.upper().isin({name, label.upper()})
        for other in (f"{name}TERM", f"{name}TEST", f"{name}TRT", f"{name}DECOD"):
            if other in frame.columns:
                redundant |= frame[cat] == frame[other]
        parts.append(make_hits(frame, name, compute_filled(frame[cat]) & redundant, cat, f"{cat} repeats the domain, its label or the topic"))
    return concat_hits(parts)


# CORE-000289/290/298/299's own test for "a continuous measurement" (the rule's regex, verbatim):
# `<5` and `>1000` are not one.
_CONTINUOUS_RESULT = r"^-?(\d+(\.\d+)?$)|(\.\d+$)"


def check_range_needs_continuous_result(package: Package, target: str) -> pd.DataFrame:
    """target `<dataset>.<range suffix>` (LB.ORNRHI): the range variable is empty wherever --ORRES
    is populated but not a continuous measurement."""
    dataset, suffix = target.split(".", 1)
    frame = package.frame(dataset)
    orres, limit = f"{dataset}ORRES", f"{dataset}{suffix}"
    if frame is None or not {orres, limit} <= set(frame.columns):
        return concat_hits([])
    not_continuous = compute_filled(frame[orres]) & ~frame[orres].astype("str").str.match(_CONTINUOUS_RESULT)
    message = orres + " " + frame[orres].astype("str") + f" is not a continuous result but {limit} is given"
    return make_hits(frame, dataset, not_continuous & compute_filled(frame[limit]), limit, message)


def check_original_range_order(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, compute_number(f[high]) < compute_number(f[low]), high, f"{high} is below {low}")
        for n, f, (low, high) in findings_pairs(package, target, "ORNRLO", "ORNRHI")
    )


def check_seq_chronological(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        frame, seq, start = package.datasets[name], f"{name}SEQ", f"{name}STDTC"
        if not {seq, start, "USUBJID"} <= set(frame.columns):
            continue
        ordered = frame.sort_values(["USUBJID", seq], kind="stable")
        dates = ordered[start].astype("str").where(ordered[start].notna())
        previous = dates.groupby(ordered["USUBJID"]).shift(1)
        earlier = (dates < previous).reindex(frame.index).fillna(False)
        parts.append(make_hits(frame, name, earlier, seq, f"{seq} is not in {start} order within USUBJID"))
    return concat_hits(parts)


def check_timing_variable_present(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        meta = package.meta(name)
        timing = set(meta.loc[meta["role"] == "Timing", "variable"])
        if not timing & set(package.datasets[name].columns):
            parts.append(make_dataset_hit(name, None, None, f"{name} has no timing variable"))
    return concat_hits(parts)


def check_standard_units_consistent(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (testcd, stresu) in findings_pairs(package, target, "TESTCD", "STRESU"):
        keys = [testcd] + [c for c in (f"{n}CAT", f"{n}SCAT", f"{n}SPEC", f"{n}METHOD") if c in f.columns]
        units = f[keys + [stresu]].dropna(subset=[stresu]).astype(str).drop_duplicates()
        mixed = units[units.duplicated(keys, keep=False)][keys].drop_duplicates()
        bad = f[keys].astype(str).merge(mixed.assign(_mixed=True), how="left", on=keys)["_mixed"].fillna(False).to_numpy()
        parts.append(make_hits(f, n, bad & f[stresu].notna().to_numpy(), stresu, f"{stresu} differs within one test ({', '.join(keys)})"))
    return concat_hits(parts)


def check_dtc_present_for_dy(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for name in select_datasets(package, target):
        columns = set(package.datasets[name].columns)
        for column in sorted(columns):
            if column.startswith(name) and column.endswith("DY") and column[:-2] + "DTC" not in columns:
                parts.append(make_dataset_hit(name, column[:-2] + "DTC", None, f"{column} is in {name} but {column[:-2]}DTC is not"))
    return concat_hits(parts)


def check_dtc_or_dy(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, ~compute_filled(f[dtc]) & f[dy].isna(), dtc, f"neither {dtc} nor {dy} is given")
        for n, f, (dtc, dy) in findings_pairs(package, target, "DTC", "DY")
    )


def check_after_participation_end(package: Package, target: str) -> pd.DataFrame:
    """SD1202-SD1204: --STDTC / --DTC / --ENDTC (target) not after DM.RFPENDTC (dates)."""
    parts = []
    for name in package.datasets:
        frame, column = package.datasets[name], f"{name}{target}"
        if column not in frame.columns or name == "DM":
            continue
        date, end = compute_complete_date(frame[column]), compute_complete_date(dm_column(package, frame, "RFPENDTC"))
        parts.append(make_hits(frame, name, date.notna() & end.notna() & (date > end), column, f"{column} is after DM.RFPENDTC"))
    return concat_hits(parts)


def check_exposure_end_within_treatment(package: Package, target: str) -> pd.DataFrame:
    ex = package.frame("EX")
    if ex is None:
        return concat_hits([])
    end, last = compute_complete_date(ex["EXENDTC"]), compute_complete_date(dm_column(package, ex, "RFXENDTC"))
    return make_hits(ex, "EX", end.notna() & last.notna() & (end > last), "EXENDTC", "EXENDTC is after DM.RFXENDTC")


check_age_given = dm_rule(lambda dm, p: dm["AGE"].isna() & ~dm["ARMCD"].isin(["SCRNFAIL"]), "AGE", "AGE is null")


def check_age_variable_present(package: Package, target: str) -> pd.DataFrame:
    dm = package.frame("DM")
    if dm is None or "AGE" in dm.columns or "AGETXT" in dm.columns:
        return concat_hits([])
    return make_dataset_hit("DM", "AGE", None, "neither AGE nor AGETXT is in DM")


check_tdigrp_healthy = trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "TDIGRP") & compute_filled(ts["TSVAL"]) & ((ts["TSPARMCD"] == "HLTSUBJI") & (ts["TSVAL"] == "Y")).any(),
    "TSVAL", "TDIGRP is given for a healthy-subject study")
check_curtrt_value = trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "CURTRT") & ~compute_filled(ts["TSVAL"]) & ((ts["TSPARMCD"] == "ADDON") & (ts["TSVAL"] == "Y")).any(),
    "TSVAL", "ADDON = Y but CURTRT has no TSVAL")
check_indic_snomed = trial_design_rule(
    "TS", lambda ts, p: (ts["TSPARMCD"] == "INDIC") & (ts["TSVCDREF"] != "SNOMED"), "TSVCDREF", "INDIC TSVCDREF is not SNOMED")


def check_ts_reference(package: Package, target: str) -> pd.DataFrame:
    """target `TS.<TSPARMCD>=<reference>`: a populated TSVCDREF of the parameter is that reference."""
    ts = package.frame("TS")
    if ts is None:
        return concat_hits([])
    parameter, reference = ts_parameter(target).split("=", 1)
    bad = (ts["TSPARMCD"] == parameter) & compute_filled(ts["TSVCDREF"]) & (ts["TSVCDREF"] != reference)
    return make_hits(ts, "TS", bad, "TSVCDREF", f"{parameter} TSVCDREF is not {reference}")


def _presp_needed(suffix: str):
    def check(package: Package, target: str) -> pd.DataFrame:
        return concat_hits(
            make_dataset_hit(n, f"{n}PRESP", None, f"{n}{suffix} is in {n} but {n}PRESP is not")
            for n in select_datasets(package, target)
            if f"{n}{suffix}" in package.datasets[n].columns and f"{n}PRESP" not in package.datasets[n].columns
        )
    check.__doc__ = f"--{suffix} only in a dataset that has --PRESP (events and interventions)."
    return check


check_stat_needs_presp = _presp_needed("STAT")
check_reasnd_needs_presp = _presp_needed("REASND")


CHECKS = {
    "check_screen_failure_arms": check_screen_failure_arms,
    "check_end_timepoint_present": check_end_timepoint_present,
    "check_start_timepoint_present": check_start_timepoint_present,
    "check_stresc_when_done": check_stresc_when_done,
    "check_lobxfl_has_orres": check_lobxfl_has_orres,
    "check_entpt_has_enrtpt": check_entpt_has_enrtpt,
    "check_entpt_enrtpt_pair_present": check_entpt_enrtpt_pair_present,
    "check_enrtpt_values": check_enrtpt_values,
    "check_findings_no_stdtc": check_findings_no_stdtc,
    "check_cat_not_redundant": check_cat_not_redundant,
    "check_range_needs_continuous_result": check_range_needs_continuous_result,
    "check_original_range_order": check_original_range_order,
    "check_seq_chronological": check_seq_chronological,
    "check_timing_variable_present": check_timing_variable_present,
    "check_standard_units_consistent": check_standard_units_consistent,
    "check_dtc_present_for_dy": check_dtc_present_for_dy,
    "check_dtc_or_dy": check_dtc_or_dy,
    "check_after_participation_end": check_after_participation_end,
    "check_exposure_end_within_treatment": check_exposure_end_within_treatment,
    "check_age_given": check_age_given,
    "check_age_variable_present": check_age_variable_present,
    "check_tdigrp_healthy": check_tdigrp_healthy,
    "check_curtrt_value": check_curtrt_value,
    "check_indic_snomed": check_indic_snomed,
    "check_ts_reference": check_ts_reference,
    "check_stat_needs_presp": check_stat_needs_presp,
    "check_reasnd_needs_presp": check_reasnd_needs_presp,
}
