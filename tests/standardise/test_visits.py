"""Visit numbering: planned visits from the study table, unscheduled ones as previous + .01."""

import pandas as pd

from transforms.spec.study import DEFAULT_STUDY_DIR, read_study
from transforms.standardise.visits import derive_unscheduled_visits, derive_visit_variables

VISITS = read_study(DEFAULT_STUDY_DIR).visits


def test_unscheduled_visits_number_after_the_previous_planned_visit_in_date_order():
    dated = pd.DataFrame(
        {
            "USUBJID": ["S1"] * 5 + ["S2"],
            "VISIT": ["Screening", "Baseline", "Week 4", "Unscheduled", "Unscheduled", "Unscheduled"],
            "date": ["2025-01-01", "2025-01-10", "2025-02-07", "2025-02-20", "2025-02-12", "2025-01-01"],
        }
    )
    numbered = derive_unscheduled_visits(dated, VISITS).sort_values(["USUBJID", "date"])
    # S1: both unscheduled dates follow Week 4 (VISITNUM 4): 02-12 -> 4.01, 02-20 -> 4.02.
    # S2 has no planned visit before its unscheduled one: it counts from 0.
    assert numbered[["USUBJID", "date", "VISITNUM", "VISIT"]].values.tolist() == [
        ["S1", "2025-02-12", 4.01, "Unscheduled 4.01"],
        ["S1", "2025-02-20", 4.02, "Unscheduled 4.02"],
        ["S2", "2025-01-01", 0.01, "Unscheduled 0.01"],
    ]


def test_visit_variables_for_planned_and_unscheduled_rows():
    rows = pd.DataFrame(
        {"USUBJID": ["S1", "S1", "S1"], "VISIT": ["Week 1", "Unscheduled", "Screening"],
         "LBDTC": ["2025-01-17", "2025-02-12T08:00", "2025-01-01"]}
    )
    unscheduled = pd.DataFrame(
        {"USUBJID": ["S1"], "date": ["2025-02-12"], "VISITNUM": [4.01], "VISIT": ["Unscheduled 4.01"]}
    )
    out = derive_visit_variables(rows, "LBDTC", VISITS, unscheduled)
    assert out["VISITNUM"].tolist() == [3.0, 4.01, 1.0]
    assert out["VISIT"].tolist() == ["Week 1", "Unscheduled 4.01", "Screening"]
    # Week N is planned on day 7N + 1; unscheduled and screening visits have no planned day
    assert out["VISITDY"].fillna(-1).tolist() == [8.0, -1, -1]
