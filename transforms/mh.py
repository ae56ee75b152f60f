"""MH — Medical History: the baseline liver history the Demographics sheet collects.

Why MH and not SUPPDM (mappings/README.md): SDTMIG puts a subject's conditions and past events in
MH; SUPPDM is for demographic qualifiers SDTMIG lacks a variable for. The aetiology of the liver
disease is a condition, and "Liver transplant" is a pre-specified history question, so both are
MH records, each with the lineage of its Demographics row:

* aetiology (`HBV`, `Alcohol` ...): MHTERM the site's term (transliterated to ASCII), MHCAT from
  `[medical_history] aetiology_category`; the disease under study is ongoing at screening, so
  MHENRTPT "ONGOING" / MHENTPT "SCREENING". MHDECOD is not populated: coding to MedDRA is the
  sponsor coding group's, with the licensed dictionary.
* liver transplant (Y/N): MHTERM `transplant_term`, MHPRESP "Y", MHOCCUR the site's answer.

A term that is still not ASCII after transliteration (e.g. written in Chinese) gets no record and a
WARNING finding asking the site for the English term (SF-0402); so does an aetiology of just "Other"
(SF-0403: FDA SD1274 / CDISC CG0343 forbid OTHER as a reported term; the site is asked for the
specific aetiology). The subject's DM record is unaffected either way.
"""

from __future__ import annotations

import pandas as pd

from transforms.findings import LINEAGE, WARNING, concat_findings, make_row_findings
from transforms.sdtm import derive_seq
from transforms.study import Study
from transforms.transliterate import compute_ascii, compute_has_non_ascii

NOT_ASCII_RULE = "SF-0402"
UNSPECIFIED_RULE = "SF-0403"
UNSPECIFIED_TERMS = {"OTHER", "MULTIPLE"}


def build_mh(
    demographics: pd.DataFrame, dm: pd.DataFrame, study: Study, transliteration: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(MH, findings) from the standardised Demographics rows whose subject is in DM."""
    settings = study.trial_design.get("medical_history", {})
    rows = demographics[demographics["USUBJID"].isin(dm["USUBJID"])]
    term = compute_ascii(rows["aetiology"], transliteration)
    reported = rows["aetiology"].notna()
    foreign = reported & compute_has_non_ascii(term)
    unspecified = reported & ~foreign & term.str.strip().str.upper().isin(UNSPECIFIED_TERMS)
    findings = concat_findings(
        make_row_findings(
            rows[foreign], severity=WARNING, stage="map", rule=NOT_ASCII_RULE, variable="aetiology",
            message="aetiology is not in English (XPT v5 is ASCII): no MH record; please send the English term",
        ),
        make_row_findings(
            rows[unspecified], severity=WARNING, stage="map", rule=UNSPECIFIED_RULE, variable="aetiology",
            message="aetiology 'Other' names no condition: no MH record; please send the specific aetiology",
        ),
    )
    aetiology = rows[reported & ~foreign & ~unspecified]
    records = [
        pd.DataFrame(
            {
                "USUBJID": aetiology["USUBJID"],
                "MHTERM": term[aetiology.index],
                "MHCAT": settings.get("aetiology_category"),
                "MHPRESP": None,
                "MHOCCUR": None,
                "MHENRTPT": "ONGOING",
                "MHENTPT": "SCREENING",
                **{column: aetiology[column] for column in LINEAGE},
            }
        )
    ]
    transplant = rows[rows["transplant"].notna()]
    records.append(
        pd.DataFrame(
            {
                "USUBJID": transplant["USUBJID"],
                "MHTERM": settings.get("transplant_term"),
                "MHCAT": settings.get("transplant_category"),
                "MHPRESP": "Y",
                "MHOCCUR": transplant["transplant"].astype(object),
                "MHENRTPT": None,
                "MHENTPT": None,
                **{column: transplant[column] for column in LINEAGE},
            }
        )
    )
    mh = pd.concat(records, ignore_index=True).astype({"MHTERM": object, "MHOCCUR": object})
    mh.insert(0, "STUDYID", study.studyid)
    mh.insert(1, "DOMAIN", "MH")
    return derive_seq(mh, "MHSEQ", ["MHCAT", "MHTERM"]), findings
