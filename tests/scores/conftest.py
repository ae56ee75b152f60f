"""The first study's score tables, as every score test reads them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transforms.spec.study import read_study

FIRST_STUDY = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld"


@pytest.fixture(scope="module")
def scoring() -> pd.DataFrame:
    # as transforms/spec/study.py reads every study table: text, empty cells as ""
    return pd.read_csv(FIRST_STUDY / "scores.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def conversions() -> pd.DataFrame:
    return read_study(FIRST_STUDY).unit_conversions
