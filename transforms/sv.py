"""SV — Subject Visits: one record per subject and visit actually present in the Findings domains.

A visit is present when LB or RS holds a record with its VISITNUM. SVSTDTC / SVENDTC are the
earliest and latest --DTC of those records (as ISO 8601 text, so a visit on one day has equal
start and end), SVSTDY / SVENDY their study days. Planned visits (those of visits.csv) carry VISITDY from the record,
SVPRESP "Y" and SVOCCUR "Y"; an unscheduled visit has VISITDY, SVPRESP and SVOCCUR null and
SVUPDES describing it (FDA SD1019: VISITDY null when SVUPDES is populated). Each record keeps the
lineage of its earliest contributing record.
"""

from __future__ import annotations

import pandas as pd

from transforms.findings import LINEAGE
from transforms.sdtm import derive_study_days



def build_sv(
    findings_domains: dict[str, pd.DataFrame], dm: pd.DataFrame, visits: pd.DataFrame, studyid: str,
    unscheduled_description: str,
) -> pd.DataFrame:
    """SV from Findings domains ({"LB": lb, "RS": rs}: each with USUBJID, VISITNUM, VISIT,
    VISITDY, <domain>DTC and lineage), DM's reference dates and the planned visits (visits.csv);
    `unscheduled_description` (study.toml [visits]) is SVUPDES of every unscheduled visit."""
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
    span = grouped["DTC"].agg(SVSTDTC="min", SVENDTC="max")
    present = first.join(span).reset_index()
    planned = present["VISITNUM"].isin(visits["VISITNUM"])
    yes = pd.Series("Y", index=present.index, dtype=object)
    sv = pd.DataFrame(
        {
            "STUDYID": studyid,
            "DOMAIN": "SV",
            "USUBJID": present["USUBJID"],
            "VISITNUM": present["VISITNUM"].astype("float64"),
            "VISIT": present["VISIT"],
            "SVPRESP": yes.where(planned, None),
            "SVOCCUR": yes.where(planned, None),
            "VISITDY": present["VISITDY"].astype("float64"),
            "SVSTDTC": present["SVSTDTC"],
            "SVENDTC": present["SVENDTC"],
            "SVUPDES": pd.Series(unscheduled_description, index=present.index, dtype=object).where(~planned, None),
            **{column: present[column] for column in LINEAGE},
        }
    )
    return derive_study_days(sv, dm, {"SVSTDY": "SVSTDTC", "SVENDY": "SVENDTC"})
