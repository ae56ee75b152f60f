"""Visit numbering shared by every Findings domain (LB, RS): VISITNUM, VISIT, VISITDY.

Planned visits take their number and planned day from the study's visits table. An unscheduled
visit gets the subject's previous planned VISITNUM + .01, .02, ... in date order
(docs/sdtm-reference.md#visits) and VISITDY null; the numbering is computed once from the dates of
every sheet, so an unscheduled visit with both labs and an assessment has one VISITNUM in LB and RS.
"""

from __future__ import annotations

import pandas as pd

from transforms.core.distinct import derive_group_extremes
from transforms.core.dates import compute_complete_date

UNSCHEDULED = "Unscheduled"


def derive_unscheduled_visits(dated_visits: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """The numbering of every unscheduled visit: USUBJID, date, VISITNUM, VISIT.

    `dated_visits` holds USUBJID, VISIT (standardised name) and date (YYYY-MM-DD) rows from every
    sheet. A planned visit's date is its earliest date; an unscheduled date before any planned
    visit of the subject counts from VISITNUM 0.
    """
    known = dated_visits.dropna(subset=["USUBJID", "VISIT", "date"])
    planned = known[known["VISIT"] != UNSCHEDULED].merge(visits[["VISIT", "VISITNUM"]], on="VISIT")
    planned = (
        derive_group_extremes(planned, ["USUBJID", "VISITNUM"], "date", "min")
        .assign(when=lambda p: pd.to_datetime(p["date"]))
        .sort_values("when")
    )
    unscheduled = (
        known.loc[known["VISIT"] == UNSCHEDULED, ["USUBJID", "date"]]
        .drop_duplicates()
        .assign(when=lambda u: pd.to_datetime(u["date"], errors="coerce"))
        .dropna(subset=["when"])
        .sort_values("when")
    )
    if unscheduled.empty:
        return pd.DataFrame(columns=["USUBJID", "date", "VISITNUM", "VISIT"])
    numbered = pd.merge_asof(
        unscheduled, planned[["USUBJID", "when", "VISITNUM"]], on="when", by="USUBJID",
        direction="backward",
    )
    numbered["VISITNUM"] = numbered["VISITNUM"].fillna(0.0)
    numbered = numbered.sort_values(["USUBJID", "VISITNUM", "when"], kind="stable")
    order = numbered.groupby(["USUBJID", "VISITNUM"]).cumcount() + 1
    numbered["VISITNUM"] = (numbered["VISITNUM"] + order * 0.01).round(2)
    numbered["VISIT"] = UNSCHEDULED + " " + numbered["VISITNUM"].map("{:.2f}".format)
    return numbered[["USUBJID", "date", "VISITNUM", "VISIT"]].reset_index(drop=True)


def derive_visit_variables(
    frame: pd.DataFrame, dtc_var: str, visits: pd.DataFrame, unscheduled: pd.DataFrame
) -> pd.DataFrame:
    """VISITNUM, VISIT and VISITDY for rows carrying USUBJID, VISIT (standardised) and `dtc_var`."""
    planned = frame[["VISIT"]].merge(visits, on="VISIT", how="left")
    date = compute_complete_date(frame[dtc_var])
    unplanned = (
        pd.DataFrame({"USUBJID": frame["USUBJID"].to_numpy(), "date": date.to_numpy()})
        .merge(unscheduled, on=["USUBJID", "date"], how="left")
    )
    is_unscheduled = (frame["VISIT"] == UNSCHEDULED).to_numpy()
    visitnum = planned["VISITNUM"].where(~is_unscheduled, unplanned["VISITNUM"])
    visit = planned["VISIT"].where(~is_unscheduled, unplanned["VISIT"].fillna(UNSCHEDULED))
    return frame.assign(
        VISITNUM=visitnum.to_numpy(dtype="float64"),
        VISIT=visit.to_numpy(),
        VISITDY=planned["VISITDY"].where(~is_unscheduled).to_numpy(dtype="float64", na_value=float("nan")),
    )


def compute_dated_visits(frame: pd.DataFrame, dtc_var: str) -> pd.DataFrame:
    """USUBJID, VISIT, date rows of one standardised sheet, for derive_unscheduled_visits."""
    return pd.DataFrame(
        {
            "USUBJID": frame["USUBJID"],
            "VISIT": frame["VISIT"],
            "date": compute_complete_date(frame[dtc_var]),
        }
    )
