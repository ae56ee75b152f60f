"""Text as the site typed it, made fit to travel, before anything reads it.

Spreadsheet cells carry what no SDTM value may: line breaks (SAS XPT stores them, and haven and
pyreadstat then read the value differently), tabs, control characters (`\\x00`, `\\x1b`, which
also make openpyxl refuse to write a workbook) and invisible format characters (a zero-width
space or a BOM pasted with a subject number, so `01-007` no longer matches `01-007`). They are
cleaned here, first, so standardisation, the checks, the queries and the writer all see the same
text, and each cell changed is a finding that says what was done:

- a line break or tab (`\\r\\n`, `\\n`, `\\t`, vertical tab, form feed, NEL, U+2028/2029) becomes one
  space: the words stay apart (INFO SF-0131, nothing for the site to do);
- any other control character (Unicode Cc: C0, DEL, C1) and invisible format character (Cf:
  zero-width space, BOM, soft hyphen, direction marks) is removed (WARNING SF-0130, naming each
  character and the cell, so the site can clean its source);
- leading and trailing spaces are trimmed (no finding: XPT drops trailing blanks anyway), and a
  cell left blank is missing.

Subject numbers are then matched across sheets by the lookup key (transforms.standardise.values
compute_lookup_key): a row whose subject differs from a subjects-sheet subject only in case, width,
spacing or punctuation takes the subjects sheet's spelling, with a WARNING (SF-0132).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.core.findings import (
    INFO,
    LINEAGE,
    WARNING,
    concat_findings,
    empty_findings,
    make_row_findings,
)
from transforms.standardise.values import compute_lookup_key
from transforms.spec.study import SUBJECTS, Study

STAGE = "standardise"
REMOVED_RULE, BREAK_RULE = "SF-0130", "SF-0131"
SUBJECT_SPELLING_RULE, SUBJECT_CLASH_RULE = "SF-0132", "SF-0133"
# A finding shows at most this much of a value (the archive keeps the whole cell).
SHOWN_CHARACTERS = 200

# RE2 (pyarrow) patterns. Line breaks first: they are control characters too, but become a space.
_BREAKS = r"[\t\n\x0b\x0c\r\x{85}\x{2028}\x{2029}]+"
_REMOVED = r"[\p{Cc}\p{Cf}]"
_KEPT = r"[^\p{Cc}\p{Cf}]+"
_NEEDS_WORK = r"^\s|\s$|[\p{Cc}\p{Cf}\x{2028}\x{2029}]"


def compute_clean_text(values: pd.Series) -> pd.DataFrame:
    """Each value cleaned (see the module docstring), with what was done to it.

    Returns a frame with the input's index: `text` (`str`, NA where blank), `broken` (a line
    break or tab became a space), `removed` (the control and invisible characters taken out, in
    order, NA where none).
    """
    raw = values.astype("str")
    arrow = pa.array(raw.array, type=pa.large_string(), from_pandas=True)
    broken = pc.fill_null(pc.match_substring_regex(arrow, _BREAKS), False)
    spaced = pc.replace_substring_regex(arrow, _BREAKS, " ")
    removed = pc.replace_substring_regex(spaced, _KEPT, "")
    cleaned = pc.utf8_trim_whitespace(pc.replace_substring_regex(spaced, _REMOVED, ""))
    cleaned = pc.if_else(pc.equal(cleaned, ""), None, cleaned)
    removed = pc.if_else(pc.equal(removed, ""), None, removed)
    return pd.DataFrame(
        {
            "text": pd.array(cleaned, dtype="str"),
            "broken": broken.to_numpy(zero_copy_only=False),
            "removed": pd.array(removed, dtype="str"),
        },
        index=values.index,
    )


def compute_needs_cleaning(values: pd.Series) -> bool:
    """Whether any value has something compute_clean_text would change."""
    arrow = pa.array(values.astype("str").array, type=pa.large_string(), from_pandas=True)
    return bool(pc.any(pc.match_substring_regex(arrow, _NEEDS_WORK)).as_py())


def compute_visible_text(values: pd.Series) -> pd.Series:
    """Values with every control, invisible and line-break character written as `<U+XXXX>` and
    cut to SHOWN_CHARACTERS: what a finding shows of a cell (openpyxl refuses control characters,
    and an invisible character must be seen to be fixed)."""
    text = values.astype("str")
    special = text.str.contains(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|[^\x00-\x7f]", regex=True)
    special = special.fillna(False).to_numpy(dtype=bool)
    if special.any():
        text = text.copy()
        # the rare values holding non-ASCII are looked at character by character
        text[special] = text[special].map(_visible)
    long = text.str.len().fillna(0).to_numpy() > SHOWN_CHARACTERS
    if long.any():
        text = text.copy()
        text[long] = (
            text[long].str.slice(0, SHOWN_CHARACTERS) + "... ("
            + values.astype("str")[long].str.len().astype("str") + " characters)"
        )
    return text


def standardise_text(
    sheets: dict[str, pd.DataFrame], study: Study
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """(every sheet with its text cleaned and its subjects spelled as on the subjects sheet,
    findings).

    The columns cleaned are those of the study's raw_columns.csv present in each sheet.
    New frames are returned; the inputs are not modified.
    """
    raw_columns = study.raw_columns
    subjects = study.sheet_with_role(SUBJECTS)
    label = study.label_of(subjects)
    cleaned, findings = {}, []
    for sheet, frame in sheets.items():
        columns = raw_columns[raw_columns["sheet"] == sheet]
        headers = dict(zip(columns["column"], columns["header"]))
        present = [c for c in columns["column"] if c in frame.columns]
        out, sheet_findings = _clean_sheet(frame, present, headers)
        cleaned[sheet] = out
        findings.append(sheet_findings)
    if subjects in cleaned and "subject" in cleaned[subjects].columns:
        known = cleaned[subjects]["subject"]
        findings.append(check_subject_clash(cleaned[subjects], known))
        for sheet, frame in cleaned.items():
            if sheet == subjects or "subject" not in frame.columns:
                continue
            spelling = compute_subject_spelling(frame["subject"], known)
            findings.append(check_subject_spelling(frame, spelling, label))
            cleaned[sheet] = frame.assign(subject=spelling.fillna(frame["subject"]))
    return cleaned, concat_findings(*findings)


def compute_subject_spelling(subjects: pd.Series, known: pd.Series) -> pd.Series:
    """The Demographics spelling (`known`) of each subject that matches one only by the lookup key
    (case, width, spacing, punctuation); NA where the subject is spelled as known, matches none,
    or matches a key two Demographics subjects share (check_subject_clash)."""
    spellings = pd.Series(known.dropna().unique(), dtype="str")
    keys = compute_lookup_key(spellings)
    shared = keys.duplicated(keep=False)
    lookup = pd.Series(spellings[~shared].to_numpy(), index=keys[~shared].to_numpy(), dtype="str")
    found = compute_lookup_key(subjects).map(lookup).astype("str")
    return found.where(found != subjects.astype("str"))


def check_subject_spelling(frame: pd.DataFrame, spelling: pd.Series, label: str) -> pd.DataFrame:
    """WARNING for each row whose subject is read as its spelling on the subjects sheet (named
    `label` to the site; SF-0132)."""
    rows = frame[spelling.notna().to_numpy()]
    if rows.empty:
        return empty_findings()
    message = (
        "Subject " + compute_visible_text(rows["subject"]).map(repr) + " is read as "
        + spelling[rows.index] + f", the subject's number in {label} (they differ only in "
        f"case, width, spacing or punctuation): write it as in {label}"
    )
    return make_row_findings(
        rows.assign(subject=spelling[rows.index]), severity=WARNING, stage=STAGE,
        rule=SUBJECT_SPELLING_RULE, variable="subject", message=message,
        value=compute_visible_text(rows["subject"]),
    )


def check_subject_clash(demographics: pd.DataFrame, known: pd.Series) -> pd.DataFrame:
    """WARNING for Demographics rows whose subject shares its lookup key with another subject's
    different spelling (`01-007` and `01007`): no other sheet's spelling can be matched to either
    by the key, so each is matched only as written (SF-0133)."""
    key = compute_lookup_key(known)
    spellings = pd.DataFrame({"key": key, "subject": known.astype("str")}).dropna()
    distinct = spellings.drop_duplicates()
    counts = distinct["key"].value_counts()
    clashing = key.isin(counts.index[counts > 1]).to_numpy(dtype=bool)
    if not clashing.any():
        return empty_findings()
    together = distinct.groupby("key")["subject"].agg(lambda s: " and ".join(sorted(s)))
    message = (
        "Subjects " + key[clashing].map(together)
        + " differ only in case, width, spacing or punctuation: check that both are right; "
        "other sheets must write each exactly as here"
    )
    return make_row_findings(
        demographics[clashing], severity=WARNING, stage=STAGE, rule=SUBJECT_CLASH_RULE,
        variable="subject", message=message,
    )


def _clean_sheet(
    frame: pd.DataFrame, columns: list[str], headers: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    findings, changed = [empty_findings()], {}
    for column in columns:
        if not compute_needs_cleaning(frame[column]):
            continue  # nearly every column
        clean = compute_clean_text(frame[column])
        removed = clean["removed"].notna().to_numpy(dtype=bool)
        broken = clean["broken"].to_numpy(dtype=bool)
        if removed.any() or broken.any():
            findings += _cleaning_findings(frame, column, headers.get(column, column), clean)
        changed[column] = clean["text"]
    # `subject` in a finding is the cleaned one: the number the rest of the run knows it by
    cleaned = frame.assign(**changed) if changed else frame
    findings = [f.assign(subject=_subjects(f, cleaned)) if not f.empty else f for f in findings]
    return cleaned, concat_findings(*findings)


def _cleaning_findings(frame: pd.DataFrame, column: str, header: str, clean: pd.DataFrame) -> list:
    removed = clean["removed"].notna().to_numpy(dtype=bool)
    broken = clean["broken"].to_numpy(dtype=bool) & ~removed
    shown = compute_visible_text(frame[column])
    out = []
    if removed.any():
        names = clean.loc[removed, "removed"].map(_character_names)
        message = (
            header + ": removed invisible or control character(s) " + names
            + "; the value is read as " + compute_visible_text(clean.loc[removed, "text"]).fillna("").map(repr)
            + ". Remove them in the source"
            + pd.Series(np.where(clean.loc[removed, "broken"], " (line breaks became spaces)", ""),
                        index=names.index)
        )
        out.append(make_row_findings(
            frame[removed], severity=WARNING, stage=STAGE, rule=REMOVED_RULE, variable=column,
            message=message, value=shown[removed],
        ))
    if broken.any():
        out.append(make_row_findings(
            frame[broken], severity=INFO, stage=STAGE, rule=BREAK_RULE, variable=column,
            message=f"{header}: line break(s) or tab(s) replaced by a space (SAS XPT readers do "
            "not agree on line breaks inside a value)",
            value=shown[broken],
        ))
    return out


def _subjects(findings: pd.DataFrame, cleaned: pd.DataFrame) -> np.ndarray:
    if "subject" not in cleaned.columns:
        return findings["subject"].to_numpy()
    lookup = cleaned.set_index(LINEAGE)["subject"]
    keys = pd.MultiIndex.from_arrays(
        [findings["file"], findings["sheet"], findings["row"].astype("int64")]
    )
    return lookup.reindex(keys).astype("object").where(lambda s: s.notna(), None).to_numpy()


def _character_names(characters: str) -> str:
    """`U+200B ZERO WIDTH SPACE, U+001B ESCAPE` for the distinct characters of `characters`."""
    seen = dict.fromkeys(characters)
    return ", ".join(f"U+{ord(c):04X} {_name(c)}" for c in seen)


def _name(character: str) -> str:
    # control characters have no Unicode name; their alias is what people know them by
    return unicodedata.name(character, _CONTROL_NAMES.get(ord(character), "CONTROL CHARACTER"))


_CONTROL_NAMES = {
    0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x1B: "ESCAPE", 0x7F: "DELETE",
    0x1A: "SUBSTITUTE", 0x1F: "UNIT SEPARATOR",
}

_SPECIAL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _visible(value: str) -> str:
    def code(match: re.Match) -> str:
        return f"<U+{ord(match.group()):04X}>"

    value = _SPECIAL.sub(code, value)
    # format characters (Cf) are outside any short class: found by their category
    if not value.isascii():
        value = "".join(
            f"<U+{ord(c):04X}>" if not c.isascii() and unicodedata.category(c) == "Cf" else c
            for c in value
        )
    return value
