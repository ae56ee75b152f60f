"""MH — Medical History: baseline history the subjects sheet collects, one record per question.

Why MH and not SUPPDM (mappings/README.md): SDTMIG puts a subject's conditions and past events in
MH; SUPPDM is for demographic qualifiers SDTMIG lacks a variable for. study.toml [domains.MH]
`topics` names the subjects columns that are history (the first bundled study: the aetiology of
the liver disease, a reported term, and a pre-specified transplant question, a coded Y/N); each
row gives one record per topic with a value, `topic` naming the column, with the lineage of its
subjects row. What each record's variables hold is mapping.csv (conditions on `topic`), so the
terms and categories are the study's. MHDECOD is not populated: coding to MedDRA is the sponsor
coding group's, with the licensed dictionary.

A reported term (a topic that is no coded column) still not ASCII after transliteration (e.g.
written in Chinese) gets no record and a WARNING finding asking the site for the English term
(SF-0402); so does a term of just "Other" (SF-0403: FDA SD1274 / CDISC CG0343 forbid OTHER as a
reported term; the site is asked for the specific one). The subject's DM record is unaffected.
"""

from __future__ import annotations

import pandas as pd

from transforms.core.findings import WARNING, concat_findings, make_row_findings
from transforms.domains.sdtm import SHARED_DERIVATIONS
from transforms.domains.spec_map import Sources, build_domain
from transforms.spec.study import Study
from transforms.core.transliterate import compute_ascii, compute_has_non_ascii

# The named derivations an MH spec row may choose (mapping.csv `derived`, its `value`).
MH_DERIVATIONS = SHARED_DERIVATIONS

NOT_ASCII_RULE = "SF-0402"
UNSPECIFIED_RULE = "SF-0403"
UNSPECIFIED_TERMS = {"OTHER", "MULTIPLE"}


def build_mh(
    demographics: pd.DataFrame, dm: pd.DataFrame, study: Study, transliteration: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(MH, findings) from the standardised subjects rows whose subject is in DM: one record per
    row and topic column with a value (derive_history_records), filled as mapping.csv says."""
    rows = demographics[demographics["USUBJID"].isin(dm["USUBJID"])]
    records, findings = derive_history_records(rows, study, transliteration)
    mh = build_domain(Sources(records, study, "MH", dm=dm), MH_DERIVATIONS)
    return mh, findings


def derive_history_records(
    rows: pd.DataFrame, study: Study, transliteration: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, findings): the subjects rows stacked once per topic of study.toml [domains.MH]
    `topics`, in that order, each with `topic` naming its column, where that column has a value.

    A topic that is no coded column (raw_columns.csv coded_as) is a reported term: transliterated
    to ASCII, and a term still not ASCII or only "Other" gives no record but a WARNING finding.
    """
    topics = study.domain_settings("MH").get("topics", [])
    coded = set(study.raw_columns["coded_as"])
    stacks, findings = [], []
    for topic in topics:
        given = rows[rows[topic].notna()]
        if topic not in coded:
            term = compute_ascii(given[topic], transliteration)
            foreign = compute_has_non_ascii(term)
            unspecified = ~foreign & term.str.strip().str.upper().isin(UNSPECIFIED_TERMS)
            findings += [
                make_row_findings(
                    given[foreign], severity=WARNING, stage="map", rule=NOT_ASCII_RULE, variable=topic,
                    message=f"{topic} is not in English (XPT v5 is ASCII): no MH record; please send the English term",
                ),
                make_row_findings(
                    given[unspecified], severity=WARNING, stage="map", rule=UNSPECIFIED_RULE, variable=topic,
                    message=f"{topic} 'Other' names no condition: no MH record; please send the specific {topic}",
                ),
            ]
            kept = ~foreign & ~unspecified
            given = given[kept].assign(**{topic: term[kept]})
        stacks.append(given.assign(topic=topic))
    records = pd.concat(stacks, ignore_index=True) if stacks else rows.iloc[0:0].assign(topic=None)
    return records, concat_findings(*findings)
