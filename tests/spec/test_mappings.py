"""The study's mapping tables agree with each other and with the CDISC terms the run may write."""

from expectations.sdtm import build_value_sets
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

STUDY = read_study(DEFAULT_STUDY_DIR)
VALUE_SETS = build_value_sets(STUDY)


def test_every_unit_the_study_accepts_is_a_unit_term_the_sdtm_checks_accept():
    conversions = STUDY.unit_conversions
    units = (set(conversions["LBORRESU"]) | set(conversions["LBSTRESU"])) - {""}
    assert units - set(VALUE_SETS["UNIT"]) == set()


def test_every_synonym_target_is_a_term_of_its_codelist():
    terms = STUDY.terminology
    for codelist in ("SEX", "RACE", "ETHNIC", "ROUTE", "NY", "LBTESTCD", "UNIT"):
        if codelist in VALUE_SETS and isinstance(VALUE_SETS[codelist], list):
            targets = set(terms.loc[terms["codelist"] == codelist, "value"])
            assert targets - set(VALUE_SETS[codelist]) == set(), codelist


def test_every_lab_test_has_a_conversion_to_its_standard_unit():
    conversions = STUDY.unit_conversions
    for test in STUDY.lab_tests.itertuples():
        rows = conversions[conversions["LBTESTCD"] == test.LBTESTCD]
        assert len(rows) and set(rows["LBSTRESU"]) == {test.LBSTRESU}, test.LBTESTCD
