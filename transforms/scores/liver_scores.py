"""Liver scores per subject and visit: pair the inputs, compute the scores, build the analysis table.

Three steps, each a frame in and a new frame out (the RS domain in `transforms/scores/rs.py` reads the
frame of the second):

1. `derive_score_inputs(lb, assessments, conversions=..., sources=...)` — one row per assessment row (subject
   and visit) with the lab results the scores need, in SI and conventional units, beside the
   assessment's ascites, encephalopathy and dialysis.
2. `derive_scores(inputs, dm, scoring=..., sources=...)` — adds MELD, MELD-Na, MELD 3.0, the Child-Pugh points,
   total and class, and, per score, the list of its missing inputs.
3. `build_liver_scores(scores, dm)` — the analysis table (`liver_scores.parquet`): treatment
   arms, study day, baseline and change from baseline.

The arithmetic is not here: it is `transforms/scores/formulas.py` (compute_meld, compute_meld_na,
compute_meld3, compute_child_pugh_points, compute_child_pugh_class), tested on bare numbers.

Pairing rule (docs/sdtm-reference.md#score-inputs)
---------------------------------------------------
A score takes the labs and the assessment of the same USUBJID and VISITNUM. Of several results of
one test within the visit the latest wins: latest LBDTC, then highest LBSEQ. Only results with a
number count (LBSTRESN present): a result written `<5` has no LBSTRESN and is not an input, and a
later NOT DONE record does not hide an earlier result. A result with no LBDTC sorts before every
dated one, so it is used only when the visit has no dated result of that test. ISO 8601 text sorts
chronologically, and a date without a time (`2026-03-05`) sorts before any time on that day.

Which LB test and which assessment column feeds each input is the study's score_inputs.csv
(`Study.score_sources`); what the inputs are and the units each formula takes them in is the
arithmetic's (LAB_INPUTS, ASSESSMENT_INPUTS below). Missing inputs are named the way the site
would look for them, by their source: lab tests by the study's LBTESTCD (`CREAT`, `INR`),
assessment items by their column (`ascites`, `encephalopathy`), and `SEX` (from DM, for MELD 3.0).
A blank dialysis answer is not a missing input: compute_meld counts it as "not dialysed".

Baseline (analysis table)
-------------------------
`ABLFL` = "Y" on the subject's last assessment dated on or before the first-dose date (RFXSTDTC,
compared as days, so the Day 1 assessment is baseline, as LBLOBXFL counts it). Each score's
baseline value (`<score>_BASE`) is the score's last non-missing value on or before that date —
the RSLOBXFL rule per test — so a score that could not be computed at the baseline visit takes its
screening value rather than leaving every change missing. `<score>_CHG` = value − baseline, on
post-baseline rows only (assessment date after the first-dose date); baseline and pre-baseline rows
have no change. Subjects never dosed have no baseline and no change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transforms.core.findings import LINEAGE
from transforms.scores.formulas import (
    CHILD_PUGH_COLUMNS,
    compute_child_pugh_class,
    compute_child_pugh_points,
    compute_meld,
    compute_meld3,
    compute_meld_na,
    compute_unit_conversion,
)
from transforms.core.dates import compute_complete_date
from transforms.domains.sdtm import derive_study_days

KEYS = ["USUBJID", "VISITNUM"]

# The inputs the formulas of transforms/scores/formulas.py read, named as the arithmetic names them. Which
# LB test or assessment column feeds each is the study's (score_inputs.csv, `Study.score_sources`);
# the units are the arithmetic's: each lab input is carried in every unit a formula or the
# analysis table takes it in, converted from the unit LB holds the study's test in (lab_tests.csv
# LBSTRESU) by the study's unit_conversions.csv, the factors LB itself used.
# {input: {unit: column of the inputs frame}}
LAB_INPUTS = {
    "BILI": {"umol/L": "BILI_UMOLL", "mg/dL": "BILI_MGDL"},
    "CREAT": {"umol/L": "CREAT_UMOLL", "mg/dL": "CREAT_MGDL"},
    "ALB": {"g/L": "ALB_GL", "g/dL": "ALB_GDL"},
    "INR": {"": "INR"},
    "SODIUM": {"mmol/L": "SODIUM"},
}
# Assessment items (terms or Y/N, standardised on the assessments sheet): input -> column.
ASSESSMENT_INPUTS = {"ASCITES": "ASCITES", "ENCEPH": "ENCEPH", "DIALYSIS": "DIALYSIS"}
# A study that does not ask about dialysis leaves it out: every subject then counts as not
# dialysed, exactly as compute_meld counts a blank answer.
OPTIONAL_INPUTS = {"DIALYSIS"}
SCORE_INPUT_COLUMNS = ["input", "source", "comment"]

# What each score needs (formula inputs); order = order in the "missing" messages, which name
# each input by its source (the study's LBTESTCD or assessment column) and SEX (from DM).
SCORE_NEEDS = {
    "MELD": ["BILI", "CREAT", "INR"],
    "MELD_NA": ["BILI", "CREAT", "INR", "SODIUM"],
    "MELD3": ["BILI", "CREAT", "ALB", "INR", "SODIUM", "SEX"],
    "CP": ["BILI", "ALB", "INR", "ASCITES", "ENCEPH"],
}
# Child-Pugh point columns of the scores frame, in compute_child_pugh_points' order.
CP_POINT_COLUMNS = ["CP_BILI", "CP_ALB", "CP_INR", "CP_ASCITES", "CP_ENCEPH"]
CHANGE_SCORES = ["MELD", "MELD_NA", "MELD3", "CP_TOTAL"]

_ASSESSMENT_KEYS = [
    "subject", "USUBJID", "VISITNUM", "VISIT", "VISITDY", "dtc_assessment_date", *LINEAGE,
]
_LB_COLUMNS = ["USUBJID", "VISITNUM", "LBTESTCD", "LBSTRESN", "LBSTRESU", "LBDTC", "LBSEQ"]
_SOURCE_COLUMNS = ["input", "source", "column", "unit"]


def derive_score_sources(
    score_inputs: pd.DataFrame, raw_columns: pd.DataFrame, lab_tests: pd.DataFrame,
    assessments_sheet: str | None,
) -> pd.DataFrame:
    """The study's score_inputs.csv with, per input, the `column` the pipeline reads (the LB test
    code for a lab input; for an assessment input the standardised column its raw column is coded
    as, else the raw column) and the `unit` LB holds a lab input in ("" for assessment items).

    check-study (transforms/spec/study_check.py) has refused a folder whose table names a source no
    sheet or test provides, so the lookups here always find their row.
    """
    table = score_inputs[["input", "source"]].astype(str).apply(lambda column: column.str.strip())
    units = dict(zip(lab_tests["LBTESTCD"], lab_tests["LBSTRESU"]))
    sheet = raw_columns[raw_columns["sheet"] == assessments_sheet]
    coded = dict(zip(sheet["column"], sheet["coded_as"].where(sheet["coded_as"] != "", sheet["column"])))
    lab = table["input"].isin(list(LAB_INPUTS))
    return table.assign(
        column=table["source"].where(lab, table["source"].map(coded)),
        unit=table["source"].map(units).where(lab, ""),
    )[_SOURCE_COLUMNS]


def derive_score_inputs(
    lb: pd.DataFrame, assessments: pd.DataFrame, *, conversions: pd.DataFrame,
    sources: pd.DataFrame,
) -> pd.DataFrame:
    """One row per assessment row, with the score inputs of its subject and visit.

    `lb` is the LB domain; `assessments` the standardised Assessments rows with VISITNUM (from
    `derive_visit_variables(assessments, "dtc_assessment_date", visits, unscheduled)`);
    `conversions` the study's unit_conversions.csv table (the factors LB itself used);
    `sources` which test or column feeds each input (`Study.score_sources`).

    Columns: subject, USUBJID, VISITNUM, VISIT, VISITDY, DTC (assessment date), every column of
    LAB_INPUTS (BILI_UMOLL, BILI_MGDL, CREAT_UMOLL, CREAT_MGDL, ALB_GL, ALB_GDL, INR, SODIUM in
    mmol/L), LBSEQ_<input> (the LB record used, for tracing), ASCITES, ENCEPH, DIALYSIS (`Y`/`N`/NA
    as sent), MISSING (the missing inputs by their source, e.g. "CREAT, ascites"; NA when none),
    and the assessment row's lineage.
    Raises ValueError when LB holds a needed test in another unit than the study's standard unit.
    """
    _require_columns(sources, _SOURCE_COLUMNS, "sources", "Study.score_sources")
    tests, units = _lab_sources(sources)
    items = _assessment_sources(sources)
    _require_columns(lb, _LB_COLUMNS, "lb", "the LB domain from build_lb")
    _require_columns(
        assessments, [*_ASSESSMENT_KEYS, *items.values()], "assessments",
        "the standardised assessments sheet after derive_visit_variables",
    )
    codes = [tests[name] for name in LAB_INPUTS]
    labs = lb.loc[lb["LBTESTCD"].isin(codes) & lb["LBSTRESN"].notna(), _LB_COLUMNS]
    _check_lab_units(labs, tests, units)
    latest = (
        labs.sort_values(["LBDTC", "LBSEQ"], na_position="first", kind="stable")
        .groupby(["USUBJID", "VISITNUM", "LBTESTCD"])
        .tail(1)
    )
    wide = latest.pivot(index=KEYS, columns="LBTESTCD", values=["LBSTRESN", "LBSEQ"])
    wide = wide.reindex(
        columns=pd.MultiIndex.from_product([["LBSTRESN", "LBSEQ"], codes]), fill_value=np.nan
    )
    labs_wide = pd.DataFrame(
        {
            **{f"_value_{name}": wide[("LBSTRESN", tests[name])].astype("float64") for name in LAB_INPUTS},
            **{f"LBSEQ_{name}": wide[("LBSEQ", tests[name])].astype("float64") for name in LAB_INPUTS},
        },
        index=wide.index,
    ).reset_index()

    base = assessments[[*_ASSESSMENT_KEYS, *items.values()]].reset_index(drop=True)
    paired = base[KEYS].merge(labs_wide, on=KEYS, how="left")
    values = {
        column: compute_unit_conversion(
            paired[f"_value_{name}"], tests[name], units[name], unit, conversions=conversions
        )
        for name, columns in LAB_INPUTS.items()
        for unit, column in columns.items()
    }
    answers = {
        ASSESSMENT_INPUTS[name]: base[items[name]] if name in items
        else pd.Series(None, index=base.index, dtype="object")
        for name in ASSESSMENT_INPUTS
    }
    inputs = pd.DataFrame(
        {
            "subject": base["subject"],
            "USUBJID": base["USUBJID"],
            "VISITNUM": base["VISITNUM"],
            "VISIT": base["VISIT"],
            "VISITDY": base["VISITDY"],
            "DTC": base["dtc_assessment_date"],
            **values,
            **{f"LBSEQ_{name}": paired[f"LBSEQ_{name}"] for name in LAB_INPUTS},
            **answers,
        }
    )
    names = compute_input_names(sources)
    needed = [name for name in [*LAB_INPUTS, *ASSESSMENT_INPUTS] if name not in OPTIONAL_INPUTS]
    inputs["MISSING"] = compute_missing_list(
        inputs, {names[n]: _input_column(n) for n in needed}, [names[n] for n in needed]
    )
    return inputs.assign(**{column: base[column] for column in LINEAGE})


def derive_scores(
    inputs: pd.DataFrame, dm: pd.DataFrame, *, scoring: pd.DataFrame, sources: pd.DataFrame
) -> pd.DataFrame:
    """The inputs frame with every score added (a new frame).

    Adds SEX (from DM), MELD, MELD_NA, MELD3 (floats holding integers, NaN when not computable),
    CP_BILI, CP_ALB, CP_INR, CP_ASCITES, CP_ENCEPH (points, Int64), CP_TOTAL (Int64), CP_CLASS
    (`A`/`B`/`C`), and <score>_MISSING for MELD, MELD_NA, MELD3 and CP: the inputs that score
    lacks, named by their source ("CREAT, INR"), NA when it was computed. `scoring` is the study's
    scores.csv table; `sources` the score inputs the frame was built from (`Study.score_sources`).
    """
    _require_columns(dm, ["USUBJID", "SEX"], "dm", "the DM domain from build_dm")
    sex = inputs[["USUBJID"]].merge(dm[["USUBJID", "SEX"]], on="USUBJID", how="left")["SEX"]
    sex = pd.Series(sex.to_numpy(), index=inputs.index)
    # MELD 3.0's 1.33 term is for female; an unknown sex leaves MELD 3.0 uncomputed.
    female = sex.map({"F": True, "M": False}).astype("boolean")
    dialysis = inputs["DIALYSIS"].map({"Y": True, "N": False}).astype("boolean")

    meld = compute_meld(inputs["CREAT_MGDL"], inputs["BILI_MGDL"], inputs["INR"], dialysis)
    points = compute_child_pugh_points(
        inputs["BILI_UMOLL"], inputs["ALB_GL"], inputs["INR"], inputs["ASCITES"],
        inputs["ENCEPH"], scoring=scoring,
    )
    scores = inputs.assign(
        SEX=sex,
        MELD=meld,
        MELD_NA=compute_meld_na(meld, inputs["SODIUM"]),
        MELD3=compute_meld3(
            female, inputs["BILI_MGDL"], inputs["SODIUM"], inputs["INR"], inputs["CREAT_MGDL"],
            inputs["ALB_GDL"], dialysis,
        ),
        **dict(zip(CP_POINT_COLUMNS, (points[c] for c in CHILD_PUGH_COLUMNS))),
        CP_TOTAL=points["total"],
        CP_CLASS=compute_child_pugh_class(points["total"], scoring=scoring),
    )
    names = {**compute_input_names(sources), "SEX": "SEX"}
    columns = {names[n]: "SEX" if n == "SEX" else _input_column(n) for n in names}
    missing = {
        f"{score}_MISSING": compute_missing_list(scores, columns, [names[n] for n in needs])
        for score, needs in SCORE_NEEDS.items()
    }
    return scores.assign(**missing)


def build_liver_scores(scores: pd.DataFrame, dm: pd.DataFrame) -> pd.DataFrame:
    """The analysis table: one row per subject and visit (assessment), scores and their change.

    `scores` is the frame of `derive_scores`; `dm` the DM domain (arms, RFSTDTC for ADY, RFXSTDTC
    for baseline). ADT is the assessment date (datetime64, NaT when partial); ADY its study day.
    Baseline and change: see the module docstring.
    """
    _require_columns(
        dm, ["STUDYID", "USUBJID", "SUBJID", "ARMCD", "ARM", "ACTARMCD", "RFSTDTC", "RFXSTDTC"],
        "dm", "the DM domain from build_dm",
    )
    subject = scores[["USUBJID"]].merge(
        dm[["USUBJID", "STUDYID", "SUBJID", "ARMCD", "ARM", "ACTARMCD", "RFXSTDTC"]],
        on="USUBJID", how="left",
    ).set_index(scores.index)
    day = compute_complete_date(scores["DTC"])
    first_dose = compute_complete_date(subject["RFXSTDTC"])
    dosed = day.notna() & first_dose.notna()
    pre = dosed & (day <= first_dose)
    post = dosed & (day > first_dose)

    table = scores.assign(
        ADT=pd.to_datetime(day, format="%Y-%m-%d", errors="coerce"),
        ABLFL=_flag_last(scores, pre, day),
    )
    table = derive_study_days(table, dm, {"ADY": "DTC"})
    changes = {}
    for score in CHANGE_SCORES:
        # Each score's baseline is its own last non-missing pre-dose value (RSLOBXFL's rule).
        holds_base = _flag_last(scores, pre & scores[score].notna(), day).eq("Y")
        base = scores.loc[holds_base, ["USUBJID", score]].rename(columns={score: "base"})
        base_value = scores[["USUBJID"]].merge(base, on="USUBJID", how="left")["base"]
        base_value = pd.Series(base_value.to_numpy(dtype="float64", na_value=np.nan), index=scores.index)
        value = scores[score].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        changes[f"{score}_BASE"] = base_value
        changes[f"{score}_CHG"] = (value - base_value).where(post)
    table = table.assign(
        **changes,
        **{c: subject[c] for c in ["STUDYID", "SUBJID", "ARMCD", "ARM", "ACTARMCD"]},
    )
    columns = [
        "STUDYID", "USUBJID", "SUBJID", "ARMCD", "ARM", "ACTARMCD", "VISITNUM", "VISIT", "ADT",
        "ADY", "BILI_UMOLL", "BILI_MGDL", "CREAT_UMOLL", "CREAT_MGDL", "ALB_GL", "ALB_GDL", "INR",
        "SODIUM", "ASCITES", "ENCEPH", "DIALYSIS", "SEX", "MELD", "MELD_NA", "MELD3",
        *CP_POINT_COLUMNS, "CP_TOTAL", "CP_CLASS", "ABLFL",
        *[f"{score}_{part}" for score in CHANGE_SCORES for part in ("BASE", "CHG")],
        *[f"{score}_MISSING" for score in SCORE_NEEDS], *LINEAGE,
    ]
    return (
        table[columns]
        .sort_values(["USUBJID", "VISITNUM", "ADT"], kind="stable", na_position="last")
        .reset_index(drop=True)
    )


def compute_missing_list(
    frame: pd.DataFrame, names: dict[str, str], needs: Sequence[str]
) -> pd.Series:
    """"BILI, ascites"-style text of the `needs` (names) whose column (`names[need]`) is missing
    in each row of `frame`; NA where nothing is missing."""
    text = pd.Series("", index=frame.index, dtype="object")
    for need in needs:  # a handful of inputs, each step vectorised over every row
        text = text + np.where(frame[names[need]].isna(), need + ", ", "")
    text = text.str.removesuffix(", ")
    return text.where(text != "", None)


def compute_input_names(sources: pd.DataFrame) -> dict[str, str]:
    """{formula input: the word a site knows it by}: its source, the study's LBTESTCD (`CREAT`)
    or assessment column (`ascites`), as "... missing" messages name it."""
    return dict(zip(sources["input"], sources["source"]))


def _input_column(name: str) -> str:
    """The inputs-frame column that is missing exactly when input `name` is (its first unit's)."""
    return next(iter(LAB_INPUTS[name].values())) if name in LAB_INPUTS else ASSESSMENT_INPUTS[name]


def _lab_sources(sources: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """({lab input: LBTESTCD}, {lab input: the unit LB holds it in}), every lab input present."""
    lab = sources[sources["input"].isin(list(LAB_INPUTS))]
    missing = [name for name in LAB_INPUTS if name not in set(lab["input"])]
    if missing:
        raise ValueError(
            f"sources lacks the lab inputs {missing}; name their LB tests in score_inputs.csv"
        )
    return dict(zip(lab["input"], lab["column"])), dict(zip(lab["input"], lab["unit"]))


def _assessment_sources(sources: pd.DataFrame) -> dict[str, str]:
    """{assessment input: column of the assessments frame}; only DIALYSIS may be absent."""
    items = sources[sources["input"].isin(list(ASSESSMENT_INPUTS))]
    missing = [n for n in ASSESSMENT_INPUTS if n not in set(items["input"]) | OPTIONAL_INPUTS]
    if missing:
        raise ValueError(
            f"sources lacks the assessment inputs {missing}; name their columns in score_inputs.csv"
        )
    return dict(zip(items["input"], items["column"]))


def _check_lab_units(labs: pd.DataFrame, tests: dict[str, str], units: dict[str, str]) -> None:
    expected = labs["LBTESTCD"].map({tests[name]: units[name] for name in tests})
    actual = labs["LBSTRESU"].astype("object").where(labs["LBSTRESU"].notna(), "")
    wrong = labs[actual.to_numpy() != expected.to_numpy()]
    if not wrong.empty:
        pairs = sorted(set(zip(wrong["LBTESTCD"], actual[wrong.index])))
        wanted = ", ".join(f"{tests[n]} in {units[n] or 'no unit'}" for n in tests)
        raise ValueError(
            f"lb: the scores take {wanted} (LBSTRESU), but LB holds (test, unit) {pairs}; make "
            "these the standard units in lab_tests.csv and unit_conversions.csv"
        )


def _flag_last(frame: pd.DataFrame, eligible: pd.Series, day: pd.Series) -> pd.Series:
    """ "Y" on each subject's last eligible row by date, then VISITNUM; NA elsewhere."""
    candidates = frame.loc[eligible, ["USUBJID", "VISITNUM"]].assign(_day=day[eligible])
    last = candidates.sort_values(["_day", "VISITNUM"], kind="stable").groupby("USUBJID").tail(1).index
    flag = pd.Series(pd.NA, index=frame.index, dtype="object")
    flag[last] = "Y"
    return flag



def _require_columns(frame: pd.DataFrame, columns: Sequence[str], argument: str, source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{argument} lacks columns {missing}; pass {source}")
