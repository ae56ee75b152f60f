"""Score arithmetic against hand-worked values.

Every expected number below was worked out by hand (natural logs to six decimals) in the comment
next to it, not produced by the code under test. Logs used:
    ln 1.2 = 0.182322   ln 1.5 = 0.405465   ln 1.9 = 0.641854   ln 2 = 0.693147
    ln 3   = 1.098612   ln 3.5 = 1.252763   ln 4   = 1.386294   ln 4.2 = 1.435085
    ln 20  = 2.995732   ln 30  = 3.401197
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms.scores.formulas import (
    compute_child_pugh_class,
    compute_child_pugh_points,
    compute_g_dl_from_g_l,
    compute_meld,
    compute_meld3,
    compute_meld_na,
    compute_mg_dl_from_umol_l,
    compute_unit_conversion,
)

STUDY = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld"


def one(value) -> np.ndarray:
    return np.array([value], dtype=float)


def meld(cr, bili, inr, dialysis=False):
    return compute_meld(one(cr), one(bili), one(inr), np.array([dialysis]))[0]


# ==================================================================================================
# MELD (docs/sdtm-reference.md#meld)
# ==================================================================================================


def test_meld_worked_example():
    # Cr 1.9, bili 4.2, INR 1.2:
    #   0.957 × ln 1.9 = 0.957 × 0.641854 = 0.614254
    #   0.378 × ln 4.2 = 0.378 × 1.435085 = 0.542462
    #   1.120 × ln 1.2 = 1.120 × 0.182322 = 0.204200
    #   sum + 0.643 = 2.003916; × 10 = 20.039 → 20
    assert meld(1.9, 4.2, 1.2) == 20


def test_meld_inputs_below_one_are_floored():
    # all inputs 0.5 → 1.0, every ln = 0: 10 × 0.643 = 6.43 → 6; zero likewise (no log of 0)
    assert meld(0.5, 0.5, 0.5) == 6
    assert meld(0.0, 0.0, 0.0) == 6
    assert meld(1.0, 1.0, 1.0) == 6


def test_meld_creatinine_capped_at_four():
    # Cr 4: 10 × (0.957 × 1.386294 + 0.643) = 13.266838 + 6.43 = 19.697 → 20; Cr 6 → 4 → 20
    assert meld(4.0, 1.0, 1.0) == 20
    assert meld(6.0, 1.0, 1.0) == 20


def test_meld_dialysis_sets_creatinine_to_four():
    # Cr 1.0 dialysed → Cr 4 → 20 (as above); not dialysed → 6.43 → 6; NA counts as not dialysed
    cr = pd.Series([1.0, 1.0, 1.0, 6.0])
    one = pd.Series([1.0, 1.0, 1.0, 1.0])
    dialysis = pd.Series([True, False, pd.NA, True], dtype="boolean")
    assert compute_meld(cr, one, one, dialysis).tolist() == [20, 6, 6, 20]


def test_meld_capped_at_forty():
    # Cr 4, bili 30, INR 3.5:
    #   9.57 × 1.386294 = 13.266838; 3.78 × 3.401197 = 12.856525; 11.2 × 1.252763 = 14.030946
    #   + 6.43 = 46.584 → 47 → capped 40
    assert meld(4.0, 30.0, 3.5) == 40


def test_meld_rounds_half_up_not_to_even():
    # INR = e^(16.07/11.2) (= 4.1989…), Cr = bili = 1: 10 × 1.120 × ln INR = 16.07,
    #   + 6.43 = 22.5 → 23 (numpy's round-half-even would give 22)
    assert meld(1.0, 1.0, math.exp(16.07 / 11.2)) == 23
    # INR = e^(0.07/11.2): 0.07 + 6.43 = 6.5 → 7 (half-even: 6)
    assert meld(1.0, 1.0, math.exp(0.07 / 11.2)) == 7


def test_meld_same_from_si_units(conversions):
    # Cr 2 mg/dL = 176.8 umol/L, bili 2 mg/dL = 34.2 umol/L, INR 1:
    #   9.57 × 0.693147 = 6.633419; 3.78 × 0.693147 = 2.620096; + 6.43 = 15.684 → 16
    cr = compute_mg_dl_from_umol_l(np.array([176.8]), "CREAT", conversions=conversions)
    bili = compute_mg_dl_from_umol_l(np.array([34.2]), "BILI", conversions=conversions)
    assert compute_meld(cr, bili, np.array([1.0]), np.array([False]))[0] == 16
    assert meld(2.0, 2.0, 1.0) == 16


def test_meld_nan_when_a_lab_is_missing():
    nan = np.nan
    out = compute_meld(
        np.array([nan, 1.9, 1.9, nan]),
        np.array([4.2, nan, 4.2, 4.2]),
        np.array([1.2, 1.2, nan, 1.2]),
        # dialysis (last row) does not stand in for a missing creatinine
        np.array([False, False, False, True]),
    )
    assert np.isnan(out).all()


def test_meld_keeps_the_series_index():
    idx = pd.Index(["01-001", "01-002"], name="USUBJID")
    out = compute_meld(
        pd.Series([1.9, 0.5], index=idx),
        pd.Series([4.2, 0.5], index=idx),
        pd.Series([1.2, pd.NA], index=idx, dtype="Float64"),
        pd.Series([False, False], index=idx),
    )
    assert out.index.equals(idx)
    assert out.iloc[0] == 20 and np.isnan(out.iloc[1])


def test_meld_refuses_misaligned_series():
    with pytest.raises(ValueError, match="different indexes"):
        compute_meld(pd.Series([1.0], index=[0]), pd.Series([1.0], index=[1]), 1.0, False)


def test_meld_refuses_text_dialysis():
    with pytest.raises(TypeError, match="dialysis must be boolean"):
        compute_meld(np.array([1.0]), np.array([1.0]), np.array([1.0]), np.array(["Y"]))


# ==================================================================================================
# MELD-Na (docs/sdtm-reference.md#meld-na)
# ==================================================================================================


def test_meld_na_only_above_eleven():
    # MELD 11, Na 125: MELD(i) ≤ 11 → unchanged 11
    # MELD 12, Na 125: 137 − 125 = 12; 12 + 1.32 × 12 − 0.033 × 12 × 12 = 12 + 15.84 − 4.752
    #   = 23.088 → 23
    out = compute_meld_na(np.array([11.0, 12.0]), np.array([125.0, 125.0]))
    assert out.tolist() == [11, 23]


def test_meld_na_worked_example():
    # MELD 20, Na 130: 20 + 1.32 × 7 − 0.033 × 20 × 7 = 20 + 9.24 − 4.62 = 24.62 → 25
    assert compute_meld_na(np.array([20.0]), np.array([130.0]))[0] == 25


def test_meld_na_sodium_bounds():
    # Na 120 is bounded to 125 → 23 (as above); Na 140 to 137 → 137 − 137 = 0 → 12
    out = compute_meld_na(np.array([12.0, 12.0, 12.0]), np.array([120.0, 125.0, 140.0]))
    assert out.tolist() == [23, 23, 12]


def test_meld_na_capped_at_forty():
    # MELD 38, Na 125: 38 + 15.84 − 0.033 × 38 × 12 = 38 + 15.84 − 15.048 = 38.792 → 39
    # MELD 40, Na 125: 40 + 15.84 − 15.84 = 40 (at 40 the sodium terms cancel: 0.033 × 40 = 1.32)
    # MELD 45 (an uncapped value), Na 137: 45 → capped 40
    out = compute_meld_na(np.array([38.0, 40.0, 45.0]), np.array([125.0, 125.0, 137.0]))
    assert out.tolist() == [39, 40, 40]


def test_meld_na_rounds_half_up():
    # MELD 12, Na = 137 − 4.5/0.924: 12 + (1.32 − 0.033 × 12) × d = 12 + 0.924 × 4.5/0.924
    #   = 16.5 → 17 (half-even: 16)
    assert compute_meld_na(np.array([12.0]), np.array([137 - 4.5 / 0.924]))[0] == 17


def test_meld_na_takes_the_integer_meld():
    with pytest.raises(ValueError, match="integer MELD"):
        compute_meld_na(np.array([20.04]), np.array([130.0]))


def test_meld_na_nan_when_an_input_is_missing():
    out = compute_meld_na(np.array([np.nan, 20.0, 8.0]), np.array([130.0, np.nan, np.nan]))
    assert np.isnan(out).all()


# ==================================================================================================
# MELD 3.0 (docs/sdtm-reference.md#meld-30)
# ==================================================================================================


def meld3(female, bili, na, inr, cr, alb, dialysis=False):
    sex, dial = np.array([female]), np.array([dialysis])
    return compute_meld3(sex, one(bili), one(na), one(inr), one(cr), one(alb), dial)[0]


def test_meld3_female_and_male_with_the_same_labs():
    # bili 3.0, Na 130, INR 1.5, Cr 1.2, Alb 2.8 (d = 137 − 130 = 7, a = 3.5 − 2.8 = 0.7):
    #   4.56 × ln 3      = 4.56 × 1.098612         =  5.009672
    #   0.82 × 7                                   =  5.740000
    #  −0.24 × 7 × ln 3  = −1.68 × 1.098612        = −1.845669
    #   9.09 × ln 1.5    = 9.09 × 0.405465         =  3.685678
    #  11.14 × ln 1.2    = 11.14 × 0.182322        =  2.031062
    #   1.85 × 0.7                                 =  1.295000
    #  −1.83 × 0.7 × ln 1.2 = −1.281 × 0.182322    = −0.233554
    #  + 6                                          →  male 21.682 → 22
    #  female adds 1.33                             → 23.012 → 23
    assert meld3(False, 3.0, 130, 1.5, 1.2, 2.8) == 22
    assert meld3(True, 3.0, 130, 1.5, 1.2, 2.8) == 23


def test_meld3_floors_and_half_up():
    # all labs 1 (every ln = 0), Na 137, Alb 3.5: male 6; female 6 + 1.33 = 7.33 → 7
    assert meld3(False, 1, 137, 1, 1, 3.5) == 6
    assert meld3(True, 0.5, 137, 0.8, 0.7, 3.5) == 7  # bili, INR, Cr below 1.0 → 1.0
    # male, Na 126, Alb 2.7: 0.82 × 11 + 1.85 × 0.8 + 6 = 9.02 + 1.48 + 6 = 16.5 → 17 (half-even 16)
    assert meld3(False, 1, 126, 1, 1, 2.7) == 17
    # female, Na 125, Alb 1.7: 1.33 + 0.82 × 12 + 1.85 × 1.8 + 6
    #   = 1.33 + 9.84 + 3.33 + 6 = 20.5 → 21
    assert meld3(True, 1, 125, 1, 1, 1.7) == 21


def test_meld3_creatinine_bound_and_dialysis():
    # male, Cr 3, others neutral: 11.14 × 1.098612 + 6 = 12.238541 + 6 = 18.239 → 18
    assert meld3(False, 1, 137, 1, 3.0, 3.5) == 18
    assert meld3(False, 1, 137, 1, 4.5, 3.5) == 18  # Cr capped at 3.0 (not MELD's 4.0)
    assert meld3(False, 1, 137, 1, 1.0, 3.5, dialysis=True) == 18  # dialysis → Cr 3.0


def test_meld3_sodium_and_albumin_bounds():
    # Na 120 → 125 and Na 140 → 137; Alb 1.0 → 1.5 and Alb 4.0 → 3.5 (labs 1, male).
    # male, Na 125 (d = 12): 0.82 × 12 + 6 = 15.84 → 16 (unbounded Na 120: 13.94 + 6 → 20)
    assert meld3(False, 1, 120, 1, 1, 3.5) == 16
    assert meld3(False, 1, 125, 1, 1, 3.5) == 16
    # Na 140 → 137: d = 0 → 6 (unbounded: −2.46 + 6 → 4)
    assert meld3(False, 1, 140, 1, 1, 3.5) == 6
    # Alb 1.0 → 1.5 (a = 2): 1.85 × 2 + 6 = 9.7 → 10 (unbounded a = 2.5: 10.625 → 11)
    assert meld3(False, 1, 137, 1, 1, 1.0) == 10
    # Alb 4.0 → 3.5 (a = 0): 6 (unbounded a = −0.5: 6 − 0.925 → 5)
    assert meld3(False, 1, 137, 1, 1, 4.0) == 6
    # with Cr 3 and Alb 1.5 (a = 2) the interaction term counts too:
    #   12.238541 + 1.85 × 2 − 1.83 × 2 × 1.098612 + 6 = 12.238541 + 3.7 − 4.020921 + 6
    #   = 17.918 → 18
    assert meld3(False, 1, 137, 1, 3.0, 1.5) == 18


def test_meld3_is_not_capped_at_forty():
    # female, bili 20, Na 125, INR 3, Cr 3, Alb 1.5 (d = 12, a = 2):
    #   1.33 + 4.56 × 2.995732 (13.660539) + 0.82 × 12 (9.84) − 0.24 × 12 × 2.995732 (8.627709)
    #   + 9.09 × 1.098612 (9.986386) + 11.14 × 1.098612 (12.238541) + 1.85 × 2 (3.7)
    #   − 1.83 × 2 × 1.098612 (4.020921) + 6 = 44.107 → 44
    assert meld3(True, 20, 125, 3, 3, 1.5) == 44


def test_meld3_nan_when_an_input_is_missing():
    nan = np.nan
    out = compute_meld3(
        pd.Series([pd.NA, True, True, True, True, True], dtype="boolean"),
        pd.Series([3.0, nan, 3.0, 3.0, 3.0, 3.0]),
        pd.Series([130.0, 130.0, nan, 130.0, 130.0, 130.0]),
        pd.Series([1.5, 1.5, 1.5, nan, 1.5, 1.5]),
        pd.Series([1.2, 1.2, 1.2, 1.2, nan, 1.2]),
        pd.Series([2.8, 2.8, 2.8, 2.8, 2.8, nan]),
        pd.Series([False] * 6),
    )
    assert out.isna().all()


# ==================================================================================================
# Child-Pugh (docs/sdtm-reference.md#child-pugh-cut-offs, SI units)
# ==================================================================================================


def points(scoring, bili=20.0, alb=40.0, inr=1.0, ascites="NONE", enceph="NONE"):
    """Child-Pugh points for one varying component; the others sit in their 1-point band."""
    n = max(len(v) if isinstance(v, list) else 1 for v in (bili, alb, inr, ascites, enceph))
    col = lambda v: v if isinstance(v, list) else [v] * n  # noqa: E731
    return compute_child_pugh_points(
        pd.Series(col(bili), dtype="float64"),
        pd.Series(col(alb), dtype="float64"),
        pd.Series(col(inr), dtype="float64"),
        pd.Series(col(ascites), dtype="object"),
        pd.Series(col(enceph), dtype="object"),
        scoring=scoring,
    )


def test_child_pugh_bilirubin_cut_offs(scoring):
    # < 34.2 → 1; 34.2–51.3 (both ends included) → 2; > 51.3 → 3
    assert points(scoring, bili=[34.1, 34.2, 51.3, 51.4])["bili_points"].tolist() == [1, 2, 2, 3]


def test_child_pugh_albumin_cut_offs(scoring):
    # < 28 → 3; 28–35 → 2; > 35 → 1
    assert points(scoring, alb=[27.9, 28.0, 35.0, 35.1])["alb_points"].tolist() == [3, 2, 2, 1]


def test_child_pugh_inr_cut_offs(scoring):
    # < 1.7 → 1; 1.7–2.3 → 2; > 2.3 → 3
    assert points(scoring, inr=[1.69, 1.7, 2.3, 2.31])["inr_points"].tolist() == [1, 2, 2, 3]


def test_child_pugh_ascites_and_encephalopathy_terms(scoring):
    terms = points(
        scoring,
        ascites=["NONE", "SLIGHT", "MODERATE"],
        enceph=["NONE", "GRADE 1-2", "GRADE 3-4"],
    )
    assert terms["ascites_points"].tolist() == [1, 2, 3]
    assert terms["enceph_points"].tolist() == [1, 2, 3]


def test_child_pugh_total_and_class_worked_example(scoring):
    # bili 40 (2) + alb 30 (2) + INR 1.5 (1) + ascites SLIGHT (2) + enceph NONE (1) = 8 → B
    out = points(scoring, bili=40.0, alb=30.0, inr=1.5, ascites="SLIGHT", enceph="NONE")
    assert out.iloc[0].tolist() == [2, 2, 1, 2, 1, 8]
    assert out.dtypes.eq("Int64").all()
    assert compute_child_pugh_class(out["total"], scoring=scoring).tolist() == ["B"]


def test_child_pugh_same_score_in_either_unit(scoring, conversions):
    # 2.0 mg/dL × 17.1 = 34.2 umol/L → 2; 3.0 mg/dL × 17.1 = 51.3 → 2 (the float product is
    # 51.300000000000004, which must not fall into "> 51.3"); 2.8 g/dL → 28 g/L → 2; 3.5 → 35 → 2
    bili = compute_unit_conversion(
        pd.Series([2.0, 3.0]), "BILI", "mg/dL", "umol/L", conversions=conversions
    )
    alb = compute_unit_conversion(
        pd.Series([2.8, 3.5]), "ALB", "g/dL", "g/L", conversions=conversions
    )
    out = points(scoring, bili=bili.tolist(), alb=alb.tolist())
    assert out["bili_points"].tolist() == [2, 2]
    assert out["alb_points"].tolist() == [2, 2]
    assert points(scoring, bili=[34.2, 51.3])["bili_points"].tolist() == [2, 2]


def test_child_pugh_missing_component_gives_missing_total(scoring):
    out = points(
        scoring,
        bili=[np.nan, 20.0, 20.0],
        ascites=["NONE", None, "NONE"],
        enceph=["NONE", "NONE", pd.NA],
    )
    assert out["bili_points"].isna().tolist() == [True, False, False]
    assert out["ascites_points"].isna().tolist() == [False, True, False]
    assert out["enceph_points"].isna().tolist() == [False, False, True]
    assert out["total"].isna().all()
    assert compute_child_pugh_class(out["total"], scoring=scoring).isna().all()


def test_child_pugh_refuses_unstandardised_terms(scoring):
    with pytest.raises(ValueError, match="terminology.csv"):
        points(scoring, ascites="Mild")


def test_child_pugh_class_boundaries(scoring):
    # A 5–6, B 7–9, C 10–15; outside 5–15 or missing → NA
    totals = pd.Series([5, 6, 7, 9, 10, 15, 4, 16, pd.NA], dtype="Int64")
    out = compute_child_pugh_class(totals, scoring=scoring)
    assert out.tolist()[:6] == ["A", "A", "B", "B", "C", "C"]
    assert out.isna().tolist()[6:] == [True, True, True]


def test_child_pugh_table_read_with_inferred_types(scoring):
    # a plain read_csv (floats for bounds, NaN for empty cells) scores the same as the text read
    inferred = pd.read_csv(STUDY / "scores.csv")
    args = dict(bili=[34.1, 34.2, 51.3, 51.4], alb=[27.9, 28.0, 35.0, 35.1])
    pd.testing.assert_frame_equal(points(inferred, **args), points(scoring, **args))


def test_child_pugh_table_errors_are_configuration_errors(scoring):
    # INR 1 point made "<= 1.7" while 2 points stays ">= 1.7": 1.7 would score both
    overlapping = scoring.copy()
    inr_one = (overlapping["item"] == "INR") & (overlapping["result"] == "1")
    overlapping.loc[inr_one, "below"] = ""
    overlapping.loc[inr_one, "at_most"] = "1.7"
    with pytest.raises(ValueError, match="overlap"):
        points(overlapping, inr=1.7)
    wrong_unit = scoring.assign(unit=scoring["unit"].where(scoring["item"] != "BILI", "mg/dL"))
    with pytest.raises(ValueError, match="umol/L"):
        points(wrong_unit)


# ==================================================================================================
# Unit helpers (factors read from unit_conversions.csv)
# ==================================================================================================


def test_unit_helpers(conversions):
    # 34.2 / 17.1 = 2.0; 88.4 / 88.4 = 1.0; 35 / 10 = 3.5
    bili = compute_mg_dl_from_umol_l(one(34.2), "BILI", conversions=conversions)
    creat = compute_mg_dl_from_umol_l(one(88.4), "CREAT", conversions=conversions)
    alb = compute_g_dl_from_g_l(np.array([35.0, np.nan]), conversions=conversions)
    assert bili[0] == pytest.approx(2.0)
    assert creat[0] == pytest.approx(1.0)
    assert alb[0] == pytest.approx(3.5) and np.isnan(alb[1])
    with pytest.raises(ValueError, match="unit_conversions.csv"):
        compute_unit_conversion(one(1.0), "BILI", "umol/L", "mmol/L", conversions=conversions)
