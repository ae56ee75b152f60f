"""define.xml: valid Define-XML 2.1, and in agreement with every XPT of the published package."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime

import pandas as pd
import pyreadstat
import pytest
from lxml import etree

from tests.conftest import require_tool
from transforms.outputs.define import (
    build_define_xml,
    check_define_schema,
    compute_data_type,
    compute_significant_digits,
    render_define_html,
)
from transforms.outputs.submission import DEFINE_DIR, DEFINE_SCHEMA
from transforms.outputs.xpt import read_xpt_lengths

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
TRIAL_DESIGN = {"TS", "TA", "TE", "TV", "TI"}
ISO8601_TYPES = {"date", "datetime", "durationDatetime"}


@pytest.fixture(scope="module")
def define(sample_sdtm) -> etree._Element:
    return etree.parse(str(sample_sdtm / "define.xml")).getroot()


def _items(root) -> dict[str, etree._Element]:
    return {item.get("OID"): item for item in root.iterfind(".//odm:ItemDef", NS)}


def _text(element) -> str:
    return element.find("odm:Description/odm:TranslatedText", NS).text


def test_define_xml_is_valid_define_xml_2_1(sample_sdtm):
    assert check_define_schema((sample_sdtm / "define.xml").read_bytes(), DEFINE_SCHEMA) == []


def test_schema_check_reports_errors():
    example = (DEFINE_DIR / "example-defineV21-SDTM.xml").read_bytes()
    assert check_define_schema(example, DEFINE_SCHEMA) == []
    broken = example.replace(b'Repeating="No" IsReferenceData', b'IsReferenceData', 1)  # Repeating is required
    assert any("Repeating" in e for e in check_define_schema(broken, DEFINE_SCHEMA))


def test_define_matches_every_xpt(define, sample_sdtm):
    """Names, labels, variable order and lengths of define.xml against each dataset as written."""
    items = _items(define)
    groups = {g.get("Name"): g for g in define.iterfind(".//odm:ItemGroupDef", NS)}
    xpts = sorted(sample_sdtm.glob("*.xpt"))
    assert set(groups) == {p.stem.upper() for p in xpts}
    for path in xpts:
        data, meta = pyreadstat.read_xport(path, metadataonly=True)
        group = groups[path.stem.upper()]
        assert group.get("SASDatasetName") == meta.table_name
        assert _text(group) == meta.file_label
        refs = group.findall("odm:ItemRef", NS)
        assert [int(r.get("OrderNumber")) for r in refs] == list(range(1, len(refs) + 1))
        defined = [items[r.get("ItemOID")] for r in refs]
        assert [i.get("Name") for i in defined] == meta.column_names, path.name
        assert [_text(i) for i in defined] == meta.column_labels, path.name
        lengths = read_xpt_lengths(path)
        for item in defined:
            if item.get("DataType") in ISO8601_TYPES:
                assert item.get("Length") is None  # Define-XML: no Length for ISO 8601 types
            else:
                assert int(item.get("Length")) == lengths[item.get("Name")], (path.name, item.get("Name"))
        leaf = group.find("def:leaf", NS)
        assert (sample_sdtm / leaf.get(f"{{{NS['xlink']}}}href")).resolve() == path.resolve()
        assert group.get("IsReferenceData") == ("Yes" if group.get("Name") in TRIAL_DESIGN else "No")


def test_mandatory_keys_and_methods(define, sample_run):
    from transforms.core.metadata import read_variable_metadata
    from transforms.spec.study import DEFAULT_STUDY_DIR, STANDARDS_DIR

    meta = read_variable_metadata(STANDARDS_DIR, DEFAULT_STUDY_DIR).set_index(["dataset", "variable"])
    items = _items(define)
    methods = {m.get("OID") for m in define.iterfind(".//odm:MethodDef", NS)}
    for group in define.iterfind(".//odm:ItemGroupDef", NS):
        keys = []
        for ref in group.findall("odm:ItemRef", NS):
            variable = items[ref.get("ItemOID")].get("Name")
            row = meta.loc[(group.get("Name"), variable)]
            assert ref.get("Mandatory") == ("Yes" if row["core"] == "Req" else "No")
            if row["origin"] == "Derived":
                assert ref.get("MethodOID") in methods, (group.get("Name"), variable)
            if ref.get("KeySequence"):
                keys.append(int(ref.get("KeySequence")))
        assert sorted(keys) == list(range(1, len(keys) + 1)) and keys
    for name in ("MT.DY", "MT.MELD", "MT.CPTOTAL", "MT.LBSTRESN", "MT.EPOCH", "MT.VISITNUM", "MT.SEQ", "MT.LOBXFL"):
        assert name in methods


def test_every_reference_resolves(define):
    defined = {e.get("OID") for e in define.iter() if e.get("OID")} | {e.get("ID") for e in define.iter() if e.get("ID")}
    references = {"ItemOID", "CodeListOID", "MethodOID", "ValueListOID", "WhereClauseOID",
                  f"{{{NS['def']}}}CommentOID", f"{{{NS['def']}}}ItemOID", f"{{{NS['def']}}}StandardOID",
                  f"{{{NS['def']}}}ArchiveLocationID", "leafID"}
    for element in define.iter():
        for attribute in references & set(element.attrib):
            assert element.get(attribute) in defined, (element.tag, attribute, element.get(attribute))


def _codelist(define, oid):
    return define.find(f".//odm:CodeList[@OID='{oid}']", NS)


def test_codelists_carry_nci_codes_and_flag_the_sponsor_extension(define):
    sex = _codelist(define, "CL.SEX")
    assert sex.find("odm:Alias", NS).get("Name") == "C66731"
    codes = {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name") for i in sex.findall("odm:CodeListItem", NS)}
    assert codes == {"F": "C16576", "M": "C20197"}  # the values present
    unit = _codelist(define, "CL.UNIT")
    extended = {i.get("CodedValue") for i in unit.findall("odm:CodeListItem", NS) if i.get(f"{{{NS['def']}}}ExtendedValue") == "Yes"}
    assert extended == {"10^6 cells/kg"}
    assert unit.find("odm:CodeListItem[@CodedValue='umol/L']/odm:Alias", NS).get("Name") == "C48508"
    lbtestcd = _codelist(define, "CL.LBTESTCD")
    bili = lbtestcd.find("odm:CodeListItem[@CodedValue='BILI']", NS)
    assert bili.find("odm:Alias", NS).get("Name") == "C38037" and _text_decode(bili) == "Bilirubin"
    for oid, code in (("CL.RSCAT", "C118971"), ("CL.EPOCH", "C99079"), ("CL.NY", "C66742"), ("CL.ROUTE", "C66729"),
                      ("CL.FRM", "C66726"), ("CL.FREQ", "C71113"), ("CL.ND", "C66789"), ("CL.NRIND", "C78736"),
                      ("CL.SPECTYPE", "C78734"), ("CL.AGEU", "C66781"), ("CL.RACE", "C74457"), ("CL.ETHNIC", "C66790")):
        assert _codelist(define, oid).find("odm:Alias", NS).get("Name") == code, oid
    rstestcd = _codelist(define, "CL.RSTESTCD")
    assert rstestcd.find("odm:CodeListItem[@CodedValue='MELD0101']/odm:Alias", NS).get("Name") == "C121076"
    armcd = _codelist(define, "CL.ARMCD")
    assert _text_decode(armcd.find("odm:CodeListItem[@CodedValue='MHIGH']", NS)) == "UC-MSC 3x10^6 cells/kg"
    visit = [i.get("CodedValue") for i in _codelist(define, "CL.VISIT").findall("odm:EnumeratedItem", NS)]
    assert "Baseline" in visit and "Week 48" in visit
    assert _codelist(define, "CL.ISO3166").find("odm:ExternalCodeList", NS).get("Dictionary") == "ISO 3166"


def _text_decode(item) -> str:
    return item.find("odm:Decode/odm:TranslatedText", NS).text


def test_value_level_metadata_for_lb_and_rs(define, sample_sdtm):
    lb, _ = pyreadstat.read_xport(sample_sdtm / "lb.xpt")
    rs, _ = pyreadstat.read_xport(sample_sdtm / "rs.xpt")
    wheres = {w.get("OID"): w.find("odm:RangeCheck/odm:CheckValue", NS).text for w in define.iterfind(".//def:WhereClauseDef", NS)}
    items = _items(define)

    def tests_of(oid):
        vl = define.find(f".//def:ValueListDef[@OID='{oid}']", NS)
        return [wheres[r.find("def:WhereClauseRef", NS).get("WhereClauseOID")] for r in vl.findall("odm:ItemRef", NS)]

    assert set(tests_of("VL.LB.LBSTRESN")) == set(lb["LBTESTCD"])
    assert set(tests_of("VL.RS.RSSTRESN")) >= {"MELD0101", "CPS0106"}
    # units per test: a subset codelist of the units the test was reported in
    for code in ("BILI", "ALB"):
        subset = _codelist(define, f"CL.UNIT.LB.LBORRESU.{code}")
        assert {i.get("CodedValue") for i in subset.findall("odm:CodeListItem", NS)} == set(lb.loc[lb["LBTESTCD"] == code, "LBORRESU"]) - {""}
    assert items["IT.LB.LBSTRESN.BILI"].get("DataType") == "float"
    assert items["IT.RS.RSSTRESN.MELD0101"].get("DataType") == "integer"
    assert items["IT.TS.TSVAL.SSTDTC"].get("DataType") == "date"
    meld = define.find(".//def:ValueListDef[@OID='VL.RS.RSSTRESN']/odm:ItemRef[@ItemOID='IT.RS.RSSTRESN.MELD0101']", NS)
    assert meld.get("MethodOID") == "MT.MELD"


def test_creation_date_is_the_export_date_not_the_clock(define):
    assert define.get("CreationDateTime") == "2026-03-31T00:00:00"
    assert define.get(f"{{{NS['def']}}}Context") == "Submission"
    standards = define.findall(".//def:Standard", NS)
    assert [(s.get("Name"), s.get("Version")) for s in standards][0] == ("SDTMIG", "3.4")


def test_same_input_gives_the_same_define_bytes():
    from tests.conform.test_conformance import BASE, _define

    assert _define(BASE.datasets) == _define(BASE.datasets)
    assert check_define_schema(_define(BASE.datasets), DEFINE_SCHEMA) == []


def test_a_derived_variable_without_a_method_is_a_configuration_error():
    from tests.conform import test_conformance as tc

    variables = tc.VARIABLES.copy()
    variables.loc[(variables["dataset"] == "EX") & (variables["variable"] == "EXSTDY"), "comment"] = ""
    methods = pd.read_csv(tc.DEFAULT_STUDY_DIR / "methods.csv", dtype=str, keep_default_na=False)
    methods = methods[methods["method"] != "MT.DY"]
    datasets = pd.read_csv(tc.DEFAULT_STUDY_DIR / "datasets.csv", dtype=str, keep_default_na=False)
    lengths = {n: {v: 8 for v in f.columns} for n, f in tc.BASE.datasets.items()}
    with pytest.raises(ValueError, match="EX.EXSTDY"):
        build_define_xml(tc.BASE.datasets, lengths, variables, tc.DATASET_META, datasets, methods, tc.STUDY.ct,
                         pd.DataFrame(columns=["codelist", "value", "decode"]), tc.DefineStudy("S", "t", "3.4"),
                         datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "values, sdtm_type, variable, value_level, expected",
    [
        (pd.Series([1.0, 2.0, None]), "Num", "LBSEQ", False, "integer"),
        (pd.Series([1.5, 2.0]), "Num", "LBSTRESN", False, "float"),
        (pd.Series(["2025-01-01", "2025-02-03"]), "Char", "LBDTC", False, "date"),
        (pd.Series(["2025-01-01T10:00", "2025-02"]), "Char", "LBDTC", False, "datetime"),
        (pd.Series(["P48W"]), "Char", "TEDUR", False, "durationDatetime"),
        (pd.Series(["12", "7"]), "Char", "RSORRES", True, "integer"),
        (pd.Series(["2.456", "1"]), "Char", "RSORRES", True, "float"),
        (pd.Series(["<5", "7"]), "Char", "LBORRES", True, "text"),
        (pd.Series(["12", "7"]), "Char", "LBORRES", False, "text"),
    ],
)
def test_compute_data_type(values, sdtm_type, variable, value_level, expected):
    assert compute_data_type(values, sdtm_type, variable, value_level=value_level) == expected


def test_compute_significant_digits():
    assert compute_significant_digits(pd.Series([15.39, 2.0, None])) == 2
    assert compute_significant_digits(pd.Series(["2.456", "3"])) == 3
    assert compute_significant_digits(pd.Series([0.1 + 0.2])) == 1  # floating-point noise is not a digit


def test_define_html_names_every_dataset(sample_sdtm):
    html = (sample_sdtm / "define.html").read_text(encoding="utf-8")
    for path in sample_sdtm.glob("*.xpt"):
        assert f">{path.name}<" in html
    assert (sample_sdtm / "define2-1.xsl").read_bytes() == (DEFINE_DIR / "define2-1.xsl").read_bytes()
    assert render_define_html((sample_sdtm / "define.xml").read_bytes(), DEFINE_DIR / "define2-1.xsl").decode() == html


def test_define_html_renders_in_a_real_browser(sample_sdtm, tmp_path):
    """Chromium (headless) loads define.html and the rendered page lists every dataset."""
    chromium = require_tool("chromium")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", (sample_sdtm / "define.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )
    text = re.sub(r"<[^>]+>", " ", result.stdout)
    for path in sorted(sample_sdtm.glob("*.xpt")):
        assert re.search(rf"\b{path.stem.upper()}\b", text), path.stem
        assert path.name in text
    assert "Trial Summary" in text and "10^6 cells/kg" in text


def test_a_value_level_variable_the_site_left_blank_gets_no_empty_value_list():
    """Define-XML 2.1 forbids a ValueListDef without ItemRef: an LBORRESU blank on every record
    (a site that sends no units column) keeps its ItemDef and loses only its value list."""
    from tests.conform.test_conformance import BASE, _define

    datasets = {**BASE.datasets, "LB": BASE.datasets["LB"].assign(LBORRESU=None, LBSTRESU=None)}
    xml = _define(datasets)
    assert check_define_schema(xml, DEFINE_SCHEMA) == []
    root = etree.fromstring(xml)
    assert root.find(".//def:ValueListDef[@OID='VL.LB.LBORRESU']", NS) is None
    assert root.find(".//def:ValueListDef[@OID='VL.LB.LBORRES']", NS) is not None
    lborresu = root.find(".//odm:ItemDef[@OID='IT.LB.LBORRESU']", NS)
    assert lborresu is not None and lborresu.find("def:ValueListRef", NS) is None
