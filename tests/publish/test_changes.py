"""The changes report on small hand-made runs: matched by natural key, never by --SEQ."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.publish.changes import CHANGE_COLUMNS, compute_changes, compute_text, format_changes


def _lb(rows):
    return pd.DataFrame(
        rows, columns=["STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBORRES", "LBSTRESN", "VISITNUM", "LBDTC"]
    ).astype({"LBSEQ": float, "LBSTRESN": float, "VISITNUM": float})


def _lineage(rows):
    return pd.DataFrame(rows, columns=["DOMAIN", "USUBJID", "SEQ", "file", "sheet", "row"]).astype(str)


OLD_LB = _lb([
    ["S", "LB", "S-001", 1, "ALT", "40", 40.0, 1, "2026-03-01"],
    ["S", "LB", "S-001", 2, "AST", "30", 30.0, 1, "2026-03-01"],
    ["S", "LB", "S-002", 1, "ALT", "55", 55.0, 1, "2026-03-02"],
])
OLD_LINEAGE = _lineage([
    ["LB", "S-001", 1, "labs_0301.csv", "labs", 2],
    ["LB", "S-001", 2, "labs_0301.csv", "labs", 3],
    ["LB", "S-002", 1, "labs_0301.csv", "labs", 4],
])


def test_a_corrected_value_is_one_row_naming_the_newer_file():
    # The corrected export changes S-001's ALT, drops S-002 and adds a BILI record that sorts
    # first, so every --SEQ of S-001 shifts: matching must not use it.
    new_lb = _lb([
        ["S", "LB", "S-001", 1, "BILI", "12", 12.0, 1, "2026-03-01"],
        ["S", "LB", "S-001", 2, "ALT", "44", 44.0, 1, "2026-03-01"],
        ["S", "LB", "S-001", 3, "AST", "30", 30.0, 1, "2026-03-01"],
    ])
    new_lineage = _lineage([
        ["LB", "S-001", 1, "labs_0302.csv", "labs", 5],
        ["LB", "S-001", 2, "labs_0302.csv", "labs", 2],
        ["LB", "S-001", 3, "labs_0301.csv", "labs", 3],
    ])

    changes = compute_changes({"LB": OLD_LB}, {"LB": new_lb}, OLD_LINEAGE, new_lineage)

    assert list(changes.columns) == CHANGE_COLUMNS
    got = changes[["change", "key", "variable", "old", "new", "file", "row"]].values.tolist()
    assert got == [
        ["changed", "USUBJID=S-001; LBTESTCD=ALT; VISITNUM=1; LBDTC=2026-03-01", "LBORRES", "40", "44", "labs_0302.csv", "2"],
        ["changed", "USUBJID=S-001; LBTESTCD=ALT; VISITNUM=1; LBDTC=2026-03-01", "LBSTRESN", "40", "44", "labs_0302.csv", "2"],
        ["added", "USUBJID=S-001; LBTESTCD=BILI; VISITNUM=1; LBDTC=2026-03-01", "", "", "", "labs_0302.csv", "5"],
        ["removed", "USUBJID=S-002; LBTESTCD=ALT; VISITNUM=1; LBDTC=2026-03-02", "", "", "", "labs_0301.csv", "4"],
    ]
    assert set(changes["domain"]) == {"LB"}


def test_identical_runs_have_no_changes_and_a_first_run_compares_with_nothing():
    assert compute_changes({"LB": OLD_LB}, {"LB": OLD_LB}, OLD_LINEAGE, OLD_LINEAGE).empty
    first = compute_changes({}, {"LB": OLD_LB}, _lineage([]), OLD_LINEAGE)
    assert first["change"].tolist() == ["added"] * 3
    assert format_changes(first.iloc[0:0], None).startswith("changes: first publication")


def test_repeated_keys_pair_up_in_seq_order():
    old = _lb([
        ["S", "LB", "S-001", 1, "ALT", "40", 40.0, 99, "2026-03-01"],
        ["S", "LB", "S-001", 2, "ALT", "41", 41.0, 99, "2026-03-01"],
    ])
    new = _lb([
        ["S", "LB", "S-001", 1, "ALT", "40", 40.0, 99, "2026-03-01"],
        ["S", "LB", "S-001", 2, "ALT", "42", 42.0, 99, "2026-03-01"],
    ])
    changes = compute_changes({"LB": old}, {"LB": new}, _lineage([]), _lineage([]))
    assert changes["key"].unique().tolist() == ["USUBJID=S-001; LBTESTCD=ALT; VISITNUM=99; LBDTC=2026-03-01 #2"]
    assert changes[["variable", "old", "new"]].values.tolist() == [["LBORRES", "41", "42"], ["LBSTRESN", "41", "42"]]


def test_a_dataset_without_natural_key_is_matched_on_all_values():
    old = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["XX"], "XXSEQ": [1.0], "XXTESTCD": ["A"], "XXORRES": ["Old"]})
    new = old.assign(XXORRES=["New"])
    changes = compute_changes({"XX": old}, {"XX": new}, _lineage([]), _lineage([]))
    assert changes["change"].tolist() == ["added", "removed"]


def test_a_trial_design_change_has_no_subject_and_no_raw_row():
    old = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["TS"], "TSSEQ": [1.0], "TSPARMCD": ["ACTSUB"], "TSVAL": ["22"]})
    changes = compute_changes({"TS": old}, {"TS": old.assign(TSVAL=["23"])}, _lineage([]), _lineage([]))
    assert changes[["key", "USUBJID", "variable", "old", "new", "file"]].values.tolist() == [
        ["TSPARMCD=ACTSUB", "", "TSVAL", "22", "23", ""]
    ]


def test_missing_domain_and_new_variable():
    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-001"], "AGE": [50.0]})
    changes = compute_changes({"DM": dm}, {}, _lineage([["DM", "S-001", "", "dm.xlsx", "Demographics", 2]]), _lineage([]))
    assert changes[["domain", "change", "file", "row"]].values.tolist() == [["DM", "removed", "dm.xlsx", "2"]]
    widened = dm.assign(DTHFL=["Y"])
    changes = compute_changes({"DM": dm}, {"DM": widened}, _lineage([]), _lineage([]))
    assert changes[["variable", "old", "new"]].values.tolist() == [["DTHFL", "", "Y"]]


def test_compute_text_prints_numbers_as_sas_shows_them():
    values = pd.Series([3.0, 0.1, np.nan, 1e-9, -2.5])
    assert compute_text(values).tolist() == ["3", "0.1", "", "1e-09", "-2.5"]
    assert compute_text(pd.Series(["a", None], dtype="str")).tolist() == ["a", ""]


def test_format_changes_counts_by_kind_and_domain():
    changes = pd.DataFrame(
        {"domain": ["LB", "LB", "DM"], "change": ["changed", "changed", "added"]}
    )
    assert format_changes(changes, "20260331-aaaaaaaaaaaa") == (
        "changes since run 20260331-aaaaaaaaaaaa: changed 2 (LB 2), added 1 (DM 1) (see changes.csv)"
    )
    assert format_changes(changes.iloc[0:0], "R").endswith("none (see changes.csv)")
