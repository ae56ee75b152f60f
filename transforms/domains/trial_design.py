"""Trial design domains — TS, TE, TA, TV, TI — from the study's configuration (and DM for TS).

Pure functions of the loaded study (`study.toml`, `trial_design.toml`, `visits.csv`) and the
controlled terminology of `mappings/ct/`; nothing here reads a file. A setting the protocol
must give and the folder lacks is a configuration error (ValueError naming the file and key);
the data itself only enters TS, through DM:

* SSTDTC — the study start date as the FDA defines it: the earliest informed-consent date of any
  enrolled subject (the earliest complete DM.RFICDTC). `[study_start] study_start_date` is used
  only when no subject has a complete consent date yet; with neither, TSVAL is null with TSVALNF
  `NI` and the conformance check reports the missing start date (FDA TRC 1734).
* ACTSUB — the number of subjects in DM.

TSPARM and, for coded values, TSVALCD / TSVCDREF / TSVCDVER come from the CT tables, so TS and
define.xml name the same terms with the same codes.
"""

from __future__ import annotations

import pandas as pd

from transforms.core.dates import compute_complete_date
from transforms.spec.study import Study

DESIGN_FILE = "trial_design.toml"
CDISC_CT = "CDISC CT"
ISO_3166 = "ISO 3166"
NO_INFORMATION = "NI"
TS_COLUMNS = [
    "STUDYID", "DOMAIN", "TSSEQ", "TSGRPID", "TSPARMCD", "TSPARM", "TSVAL", "TSVALNF", "TSVALCD",
    "TSVCDREF", "TSVCDVER",
]
TSVAL_MAX = 200


def build_trial_design(dm: pd.DataFrame, study: Study) -> dict[str, pd.DataFrame]:
    """{TS, TE, TA, TV, TI} for the study (empty dict when it has no trial_design.toml)."""
    if not study.trial_design:
        return {}
    return {
        "TS": build_ts(dm, study),
        "TE": build_te(study),
        "TA": build_ta(study),
        "TV": build_tv(study),
        "TI": build_ti(study),
    }


# --- TS ------------------------------------------------------------------------------------------


def build_ts(dm: pd.DataFrame, study: Study) -> pd.DataFrame:
    """TS: one record per trial summary parameter value (TSSEQ counts within TSPARMCD)."""
    records = pd.concat(
        [compute_derived_parameters(dm, study), _configured_parameters(study)], ignore_index=True
    )
    too_long = records.loc[records["TSVAL"].str.len() > TSVAL_MAX, "TSPARMCD"].tolist()
    if too_long:
        raise ValueError(
            f"{_design_path(study)}: TSVAL of {too_long} is over {TSVAL_MAX} characters; shorten "
            "it (split TSVAL1..n is not supported)"
        )
    records = records.sort_values(["TSPARMCD"], kind="stable").reset_index(drop=True)
    ct = study.ct
    parm = ct.lookup("TSPARMCD", records["TSPARMCD"], "decode")
    unknown = sorted(records.loc[parm.isna(), "TSPARMCD"].unique())
    if unknown:
        raise ValueError(
            f"TSPARMCD {unknown} not in the study's CT (mappings/ct/codelists.csv or the study's "
            "codelists.csv, codelist TSPARMCD, with TSPARM as decode): add the CT term or remove "
            "the parameter"
        )
    coded = _code_values(records, study)
    ts = pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "DOMAIN": "TS",
            "TSSEQ": (records.groupby("TSPARMCD").cumcount() + 1).astype("float64"),
            "TSGRPID": records["TSGRPID"],
            "TSPARMCD": records["TSPARMCD"],
            "TSPARM": parm,
            "TSVAL": records["TSVAL"],
            "TSVALNF": records["TSVALNF"],
            **coded,
        }
    )
    return ts[TS_COLUMNS]


def compute_derived_parameters(dm: pd.DataFrame, study: Study) -> pd.DataFrame:
    """TS records the pipeline derives from DM and study.toml (TSPARMCD, TSVAL, TSVALNF, TSGRPID)."""
    config, treatment = study.config["study"], study.config["treatment"]
    design = study.trial_design
    start = compute_study_start_date(dm["RFICDTC"])
    if start is None:
        start = design.get("study_start", {}).get("study_start_date") or None
    arms = study.arms
    single = {
        "SSTDTC": start,
        "ACTSUB": str(dm["USUBJID"].nunique()),
        "TITLE": config["title"],
        "AGEMIN": f"P{int(config['age_min'])}Y",
        "AGEMAX": f"P{int(config['age_max'])}Y",
        "FCNTRY": config["country"],
        "SDTIGVER": str(config.get("sdtmig_version", "")),
        "SDTMVER": str(design.get("standards", {}).get("sdtm_version", "")),
        "NARMS": str(len(arms)),
        "TRT": treatment["EXTRT"],
        "ROUTE": treatment["EXROUTE"],
        "DOSU": treatment["EXDOSU"],
        "DOSFRQ": treatment["EXDOSFRQ"],
    }
    singles = pd.DataFrame({"TSPARMCD": list(single), "TSVAL": list(single.values()), "TSGRPID": None})
    doses = pd.DataFrame(
        {"TSPARMCD": "DOSE", "TSVAL": arms["dose"].map("{:g}".format), "TSGRPID": arms["ARMCD"]}
    )
    out = pd.concat([singles, doses], ignore_index=True).astype(object)
    out["TSVAL"] = out["TSVAL"].where(out["TSVAL"].notna() & (out["TSVAL"] != ""), None)
    out["TSVALNF"] = pd.Series(NO_INFORMATION, index=out.index, dtype=object).where(out["TSVAL"].isna())
    return out


def compute_study_start_date(rficdtc: pd.Series) -> str | None:
    """The earliest complete (YYYY-MM-DD) informed-consent date, None when there is none."""
    dates = compute_complete_date(rficdtc).dropna()
    return None if dates.empty else str(dates.min())


def _configured_parameters(study: Study) -> pd.DataFrame:
    rows = study.trial_design.get("ts", [])
    frame = pd.DataFrame(rows, columns=["TSPARMCD", "TSVAL", "TSVALNF", "TSGRPID"]).astype(object)
    frame = frame.where(frame.notna() & (frame != ""), None)
    both = frame["TSVAL"].notna() == frame["TSVALNF"].notna()
    if both.any():
        raise ValueError(
            f"{_design_path(study)}: [[ts]] {frame.loc[both, 'TSPARMCD'].tolist()} need exactly one "
            "of TSVAL and TSVALNF (a null flavour only when the value is unknown)"
        )
    return frame


def _code_values(records: pd.DataFrame, study: Study) -> dict[str, pd.Series]:
    ct = study.ct
    parameters = ct.ts_parameters.set_index("TSPARMCD")
    unknown = sorted(set(records["TSPARMCD"]) - set(parameters.index))
    if unknown:
        raise ValueError(f"TSPARMCD {unknown} missing from mappings/ct/ts_parameters.csv: add a row")
    codelist = records["TSPARMCD"].map(parameters["value_codelist"]).astype(object)
    reference = records["TSPARMCD"].map(parameters["TSVCDREF"]).astype(object)
    code = pd.Series(None, index=records.index, dtype=object)
    for name in sorted(set(codelist) - {""}):
        rows = codelist == name
        code[rows] = ct.lookup(name, records.loc[rows, "TSVAL"], "nci_code")
    iso = (reference == ISO_3166) & records["TSVAL"].notna()
    code[iso] = records.loc[iso, "TSVAL"]
    has_code = code.notna()
    return {
        "TSVALCD": code.where(has_code, None),
        "TSVCDREF": reference.where(has_code, None),
        "TSVCDVER": pd.Series(ct.version, index=records.index, dtype=object).where(
            has_code & (reference == CDISC_CT), None
        ),
    }


# --- TE, TA, TV, TI ------------------------------------------------------------------------------


def build_te(study: Study) -> pd.DataFrame:
    """TE: one record per planned element."""
    elements = _elements(study)
    return pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "DOMAIN": "TE",
            "ETCD": elements["ETCD"],
            "ELEMENT": elements["ELEMENT"],
            "TESTRL": elements["TESTRL"],
            "TEENRL": elements["TEENRL"],
            "TEDUR": elements["TEDUR"],
        }
    )


def build_ta(study: Study) -> pd.DataFrame:
    """TA: one record per planned element per arm (shared elements plus the arm's own).

    TABRANCH sits on the element that ends in randomisation: the one just before the arm's own
    element, with the text of `[branches]`.
    """
    elements = _elements(study)
    arms = study.arms[["ARMCD", "ARM"]]
    shared = elements[elements["arm"].isna()]
    own = elements[elements["arm"].notna()]
    missing = sorted(set(arms["ARMCD"]) - set(own["arm"]))
    if missing:
        raise ValueError(f"{_design_path(study)}: no [[elements]] with arm = {missing}: add its treatment element")
    per_arm = pd.concat(
        [arms.merge(shared.drop(columns="arm"), how="cross"), arms.merge(own, left_on="ARMCD", right_on="arm").drop(columns="arm")],
        ignore_index=True,
    ).sort_values(["ARMCD", "TAETORD"], kind="stable").reset_index(drop=True)
    if per_arm.duplicated(["ARMCD", "TAETORD"]).any():
        raise ValueError(f"{_design_path(study)}: two [[elements]] of one arm share a TAETORD")
    branches = study.trial_design.get("branches", {})
    own_order = per_arm["ARMCD"].map(own.set_index("arm")["TAETORD"])
    branch = per_arm["ARMCD"].map(branches).where(per_arm["TAETORD"] == own_order - 1)
    return pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "DOMAIN": "TA",
            "ARMCD": per_arm["ARMCD"],
            "ARM": per_arm["ARM"],
            "TAETORD": per_arm["TAETORD"].astype("float64"),
            "ETCD": per_arm["ETCD"],
            "ELEMENT": per_arm["ELEMENT"],
            "TABRANCH": branch.astype(object).where(branch.notna(), None),
            "TATRANS": None,
            "EPOCH": per_arm["EPOCH"],
        }
    )


def build_tv(study: Study) -> pd.DataFrame:
    """TV: one record per planned visit of visits.csv; ARMCD null (the schedule is the same for
    every arm), TVSTRL from `[visit_start_rules]`."""
    visits = study.visits.sort_values("VISITNUM", kind="stable").reset_index(drop=True)
    rules = study.trial_design.get("visit_start_rules", {})
    missing = [v for v in visits["VISIT"] if v not in rules]
    if missing:
        raise ValueError(f"{_design_path(study)}: [visit_start_rules] has no rule for visit(s) {missing}")
    return pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "DOMAIN": "TV",
            "VISITNUM": visits["VISITNUM"].astype("float64"),
            "VISIT": visits["VISIT"],
            "VISITDY": visits["VISITDY"].astype("float64"),
            "ARMCD": None,
            "TVSTRL": visits["VISIT"].map(rules),
        }
    )


def build_ti(study: Study) -> pd.DataFrame:
    """TI: one record per inclusion/exclusion criterion."""
    criteria = pd.DataFrame(
        study.trial_design.get("criteria", []), columns=["IETESTCD", "IECAT", "IETEST", "TIRL"]
    ).astype(object)
    if criteria.empty:
        raise ValueError(f"{_design_path(study)}: no [[criteria]]: TI needs the protocol's I/E criteria")
    return pd.DataFrame(
        {
            "STUDYID": study.studyid,
            "DOMAIN": "TI",
            "IETESTCD": criteria["IETESTCD"],
            "IETEST": criteria["IETEST"],
            "IECAT": criteria["IECAT"],
            "TIRL": criteria["TIRL"].where(criteria["TIRL"].notna(), None),
            "TIVERS": study.trial_design.get("protocol", {}).get("TIVERS"),
        }
    )


def _elements(study: Study) -> pd.DataFrame:
    columns = ["ETCD", "arm", "ELEMENT", "TESTRL", "TEENRL", "TEDUR", "EPOCH", "TAETORD"]
    elements = pd.DataFrame(study.trial_design.get("elements", []), columns=columns).astype(object)
    if elements.empty:
        raise ValueError(f"{_design_path(study)}: no [[elements]]: TE and TA need the planned elements")
    elements = elements.where(elements.notna() & (elements != ""), None)
    elements["TAETORD"] = pd.to_numeric(elements["TAETORD"])
    return elements


def _design_path(study: Study) -> str:
    return str(study.directory / DESIGN_FILE)
