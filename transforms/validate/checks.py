"""Row checks that compare rows with each other or with other sheets, beside the Great
Expectations suites (which judge each row on its own): newer exports superseding older ones,
exact duplicate rows, ASCII for what goes into XPT verbatim, subjects whose Demographics row
was itself held back, dates against the export date and the subject's consent, and infusion
doses against the randomised arm and the subject's weight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.core.findings import (
    ERROR,
    INFO,
    WARNING,
    concat_findings,
    empty_findings,
    make_row_findings,
    select_rows,
)
from transforms.domains.dm import compute_allowed_doses
from transforms.core.dates import compute_complete_date, compute_date_text
from transforms.core.distinct import compute_is_in, compute_is_repeated, compute_per_distinct
from transforms.standardise.text import compute_visible_text
from transforms.core.transliterate import compute_ascii, compute_has_non_ascii

STAGE = "validate"
SUPERSEDED = "SF-0111"
XPT_MAX_BYTES = 200  # SAS XPT v5: bytes in one text value

def check_superseded(frame: pd.DataFrame, keys: list[str], file_order: pd.Series) -> pd.DataFrame:
    """INFO findings for rows replaced by the same record key (`keys`, the sheet's record key from
    sheets.csv: Study.record_keys) in a newer export file.

    `file_order` maps file name -> order (0 = oldest). The older row is not lost: it stays in the
    raw archive and is named here, with the file that replaced it.
    """
    if frame["_file"].nunique() < 2:
        return empty_findings()  # one file: nothing newer can replace anything
    order = frame["_file"].map(file_order)
    newest = order.groupby([frame[k].fillna("") for k in keys]).transform("max")
    older = frame[order < newest]
    if older.empty:
        return empty_findings()
    winner = frame.loc[order == newest].drop_duplicates(subset=keys, keep="last")
    replaced_by = older[keys].fillna("").merge(
        winner[keys + ["_file", "_row"]].fillna({k: "" for k in keys}), on=keys, how="left"
    )
    message = (
        "superseded by the newer export " + replaced_by["_file"].astype(str)
        + " row " + replaced_by["_row"].astype(str) + "; this older version is kept in the archive only"
    )
    return make_row_findings(
        older, severity=INFO, stage=STAGE, rule=SUPERSEDED, variable=keys[0],
        message=pd.Series(message.to_numpy(), index=older.index),
    )


def check_exact_duplicates(
    frame: pd.DataFrame, keys: list[str], raw_columns: list[str], codes: dict | None = None
) -> pd.DataFrame:
    """ERROR for the second and later copies of a row identical in every raw column within a file.

    `codes` is the sheet's value-code cache (transforms.core.distinct): the columns it already holds
    are not factorised again.
    """
    columns = ["_file", *raw_columns]
    # Copies share their record key (standardisation derives it row by row from the raw values),
    # and nearly every row's key is its own: only rows whose key repeats are compared in full.
    # The key's codes serve the repeated-key check (SF-0107) after.
    key = [c for c in ["_file", *keys] if c in frame.columns]
    candidates = frame[compute_is_repeated([frame[c] for c in key], codes)]
    copies = candidates[candidates.duplicated(subset=columns, keep="first")]
    if copies.empty:
        return empty_findings()
    # the first row of each set of copies is the original they repeat
    originals = candidates.drop_duplicates(subset=columns, keep="first")
    first_of = copies[columns].fillna("").merge(
        originals[["_row", *columns]].fillna({c: "" for c in columns}), on=columns, how="left"
    )
    message = "exact duplicate of row " + first_of["_row"].astype(str) + ": delete the copy"
    return make_row_findings(
        copies, severity=ERROR, stage=STAGE, rule="SF-0112", variable=keys[0],
        message=pd.Series(message.to_numpy(), index=copies.index),
    )


def check_ascii(
    frame: pd.DataFrame, columns: list[str], transliteration: pd.DataFrame,
    codes: dict | None = None,
) -> pd.DataFrame:
    """ERROR where a value copied verbatim into SDTM keeps characters XPT v5 cannot carry.
    `codes`: the sheet's value-code cache (transforms.core.distinct)."""
    findings = [empty_findings()]
    for column in columns:
        if frame[column].astype("str").str.isascii().fillna(True).all():
            continue  # nearly always: nothing to transliterate
        bad = compute_per_distinct(
            lambda values: compute_has_non_ascii(compute_ascii(values, transliteration))
            .to_numpy(dtype=bool, na_value=False),
            frame[column], cache=codes,
        )
        findings.append(
            make_row_findings(
                select_rows(frame, bad, column), severity=ERROR, stage=STAGE, rule="SF-0113",
                variable=column,
                message="text that SAS XPT v5 cannot carry (non-ASCII, e.g. Chinese): "
                "send this value in English or as a number",
            )
        )
    return concat_findings(*findings)


def check_text_length(
    frame: pd.DataFrame, columns: list[str], transliteration: pd.DataFrame, headers: dict,
    codes: dict | None = None,
) -> pd.DataFrame:
    """ERROR where a text that reaches SDTM is longer than SAS XPT v5's 200 bytes once
    transliterated (SF-0129). `codes`: the sheet's value-code cache (transforms.core.distinct).

    Held back rather than split into SUPP-- records (SDTMIG 3.4 section 4.5.3.2): no variable of
    this study's raw text is meant to be that long (a result, a range, a reason, a term), so a
    value over 200 bytes is a pasted note or a slip the site should shorten, and SUPP-- datasets
    would add datasets, define.xml entries and conformance rules for that one case.
    """
    findings = [empty_findings()]
    for column in columns:
        length = frame[column].astype("str").str.len()
        if not (length.max() > XPT_MAX_BYTES // 4):
            continue  # nearly always: no value can reach 200 bytes (at most 4 per character)
        nbytes = compute_per_distinct(
            lambda values: compute_ascii(values, transliteration).str.encode("utf-8").str.len()
            .to_numpy("float64", na_value=0),
            frame[column], cache=codes,
        )
        long = nbytes > XPT_MAX_BYTES
        rows = select_rows(frame, long, column)
        message = (
            f"{headers.get(column, column)} is " + pd.Series(nbytes[long].astype("int64"), index=rows.index).astype("str")
            + f" bytes long; SAS XPT v5 holds at most {XPT_MAX_BYTES} in a text value: shorten it "
            f"to {XPT_MAX_BYTES} characters (the row waits for it)"
        )
        findings.append(
            make_row_findings(
                rows, severity=ERROR, stage=STAGE, rule="SF-0129", variable=column,
                message=message, value=compute_visible_text(rows[column]),
            )
        )
    return concat_findings(*findings)


def check_subject_held_back(
    frame: pd.DataFrame, known_subjects: pd.Series, mapped_subjects: pd.Series,
    codes: dict | None = None, subjects_label: str = "subjects",
) -> pd.DataFrame:
    """ERROR for rows of a subject whose row on the subjects sheet (named `subjects_label` to
    the site) exists but was itself held back. `codes`: the sheet's value-code cache
    (transforms.core.distinct)."""
    held = compute_per_distinct(
        lambda subject: compute_is_in(subject, known_subjects)
        & ~compute_is_in(subject, mapped_subjects),
        frame["subject"], cache=codes,
    )
    return make_row_findings(
        select_rows(frame, held, "subject"), severity=ERROR, stage=STAGE, rule="SF-0114", variable="subject",
        message=f"this subject's {subjects_label} row was held back (see its finding): "
        f"correct {subjects_label} and this row will follow",
    )


# Date columns that precede consent by their nature: not held against it.
_BEFORE_CONSENT_BY_NATURE = ("birth_date", "consent_date")
_DATE_PREFIX = "dtc_"
_PRECISIONS = (4, 7, 10)  # YYYY, YYYY-MM, YYYY-MM-DD
_SCALES = ((4, 10000), (7, 100), (10, 1))  # YYYYMMDD // scale: the digits of that precision


def check_date_window(
    frame: pd.DataFrame,
    date_columns: pd.DataFrame,
    run_date: str | None,
    consent: pd.Series,
    codes: dict | None = None,
    *,
    today: str | None = None,
) -> pd.DataFrame:
    """Dates after the export date or the run's day (ERROR) and dates before the subject's consent
    (WARNING).

    `date_columns` holds the sheet's date columns (`column`, `header`, from raw_columns.csv);
    each has its parsed `dtc_<column>` in `frame`. `run_date` is the newest export's date
    (YYYY-MM-DD, from the file names, so a rerun judges the same way; None: no future check).
    `consent` is each row's consent date (ISO 8601, aligned with `frame`). `codes`: the sheet's
    value-code cache (transforms.core.distinct). `today` is the day of the run (YYYY-MM-DD, UTC, from
    the flow's clock): a date after it is an ERROR too (SF-0128), whether or not a file name
    carries an export date; the export date, never later than today, is the tighter bound and
    its finding (SF-0115) the one given.

    Partial dates are compared at the precision both sides have: `2026-04` is in the future of
    2026-03-31, `2026-03` is not; `2025-03` is not before a consent of 2025-03-10.

    Why the severities differ: a future date cannot have happened, is a typing slip (often the
    year), and mapped it would shift study days, epochs and the baseline, so the row is held back.
    A date before consent can be true (a referral lab, a protocol deviation): holding it back would
    hide a real event from the submission, so it is mapped and the site asked to confirm it.
    """
    _check_aligned(frame, consent)
    findings = [empty_findings()]
    # a categorical stays one: its text is read on the distinct rows only
    categorical = isinstance(consent.dtype, pd.CategoricalDtype)
    consent_text = consent if categorical else consent.astype("str")
    consent_parts = compute_per_distinct(compute_date_parts, consent_text, cache=codes)
    run_parts = compute_date_parts(pd.Series([run_date], dtype="str"))
    today_parts = compute_date_parts(pd.Series([today], dtype="str"))
    for column, header in date_columns[["column", "header"]].itertuples(index=False):
        parts = compute_per_distinct(compute_date_parts, frame[_DATE_PREFIX + column], cache=codes)
        future = np.zeros(len(frame), dtype=bool)
        if run_date is not None:
            future = compute_is_later_parts(parts, run_parts)
            findings.append(
                make_row_findings(
                    select_rows(frame, future, column), severity=ERROR, stage=STAGE,
                    rule="SF-0115", variable=column,
                    message=f"{header} is after the date of this export ({run_date}): a date in "
                    "the future cannot be right; correct it",
                )
            )
        if today is not None:
            after_today = compute_is_later_parts(parts, today_parts) & ~future
            findings.append(
                make_row_findings(
                    select_rows(frame, after_today, column), severity=ERROR, stage=STAGE,
                    rule="SF-0128", variable=column,
                    message=f"{header} is after today ({today}, the day of this run): a date in "
                    "the future cannot be right; correct it",
                )
            )
        if column in _BEFORE_CONSENT_BY_NATURE:
            continue
        early = compute_is_later_parts(consent_parts, parts)
        rows = select_rows(frame, early, column)
        findings.append(
            make_row_findings(
                rows, severity=WARNING, stage=STAGE, rule="SF-0116", variable=column,
                message=(
                    f"{header} is before the subject's informed consent ("
                    + consent_text[early].astype("object")
                    + "): correct the date, or confirm it and record the protocol deviation"
                ),
            )
        )
    return concat_findings(*findings)


# The date a subject's other dates cannot follow (a raw_columns.csv column of Demographics).
DEATH_DATE = "death_date"


def check_after_death(
    frame: pd.DataFrame, exposure: bool, date_columns: pd.DataFrame, death: pd.Series,
    codes: dict | None = None,
) -> pd.DataFrame:
    """Dates of a subject after the subject's date of death: an ERROR for a dose (`exposure`: the
    exposure sheet; SF-0135:
    exposure after death cannot be, and it would set the reference dates, epochs and actual
    arm), a WARNING for any other date (SF-0134: the sample, visit or assessment is mapped,
    since either date may be the wrong one, and the site asked which).

    `death` is each row's date of death (ISO 8601, aligned with `frame`; compute_subject_date);
    `date_columns` and `codes` as for check_date_window. Partial dates compare at the precision
    both have.
    """
    _check_aligned(frame, death)
    if death.isna().all():
        return empty_findings()  # nearly always: no subject has died
    categorical = isinstance(death.dtype, pd.CategoricalDtype)
    death_text = death if categorical else death.astype("str")
    death_parts = compute_per_distinct(compute_date_parts, death_text, cache=codes)
    findings = [empty_findings()]
    for column, header in date_columns[["column", "header"]].itertuples(index=False):
        if column == DEATH_DATE:
            continue
        parts = compute_per_distinct(compute_date_parts, frame[_DATE_PREFIX + column], cache=codes)
        after = compute_is_later_parts(parts, death_parts)
        findings.append(
            make_row_findings(
                select_rows(frame, after, column), severity=ERROR if exposure else WARNING,
                stage=STAGE, rule="SF-0135" if exposure else "SF-0134", variable=column,
                message=(
                    f"{header} is after the subject's date of death ("
                    + death_text[after].astype("object") + "): correct one of the two dates"
                    + ("" if exposure else ", or confirm both (a post-mortem sample)")
                ),
            )
        )
    return concat_findings(*findings)


def check_consent_after_first_dose(
    demographics: pd.DataFrame, doses: pd.DataFrame, headers: dict, given: np.ndarray,
    dose_date: str,
) -> pd.DataFrame:
    """WARNING on a subjects row whose consent date is after the subject's first dose given
    (SF-0136): treatment before consent is a serious deviation, or one date is wrong; the
    subject stays mapped (holding the subjects row back would drop every record of the subject).
    `demographics` and `doses` are the rows fit to map; `given` marks the doses given, and
    `dose_date` is the ISO 8601 column of a dose's (start) date.
    """
    given = doses[given]
    dated = given.assign(_date=compute_complete_date(given[dose_date]))
    dated = dated[dated["_date"].notna()]
    if dated.empty or demographics.empty:
        return empty_findings()
    first = dated.sort_values(["_date", "_row"], kind="stable").drop_duplicates("subject")
    first = first.set_index("subject")
    when = demographics["subject"].map(first["_date"]).astype("str")
    consent = demographics["dtc_consent_date"].astype("str")
    late = compute_is_later_parts(compute_date_parts(consent), compute_date_parts(when))
    rows = demographics[late]
    subject = rows["subject"]
    message = (
        headers.get("consent_date", "consent_date") + " (" + consent[late].astype("object")
        + ") is after the subject's first dose (" + when[late].astype("object") + ", "
        + subject.map(first["_file"]).astype("object") + " row "
        + subject.map(first["_row"]).astype("str").astype("object")
        + "): correct the date that is wrong; if both are right, record the protocol deviation"
    )
    return make_row_findings(
        rows, severity=WARNING, stage=STAGE, rule="SF-0136", variable="consent_date",
        message=message,
    )


def compute_date_parts(dates: pd.Series) -> np.ndarray:
    """Each ISO 8601 date (or datetime) as integers, rows × [precision, YYYY, YYYYMM, YYYYMMDD]:
    the precision is the length of its date part (4, 7 or 10; 0 where missing or not a date),
    and a number is 0 where the date is less precise than it."""
    text = compute_date_text(dates)
    width = text.str.len().to_numpy("float64", na_value=0).copy()
    digits = text.str.replace("-", "", regex=False).str.pad(8, side="right", fillchar="0")
    number = pd.to_numeric(digits, errors="coerce").to_numpy("float64", na_value=np.nan)
    width[~np.isin(width, _PRECISIONS) | np.isnan(number)] = 0
    number = np.nan_to_num(number).astype("int64")
    keys = [np.where(width >= precision, number // scale, 0) for precision, scale in _SCALES]
    return np.column_stack([width.astype("int64"), *keys]).astype("int32")


def compute_is_later_parts(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Whether each date of `first` is certainly later than the date of `second` on its row
    (compute_date_parts; either side may be one row, for one date): compared at the precision
    both have (year, month or day), never where either is missing or not a date."""
    width = np.minimum(first[:, 0], second[:, 0])
    # at the precision both have: 2026-04 against 2026-03-31 compares 202604 with 202603
    later = np.zeros(len(width), dtype=bool)
    for column, (precision, _) in enumerate(_SCALES, start=1):
        at = width == precision
        later |= at & (first[:, column] > second[:, column])
    return later


def check_planned_dose(
    doses: pd.DataFrame, demographics: pd.DataFrame, arms: pd.DataFrame, headers: dict,
    given: np.ndarray,
) -> pd.DataFrame:
    """WARNING where a dose given (`given`) is another arm's dose and not one the subject's
    randomised arm allows (a dose of no arm at all is SF-0124's). `demographics` are the mapped
    subjects rows (subject, ARMCD); `arms` the study's arms (ARMCD, ARM, dose, doses)."""
    dose_of_arm = arms.set_index("ARMCD")["dose"].astype("float64")
    allowed = compute_allowed_doses(arms)
    planned = demographics.drop_duplicates("subject", keep="last").set_index("subject")["ARMCD"]
    armcd = doses["subject"].map(planned)
    expected = armcd.map(dose_of_arm).astype("float64")
    dose = doses["EXDOSE"].astype("float64")
    key = pd.MultiIndex.from_arrays([armcd.astype("object"), dose])
    permitted = key.isin(pd.MultiIndex.from_frame(allowed[["ARMCD", "EXDOSE"]]))
    wrong = given & dose.isin(dose_of_arm.to_numpy()) & expected.notna() & ~permitted
    rows = doses[wrong]
    other = dose[wrong].map({d: a for a, d in dose_of_arm.items()})
    message = (
        headers.get("dose", "dose") + " is the dose of arm " + other.astype("object")
        + " but the subject was randomised to " + armcd[wrong].astype("object")
        + " (" + expected[wrong].map("{:g}".format).astype("object")
        + "): check the dose, or the subject's randomised arm; DM's actual arm follows the doses given"
    )
    return make_row_findings(
        rows, severity=WARNING, stage=STAGE, rule="SF-0125", variable="dose", message=message
    )


def check_total_cells(
    doses: pd.DataFrame, demographics: pd.DataFrame, tolerance: float, headers: dict,
    given: np.ndarray,
) -> pd.DataFrame:
    """WARNING where Total cells differ from dose × body weight by more than `tolerance` (a
    fraction, study.toml `total_cells_tolerance`). The infusion's body weight is used, else the
    baseline weight from Demographics; rows missing any of the three are not judged."""
    baseline = pd.to_numeric(
        demographics.drop_duplicates("subject", keep="last").set_index("subject")["weight"],
        errors="coerce",
    )
    weight = doses["number_weight"].astype("float64").fillna(
        doses["subject"].map(baseline).astype("float64")
    )
    expected = doses["EXDOSE"].astype("float64") * weight
    total = doses["number_total_cells"].astype("float64")
    off = given & expected.gt(0) & ((total - expected).abs() > tolerance * expected)
    off = off.fillna(False).to_numpy(dtype=bool)
    message = (
        headers.get("total_cells", "Total cells") + " differ from dose x body weight ("
        + expected[off].map("{:.4g}".format).astype("object")
        + f") by more than {tolerance:.0%}: check total cells, dose and body weight"
    )
    return make_row_findings(
        doses[off], severity=WARNING, stage=STAGE, rule="SF-0126", variable="total_cells",
        message=message,
    )


def _check_aligned(first: pd.Series | pd.DataFrame, second: pd.Series) -> None:
    if not first.index.equals(second.index):
        raise ValueError(
            "the two inputs must share one index: take both from the same frame, or reindex one "
            "to the other"
        )
