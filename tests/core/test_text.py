"""transforms/standardise/text.py: text cleaned before anything reads it, each change a finding."""

from __future__ import annotations

import pandas as pd

from transforms.spec.study import DEFAULT_STUDY_DIR, read_study
from transforms.standardise.text import compute_clean_text, compute_visible_text, standardise_text

KEY = ["severity", "stage", "rule", "file", "sheet", "row", "subject", "variable", "value"]
STUDY = read_study(DEFAULT_STUDY_DIR)
RAW_COLUMNS = STUDY.raw_columns


def text(*values) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def as_list(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series.tolist()]


def sheet(name: str, **columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({c: pd.Series(v, dtype="str") for c, v in columns.items()})
    return frame.assign(_file="export_2026-03-31.xlsx", _sheet=name, _row=range(2, n + 2))


def test_line_breaks_and_tabs_become_one_space_control_and_invisible_characters_go():
    raw = text("01-007\u200b", "Haemolysed\r\nsample", "x\x1b\ty", " padded ", "\x00", None,
               "\ufeffBOM", "soft\u00adhyphen", "line\u2028sep", "C1\x85next", "del\x7f")
    clean = compute_clean_text(raw)
    assert as_list(clean["text"]) == [
        "01-007", "Haemolysed sample", "x y", "padded", None, None, "BOM", "softhyphen",
        "line sep", "C1 next", "del",
    ]
    assert clean["broken"].tolist() == [
        False, True, True, False, False, False, False, False, True, True, False
    ]
    assert as_list(clean["removed"]) == [
        "\u200b", None, "\x1b", None, "\x00", None, "\ufeff", "\u00ad", None, None, "\x7f"
    ]


def test_visible_text_names_every_hidden_character_and_cuts_long_values():
    shown = compute_visible_text(text("01-007\u200b", "a\nb", "x" * 250, "plain", None))
    assert as_list(shown) == [
        "01-007<U+200B>", "a<U+000A>b", "x" * 200 + "... (250 characters)", "plain", None
    ]


def test_a_zero_width_space_in_a_subject_is_removed_with_a_warning_naming_it():
    demographics = sheet("Demographics", subject=["01-006", "01-007"])
    labs = sheet("labs_2026-03-31", subject=["01-007\u200b", "01-007", "01-006"],
                 not_done_reason=[None, "Haemolysed\nsample", "bad\x1b[0m"])
    sheets, findings = standardise_text({"demographics": demographics, "labs": labs}, STUDY)
    assert as_list(sheets["labs"]["subject"]) == ["01-007", "01-007", "01-006"]
    assert as_list(sheets["labs"]["not_done_reason"]) == [None, "Haemolysed sample", "bad[0m"]
    assert findings[KEY].values.tolist() == [
        ["WARNING", "standardise", "SF-0130", "export_2026-03-31.xlsx", "labs_2026-03-31", 2,
         "01-007", "subject", "01-007<U+200B>"],
        ["WARNING", "standardise", "SF-0130", "export_2026-03-31.xlsx", "labs_2026-03-31", 4,
         "01-006", "not_done_reason", "bad<U+001B>[0m"],
        ["INFO", "standardise", "SF-0131", "export_2026-03-31.xlsx", "labs_2026-03-31", 3,
         "01-007", "not_done_reason", "Haemolysed<U+000A>sample"],
    ]
    assert findings["message"].tolist() == [
        "Subject: removed invisible or control character(s) U+200B ZERO WIDTH SPACE; the value is "
        "read as '01-007'. Remove them in the source",
        "Not done reason: removed invisible or control character(s) U+001B ESCAPE; the value is "
        "read as 'bad[0m'. Remove them in the source",
        "Not done reason: line break(s) or tab(s) replaced by a space (SAS XPT readers do not "
        "agree on line breaks inside a value)",
    ]
    # every row is still there, in its order, lineage untouched
    assert sheets["labs"]["_row"].tolist() == [2, 3, 4]
    assert labs["subject"].iloc[0] == "01-007\u200b"  # the input is not modified


def test_a_subject_spelled_differently_takes_the_demographics_spelling():
    demographics = sheet("Demographics", subject=["01-007", "01-008"])
    infusions = sheet("Infusions", subject=["01 007", "０１－００８", "01-008", "01-009", "01007x"])
    sheets, findings = standardise_text(
        {"demographics": demographics, "infusions": infusions}, STUDY
    )
    assert as_list(sheets["infusions"]["subject"]) == ["01-007", "01-008", "01-008", "01-009", "01007x"]
    assert findings[KEY].values.tolist() == [
        ["WARNING", "standardise", "SF-0132", "export_2026-03-31.xlsx", "Infusions", 2, "01-007",
         "subject", "01 007"],
        ["WARNING", "standardise", "SF-0132", "export_2026-03-31.xlsx", "Infusions", 3, "01-008",
         "subject", "０１－００８"],  # full-width is visible: shown as sent
    ]
    assert findings["message"].iloc[0] == (
        "Subject '01 007' is read as 01-007, the subject's number in Demographics (they differ "
        "only in case, width, spacing or punctuation): write it as in Demographics"
    )


def test_two_demographics_subjects_one_key_apart_are_matched_only_as_written():
    demographics = sheet("Demographics", subject=["01-007", "010-07"])
    labs = sheet("labs_2026-03-31", subject=["01007", "010-07"])
    sheets, findings = standardise_text({"demographics": demographics, "labs": labs}, STUDY)
    assert as_list(sheets["labs"]["subject"]) == ["01007", "010-07"]  # not guessed
    assert findings[["rule", "sheet", "row", "value"]].values.tolist() == [
        ["SF-0133", "Demographics", 2, "01-007"], ["SF-0133", "Demographics", 3, "010-07"],
    ]
    assert findings["message"].iloc[0].startswith(
        "Subjects 01-007 and 010-07 differ only in case, width, spacing or punctuation"
    )


def test_clean_sheets_come_back_as_they_were_with_no_findings():
    demographics = sheet("Demographics", subject=["01-001"], site=["01"])
    sheets, findings = standardise_text({"demographics": demographics}, STUDY)
    assert findings.empty
    pd.testing.assert_frame_equal(sheets["demographics"], demographics)
