"""raw_columns.csv standard_as on a date column: the parsed ISO 8601 date under that name."""

from __future__ import annotations

import pandas as pd

from transforms.standardise.sheets import assign_standard_columns
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

STUDY = read_study(DEFAULT_STUDY_DIR)


def test_a_date_named_as_a_dtc_is_the_parsed_date_not_the_text_typed():
    # A findings sheet without a collection time: its date is LBDTC. The site typed 17-Sep-2025
    # and 2025-9-3; SDTM needs 2025-09-17 and 2025-09-03 (worked by hand), an unreadable date null.
    columns = pd.DataFrame(
        {"sheet": "labs", "column": ["collection_date"], "kind": ["date"], "codelist": [""],
         "coded_as": [""], "standard_as": ["LBDTC"], "combine_with": [""]}
    )
    frame = pd.DataFrame({"collection_date": ["17-Sep-2025", "2025-9-3", "soon"]}, dtype="str")
    out = assign_standard_columns(frame, columns, STUDY)
    assert out["LBDTC"].tolist()[:2] == ["2025-09-17", "2025-09-03"]
    assert pd.isna(out["LBDTC"].iloc[2])
