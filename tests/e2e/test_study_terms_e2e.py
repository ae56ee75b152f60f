"""End to end: a second study folder that brings its own terminology and result values.

The folder is the bundled study copied to tmp_path with three additions of its own:
- codelists.csv: besides the dose unit extension (10^6 cells/kg, UNIT), a sponsor codelist LBCAT
  for LB.LBCAT, a variable the shared CT has no codelist for (variables.csv names it);
- result_values.csv: TND -> NOT DETECTED, Negative -> NEGATIVE (STRESN null);
- the sample export with three ALT results rewritten as TND, Negative and 2.5E+01.
The run must publish (a 'not in codelist' error in the SDTM suites fails it), define.xml must be
schema-valid and flag the extension, and LB must carry the declared standard results.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pyreadstat
import pytest
from lxml import etree

from transforms.outputs.define import check_define_schema
from transforms.outputs.submission import DEFINE_SCHEMA
from transforms.spec.study import DEFAULT_STUDY_DIR

pytestmark = pytest.mark.slow

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
EXTENDED = f"{{{NS['def']}}}ExtendedValue"
LABS = "labs_2026-03-31.csv"
# Subject 01-002's ALT results at Screening, Week 4 and Week 24 (file rows 74, 101, 137)
REWRITTEN = {72: "TND", 99: "Negative", 135: "2.5E+01"}


@pytest.fixture(scope="module")
def run(prefect_harness, tmp_path_factory):
    from flows.pipeline import sdtmflow_run

    root = tmp_path_factory.mktemp("second_study")
    study = root / "study"
    shutil.copytree(DEFAULT_STUDY_DIR, study, ignore=shutil.ignore_patterns("sample_export"))
    with (study / "codelists.csv").open("a", encoding="utf-8") as handle:
        handle.write(",".join(["LBCAT", "Category for Lab Test", "", "", "CHEMISTRY", "", "", "", ""]) + "\n")
        handle.write(",".join(["LBCAT", "Category for Lab Test", "", "", "COAGULATION", "", "", "", ""]) + "\n")
    variables = (study / "variables.csv").read_text(encoding="utf-8")
    assert "LB,LBCAT,Assigned,Sponsor,," in variables
    (study / "variables.csv").write_text(
        variables.replace("LB,LBCAT,Assigned,Sponsor,,", "LB,LBCAT,Assigned,Sponsor,LBCAT,"), encoding="utf-8"
    )
    (study / "result_values.csv").write_text(
        "raw,stresc,stresn,meaning\n"
        "TND,NOT DETECTED,,target not detected\n"
        "Negative,NEGATIVE,,negative\n",
        encoding="utf-8",
    )
    export = root / "export"
    shutil.copytree(DEFAULT_STUDY_DIR / "sample_export", export)
    labs = pd.read_csv(export / LABS, dtype=str, keep_default_na=False)
    assert (labs.loc[list(REWRITTEN), ["Subject", "Test"]].values == ["01-002", "ALT"]).all()
    for index, result in REWRITTEN.items():
        labs.loc[index, "Result"] = result
    labs.to_csv(export / LABS, index=False, encoding="utf-8")
    sdtmflow_run(input_dir=export, output_dir=root / "out", study_dir=study)
    return (root / "out" / "latest").resolve()


def test_the_study_terms_raise_no_codelist_or_result_error(run):
    findings = pd.read_csv(run / "findings.csv", dtype={"row": "Int64"})
    assert not (findings["rule"] == "SF-0505").any()  # no 'not in codelist' in the SDTM suites
    rows = {index + 2 for index in REWRITTEN}  # header = row 1
    on_rewritten = findings[(findings["file"] == LABS) & findings["row"].isin(rows)]
    assert on_rewritten.empty, on_rewritten.to_dict("records")
    lineage = pd.read_csv(run / "lineage.csv")
    assert rows <= set(lineage.loc[lineage["file"] == LABS, "row"])  # all three reached LB


def test_lb_carries_the_declared_standard_results(run):
    lb, _ = pyreadstat.read_xport(str(_sdtm(run) / "lb.xpt"))
    got = lb[lb["LBORRES"].isin(REWRITTEN.values())].set_index("LBORRES")
    assert got.loc["TND", "LBSTRESC"] == "NOT DETECTED" and pd.isna(got.loc["TND", "LBSTRESN"])
    assert got.loc["Negative", "LBSTRESC"] == "NEGATIVE" and pd.isna(got.loc["Negative", "LBSTRESN"])
    assert got.loc["2.5E+01", "LBSTRESC"] == "25" and got.loc["2.5E+01", "LBSTRESN"] == 25.0  # U/L, factor 1
    # no number, no reference range indicator; 25 lies inside the row's 9-50 U/L
    assert pd.isna(got.loc["TND", "LBNRIND"]) or got.loc["TND", "LBNRIND"] == ""
    assert pd.isna(got.loc["Negative", "LBNRIND"]) or got.loc["Negative", "LBNRIND"] == ""
    assert got.loc["2.5E+01", "LBNRIND"] == "NORMAL"


def test_define_marks_the_extension_and_lists_the_sponsor_codelist(run):
    document = (_sdtm(run) / "define.xml").read_bytes()
    assert check_define_schema(document, DEFINE_SCHEMA) == []
    root = etree.fromstring(document)
    unit = root.find(".//odm:CodeList[@OID='CL.UNIT']", NS)
    assert {i.get("CodedValue") for i in unit if i.get(EXTENDED) == "Yes"} == {"10^6 cells/kg"}
    lbcat = root.find(".//odm:CodeList[@OID='CL.LBCAT']", NS)
    assert lbcat.get("Name") == "Category for Lab Test" and lbcat.get(f"{{{NS['def']}}}StandardOID") is None
    items = lbcat.findall("odm:EnumeratedItem", NS)
    assert [i.get("CodedValue") for i in items] == ["CHEMISTRY", "COAGULATION"]
    assert all(i.get(EXTENDED) is None for i in items) and lbcat.find("odm:Alias", NS) is None
    lbcat_item = root.find(".//odm:ItemDef[@OID='IT.LB.LBCAT']", NS)
    assert lbcat_item.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.LBCAT"


def _sdtm(run):
    """The run's submission folder (m5/datasets/<study>/tabulations/sdtm)."""
    return next(run.glob("m5/datasets/*/tabulations/sdtm"))
