"""RS — Disease Response and Clin Classification: MELD and Child-Pugh per assessment.

Built from the frame of `transforms.scores.liver_scores.derive_scores` (one row per Assessments row, its
visit's lab inputs and its scores), so RS and the analysis table cannot disagree. Which records
exist and where each value comes from is the study's `rs_tests.csv` (one row per RSTESTCD), not
code: RSCAT, RSTESTCD, RSTEST, `score` (MELD or CP: the score whose completeness decides, and the
RSGRPID prefix), `orres`/`stres` (the scores-frame columns giving RSORRES and RSSTRESC/RSSTRESN),
RSORRESU, RSSTRESU, `decimals`, RSDRVFL and `not_done` (the one test that carries the NOT DONE
record of an incomplete score).

Representation (decided here; docs/sdtm-reference.md#scores-home)
-----------------------------------------------------------------------------
* MELD0101: RSORRES = RSSTRESC = the integer as text ("20"), RSSTRESN 20. The original UNOS MELD
  (docs/sdtm-reference.md#meld); MELD-Na and MELD 3.0 have no CDISC test code and live in the
  analysis table only.
* CPS0101–CPS0105B, the items: RSORRES is the input as used — the standardised term for
  encephalopathy and ascites (`GRADE 1-2`, `SLIGHT`; the raw site wording may be non-ASCII and is
  kept in the raw archive), the lab value in the units the CT definitions of CPS0103/CPS0104 name
  (bilirubin mg/dL, albumin g/dL; RSORRESU says so) and INR without unit. RSSTRESC/RSSTRESN are
  the item's points (1–3), RSSTRESU null. Why points and not the value again: CDISC QRS CT has
  separate ORRES and STRESC codelists for each Child-Pugh item (CPS0103OR / CPS0103STR …), i.e.
  the standardised result of an item is its score, as for every QRS instrument; it is also what
  lets a reviewer add the five item RSSTRESN up to CPS0106. RSORRES holds the value rather than the
  CPS0103OR category wording (the current QRS CT package was not available to copy it exactly).
  Switching to "RSSTRESC = the value" is an edit of `stres`/`RSSTRESU` in rs_tests.csv.
* Lab values converted to mg/dL or g/dL are rounded to `decimals` (3) for RSORRES, so 42 µmol/L
  shows as 2.456 mg/dL; the points come from the unrounded SI value (the study's cut-offs are in
  SI units), and 3 decimals keep every value of 0.1 µmol/L resolution on the same side of the
  mg/dL cut-offs as its SI value.
* CPS0106: total points (5–15) in RSORRES/RSSTRESC/RSSTRESN; CPS0107: the class `A`/`B`/`C` in
  RSORRES/RSSTRESC, RSSTRESN null.
* RSDRVFL = "Y" on every record the sponsor computes (MELD0101, CPS0103–CPS0107); null on CPS0101
  and CPS0102, whose result is the investigator's assessment (only the points are sponsor-added),
  and null on NOT DONE records (FDA SD0016: a derived record must have RSSTRESC).
* Incomplete score: ONE record, on MELD0101 for MELD and on CPS0106 (the total, the score itself)
  for Child-Pugh, with RSSTAT "NOT DONE", RSREASND "<inputs> missing" (e.g. "INR, ascites
  missing"), results and units null. No item records are written for an incomplete Child-Pugh.
* RSGRPID = "<score>-<VISITNUM>" (`MELD-4`, `CP-4.01`): ties one assessment's records of one score
  (one assessment per subject and visit), and keeps MELD and Child-Pugh apart.
* VISITNUM, VISIT, VISITDY of the assessment; RSDTC = the assessment date; RSDY, EPOCH as every
  Findings domain; RSLOBXFL as LB (last non-missing result per RSTESTCD on or before RFXSTDTC);
  RSSEQ per subject in visit, date and rs_tests.csv order.
* Every record carries the lineage (`_file`, `_sheet`, `_row`) of its Assessments row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transforms.core.findings import ERROR, LINEAGE, empty_findings, make_row_findings
from transforms.domains.lb import derive_lobxfl
from transforms.scores.formulas import compute_meld, compute_unit_conversion
from transforms.domains.sdtm import derive_epoch, derive_seq, derive_study_days

RS_COLUMNS = [
    "STUDYID", "DOMAIN", "USUBJID", "RSSEQ", "RSGRPID", "RSTESTCD", "RSTEST", "RSCAT", "RSORRES",
    "RSORRESU", "RSSTRESC", "RSSTRESN", "RSSTRESU", "RSSTAT", "RSREASND", "RSLOBXFL", "RSDRVFL",
    "VISITNUM", "VISIT", "VISITDY", "EPOCH", "RSDTC", "RSDY", *LINEAGE,
]
_RS_TEST_COLUMNS = [
    "RSCAT", "RSTESTCD", "RSTEST", "score", "orres", "RSORRESU", "stres", "RSSTRESU", "decimals",
    "RSDRVFL", "not_done",
]
_SCORE_COLUMNS = ["USUBJID", "VISITNUM", "VISIT", "VISITDY", "DTC", *LINEAGE]
# The CDISC code the check reads; the build takes its codes from rs_tests.csv, the check states
# the one it verifies so that an edit of that table cannot silence it.
MELD_TESTCD = "MELD0101"


def build_rs(
    scores: pd.DataFrame, dm: pd.DataFrame, *, rs_tests: pd.DataFrame, studyid: str,
    epochs: tuple[str, str, str],
) -> pd.DataFrame:
    """RS from the scores frame (`derive_scores`), DM's reference dates and the rs_tests table.

    See the module docstring for what each record holds.
    """
    tests = _rs_test_rows(rs_tests, scores)
    frames = []
    for order, test in enumerate(tests.itertuples(index=False)):  # one pass per RS test
        complete = scores[f"{test.score}_MISSING"].isna()
        rows = scores[complete | (test.not_done == "Y")]
        done = complete[rows.index]
        decimals = int(test.decimals)
        stres = rows[test.stres]
        numeric = pd.api.types.is_numeric_dtype(stres)
        stresn = _rounded(stres, decimals) if numeric else pd.Series(np.nan, index=rows.index)
        frames.append(
            pd.DataFrame(
                {
                    "STUDYID": studyid,
                    "DOMAIN": "RS",
                    "USUBJID": rows["USUBJID"],
                    "RSGRPID": test.score + "-" + compute_result_text(rows["VISITNUM"], 2),
                    "RSTESTCD": test.RSTESTCD,
                    "RSTEST": test.RSTEST,
                    "RSCAT": test.RSCAT,
                    "RSORRES": compute_result_text(rows[test.orres], decimals).where(done, None),
                    "RSORRESU": _text_or_null(test.RSORRESU, done),
                    "RSSTRESC": compute_result_text(stres, decimals).where(done, None),
                    "RSSTRESN": stresn.where(done),
                    "RSSTRESU": _text_or_null(test.RSSTRESU, done),
                    "RSSTAT": pd.Series("NOT DONE", index=rows.index, dtype="object").where(~done, None),
                    "RSREASND": (rows[f"{test.score}_MISSING"].astype("object") + " missing").where(~done, None),
                    "RSDRVFL": _text_or_null(test.RSDRVFL, done),
                    "VISITNUM": rows["VISITNUM"],
                    "VISIT": rows["VISIT"],
                    "VISITDY": rows["VISITDY"],
                    "RSDTC": rows["DTC"],
                    **{column: rows[column] for column in LINEAGE},
                    "_order": order,
                },
                index=rows.index,
            )
        )
    rs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*RS_COLUMNS, "_order"])
    rs = rs.astype({"RSSTRESN": "float64", "VISITNUM": "float64"})
    rs = derive_seq(rs, "RSSEQ", ["VISITNUM", "RSDTC", "_order"])
    rs = derive_study_days(rs, dm, {"RSDY": "RSDTC"})
    rs = derive_epoch(rs, dm, "RSDTC", epochs)
    rs = derive_lobxfl(rs, dm, "RS")
    return rs[RS_COLUMNS]


def check_meld_consistency(
    lb: pd.DataFrame,
    rs: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    conversions: pd.DataFrame,
    sources: pd.DataFrame,
) -> pd.DataFrame:
    """SF-0401 findings where RS MELD0101 differs from MELD recomputed from LB (conform, ERROR).

    The recomputation pairs LB and the assessment on its own (it does not call
    `derive_score_inputs`, or the check would agree with any pairing bug): per USUBJID, VISITNUM
    and test, the LB record with a numeric result and the greatest (LBDTC, LBSEQ), undated records
    last; dialysis from the assessment. Compared by USUBJID + VISITNUM with RSSTRESN of MELD0101:
    a value on one side only, or two different values, is a finding naming the subject, visit and
    both values. Both missing (RS NOT DONE, and LB lacking an input) agree.

    `assessments` is the Assessments sheet after derive_visit_variables (as build_rs got it);
    `sources` the study's score inputs (`Study.score_sources`: which LB test is creatinine,
    bilirubin and INR, which assessment column the dialysis answer).
    Findings carry the Assessments file and sheet but no row number (the row is named in the
    message): the raw row was mapped correctly, so it must not count as held back, nor trip the
    reconciliation's "mapped despite an ERROR" rule; the finding is about the derived record.
    """
    tests = dict(zip(sources["input"], sources["column"]))
    needed = ["CREAT", "BILI", "INR"]
    input_of = {tests[name]: name for name in needed}
    labs = lb.loc[lb["LBTESTCD"].isin(list(input_of)) & lb["LBSTRESN"].notna()]
    newest_first = labs.sort_values(
        ["LBDTC", "LBSEQ"], ascending=False, na_position="last", kind="stable"
    ).drop_duplicates(["USUBJID", "VISITNUM", "LBTESTCD"], keep="first")
    # MELD takes mg/dL; convert from whatever standard unit LB holds (INR has none).
    mg_dl = pd.Series(np.nan, index=newest_first.index)
    for (testcd, unit), group in newest_first.groupby(
        ["LBTESTCD", newest_first["LBSTRESU"].astype("object").fillna("")]
    ):
        target = "" if input_of[testcd] == "INR" else "mg/dL"
        mg_dl[group.index] = compute_unit_conversion(
            group["LBSTRESN"], testcd, unit, target, conversions=conversions
        )
    wide = (
        newest_first.assign(value=mg_dl)
        .set_index(["USUBJID", "VISITNUM", "LBTESTCD"])["value"]
        .unstack("LBTESTCD")
        .rename(columns=input_of)
        .reindex(columns=needed)
        .reset_index()
    )
    visits = assessments[["subject", "USUBJID", "VISITNUM", "VISIT", *LINEAGE]].assign(
        # a study that does not ask about dialysis: every subject counts as not dialysed
        DIALYSIS=assessments[tests["DIALYSIS"]] if "DIALYSIS" in tests else None
    )
    expected = visits.merge(wide, on=["USUBJID", "VISITNUM"], how="left")
    expected["expected"] = compute_meld(
        expected["CREAT"].astype("float64"),
        expected["BILI"].astype("float64"),
        expected["INR"].astype("float64"),
        expected["DIALYSIS"].map({"Y": True, "N": False}).astype("boolean"),
    )
    reported = rs.loc[rs["RSTESTCD"] == MELD_TESTCD, ["USUBJID", "VISITNUM", "VISIT", "RSSTRESN", *LINEAGE]]
    # object keys: an empty side (a rejected sheet) has Arrow text columns with no chunks, which
    # pandas cannot join
    compared = expected.astype({"USUBJID": object}).merge(
        reported.astype({"USUBJID": object}), on=["USUBJID", "VISITNUM"], how="outer",
        suffixes=("", "_rs"), indicator=True,
    )
    ours = compared["expected"].to_numpy(dtype="float64", na_value=np.nan)
    theirs = compared["RSSTRESN"].to_numpy(dtype="float64", na_value=np.nan)
    agree = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs) & (compared["_merge"] == "both"))
    bad = compared[~agree]
    if bad.empty:
        return empty_findings()
    rs_only = bad["_merge"] == "right_only"
    visit = bad["VISIT"].where(~rs_only, bad["VISIT_rs"]).astype("object").fillna("?")
    rs_text = np.where(
        bad["_merge"] == "left_only", "has no MELD0101 record",
        "MELD0101 = " + _number_text(bad["RSSTRESN"], "NOT DONE"),
    )
    lb_text = np.where(
        rs_only, "there is no assessment row for this visit",
        "recomputed from LB = " + _number_text(bad["expected"], "not computable"),
    )
    row_text = np.where(rs_only, bad["_row_rs"].astype("object"), bad["_row"].astype("object"))
    message = (
        "MELD of " + bad["USUBJID"].astype("object") + " at " + visit + " (VISITNUM "
        + compute_result_text(bad["VISITNUM"], 2).astype("object") + "): RS " + rs_text + " but "
        + lb_text + " (assessment row " + pd.Series(row_text, index=bad.index).astype(str)
        + "); RS does not follow from the LB records it is built from, so the package must not "
        "be submitted until the difference is explained"
    )
    rows = pd.DataFrame(
        {
            "_file": bad["_file"].where(~rs_only, bad["_file_rs"]),
            "_sheet": bad["_sheet"].where(~rs_only, bad["_sheet_rs"]),
            "_row": None,
            "subject": bad["subject"].where(~rs_only, bad["USUBJID"]),
        },
        index=bad.index,
    )
    return make_row_findings(
        rows, severity=ERROR, stage="conform", rule="SF-0401", variable="RSSTRESN",
        message=message, value=_number_text(bad["RSSTRESN"], None),
    )



def compute_result_text(values: pd.Series, decimals: int) -> pd.Series:
    """Result text: numbers rounded to `decimals`, written without trailing zeros ("20", "2.456",
    "3.2"); text as it is. Object Series on the same index, None for missing."""
    if pd.api.types.is_numeric_dtype(values):
        rounded = _rounded(values, decimals)
        text = rounded.astype(str).str.replace(r"\.0$", "", regex=True)
        return text.astype("object").where(rounded.notna(), None)
    return values.astype("object").where(values.notna(), None)


def _rounded(values: pd.Series, decimals: int) -> pd.Series:
    floats = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
    return floats.round(decimals)


def _number_text(values: pd.Series, missing: str | None) -> pd.Series:
    text = compute_result_text(values, 2)
    return text.where(text.notna(), missing).astype("object")


def _text_or_null(value: str, where: pd.Series) -> pd.Series:
    """A constant from the rs_tests table ("" = null) on the rows of `where` that are True."""
    return pd.Series(value or None, index=where.index, dtype="object").where(where, None)


def _rs_test_rows(rs_tests: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The rs_tests table checked against CDISC's length limits and the scores frame."""
    missing = [c for c in _RS_TEST_COLUMNS if c not in rs_tests.columns]
    if missing:
        raise ValueError(
            f"rs_tests lacks columns {missing}; pass the frame read from mappings/<study>/rs_tests.csv"
        )
    missing = [c for c in _SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lacks columns {missing}; pass the frame from derive_scores")
    tests = rs_tests[_RS_TEST_COLUMNS].fillna("").astype(str).apply(lambda c: c.str.strip())
    problems = []
    too_long = tests[(tests["RSTESTCD"].str.len() > 8) | (tests["RSTEST"].str.len() > 40)]
    problems += [f"{code}: RSTESTCD > 8 or RSTEST > 40 characters" for code in too_long["RSTESTCD"]]
    if tests["RSTESTCD"].duplicated().any():
        problems.append("RSTESTCD appears more than once")
    for column in ("orres", "stres"):
        unknown = sorted(set(tests[column]) - set(scores.columns))
        problems += [f"{column} names {name!r}, not a column of the scores frame" for name in unknown]
    unknown = sorted({f"{s}_MISSING" for s in tests["score"]} - set(scores.columns))
    problems += [f"score: no {name} column in the scores frame" for name in unknown]
    if not tests["decimals"].str.fullmatch(r"\d+").all():
        problems.append("decimals must be a whole number on every row")
    carriers = tests[tests["not_done"] == "Y"].groupby("score").size()
    lacking = sorted(set(tests["score"]) - set(carriers[carriers == 1].index))
    problems += [f"score {s}: exactly one row needs not_done = Y" for s in lacking]
    if problems:
        raise ValueError("rs_tests.csv: " + "; ".join(problems))
    return tests
