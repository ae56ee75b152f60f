"""SV — Subject Visits: one record per subject and visit actually present in the Findings domains.

A visit is present when LB or RS holds a record with its VISITNUM. SVSTDTC / SVENDTC are the
earliest and latest --DTC of those records (as ISO 8601 text, so a visit on one day has equal
start and end), SVSTDY / SVENDY their study days. Planned visits (those of visits.csv) carry VISITDY from the record,
SVPRESP "Y" and SVOCCUR "Y"; an unscheduled visit has VISITDY, SVPRESP and SVOCCUR null and
SVUPDES describing it (FDA SD1019: VISITDY null when SVUPDES is populated). Each record keeps the
lineage of its earliest contributing record. Each variable is filled as mapping.csv says from
the visits present; SVUPDES is study.toml [visits] unscheduled_description.
"""

from __future__ import annotations

import pandas as pd

from transforms.core.findings import LINEAGE
from transforms.domains.sdtm import SHARED_DERIVATIONS
from transforms.domains.spec_map import Sources, build_domain
from transforms.spec.study import Study

# What SV's mapping rows may read: the columns of compute_visits_present.
VISITS_PRESENT_COLUMNS = ("USUBJID", "VISITNUM", "VISIT", "VISITDY", "first_dtc", "last_dtc", "planned", *LINEAGE)

# The named derivations an SV spec row may choose (mapping.csv `derived`, its `value`).
SV_DERIVATIONS = SHARED_DERIVATIONS


def build_sv(findings_domains: dict[str, pd.DataFrame], dm: pd.DataFrame, study: Study) -> pd.DataFrame:
    """SV from Findings domains ({"LB": lb, "RS": rs}: each with USUBJID, VISITNUM, VISIT,
    VISITDY, <domain>DTC and lineage) and DM's reference dates, filled as mapping.csv says from
    the visits present (compute_visits_present)."""
    present = compute_visits_present(findings_domains, study.visits)
    return build_domain(Sources(present, study, "SV", dm=dm), SV_DERIVATIONS)


def compute_visits_present(findings_domains: dict[str, pd.DataFrame], visits: pd.DataFrame) -> pd.DataFrame:
    """One row per subject and visit with a record in the Findings domains: USUBJID, VISITNUM,
    VISIT, VISITDY, `first_dtc` / `last_dtc` (its earliest and latest --DTC), `planned` ("Y" for
    a visit of visits.csv, null for an unscheduled one) and the lineage of its earliest record."""
    parts = [
        frame[["USUBJID", "VISITNUM", "VISIT", "VISITDY", f"{name}DTC", *LINEAGE]]
        .rename(columns={f"{name}DTC": "DTC"})
        .assign(_order=order)
        for order, (name, frame) in enumerate(findings_domains.items())
    ]
    records = pd.concat(parts, ignore_index=True).dropna(subset=["USUBJID", "VISITNUM"])
    records = records.sort_values(
        ["USUBJID", "VISITNUM", "DTC", "_order", *LINEAGE], kind="stable", na_position="last"
    )
    keys = ["USUBJID", "VISITNUM"]
    grouped = records.groupby(keys, sort=True)
    first = grouped.head(1).set_index(keys)
    span = grouped["DTC"].agg(first_dtc="min", last_dtc="max")
    present = first.join(span).reset_index()
    planned = present["VISITNUM"].isin(visits["VISITNUM"])
    return pd.DataFrame(
        {
            "USUBJID": present["USUBJID"],
            "VISITNUM": present["VISITNUM"].astype("float64"),
            "VISIT": present["VISIT"],
            "VISITDY": present["VISITDY"].astype("float64"),
            "first_dtc": present["first_dtc"],
            "last_dtc": present["last_dtc"],
            "planned": pd.Series("Y", index=present.index, dtype=object).where(planned, None),
            **{column: present[column] for column in LINEAGE},
        }
    )
