"""The mapping spec's algorithms and conditions on small frames, expected values by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.dm import compute_allowed_doses, compute_regimen_arm
from transforms.spec_map import SPEC_COLUMNS, compute_condition, derive_mapped_variables, read_condition

RECORDS = pd.DataFrame(
    {
        "ARMCD": ["PBO", "A10", "A10", None],
        "dose": [0.0, 10.0, None, 5.0],
        "route": ["ORAL", None, "ORAL", None],
        "start": ["2026-01-02", "2026-01-03", "2026-01-04", None],
        "end": [None, "2026-02-01", None, None],
    },
    index=[10, 11, 12, 13],
)
CONFIG = {"treatment": {"EXTRT": "DRUG X", "EXROUTE": "ORAL"}}


def spec(*rows):
    return pd.DataFrame([dict(zip(SPEC_COLUMNS, row + ("",) * (7 - len(row)))) for row in rows])


@pytest.mark.parametrize(
    "condition, expected",
    [
        ("", [True, True, True, True]),
        ("ARMCD = PBO", [True, False, False, False]),
        ("ARMCD != PBO", [False, True, True, False]),  # a missing arm is neither
        ("ARMCD in PBO|A10", [True, True, True, False]),
        ("end is null", [True, False, True, True]),
        ("end not null", [False, True, False, False]),
    ],
)
def test_conditions_select_the_records_they_name(condition, expected):
    assert compute_condition(RECORDS, condition).tolist() == expected


@pytest.mark.parametrize("bad", ["ARMCD ==PBO", "ARMCD =", "1x = 2", "ARMCD like P%"])
def test_a_condition_outside_the_few_forms_is_refused_with_the_forms(bad):
    with pytest.raises(ValueError, match="COLUMN is null"):
        read_condition(bad)


def test_rows_of_one_variable_are_tried_in_order_and_the_first_value_wins():
    mapped = derive_mapped_variables(
        RECORDS,
        spec(
            ("EX", "EXTRT", "hardcode_no_ct", "", "PLACEBO", "ARMCD = PBO"),
            ("EX", "EXTRT", "assign_study", "", "treatment.EXTRT"),
            ("EX", "EXDOSE", "assign_no_ct", "dose"),
            ("EX", "EXROUTE", "assign_ct", "route"),
            ("EX", "EXROUTE", "assign_study", "", "treatment.EXROUTE"),
            ("EX", "EXSTDTC", "assign_datetime", "start"),
            ("EX", "EXENDTC", "assign_datetime", "end", "", "end not null"),
            ("EX", "EXENDTC", "assign_datetime", "start"),
            ("EX", "RFSTDTC", "derived", "", "reference_dates"),
        ),
        CONFIG,
    )
    assert list(mapped.columns) == ["EXTRT", "EXDOSE", "EXROUTE", "EXSTDTC", "EXENDTC"]
    assert list(mapped.index) == [10, 11, 12, 13]
    assert mapped["EXTRT"].tolist() == ["PLACEBO", "DRUG X", "DRUG X", "DRUG X"]
    assert mapped["EXDOSE"].tolist()[:2] == [0.0, 10.0] and np.isnan(mapped["EXDOSE"].iloc[2])
    assert mapped["EXROUTE"].tolist() == ["ORAL"] * 4
    # a period keeps its own end; an administration without one ends when it starts
    assert mapped["EXENDTC"].tolist()[:3] == ["2026-01-02", "2026-02-01", "2026-01-04"]
    assert pd.isna(mapped["EXENDTC"].iloc[3])


def test_an_assign_with_a_value_defaults_blanks_and_an_unknown_study_key_is_named():
    mapped = derive_mapped_variables(RECORDS, spec(("EX", "EXROUTE", "assign_ct", "route", "NASAL")), CONFIG)
    assert mapped["EXROUTE"].tolist() == ["ORAL", "NASAL", "ORAL", "NASAL"]
    with pytest.raises(KeyError, match="treatment.EXDOSFRQ"):
        derive_mapped_variables(RECORDS, spec(("EX", "EXDOSFRQ", "assign_study", "", "treatment.EXDOSFRQ")), CONFIG)


def test_planned_regimen_allows_the_arms_reductions_and_nothing_else():
    arms = pd.DataFrame(
        {"ARMCD": ["PBO", "A10", "A20"], "ARM": ["Placebo", "10 mg", "20 mg"],
         "dose": [0, 10, 20], "doses": [None, [5], [10]]}
    )
    assert sorted(map(tuple, compute_allowed_doses(arms).values.tolist())) == [
        ("A10", 5.0), ("A10", 10.0), ("A20", 10.0), ("A20", 20.0), ("PBO", 0.0)
    ]
    planned = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4"], "ARMCD": ["A10", "A10", "PBO", "A20"]})
    doses = pd.DataFrame(
        {"USUBJID": ["S1", "S1", "S2", "S3", "S4"], "EXDOSE": [10.0, 5.0, 20.0, 0.0, 10.0]}
    )
    actual, fits = compute_regimen_arm(pd.Series(["S1", "S2", "S3", "S4"]), doses, arms, planned)
    # S1 was reduced from 10 to 5 as the protocol allows; S2 got the other arm's dose
    assert fits.tolist() == [True, False, True, True]
    assert actual["ARM"].tolist() == ["10 mg", "10 mg", "Placebo", "20 mg"]
