"""Trial design (TS, TE, TA, TV, TI), MH and SV: built from the study folder and small frames."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from transforms.core.findings import LINEAGE
from transforms.domains.mh import build_mh
from transforms.outputs.package import read_transliteration
from transforms.domains.sv import build_sv
from transforms.domains.trial_design import (
    build_ta,
    build_te,
    build_ti,
    build_trial_design,
    build_ts,
    build_tv,
    compute_study_start_date,
)
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

STUDY = read_study(DEFAULT_STUDY_DIR)
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"


def _dm(consent=("2025-03-10", "2025-02-01")) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": [f"UCMSC-ESLD-01-00{i}" for i in range(1, len(consent) + 1)], "RFICDTC": list(consent)})


def _ts(dm=None, study=STUDY) -> pd.DataFrame:
    return build_ts(_dm() if dm is None else dm, study).set_index(["TSPARMCD", "TSSEQ"])


def _with_design(**changes):
    design = copy.deepcopy(STUDY.trial_design)
    for key, value in changes.items():
        design[key] = value
    return dataclasses.replace(STUDY, trial_design=design)


# --- TS ------------------------------------------------------------------------------------------


def test_sstdtc_is_the_earliest_complete_consent_date():
    ts = _ts(_dm(("2025-03-10", "2025-02-01", "2025-01")))
    assert ts.loc[("SSTDTC", 1.0), "TSVAL"] == "2025-02-01"  # "2025-01" is partial: not a start date
    assert compute_study_start_date(pd.Series(["2025-05-01T10:00", None, "2025-04-30"])) == "2025-04-30"


def test_sstdtc_falls_back_to_the_configured_date_then_to_a_null_flavour():
    study = _with_design(study_start={"study_start_date": "2025-01-15"})
    assert _ts(_dm(("2025-03",)), study).loc[("SSTDTC", 1.0), "TSVAL"] == "2025-01-15"
    unknown = _ts(_dm(("2025-03",)), _with_design(study_start={"study_start_date": ""})).loc[("SSTDTC", 1.0)]
    assert unknown["TSVAL"] is None and unknown["TSVALNF"] == "NI"


def test_ts_parameters_from_config_with_ct_names_and_codes():
    ts = _ts()
    assert ts.loc[("TPHASE", 1.0), ["TSPARM", "TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER"]].tolist() == [
        "Trial Phase Classification", "PHASE I/II TRIAL", "C15693", "CDISC CT", STUDY.ct.version,
    ]
    assert ts.loc[("AGEMIN", 1.0), "TSVAL"] == "P18Y" and ts.loc[("AGEMAX", 1.0), "TSVAL"] == "P80Y"
    assert ts.loc[("FCNTRY", 1.0), ["TSVAL", "TSVALCD", "TSVCDREF"]].tolist() == ["CHN", "CHN", "ISO 3166"]
    assert ts.loc[("ACTSUB", 1.0), "TSVAL"] == "2" and ts.loc[("NARMS", 1.0), "TSVAL"] == "2"
    assert ts.loc[("SDTIGVER", 1.0), "TSVAL"] == "3.4"
    assert ts.loc[("ROUTE", 1.0), "TSVALCD"] == "C38276"
    # free text and sponsor-extended values carry no code
    assert ts.loc[("DOSU", 1.0), "TSVALCD"] is None and ts.loc[("TITLE", 1.0), "TSVCDREF"] is None
    # one DOSE record per arm, tied to the arm by TSGRPID; TSSEQ counts within the parameter
    doses = ts.loc["DOSE"]
    assert doses["TSVAL"].tolist() == ["1", "3"] and doses["TSGRPID"].tolist() == ["LOW", "MHIGH"]
    assert ts.loc["TTYPE"].index.tolist() == [1.0, 2.0]
    assert ts.loc[("REGID", 1.0), "TSVALNF"] == "NI" and ts.loc[("REGID", 1.0), "TSVAL"] is None


def test_pclass_comes_from_the_study_folder_with_its_ct_name():
    # CORE-000741 / SD1312: an interventional study has INTMODEL, INTTYPE and the pharmacological
    # class (CT C98768, submission value PCLAS) with a TSVAL.
    ts = _ts()
    pclass = ts.loc[("PCLAS", 1.0)]
    assert pclass[["TSPARM", "TSVAL", "TSVALNF"]].tolist() == [
        "Pharmacological Class of Invest. Therapy", "Mesenchymal Stromal Cell Therapy", None]
    assert pclass["TSVALCD"] is None and pclass["TSVCDREF"] is None  # MED-RT is not vendored: no code
    changed = _ts(study=_with_design(ts=[{"TSPARMCD": "PCLAS", "TSVAL": "Another Class"}]))
    assert changed.loc[("PCLAS", 1.0), "TSVAL"] == "Another Class"
    assert {"INTMODEL", "INTTYPE", "PCLAS"} <= set(ts.index.get_level_values("TSPARMCD"))


def test_ts_configuration_errors_name_the_fix():
    with pytest.raises(ValueError, match="TSPARMCD.*XXPARM.*codelists.csv"):
        build_ts(_dm(), _with_design(ts=[{"TSPARMCD": "XXPARM", "TSVAL": "1"}]))
    with pytest.raises(ValueError, match="exactly one of TSVAL and TSVALNF"):
        build_ts(_dm(), _with_design(ts=[{"TSPARMCD": "ADAPT"}]))


def test_no_trial_design_file_means_no_trial_design_domains():
    assert build_trial_design(_dm(), dataclasses.replace(STUDY, trial_design={})) == {}


# --- TE, TA, TV, TI ------------------------------------------------------------------------------


def test_te_and_ta_follow_screening_treatment_follow_up_per_arm():
    te, ta = build_te(STUDY), build_ta(STUDY)
    assert te["ETCD"].tolist() == ["SCRN", "LOW", "MHIGH", "FU"]
    assert (te["ETCD"].str.len() <= 8).all() and te["ELEMENT"].is_unique
    low = ta[ta["ARMCD"] == "LOW"]
    assert low["ETCD"].tolist() == ["SCRN", "LOW", "FU"] and low["TAETORD"].tolist() == [1.0, 2.0, 3.0]
    # the epochs transforms/domains/sdtm.py:derive_epoch assigns, in order
    assert low["EPOCH"].tolist() == ["SCREENING", "TREATMENT", "FOLLOW-UP"]
    assert ta.loc[ta["ARMCD"] == "MHIGH", "ETCD"].tolist() == ["SCRN", "MHIGH", "FU"]
    assert ta["ARM"].tolist() == ["UC-MSC 1x10^6 cells/kg"] * 3 + ["UC-MSC 3x10^6 cells/kg"] * 3
    branch = ta.dropna(subset=["TABRANCH"])
    assert branch["TAETORD"].tolist() == [1.0, 1.0] and branch["TABRANCH"].str.startswith("Randomized to").all()


def test_ta_needs_a_treatment_element_per_arm():
    elements = [e for e in STUDY.trial_design["elements"] if e.get("arm") != "MHIGH"]
    with pytest.raises(ValueError, match="MHIGH"):
        build_ta(_with_design(elements=elements))


def test_tv_is_visits_csv_with_start_rules():
    tv = build_tv(STUDY)
    visits = STUDY.visits.sort_values("VISITNUM")
    assert tv["VISITNUM"].tolist() == visits["VISITNUM"].tolist()
    assert tv["VISIT"].tolist() == visits["VISIT"].tolist()
    np.testing.assert_array_equal(tv["VISITDY"].to_numpy(float), visits["VISITDY"].to_numpy(float, na_value=np.nan))
    assert tv["TVSTRL"].notna().all() and tv["ARMCD"].isna().all()
    # docs/sdtm-reference.md#visits: Baseline day 1, Week N = 7N + 1
    assert tv.set_index("VISIT").loc[["Baseline", "Week 1", "Week 48"], "VISITDY"].tolist() == [1.0, 8.0, 337.0]


def test_tv_needs_a_start_rule_for_every_visit():
    rules = dict(STUDY.trial_design["visit_start_rules"])
    del rules["Week 4"]
    with pytest.raises(ValueError, match="Week 4"):
        build_tv(_with_design(visit_start_rules=rules))


def test_ti_holds_the_eligibility_criteria():
    ti = build_ti(STUDY).set_index("IETESTCD")
    assert ti.loc["INCL01", "IETEST"].startswith("Age 18 to 80")
    assert set(ti["IECAT"]) == {"INCLUSION", "EXCLUSION"}
    assert ti.loc["EXCL01", "IETEST"] == "Liver transplant recipient"
    assert (ti["IETEST"].str.len() <= 40).all() and (ti["TIVERS"] == "1").all()


# --- MH ------------------------------------------------------------------------------------------


def _demographics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-2", "S-3", "S-4"], "subject": ["1", "2", "3", "4"],
            "aetiology": ["HBV", "乙肝", "Other", None], "transplant": ["N", "N", None, "Y"],
            "_file": "f.xlsx", "_sheet": "Demographics", "_row": [2, 3, 4, 5],
        }
    )


def test_mh_records_aetiology_and_the_prespecified_transplant_question():
    mh, findings = build_mh(_demographics(), pd.DataFrame({"USUBJID": ["S-1", "S-2", "S-3", "S-4"]}), STUDY, read_transliteration())
    s1 = mh[mh["USUBJID"] == "S-1"].set_index("MHCAT")
    assert s1.loc["LIVER DISEASE AETIOLOGY", ["MHTERM", "MHENRTPT", "MHENTPT"]].tolist() == ["HBV", "ONGOING", "SCREENING"]
    assert s1.loc["TRANSPLANT HISTORY", ["MHTERM", "MHPRESP", "MHOCCUR"]].tolist() == ["LIVER TRANSPLANT", "Y", "N"]
    assert mh.loc[mh["USUBJID"] == "S-4", "MHOCCUR"].tolist() == ["Y"]
    assert mh["MHSEQ"].tolist() == [1.0, 2.0, 1.0, 1.0]
    assert mh[LINEAGE].notna().all().all()
    # Chinese and "Other" aetiologies: no MH record, a warning asking the site
    assert findings.set_index("row")["rule"].to_dict() == {3: "SF-0402", 4: "SF-0403"}
    assert (findings["severity"] == "WARNING").all()
    assert not mh["MHTERM"].isin(["乙肝", "Other"]).any()


def test_mh_only_for_subjects_in_dm():
    mh, _ = build_mh(_demographics(), pd.DataFrame({"USUBJID": ["S-1"]}), STUDY, read_transliteration())
    assert set(mh["USUBJID"]) == {"S-1"}


# --- SV ------------------------------------------------------------------------------------------


def test_sv_one_record_per_subject_visit_with_first_and_last_dates():
    lineage = {"_file": "labs.csv", "_sheet": "labs", "_row": [5, 6, 7, 8]}
    lb = pd.DataFrame(
        {
            "USUBJID": ["S-1"] * 4, "VISITNUM": [1.0, 2.0, 2.0, 2.01],
            "VISIT": ["Screening", "Baseline", "Baseline", "Unscheduled 2.01"], "VISITDY": [np.nan, 1.0, 1.0, np.nan],
            "LBDTC": ["2025-03-20", "2025-04-01T08:00", "2025-04-01", "2025-04-05"], **lineage,
        }
    )
    rs = pd.DataFrame(
        {
            "USUBJID": ["S-1"], "VISITNUM": [2.0], "VISIT": ["Baseline"], "VISITDY": [1.0], "RSDTC": ["2025-04-02"],
            "_file": "site.xlsx", "_sheet": "Assessments", "_row": [3],
        }
    )
    dm = pd.DataFrame({"USUBJID": ["S-1"], "RFSTDTC": ["2025-04-01T09:00"]})
    sv = build_sv({"LB": lb, "RS": rs}, dm, STUDY).set_index("VISITNUM")
    assert sv.index.tolist() == [1.0, 2.0, 2.01]
    assert sv.loc[2.0, ["SVSTDTC", "SVENDTC", "SVSTDY", "SVENDY"]].tolist() == ["2025-04-01", "2025-04-02", 1.0, 2.0]
    assert sv.loc[2.0, "_row"] == 7  # lineage of the earliest record
    # Screening is planned although it has no planned day; the unscheduled visit is flagged
    assert sv.loc[1.0, ["SVPRESP", "SVOCCUR", "SVUPDES"]].tolist() == ["Y", "Y", None]
    assert sv.loc[2.01, "SVPRESP"] is None
    assert sv.loc[2.01, "SVUPDES"] == STUDY.config["visits"]["unscheduled_description"]
    assert np.isnan(sv.loc[2.01, "VISITDY"])


# --- the published sample ------------------------------------------------------------------------


def test_sample_package_has_trial_design_with_a_valid_sstdtc(sample_sdtm):
    for name in ("ts", "ta", "te", "tv", "ti", "mh", "sv"):
        assert (sample_sdtm / f"{name}.xpt").is_file(), name
    ts, _ = pyreadstat.read_xport(sample_sdtm / "ts.xpt")
    sstdtc = ts.loc[ts["TSPARMCD"] == "SSTDTC", "TSVAL"]
    assert len(sstdtc) == 1 and sstdtc.str.match(ISO_DATE).all()
    dm, _ = pyreadstat.read_xport(sample_sdtm / "dm.xpt")
    assert sstdtc.iloc[0] == dm["RFICDTC"].str.slice(0, 10).loc[lambda d: d.str.match(ISO_DATE)].min()
    tv, _ = pyreadstat.read_xport(sample_sdtm / "tv.xpt")
    visits = STUDY.visits.sort_values("VISITNUM")
    assert tv["VISITNUM"].tolist() == visits["VISITNUM"].tolist() and tv["VISIT"].tolist() == visits["VISIT"].tolist()
    np.testing.assert_array_equal(tv["VISITDY"].to_numpy(float), visits["VISITDY"].to_numpy(float, na_value=np.nan))
