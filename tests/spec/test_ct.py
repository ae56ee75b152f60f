"""transforms/spec/ct.py merge_study_ct: a study's codelists.csv merged over the shared CDISC CT, and
read_study's use of it. Small inline tables, expected rows worked out by hand."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from transforms.spec.ct import (
    CODELIST_COLUMNS,
    STUDY_CODELIST_COLUMNS,
    ControlledTerminology,
    check_terminology_in_ct,
    merge_study_ct,
)
from transforms.spec.study import DEFAULT_STUDY_DIR, MAPPINGS_DIR, read_study

SHARED = ControlledTerminology(
    version="2025-09-26",
    codelists=pd.DataFrame(
        [
            ("SEX", "Sex", "C66731", "No", "F", "C16576", "", ""),
            ("SEX", "Sex", "C66731", "No", "M", "C20197", "", ""),
            ("SEX", "Sex", "C66731", "No", "U", "C17998", "", ""),
            ("UNIT", "Unit", "C71620", "Yes", "g/L", "C42576", "Gram per Liter", ""),
            ("UNIT", "Unit", "C71620", "Yes", "mg/dL", "C67015", "Milligram per Deciliter", ""),
        ],
        columns=CODELIST_COLUMNS,
        dtype=object,
    ),
    ts_parameters=pd.DataFrame(),
    external={},
)


def study_rows(*rows: dict) -> pd.DataFrame:
    """Study codelists.csv rows; absent cells blank, as the reader gives them."""
    return pd.DataFrame(list(rows), dtype=object).reindex(columns=STUDY_CODELIST_COLUMNS).astype(object).fillna("")


def rows_of(ct: ControlledTerminology, codelist: str) -> list[tuple]:
    table = ct.codelists[ct.codelists["codelist"] == codelist]
    return list(table[["value", "nci_code", "decode", "extended"]].itertuples(index=False, name=None))


def test_no_study_rows_is_the_shared_ct():
    merged = merge_study_ct(SHARED, study_rows())
    pd.testing.assert_frame_equal(merged.codelists, SHARED.codelists)
    assert merged.version == SHARED.version


def test_extend_override_narrow_and_a_study_codelist():
    merged = merge_study_ct(SHARED, study_rows(
        {"codelist": "UNIT", "value": "10^6 cells/kg", "decode": "10^6 cells per kilogram"},
        {"codelist": "UNIT", "value": "10^9/L", "nci_code": "C67255"},  # a CDISC term not vendored
        {"codelist": "UNIT", "value": "g/L", "decode": "grams per litre"},  # the study's decode wins
        {"codelist": "SEX", "value": "U", "excluded": "Yes"},  # this study records M and F only
        {"codelist": "HBVSTAT", "name": "HBV status", "value": "CARRIER"},  # a sponsor codelist
        {"codelist": "HBVSTAT", "name": "HBV status", "value": "CLEARED"},
    ))
    assert rows_of(merged, "UNIT") == [
        ("g/L", "C42576", "grams per litre", ""),
        ("mg/dL", "C67015", "Milligram per Deciliter", ""),
        ("10^6 cells/kg", "", "10^6 cells per kilogram", "Yes"),  # not CDISC's: flagged extended
        ("10^9/L", "C67255", "", ""),  # has an NCI code: CDISC's, not an extension
    ]
    assert rows_of(merged, "SEX") == [("F", "C16576", "", ""), ("M", "C20197", "", "")]
    assert rows_of(merged, "HBVSTAT") == [("CARRIER", "", "", ""), ("CLEARED", "", "", "")]
    unit = merged.codelists[merged.codelists["codelist"] == "UNIT"]
    # the codelist's own attributes are CDISC's for the added terms too
    assert set(unit["nci_codelist"]) == {"C71620"} and set(unit["extensible"]) == {"Yes"}
    assert set(merged.codelists.loc[merged.codelists["codelist"] == "HBVSTAT", "nci_codelist"]) == {""}
    # the shared object is untouched
    assert len(SHARED.codelists) == 5 and SHARED.codelists.iloc[3]["decode"] == "Gram per Liter"


def test_every_inconsistent_study_row_is_named_with_its_fix():
    with pytest.raises(ValueError) as error:
        merge_study_ct(SHARED, study_rows(
            {"codelist": "SEX", "value": "X"},  # SEX is not extensible
            {"codelist": "UNIT", "value": "g/L", "extended": "Yes"},  # CDISC's own term
            {"codelist": "UNIT", "value": "mmol/L", "nci_codelist": "C99999"},  # not UNIT's code
            {"codelist": "UNIT", "value": "kg", "excluded": "Yes"},  # nothing to exclude
            {"codelist": "OWN", "value": "A", "extended": "Yes"},  # a sponsor list has no extension
            {"codelist": "OWN", "value": "B"},
            {"codelist": "OWN", "value": "B"},
            {"codelist": "OWN", "value": "C", "excluded": "yes"},
            {"codelist": "METHOD", "nci_codelist": "C85492", "value": "MY ASSAY", "extended": "Yes"},
        ), "study/codelists.csv")
    assert str(error.value).splitlines() == [
        "study/codelists.csv:",
        "  - OWN lists 'B' twice: keep one row",
        "  - UNIT 'mmol/L': nci_codelist 'C99999' differs from the shared CT's 'C71620'; leave it blank "
        "(the shared CT's is used)",
        "  - UNIT 'kg': excluded, but the shared CT has no such term to exclude",
        "  - SEX 'X': codelist C66731 is not extensible; map the site's value to one of its terms in "
        "terminology.csv instead",
        "  - UNIT 'g/L': extended = Yes but it is a CDISC term (it is in the shared CT or has an NCI "
        "code); clear `extended`",
        "  - OWN 'A': extended = Yes in a codelist without nci_codelist; only a CDISC codelist is "
        "extended (a sponsor codelist's terms are all the sponsor's): clear `extended`",
        "  - METHOD 'MY ASSAY': extended = Yes, but codelist C85492 is not marked extensible = Yes; a "
        "CDISC codelist takes sponsor terms only when it is extensible",
        "  - OWN 'C': `extended` and `excluded` are Yes or blank",
    ]


def test_a_study_table_needs_codelist_and_value():
    with pytest.raises(ValueError, match="x.csv: missing column.*value"):
        merge_study_ct(SHARED, pd.DataFrame({"codelist": ["UNIT"]}), "x.csv")


def test_terminology_must_map_to_terms_of_the_study_ct():
    terminology = pd.DataFrame({
        "codelist": ["SEX", "SEX", "UNIT", "UNIT", "ARMCD"],
        "raw": ["Male", "?", "cells/kg", "g/l", "Low"],
        "value": ["M", "U", "10^6 cells/kg", "g/L", "LOW"],
    })
    narrowed = merge_study_ct(SHARED, study_rows({"codelist": "SEX", "value": "U", "excluded": "Yes"}))
    assert check_terminology_in_ct(terminology, narrowed) == [
        "SEX 'U' (from '?') is not a term of the study's codelist SEX: add it to the study's "
        "codelists.csv (a sponsor extension) or map to a CDISC term",
        "UNIT '10^6 cells/kg' (from 'cells/kg') is not a term of the study's codelist UNIT: add it to "
        "the study's codelists.csv (a sponsor extension) or map to a CDISC term",
    ]  # ARMCD: not a CT codelist, the study terminology is its only source


# --- read_study ---------------------------------------------------------------------------------


@pytest.fixture
def study_copy(tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(DEFAULT_STUDY_DIR, folder, ignore=shutil.ignore_patterns("sample_export"))
    return folder


def test_the_first_study_declares_its_dose_unit_and_the_shared_ct_stays_cdisc():
    shared = pd.read_csv(MAPPINGS_DIR / "ct" / "codelists.csv", dtype=str, keep_default_na=False)
    assert "10^6 cells/kg" not in set(shared["value"]) and set(shared["extended"]) == {""}
    ct = read_study(DEFAULT_STUDY_DIR).ct
    dose_unit = ct.codelists[(ct.codelists["codelist"] == "UNIT") & (ct.codelists["value"] == "10^6 cells/kg")]
    assert dose_unit[["nci_codelist", "extended"]].values.tolist() == [["C71620", "Yes"]]
    assert len(ct.codelists) == len(shared) + 1


def test_a_study_without_codelists_csv_has_the_shared_ct(study_copy):
    (study_copy / "codelists.csv").unlink()
    terminology = pd.read_csv(study_copy / "terminology.csv", dtype=str, keep_default_na=False)
    study = read_study(study_copy)
    shared = pd.read_csv(MAPPINGS_DIR / "ct" / "codelists.csv", dtype=str, keep_default_na=False)
    assert len(study.ct.codelists) == len(shared)
    assert study.result_values.empty and list(study.result_values.columns) == ["raw", "stresc", "stresn", "meaning"]
    assert len(study.terminology) == len(terminology)


def test_read_study_refuses_terminology_the_ct_does_not_allow(study_copy):
    with (study_copy / "terminology.csv").open("a", encoding="utf-8") as handle:
        handle.write("UNIT,cells/mL,10^6 cells/mL\n")
    with pytest.raises(ValueError, match=r"terminology.csv:\n  - UNIT '10\^6 cells/mL' \(from 'cells/mL'\)"):
        read_study(study_copy)


def test_read_study_refuses_a_bad_codelists_csv_naming_the_file(study_copy):
    with (study_copy / "codelists.csv").open("a", encoding="utf-8") as handle:
        handle.write("SEX,,,,X,,,,\n")
    with pytest.raises(ValueError, match=r"codelists.csv:\n  - SEX 'X': codelist C66731 is not extensible"):
        read_study(study_copy)


def test_read_study_refuses_a_bad_result_values_csv_naming_the_file(study_copy):
    (study_copy / "result_values.csv").write_text("raw,stresc,stresn,meaning\n<20,<20,,\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"result_values.csv:\n  - row 2 '<20': is a number already"):
        read_study(study_copy)


def test_the_sdtm_value_sets_are_the_study_ct(study_copy):
    from expectations.sdtm import build_value_sets

    with (study_copy / "codelists.csv").open("a", encoding="utf-8") as handle:
        handle.write("LBCAT,Category for Lab Test,,,CHEMISTRY,,,,\n")
        handle.write("SEX,,,,U,,,,Yes\n")
    sets = build_value_sets(read_study(study_copy))
    assert "10^6 cells/kg" in sets["UNIT"] and sets["LBCAT"] == ["CHEMISTRY"] and sets["SEX"] == ["F", "M"]
    (study_copy / "codelists.csv").unlink()
    sets = build_value_sets(read_study(study_copy))
    assert "10^6 cells/kg" not in sets["UNIT"] and "LBCAT" not in sets and sets["SEX"] == ["F", "M", "U"]
