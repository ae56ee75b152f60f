"""Shared derivations: --SEQ, --DY and EPOCH."""

import pandas as pd

from transforms.domains.sdtm import derive_epoch, derive_seq, derive_study_days

DM = pd.DataFrame(
    {"USUBJID": ["S1", "S2"], "RFSTDTC": ["2025-03-10T09:40", None],
     "RFXSTDTC": ["2025-03-10T09:40", None], "RFXENDTC": ["2025-03-31", None]}
)


def test_seq_counts_within_subject_in_sort_order():
    frame = pd.DataFrame({"USUBJID": ["S2", "S1", "S1"], "X": ["b", "z", "a"]})
    out = derive_seq(frame, "XXSEQ", ["X"])
    assert out[["USUBJID", "X", "XXSEQ"]].values.tolist() == [["S1", "a", 1.0], ["S1", "z", 2.0], ["S2", "b", 1.0]]


def test_study_day_has_no_day_zero_and_ignores_time():
    frame = pd.DataFrame({"USUBJID": ["S1"] * 4 + ["S2"], "XXDTC": ["2025-03-09", "2025-03-10", "2025-04-01T08:00", "2025-03", "2025-03-10"]})
    days = derive_study_days(frame, DM, {"XXDY": "XXDTC"})["XXDY"]
    # 03-09 is the day before Day 1 -> -1; 04-01 is 22 days after 03-10 -> Day 23; partial and
    # never-treated -> null
    assert days.tolist()[:3] == [-1, 1, 23]
    assert days.isna().tolist()[3:] == [True, True]


def test_epoch_from_dates_against_first_and_last_infusion():
    frame = pd.DataFrame(
        {"USUBJID": ["S1"] * 5 + ["S2"],
         "XXDTC": ["2025-03-01", "2025-03-10", "2025-03-31T23:00", "2025-04-01", "2025-04", "2025-03-10"]}
    )
    epoch = derive_epoch(frame, DM, "XXDTC", ("SCREENING", "TREATMENT", "FOLLOW-UP"))["EPOCH"]
    assert epoch.tolist()[:4] == ["SCREENING", "TREATMENT", "TREATMENT", "FOLLOW-UP"]
    assert epoch.isna().tolist()[4:] == [True, True]
