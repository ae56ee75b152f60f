"""The mapping spec's algorithms and conditions on small frames, expected values by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.domains.dm import compute_allowed_doses, compute_regimen_arm
from transforms.domains.sdtm import SHARED_DERIVATIONS, compute_seq
from transforms.domains.spec_map import (
    SPEC_COLUMNS, Sources, build_domain, compute_blank_as_null, compute_condition,
    derive_mapped_variables, read_condition,
)

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


# --- build_domain: the one engine every domain is built by ----------------------------------------


class SpecStudy:
    """The four things build_domain asks of a study, for a spec written in the test."""

    def __init__(self, rows, settings=None):
        self.mapping = spec(*rows)
        self.studyid = "S"
        self.config = {"visits": {"unscheduled_description": "Off schedule"}}
        self.settings = settings or {}

    def mapping_of(self, domain):
        return self.mapping[self.mapping["domain"] == domain]

    def domain_settings(self, domain):
        return self.settings


LABS = pd.DataFrame(
    {
        "USUBJID": ["B", "A", "A", "B"],
        "test": ["ALT", "ALT", "AST", "ALT"],
        "result": ["35", None, "12", "40"],
        "reason": [None, "Haemolysed", None, None],
        "unit": ["U/L", "U/L", "", "U/L"],
        "day": ["2026-01-09", "2026-01-02", "2026-01-03", "2026-01-01"],
        "_file": "f.csv", "_sheet": "labs", "_row": [2, 3, 4, 5],
    },
    index=[7, 3, 3, 9],  # a filtered, even repeated index: records are told apart by position
)


def status(frame, sources):
    # a derivation gives every variable it knows; the spec keeps those it lists
    not_done = sources.records["result"].isna() & sources.records["reason"].notna()
    return {
        "XXSTAT": pd.Series("NOT DONE", index=frame.index).where(not_done, None),
        "XXREASND": sources.records["reason"].where(not_done, None),
        "XXUNUSED": pd.Series("never kept", index=frame.index),
    }


def test_a_domain_is_its_spec_rows_then_its_derivations_then_the_lineage_in_subject_and_seq_order():
    calls = []

    def counted(frame, sources):
        calls.append(1)
        return status(frame, sources)

    study = SpecStudy(
        [
            ("XX", "XXTESTCD", "assign_no_ct", "test"),
            ("XX", "XXORRES", "assign_no_ct", "result"),
            ("XX", "XXSTAT", "derived", "", "status"),
            ("XX", "XXREASND", "derived", "", "status"),
            # a condition reads a variable filled before it: no result, no unit
            ("XX", "XXORRESU", "assign_no_ct", "unit", "", "XXSTAT is null"),
            ("XX", "XXDTC", "assign_datetime", "day"),
            ("XX", "XXSEQ", "derived", "", "sequence"),
        ],
        settings={"seq_by": ["XXDTC"]},
    )
    out = build_domain(Sources(LABS, study, "XX"), {"status": counted, **SHARED_DERIVATIONS})
    assert calls == [1]  # one call fills both XXSTAT and XXREASND
    assert list(out.columns) == [
        "STUDYID", "DOMAIN", "USUBJID", "XXTESTCD", "XXORRES", "XXSTAT", "XXREASND", "XXORRESU",
        "XXDTC", "XXSEQ", "_file", "_sheet", "_row",
    ]
    # A's records by date (01-02 then 01-03), then B's (01-01, 01-09); lineage travels with each
    assert out["_row"].tolist() == [3, 4, 5, 2]
    assert out["XXSEQ"].tolist() == [1.0, 2.0, 1.0, 2.0]
    assert out["XXSTAT"].fillna("-").tolist() == ["NOT DONE", "-", "-", "-"]
    # the not-done record has no unit; AST's blank unit is null, not ""
    assert out["XXORRESU"].isna().tolist() == [True, True, False, False]
    assert (out[["STUDYID", "DOMAIN"]].drop_duplicates().values.tolist()) == [["S", "XX"]]


def test_the_engine_refuses_an_unknown_derivation_a_missing_variable_and_a_mixed_variable():
    def build(*rows):
        return build_domain(Sources(LABS, SpecStudy(rows), "XX"), {"status": status})

    with pytest.raises(ValueError, match="'statu' does not exist; use one of status"):
        build(("XX", "XXSTAT", "derived", "", "statu"))
    with pytest.raises(ValueError, match="gives XXSTAT, XXREASND, XXUNUSED, not XXSTRESC"):
        build(("XX", "XXSTRESC", "derived", "", "status"))
    with pytest.raises(ValueError, match="mixes `derived`"):
        build(("XX", "XXSTAT", "hardcode_ct", "", "NOT DONE"), ("XX", "XXSTAT", "derived", "", "status"))


def test_study_days_of_every_dtc_and_the_assign_study_fallback_of_sv_shape():
    visits = pd.DataFrame(
        {"USUBJID": ["A", "A"], "first": ["2026-01-01", "2026-01-20T08:00"], "last": ["2026-01-03", "2026-01-20"],
         "planned": ["Y", None], "_file": "f", "_sheet": "s", "_row": [2, 3]}
    )
    dm = pd.DataFrame({"USUBJID": ["A"], "RFSTDTC": ["2026-01-02T10:00"]})
    study = SpecStudy(
        [
            ("SV", "SVSTDTC", "assign_datetime", "first"),
            ("SV", "SVENDTC", "assign_datetime", "last"),
            ("SV", "SVSTDY", "derived", "", "study_day"),
            ("SV", "SVENDY", "derived", "", "study_day"),
            ("SV", "SVUPDES", "assign_study", "", "visits.unscheduled_description", "planned is null"),
        ]
    )
    sv = build_domain(Sources(visits, study, "SV", dm=dm), SHARED_DERIVATIONS)
    # day 1 is the reference day; the day before it is -1 (there is no day 0)
    assert sv["SVSTDY"].tolist() == [-1, 19] and sv["SVENDY"].tolist() == [2, 19]
    assert sv["SVUPDES"].fillna("-").tolist() == ["-", "Off schedule"]


def test_seq_counts_per_subject_without_moving_the_rows():
    frame = pd.DataFrame({"USUBJID": ["B", "A", "B", "A"], "key": [2, 5, 1, None]}, index=[4, 1, 2, 3])
    # A: 5 first, the missing key last; B: 1 (index 2) then 2 (index 4)
    assert compute_seq(frame, ["key"]).tolist() == [2.0, 1.0, 1.0, 2.0]


def test_blank_text_is_no_value_and_numbers_are_left_alone():
    assert compute_blank_as_null(pd.Series(["", "U/L", None], dtype=object)).isna().tolist() == [True, False, True]
    assert compute_blank_as_null(pd.Series([0.0, 1.0])).tolist() == [0.0, 1.0]
