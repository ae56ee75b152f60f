"""Liver-disease score arithmetic: MELD, MELD-Na, MELD 3.0 and Child-Pugh, values in → values out.

These are the `compute_` half of the admiral split: plain numbers (pandas Series, numpy arrays or
scalars of float; NaN or NA = missing) in, plain numbers out, no frames of records, no I/O. The
`derive_` wrappers that pick a subject-visit's inputs and build RS records call these.

Conventions shared by every function here
-----------------------------------------
* Missing in → missing out: a score is NaN (or NA) when any of its inputs is missing. The one
  exception is a dialysis flag, where NA counts as "not dialysed" (see `compute_meld`).
* Output shape follows the input: if any argument is a Series the result is a Series (or, for
  Child-Pugh points, a DataFrame) on that index; otherwise a numpy array. Series arguments must
  share one index, because the arithmetic is done on the underlying arrays and would otherwise
  pair values of different records without telling anyone.
* Rounding is half up (22.5 → 23), as the score definitions mean "round to the nearest integer",
  never numpy's round-half-to-even. Before rounding, the value is snapped to
  `_SNAP_DECIMALS` (9) decimal places so that an exact .5 that floating point carries as
  22.499999999999996 is not rounded down. The scores' true values have at most a few decimals
  when they land on a .5 (for example MELD 3.0 with floored logs: 0.82 × 11 + 1.85 × 0.8 + 6 =
  16.5), so nine decimals are far finer than any real difference and far coarser than the ~1e-14
  noise of the arithmetic.
* Child-Pugh cut-offs are decimal numbers in SI units (34.2 µmol/L, 28 g/L, 1.7). A value that
  reached SI through a unit conversion carries noise (3.0 mg/dL × 17.1 = 51.300000000000004), so
  values and cut-offs are both rounded to `_COMPARE_DECIMALS` (6) decimal places before they are
  compared: a boundary value then scores in the band the table puts it in, whichever unit it
  arrived in. Six decimals is far below any lab's reporting resolution (0.1 µmol/L, 0.01
  mg/dL × 17.1 = 0.171 µmol/L) and far above float noise.

Study knowledge is data: the Child-Pugh cut-offs, the points of the ascites and encephalopathy
terms and the class bands come in as the `scoring` table (`mappings/<study>/scores.csv`), and unit
factors as the `conversions` table (`mappings/<study>/unit_conversions.csv`), both loaded by the
caller (this module reads no files). The generic formulas' coefficients are named constants below,
each with its source.

The `scoring` table has one row per band or term::

    score,item,unit,term,above,at_least,at_most,below,result

* `score` — `CHILD-PUGH`; `item` — `BILI`, `ALB`, `INR` (LBTESTCD), `ASCITES`, `ENCEPH`
  (the terminology.csv codelists of the standardised terms) or `TOTAL` (class bands);
* `unit` — the unit the numeric bounds are in (checked against the unit the function takes);
* numeric bands: `above` (>) or `at_least` (>=) for the lower bound, `at_most` (<=) or
  `below` (<) for the upper bound, either side may be empty (unbounded);
* term rows: `term` holds the standardised term;
* `result` — the points (1–3) for components, the class letter for `TOTAL`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# --- rounding and comparison ----------------------------------------------------------------------

_SNAP_DECIMALS = 9  # why: see module docstring, "Rounding is half up"
_COMPARE_DECIMALS = 6  # why: see module docstring, "Child-Pugh cut-offs"

# --- MELD, UNOS/OPTN (pre-2016) -------------------------------------------------------------------
# docs/sdtm-reference.md#meld (Kamath 2001 / Malinchoc 2000 without the aetiology term, as UNOS
# adopted it): MELD = 10 × [0.957 ln(Cr) + 0.378 ln(Bili) + 1.120 ln(INR) + 0.643].
MELD_COEF_CREATININE = 0.957
MELD_COEF_BILIRUBIN = 0.378
MELD_COEF_INR = 1.120
MELD_CONSTANT = 0.643
MELD_SCALE = 10.0
MELD_LAB_FLOOR = 1.0  # Cr, bilirubin, INR below 1.0 are set to 1.0 (keeps every log >= 0)
MELD_CREATININE_CAP = 4.0  # mg/dL; also the value used on dialysis
MELD_CAP = 40.0

# --- MELD-Na, OPTN policy January 2016 ------------------------------------------------------------
# docs/sdtm-reference.md#meld-na: MELD(i) + 1.32 (137 − Na) − 0.033 MELD(i) (137 − Na) when MELD(i)
# > 11.
MELD_NA_COEF_SODIUM = 1.32
MELD_NA_COEF_INTERACTION = 0.033
MELD_NA_THRESHOLD = 11.0  # applied only when MELD(i) > 11
SODIUM_LOW = 125.0  # mmol/L; bounds shared by MELD-Na and MELD 3.0
SODIUM_HIGH = 137.0

# --- MELD 3.0, Kim WR et al. Gastroenterology 2021;161(6):1887-1895 (PMC8608337) ----------------
# docs/sdtm-reference.md#meld-30. No cap at 40 (openEHR CKM MELD_3_0 notes the absence of the cap).
MELD3_COEF_FEMALE = 1.33
MELD3_COEF_BILIRUBIN = 4.56
MELD3_COEF_SODIUM = 0.82
MELD3_COEF_SODIUM_BILIRUBIN = 0.24
MELD3_COEF_INR = 9.09
MELD3_COEF_CREATININE = 11.14
MELD3_COEF_ALBUMIN = 1.85
MELD3_COEF_ALBUMIN_CREATININE = 1.83
MELD3_CONSTANT = 6.0
MELD3_LAB_FLOOR = 1.0  # bilirubin, INR, creatinine
MELD3_CREATININE_CAP = 3.0  # mg/dL; also the value used on dialysis
MELD3_ALBUMIN_LOW = 1.5  # g/dL
MELD3_ALBUMIN_HIGH = 3.5

# --- Child-Pugh -----------------------------------------------------------------------------------
CHILD_PUGH = "CHILD-PUGH"
CHILD_PUGH_COLUMNS = ["bili_points", "alb_points", "inr_points", "ascites_points", "enceph_points"]
# item in the scoring table → the unit the function's argument is in ("" = dimensionless)
_CHILD_PUGH_NUMERIC_ITEMS = {"BILI": "umol/L", "ALB": "g/L", "INR": ""}
_BOUND_COLUMNS = ["above", "at_least", "at_most", "below"]
_SCORING_COLUMNS = ["score", "item", "unit", "term", *_BOUND_COLUMNS, "result"]
_CONVERSION_COLUMNS = ["LBTESTCD", "LBORRESU", "LBSTRESU", "factor"]


# ==================================================================================================
# Unit conversion
# ==================================================================================================


def compute_unit_conversion(
    values, testcd: str, from_unit: str, to_unit: str, *, conversions: pd.DataFrame
):
    """`values` of test `testcd` in `from_unit`, expressed in `to_unit`.

    `conversions` is the study's unit table (`unit_conversions.csv`: LBTESTCD, LBORRESU, LBSTRESU,
    factor, where LBSTRESN = LBORRES × factor). Either direction of a listed pair works: the
    factor multiplies original → standard and divides standard → original, so the scores use the
    very factors LB used and the two cannot drift apart. The result is not rounded.
    """
    _require_columns(conversions, _CONVERSION_COLUMNS, "conversions", "unit_conversions.csv")
    index = _shared_index(values=values)
    x = _as_float(values, "values")
    if from_unit == to_unit:
        return _wrap(x.copy(), index)
    table = conversions.assign(
        LBORRESU=conversions["LBORRESU"].fillna("").astype(str),
        LBSTRESU=conversions["LBSTRESU"].fillna("").astype(str),
    )
    test = table[table["LBTESTCD"] == testcd]
    forward = test[(test["LBORRESU"] == from_unit) & (test["LBSTRESU"] == to_unit)]
    backward = test[(test["LBORRESU"] == to_unit) & (test["LBSTRESU"] == from_unit)]
    if len(forward) + len(backward) != 1:
        raise ValueError(
            f"conversions: expected exactly one row for {testcd} between {from_unit!r} and "
            f"{to_unit!r}, found {len(forward) + len(backward)}; add (or de-duplicate) the row "
            f"LBTESTCD={testcd} in unit_conversions.csv"
        )
    if len(forward):
        return _wrap(x * float(forward["factor"].iloc[0]), index)
    return _wrap(x / float(backward["factor"].iloc[0]), index)


def compute_mg_dl_from_umol_l(values, analyte: str, *, conversions: pd.DataFrame):
    """Bilirubin (`analyte="BILI"`, ÷17.1) or creatinine (`"CREAT"`, ÷88.4) from µmol/L to mg/dL."""
    if analyte not in ("BILI", "CREAT"):
        raise ValueError(f"analyte must be 'BILI' or 'CREAT' (LBTESTCD), got {analyte!r}")
    return compute_unit_conversion(values, analyte, "umol/L", "mg/dL", conversions=conversions)


def compute_g_dl_from_g_l(values, *, conversions: pd.DataFrame):
    """Albumin from g/L to g/dL (÷10), the unit MELD 3.0 takes."""
    return compute_unit_conversion(values, "ALB", "g/L", "g/dL", conversions=conversions)


# ==================================================================================================
# MELD family
# ==================================================================================================


def compute_meld(creatinine_mg_dl, bilirubin_mg_dl, inr, dialysis):
    """Original UNOS MELD (docs/sdtm-reference.md#meld), integer-valued floats 6–40; NaN when a lab
    is missing.

    Creatinine, bilirubin and INR below 1.0 are set to 1.0; creatinine is capped at 4.0 mg/dL and
    set to 4.0 when `dialysis` is True ("Dialysis in past week" = Y: at least two dialyses, or
    24 h of CVVHD, in the prior 7 days). 10 × (…) is rounded half up, then capped at 40.

    `dialysis` is boolean; NA counts as no dialysis, because the site records dialysis only when
    it happened and a blank is not evidence of it — a missing creatinine, by contrast, makes the
    score NaN even on dialysis, so that "NaN" always means "a lab was missing".
    """
    index = _shared_index(
        creatinine_mg_dl=creatinine_mg_dl,
        bilirubin_mg_dl=bilirubin_mg_dl,
        inr=inr,
        dialysis=dialysis,
    )
    cr, bili, inr_, dial = np.broadcast_arrays(
        _as_float(creatinine_mg_dl, "creatinine_mg_dl"),
        _as_float(bilirubin_mg_dl, "bilirubin_mg_dl"),
        _as_float(inr, "inr"),
        _as_flag(dialysis, "dialysis", na_as=False),
    )
    # np.clip / np.maximum keep NaN (np.fmax would turn a missing lab into the floor value).
    cr = np.where(
        dial & ~np.isnan(cr),
        MELD_CREATININE_CAP,
        np.clip(cr, MELD_LAB_FLOOR, MELD_CREATININE_CAP),
    )
    bili = np.maximum(bili, MELD_LAB_FLOOR)
    inr_ = np.maximum(inr_, MELD_LAB_FLOOR)
    unscaled = (
        MELD_COEF_CREATININE * np.log(cr)
        + MELD_COEF_BILIRUBIN * np.log(bili)
        + MELD_COEF_INR * np.log(inr_)
        + MELD_CONSTANT
    )
    meld = np.minimum(_round_half_up(MELD_SCALE * unscaled), MELD_CAP)
    return _wrap(meld, index)


def compute_meld_na(meld, sodium_mmol_l):
    """MELD-Na, OPTN policy of January 2016 (docs/sdtm-reference.md#meld-na); NaN when either input
    is missing.

    `meld` is MELD(i), the integer MELD of `compute_meld` (RS MELD0101), not the unrounded
    10 × (…). docs/sdtm-reference.md#meld-na defines MELD(i) as "the integer score of MELD", and
    docs/sdtm-reference.md#meld says OPTN "rounds the unscaled term to the tenth then multiplies by
    10" — a tenth of the unscaled term times 10 is a whole number, so both readings give the
    integer. A non-integer `meld` therefore raises.

    Sodium is bounded to 125–137 mmol/L. If MELD(i) > 11:
    MELD-Na = MELD(i) + 1.32 × (137 − Na) − 0.033 × MELD(i) × (137 − Na), rounded half up and
    capped at 40; otherwise MELD-Na = MELD(i). A missing sodium gives NaN even when MELD(i) <= 11
    (where the value would not depend on it), so that NaN means "an input was missing" everywhere.
    """
    index = _shared_index(meld=meld, sodium_mmol_l=sodium_mmol_l)
    m, na = np.broadcast_arrays(_as_float(meld, "meld"), _as_float(sodium_mmol_l, "sodium_mmol_l"))
    fractional = ~np.isnan(m) & (m != np.round(m))
    if fractional.any():
        raise ValueError(
            "meld must be the integer MELD(i) from compute_meld (OPTN rounds it before the sodium "
            f"step); got non-integer values {np.unique(m[fractional])[:5].tolist()}"
        )
    deficit = SODIUM_HIGH - np.clip(na, SODIUM_LOW, SODIUM_HIGH)
    adjusted = m + MELD_NA_COEF_SODIUM * deficit - MELD_NA_COEF_INTERACTION * m * deficit
    adjusted = np.minimum(_round_half_up(adjusted), MELD_CAP)
    out = np.where(m > MELD_NA_THRESHOLD, adjusted, m)
    out = np.where(np.isnan(na), np.nan, out)
    return _wrap(out, index)


def compute_meld3(
    sex_female, bilirubin_mg_dl, sodium_mmol_l, inr, creatinine_mg_dl, albumin_g_dl, dialysis
):
    """MELD 3.0 (Kim et al. 2021; docs/sdtm-reference.md#meld-30), integer-valued floats, no cap at
    40.

    Bounds: bilirubin, INR and creatinine below 1.0 set to 1.0; creatinine capped at 3.0 mg/dL and
    set to 3.0 on dialysis; sodium bounded 125–137 mmol/L; albumin bounded 1.5–3.5 g/dL.

        1.33 × female + 4.56 ln(Bili) + 0.82 (137 − Na) − 0.24 (137 − Na) ln(Bili)
        + 9.09 ln(INR) + 11.14 ln(Cr) + 1.85 (3.5 − Alb) − 1.83 (3.5 − Alb) ln(Cr) + 6

    rounded half up. `sex_female` is boolean (True = female); NA sex makes the score NaN, since
    the 1.33 term cannot be known. `dialysis` NA counts as no dialysis, as in `compute_meld`.
    """
    index = _shared_index(
        sex_female=sex_female,
        bilirubin_mg_dl=bilirubin_mg_dl,
        sodium_mmol_l=sodium_mmol_l,
        inr=inr,
        creatinine_mg_dl=creatinine_mg_dl,
        albumin_g_dl=albumin_g_dl,
        dialysis=dialysis,
    )
    female, bili, na, inr_, cr, alb, dial = np.broadcast_arrays(
        _as_flag(sex_female, "sex_female", na_as=None),
        _as_float(bilirubin_mg_dl, "bilirubin_mg_dl"),
        _as_float(sodium_mmol_l, "sodium_mmol_l"),
        _as_float(inr, "inr"),
        _as_float(creatinine_mg_dl, "creatinine_mg_dl"),
        _as_float(albumin_g_dl, "albumin_g_dl"),
        _as_flag(dialysis, "dialysis", na_as=False),
    )
    bili = np.maximum(bili, MELD3_LAB_FLOOR)
    inr_ = np.maximum(inr_, MELD3_LAB_FLOOR)
    cr = np.where(
        dial & ~np.isnan(cr),
        MELD3_CREATININE_CAP,
        np.clip(cr, MELD3_LAB_FLOOR, MELD3_CREATININE_CAP),
    )
    na_deficit = SODIUM_HIGH - np.clip(na, SODIUM_LOW, SODIUM_HIGH)
    alb_deficit = MELD3_ALBUMIN_HIGH - np.clip(alb, MELD3_ALBUMIN_LOW, MELD3_ALBUMIN_HIGH)
    ln_bili, ln_cr = np.log(bili), np.log(cr)
    score = (
        MELD3_COEF_FEMALE * female  # float: NaN where sex is unknown
        + MELD3_COEF_BILIRUBIN * ln_bili
        + MELD3_COEF_SODIUM * na_deficit
        - MELD3_COEF_SODIUM_BILIRUBIN * na_deficit * ln_bili
        + MELD3_COEF_INR * np.log(inr_)
        + MELD3_COEF_CREATININE * ln_cr
        + MELD3_COEF_ALBUMIN * alb_deficit
        - MELD3_COEF_ALBUMIN_CREATININE * alb_deficit * ln_cr
        + MELD3_CONSTANT
    )
    return _wrap(_round_half_up(score), index)


# ==================================================================================================
# Child-Pugh
# ==================================================================================================


def compute_child_pugh_points(
    bilirubin_umol_l, albumin_g_l, inr, ascites, encephalopathy, *, scoring: pd.DataFrame
) -> pd.DataFrame:
    """Child-Pugh points per component and their total, from the study's `scoring` table.

    Returns a DataFrame with Int64 columns `bili_points, alb_points, inr_points, ascites_points,
    enceph_points, total`; a component is NA when its input is missing, the total is NA when any
    component is. Bilirubin is in µmol/L and albumin in g/L, as the cut-offs of
    docs/sdtm-reference.md#child-pugh-cut-offs are (the table's `unit` column is checked against
    that). Values are compared with the cut-offs after rounding both to 6 decimal places, so 3.0
    mg/dL × 17.1 = 51.300000000000004 µmol/L scores as 51.3.

    `ascites` and `encephalopathy` are standardised terms (terminology.csv codelists ASCITES and
    ENCEPH: `NONE`, `SLIGHT`, `MODERATE`; `NONE`, `GRADE 1-2`, `GRADE 3-4`). A term the table does
    not know raises: site spellings must be standardised (and unknown ones reported as findings)
    before scoring, not silently scored as missing.
    """
    table = _scoring_rows(scoring, CHILD_PUGH)
    index = _shared_index(
        bilirubin_umol_l=bilirubin_umol_l,
        albumin_g_l=albumin_g_l,
        inr=inr,
        ascites=ascites,
        encephalopathy=encephalopathy,
    )
    numeric = {
        "BILI": np.atleast_1d(_as_float(bilirubin_umol_l, "bilirubin_umol_l")),
        "ALB": np.atleast_1d(_as_float(albumin_g_l, "albumin_g_l")),
        "INR": np.atleast_1d(_as_float(inr, "inr")),
    }
    terms = {
        "ASCITES": _as_terms(ascites),
        "ENCEPH": _as_terms(encephalopathy),
    }
    lengths = {len(v) for v in [*numeric.values(), *terms.values()]}
    if len(lengths) != 1:
        raise ValueError(
            f"Child-Pugh inputs must all have the same length, got lengths {sorted(lengths)}"
        )
    n = lengths.pop()

    points = {}
    for item, unit in _CHILD_PUGH_NUMERIC_ITEMS.items():
        bands = _item_rows(table, item)
        units = set(bands["unit"])
        if units != {unit}:
            raise ValueError(
                f"scoring: Child-Pugh {item} cut-offs are in {sorted(units)} but "
                f"compute_child_pugh_points takes {item} in {unit or 'no unit'!r}; state the "
                f"cut-offs in {unit or 'no unit'!r} in scores.csv"
            )
        points[item] = _band_results(numeric[item], bands, f"Child-Pugh {item}")
    for item, argument in (("ASCITES", "ascites"), ("ENCEPH", "encephalopathy")):
        points[item] = _term_results(terms[item], _item_rows(table, item), argument)

    out = pd.DataFrame(
        {
            column: pd.array(points[item], dtype="Int64")
            for column, item in zip(CHILD_PUGH_COLUMNS, ["BILI", "ALB", "INR", "ASCITES", "ENCEPH"])
        },
        index=index if index is not None else pd.RangeIndex(n),
    )
    # skipna=False: a total over four of five components would be a wrong score, not a partial one.
    out["total"] = out[CHILD_PUGH_COLUMNS].sum(axis=1, skipna=False).astype("Int64")
    return out


def compute_child_pugh_class(total, *, scoring: pd.DataFrame):
    """Child-Pugh class from the total points: `A` (5–6), `B` (7–9), `C` (10–15) per the `scoring`
    table's `TOTAL` bands; NA for a missing total or one outside every band. Returns a string
    Series on the input's index if `total` is a Series, else a pandas string array."""
    bands = _item_rows(_scoring_rows(scoring, CHILD_PUGH), "TOTAL")
    index = _shared_index(total=total)
    classes = _band_results(np.atleast_1d(_as_float(total, "total")), bands, "Child-Pugh TOTAL")
    if index is None:
        return pd.array(classes, dtype="string")
    return pd.Series(classes, index=index, dtype="string")


# ==================================================================================================
# helpers
# ==================================================================================================


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """Half-up rounding to integers (NaN stays NaN); see the module docstring for the snap."""
    return np.floor(np.round(x, _SNAP_DECIMALS) + 0.5)


def _shared_index(**arguments) -> pd.Index | None:
    """The index of the Series arguments (None if there are none); they must all share it."""
    series = {name: a for name, a in arguments.items() if isinstance(a, pd.Series)}
    if not series:
        return None
    (first_name, first), *rest = series.items()
    for name, s in rest:
        if not s.index.equals(first.index):
            raise ValueError(
                f"{name} and {first_name} are Series on different indexes; the score pairs values "
                "by position, so align them first (e.g. build them from one frame's columns)"
            )
    return first.index


def _wrap(values: np.ndarray, index: pd.Index | None):
    return values if index is None else pd.Series(values, index=index, dtype="float64")


def _as_float(values, name: str) -> np.ndarray:
    """A float64 numpy array, NaN for missing (NaN, None, pd.NA), from Series, array or scalar."""
    try:
        if isinstance(values, pd.Series):
            return values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        array = np.asarray(values)
        if array.dtype.kind in "biuf":  # plain numeric numpy: no NA objects to translate
            return array.astype("float64")
        array = array.astype(object)
        flat = pd.array(array.ravel(), dtype="Float64")
        return flat.to_numpy(dtype="float64", na_value=np.nan).reshape(array.shape)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be numeric (float, NaN for missing); convert text results to numbers "
            f"before scoring ({error})"
        ) from None


def _as_flag(values, name: str, *, na_as: bool | None) -> np.ndarray:
    """A boolean flag as a numpy array: bool when `na_as` fills NA, else float with NaN for NA."""
    if not isinstance(values, pd.Series) and np.asarray(values).dtype.kind == "b":
        flags = np.asarray(values)  # plain numpy bool: nothing is missing
        return flags if na_as is not None else flags.astype("float64")
    try:
        if isinstance(values, pd.Series):
            flags = values.astype("boolean")
        else:
            array = np.asarray(values, dtype=object)
            flags = pd.array(array.ravel(), dtype="boolean").reshape(array.shape)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be boolean (True, False or NA); map Y/N or M/F to True/False before "
            f"scoring ({error})"
        ) from None
    if na_as is None:
        return np.asarray(flags.to_numpy(dtype="float64", na_value=np.nan))
    return np.asarray(flags.to_numpy(dtype=bool, na_value=na_as))


def _as_terms(values) -> pd.Series:
    """Standardised terms as an object Series on a RangeIndex, None for missing."""
    if isinstance(values, pd.Series):
        array = values.to_numpy(dtype=object)
    else:
        array = np.atleast_1d(np.asarray(values, dtype=object)).ravel()
    terms = pd.Series(array, dtype=object)
    return terms.where(terms.notna(), None)


def _require_columns(
    table: pd.DataFrame, columns: Sequence[str], argument: str, source: str
) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{argument} lacks columns {missing}; pass the frame read from {source}")


def _scoring_rows(scoring: pd.DataFrame, score: str) -> pd.DataFrame:
    """The rows of one score, with text columns as str ('' for empty) and bounds as float."""
    _require_columns(scoring, _SCORING_COLUMNS, "scoring", "mappings/<study>/scores.csv")
    rows = scoring[scoring["score"] == score]
    if rows.empty:
        raise ValueError(f"scoring has no rows for score {score!r}; add them to scores.csv")
    text = {
        c: rows[c].fillna("").astype(str).str.strip() for c in ("item", "unit", "term", "result")
    }
    bounds = {c: pd.to_numeric(rows[c]).astype("float64") for c in _BOUND_COLUMNS}
    return rows.assign(**text, **bounds)


def _item_rows(table: pd.DataFrame, item: str) -> pd.DataFrame:
    rows = table[table["item"] == item]
    if rows.empty:
        raise ValueError(f"scoring has no rows for item {item!r}; add them to scores.csv")
    return rows


def _band_results(values: np.ndarray, bands: pd.DataFrame, what: str) -> np.ndarray:
    """The `result` of the band each value falls in (object array, None where none or missing)."""
    both_lower = bands["above"].notna() & bands["at_least"].notna()
    both_upper = bands["at_most"].notna() & bands["below"].notna()
    if (both_lower | both_upper).any():
        raise ValueError(
            f"scoring: a {what} band gives two lower or two upper bounds; keep one of each"
        )
    x = np.round(values, _COMPARE_DECIMALS)
    result = np.full(x.shape, None, dtype=object)
    matched = np.zeros(x.shape, dtype=int)
    for band in bands.itertuples(index=False):
        inside = ~np.isnan(x)
        # An empty bound (NaN) leaves that side open.
        if not np.isnan(band.above):
            inside &= x > np.round(band.above, _COMPARE_DECIMALS)
        if not np.isnan(band.at_least):
            inside &= x >= np.round(band.at_least, _COMPARE_DECIMALS)
        if not np.isnan(band.at_most):
            inside &= x <= np.round(band.at_most, _COMPARE_DECIMALS)
        if not np.isnan(band.below):
            inside &= x < np.round(band.below, _COMPARE_DECIMALS)
        result[inside] = _result_value(band.result)
        matched += inside
    if (matched > 1).any():
        raise ValueError(
            f"scoring: {what} bands overlap (e.g. at {x[matched > 1][0]}); a boundary value must "
            "belong to exactly one band, so use 'at_least'/'at_most' on one side and "
            "'above'/'below' on the other"
        )
    return result


def _term_results(terms: pd.Series, rows: pd.DataFrame, argument: str) -> np.ndarray:
    lookup = {row.term: _result_value(row.result) for row in rows.itertuples(index=False)}
    present = terms.notna()
    unknown = sorted(set(terms[present & ~terms.isin(list(lookup))]))
    if unknown:
        raise ValueError(
            f"{argument} has terms the scoring table does not know: {unknown}; expected one of "
            f"{sorted(lookup)} — standardise site spellings through terminology.csv first"
        )
    return terms.map(lookup).where(present, None).to_numpy(dtype=object)


def _result_value(result: str):
    """Points are integers (also when read as floats, "2.0"); class letters stay text."""
    try:
        number = float(result)
    except ValueError:
        return result
    return int(number) if number.is_integer() else number
