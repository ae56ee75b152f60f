"""Checks of events (MH): pre-specified questions.
"""

from __future__ import annotations

import pandas as pd

from transforms.conform.hits import Package, concat_hits, findings_pairs, make_dataset_hit, make_hits, select_datasets
from transforms.conform.predicates import compute_filled


def check_occur_needs_presp(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, compute_filled(f[occur]) & (f[presp] != "Y"), occur, f"{occur} is given but {presp} is not Y")
        for n, f, (occur, presp) in findings_pairs(package, target, "OCCUR", "PRESP")
    )


def check_occur_needs_presp_variable(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_dataset_hit(n, f"{n}PRESP", None, f"{n}OCCUR is in {n} but {n}PRESP is not")
        for n in select_datasets(package, target) if f"{n}OCCUR" in package.datasets[n].columns and f"{n}PRESP" not in package.datasets[n].columns
    )


def check_presp_has_occur_or_status(package: Package, target: str) -> pd.DataFrame:
    parts = []
    for n, f, (presp, occur) in findings_pairs(package, target, "PRESP", "OCCUR"):
        stat = f[f"{n}STAT"] if f"{n}STAT" in f.columns else pd.Series(None, index=f.index, dtype=object)
        parts.append(make_hits(f, n, (f[presp] == "Y") & ~compute_filled(f[occur]) & (stat != "NOT DONE"), occur,
                           f"{presp} = Y and {occur} is null but {n}STAT is not NOT DONE"))
    return concat_hits(parts)


def check_presp_values(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, compute_filled(f[presp]) & (f[presp] != "Y"), presp, f"{presp} is neither Y nor null")
        for n, f, (presp,) in findings_pairs(package, target, "PRESP")
    )


def check_enrtpt_has_entpt(package: Package, target: str) -> pd.DataFrame:
    return concat_hits(
        make_hits(f, n, compute_filled(f[enrtpt]) & ~compute_filled(f[entpt]), entpt, f"{enrtpt} is given but {entpt} is null")
        for n, f, (enrtpt, entpt) in findings_pairs(package, target, "ENRTPT", "ENTPT")
    )


CHECKS = {
    "check_occur_needs_presp": check_occur_needs_presp,
    "check_occur_needs_presp_variable": check_occur_needs_presp_variable,
    "check_presp_has_occur_or_status": check_presp_has_occur_or_status,
    "check_presp_values": check_presp_values,
    "check_enrtpt_has_entpt": check_enrtpt_has_entpt,
}
