"""Variable metadata: SDTMIG owns labels, order, types and core; the study spec owns the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from transforms.core.metadata import (
    ORIGIN_SOURCES,
    ORIGIN_TYPES,
    VARIABLE_COLUMNS,
    build_variable_metadata,
    find_sdtmig_dir,
    read_dataset_metadata,
    read_study_spec,
    read_variable_metadata,
    standard_dataset_name,
)

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT / "mappings" / "standards"
IG_DIR = STANDARDS / "sdtmig-3.4"
STUDY = ROOT / "mappings" / "ucmsc-esld"

# What docs/sdtm-reference.md#study-decisions says each domain populates, plus the identifiers every
# domain has.
POPULATED = {
    "DM": "STUDYID DOMAIN USUBJID SUBJID RFSTDTC RFENDTC RFXSTDTC RFXENDTC RFICDTC RFPENDTC DTHDTC "
    "DTHFL SITEID BRTHDTC AGE AGEU SEX RACE ETHNIC ARMCD ARM ACTARMCD ACTARM ARMNRS ACTARMUD "
    "COUNTRY",
    "EX": "STUDYID DOMAIN USUBJID EXSEQ EXSPID EXTRT EXDOSE EXDOSU EXDOSFRM EXDOSFRQ EXROUTE EPOCH "
    "EXSTDTC EXENDTC EXSTDY EXENDY",
    "LB": "STUDYID DOMAIN USUBJID LBSEQ LBTESTCD LBTEST LBCAT LBORRES LBORRESU LBORNRLO LBORNRHI "
    "LBSTRESC LBSTRESN LBSTRESU LBSTNRLO LBSTNRHI LBNRIND LBSTAT LBREASND LBSPEC LBLOBXFL "
    "VISITNUM VISIT VISITDY EPOCH LBDTC LBDY",
    "RS": "STUDYID DOMAIN USUBJID RSSEQ RSGRPID RSTESTCD RSTEST RSCAT RSORRES RSORRESU RSSTRESC "
    "RSSTRESN RSSTRESU RSSTAT RSREASND RSLOBXFL RSDRVFL VISITNUM VISIT VISITDY EPOCH RSDTC RSDY",
}


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return read_variable_metadata(STANDARDS, STUDY)


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """A writable copy of the study folder, for specs with deliberate mistakes."""
    target = tmp_path / "study"
    target.mkdir()
    for name in ("variables.csv", "study.toml"):
        shutil.copy(STUDY / name, target / name)
    return target


def _append_spec_rows(study_dir: Path, rows: str) -> None:
    with open(study_dir / "variables.csv", "a", encoding="utf-8") as handle:
        handle.write(rows)


def test_dm_order_labels_and_types_come_from_sdtmig(meta):
    dm = meta[meta["dataset"] == "DM"]
    assert list(dm["variable"][:4]) == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]
    usubjid = dm.set_index("variable").loc["USUBJID"]
    assert usubjid["label"] == "Unique Subject Identifier"
    assert (usubjid["type"], usubjid["core"], usubjid["order"]) == ("Char", "Req", 3)
    age = dm.set_index("variable").loc["AGE"]
    assert (age["label"], age["type"], age["core"], age["order"]) == ("Age", "Num", "Exp", 19)
    assert dm["order"].is_monotonic_increasing
    assert list(meta.columns) == VARIABLE_COLUMNS


def test_each_domain_has_exactly_the_populated_variables(meta):
    for dataset, names in POPULATED.items():
        got = meta.loc[meta["dataset"] == dataset, "variable"]
        assert set(got) == set(names.split()), dataset
        assert got.is_unique


def test_every_req_and_exp_variable_is_included(meta):
    ig = pd.read_csv(IG_DIR / "Variables.csv", dtype=str, keep_default_na=False)
    for dataset in meta["dataset"].unique():
        required = ig[(ig["Dataset Name"] == dataset) & ig["Core"].isin(["Req", "Exp"])]
        included = meta.loc[meta["dataset"] == dataset, "variable"]
        assert set(required["Variable Name"]) <= set(included)


def test_perm_variables_not_listed_are_left_out(meta):
    dm = set(meta.loc[meta["dataset"] == "DM", "variable"])
    assert {"INVID", "INVNAM", "DMDTC", "DMDY", "RFCSTDTC"}.isdisjoint(dm)


def test_codelists_are_sdtmig_c_codes_and_study_codelists_from_the_spec(meta):
    by_key = meta.set_index(["dataset", "variable"])
    assert by_key.loc[("DM", "SEX"), "codelist"] == "C66731"
    assert by_key.loc[("DM", "SEX"), "study_codelist"] == "SEX"
    assert by_key.loc[("RS", "RSCAT"), "codelist"] == "C124298; C118971"
    assert by_key.loc[("DM", "USUBJID"), "codelist"] == ""
    assert by_key.loc[("EX", "EXDOSU"), "study_codelist"] == "UNIT"


def test_every_variable_has_a_define_xml_origin(meta):
    assert meta["origin"].isin(ORIGIN_TYPES).all()
    assert meta["source"].isin(ORIGIN_SOURCES).all()
    by_key = meta.set_index(["dataset", "variable"])
    exspid = by_key.loc[("EX", "EXSPID")]
    assert (exspid["origin"], exspid["source"]) == ("Collected", "Investigator")
    assert by_key.loc[("LB", "LBSTRESN"), "origin"] == "Derived"
    assert set(meta["sdtmig_version"]) == {"3.4"}


def test_origin_terms_are_define_xml_ct_terms():
    ct = pd.read_csv(STANDARDS / "ct" / "Define-XML_CT_2025-09-26.csv", dtype=str)
    terms = ct.groupby("Codelist Code")["CDISC Submission Value"].apply(set)
    assert set(ORIGIN_TYPES) <= terms["C170449"]
    assert set(ORIGIN_SOURCES) <= terms["C170450"]


def test_an_ig_folder_can_be_passed_directly(meta):
    direct = read_variable_metadata(IG_DIR, STUDY)
    pd.testing.assert_frame_equal(direct, meta)


def test_unknown_spec_variable_raises_naming_file_dataset_variable_and_fix(study_copy):
    _append_spec_rows(study_copy, "DM,DMFOO,Collected,Investigator,,\n")
    with pytest.raises(ValueError) as caught:
        read_variable_metadata(STANDARDS, study_copy)
    message = str(caught.value)
    assert str(study_copy / "variables.csv") in message
    assert "DM.DMFOO is not an SDTMIG 3.4 variable of DM" in message
    assert "SUPPDM" in message  # the fix for a non-standard variable


def test_a_variable_of_another_domain_is_unknown(study_copy):
    _append_spec_rows(study_copy, "DM,LBTESTCD,Collected,Investigator,,\n")
    with pytest.raises(ValueError, match=r"DM\.LBTESTCD is not an SDTMIG 3.4 variable of DM"):
        read_variable_metadata(STANDARDS, study_copy)


def test_all_spec_problems_are_reported_together(study_copy):
    _append_spec_rows(
        study_copy,
        "XX,XXSEQ,Derived,Sponsor,,\n"
        "DM,INVNAM,Guessed,Sponsor,,\n"
        "DM,SEX,Collected,Investigator,SEX,\n",
    )
    with pytest.raises(ValueError) as caught:
        read_variable_metadata(STANDARDS, study_copy)
    message = str(caught.value)
    assert "dataset 'XX' is not defined by SDTMIG 3.4" in message
    assert "DM.INVNAM: origin 'Guessed' is not a Define-XML origin type" in message
    assert "DM.SEX is listed more than once" in message


def test_a_req_or_exp_variable_without_a_spec_row_raises(study_copy):
    spec = (study_copy / "variables.csv").read_text().splitlines(keepends=True)
    kept = [line for line in spec if not line.startswith("DM,AGEU,")]
    (study_copy / "variables.csv").write_text("".join(kept))
    with pytest.raises(ValueError, match=r"DM\.AGEU \(Exp\) has no row: add one with its origin"):
        read_variable_metadata(STANDARDS, study_copy)


def test_a_trial_design_domain_needs_only_spec_rows(study_copy):
    spec = (study_copy / "variables.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (study_copy / "variables.csv").write_text(
        "".join(line for line in spec if not line.startswith("TS,")), encoding="utf-8"
    )  # the study's own TS rows out: this test writes its own
    _append_spec_rows(
        study_copy,
        "".join(
            f"TS,{v},{origin},Sponsor,,\n"
            for v, origin in [
                ("STUDYID", "Protocol"),
                ("DOMAIN", "Assigned"),
                ("TSSEQ", "Derived"),
                ("TSPARMCD", "Protocol"),
                ("TSPARM", "Protocol"),
                ("TSVAL", "Protocol"),
                ("TSVALCD", "Assigned"),
                ("TSVCDREF", "Assigned"),
                ("TSVCDVER", "Assigned"),
            ]
        ),
    )
    ts = read_variable_metadata(STANDARDS, study_copy).query("dataset == 'TS'")
    assert list(ts["variable"]) == [
        "STUDYID",
        "DOMAIN",
        "TSSEQ",
        "TSPARMCD",
        "TSPARM",
        "TSVAL",
        "TSVALCD",
        "TSVCDREF",
        "TSVCDVER",
    ]  # SDTMIG order, TSGRPID and TSVALNF (Perm, not listed) left out
    assert ts.set_index("variable").loc["TSPARMCD", "label"] == "Trial Summary Parameter Short Name"


def test_supplemental_qualifier_datasets_use_suppqual():
    assert standard_dataset_name("SUPPDM") == "SUPPQUAL"
    assert standard_dataset_name("DM") == "DM"
    ig = pd.DataFrame(
        {
            "dataset": "SUPPQUAL",
            "variable": ["STUDYID", "RDOMAIN", "QNAM"],
            "label": ["Study Identifier", "Related Domain Abbreviation", "Qualifier Variable Name"],
            "type": "Char",
            "order": [1, 2, 6],
            "core": "Req",
            "role": "Identifier",
            "codelist": "",
            "sdtmig_version": "3.4",
        }
    )
    spec = pd.DataFrame(
        {
            "dataset": "SUPPDM",
            "variable": ["QNAM", "STUDYID", "RDOMAIN"],
            "origin": "Assigned",
            "source": "Sponsor",
            "codelist": "",
            "comment": "",
        }
    )
    meta = build_variable_metadata(ig, spec)
    assert list(meta["variable"]) == ["STUDYID", "RDOMAIN", "QNAM"]
    assert set(meta["dataset"]) == {"SUPPDM"}


def test_build_is_pure_and_orders_by_sdtmig(tmp_path):
    ig = pd.DataFrame(
        {
            "dataset": "XY",
            "variable": ["STUDYID", "XYSEQ", "XYOPT", "XYUNUSED"],
            "label": ["Study Identifier", "Sequence Number", "Optional", "Unused"],
            "type": ["Char", "Num", "Char", "Char"],
            "order": [1, 2, 3, 4],
            "core": ["Req", "Req", "Perm", "Perm"],
            "role": "Identifier",
            "codelist": "",
            "sdtmig_version": "3.4",
        }
    )
    spec = pd.DataFrame(
        {
            "dataset": "XY",
            "variable": ["XYOPT", "XYSEQ", "STUDYID"],
            "origin": ["Collected", "Derived", "Protocol"],
            "source": ["Vendor", "Sponsor", "Sponsor"],
            "codelist": "",
            "comment": ["", "", "from config"],
        }
    )
    before = (ig.copy(), spec.copy())
    meta = build_variable_metadata(ig, spec)
    assert list(meta["variable"]) == ["STUDYID", "XYSEQ", "XYOPT"]
    assert list(meta["origin"]) == ["Protocol", "Derived", "Collected"]
    assert meta.loc[0, "comment"] == "from config"
    pd.testing.assert_frame_equal(ig, before[0])
    pd.testing.assert_frame_equal(spec, before[1])


def test_spec_is_read_as_trimmed_upper_case_text(tmp_path):
    (tmp_path / "variables.csv").write_text(
        "dataset,variable,origin,source,codelist,comment\n dm , sex ,Collected,Investigator,SEX,\n"
    )
    spec = read_study_spec(tmp_path / "variables.csv")
    assert spec.iloc[0].tolist() == ["DM", "SEX", "Collected", "Investigator", "SEX", ""]


def test_spec_without_a_column_raises(tmp_path):
    (tmp_path / "variables.csv").write_text("dataset,variable,origin\nDM,SEX,Collected\n")
    missing = r"variables.csv: missing column\(s\) source, codelist, comment"
    with pytest.raises(ValueError, match=missing):
        read_study_spec(tmp_path / "variables.csv")


def test_dataset_metadata_from_sdtmig():
    datasets = read_dataset_metadata(STANDARDS).set_index("dataset")
    assert list(datasets.reset_index().columns) == ["dataset", "label", "class", "structure"]
    assert tuple(datasets.loc["DM", ["label", "class", "structure"]]) == (
        "Demographics",
        "Special-Purpose",
        "One record per subject",
    )
    assert datasets.loc["RS", "label"] == "Disease Response and Clin Classification"
    assert datasets.loc["LB", "label"] == "Laboratory Test Results"
    assert datasets.loc["TS", "class"] == "Trial Design"


def test_sdtmig_folder_is_chosen_by_version(tmp_path):
    assert find_sdtmig_dir(STANDARDS, "3.4") == IG_DIR
    assert find_sdtmig_dir(IG_DIR) == IG_DIR
    with pytest.raises(ValueError, match="no folder sdtmig-9.9 .*have: sdtmig-3.4"):
        find_sdtmig_dir(STANDARDS, "9.9")
