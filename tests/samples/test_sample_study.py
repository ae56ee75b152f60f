"""sample --study on a study unlike the bundled ones: three sites, an injection number as key."""

from __future__ import annotations

from pathlib import Path

from transforms.samples.sample_study import generate_study_export
from transforms.spec.study import read_study

STUDY = read_study(Path(__file__).resolve().parents[1] / "data" / "studies" / "rnx205")


def test_each_site_writes_its_own_aliases_and_the_exposure_key_is_filled():
    frames = generate_study_export(STUDY, subjects=6)
    subjects = {file[:6]: frame for (file, sheet), frame in frames.items() if sheet == "Subjects"}
    # raw_columns.csv: Subject No. | N° patient | 受试者编号 — site 01 the header, 02 and 03 the aliases in turn
    assert [subjects[site].columns[1] for site in ("site01", "site02", "site03")] == ["Subject No.", "N° patient", "受试者编号"]
    injections = frames[("site03_export_2026-05-31.xlsx", "Injections")]
    # the record key is subject + injection number: [sample] gives no period_days, so two
    # doses per subject (the default 28 and 56 days), numbered 1 and 2
    assert injections["注射序号"].tolist() == ["1", "2"] * (len(injections) // 2)
    assert injections["受试者编号"].notna().all()
