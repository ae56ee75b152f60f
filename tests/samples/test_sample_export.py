"""The sample-export generator: determinism, realism, and the planted errors as documented."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from transforms.samples.sample_export import generate_sample_export, read_sample_spec, write_sample_export

# What the site's files look like, written out here by hand from docs/raw-data-contract.md rather
# than read from the study folder the generator reads: a header or name the folder changed by
# mistake fails these tests.
WORKBOOK_NAME, LABS_CSV_NAME = "site01_export_2026-03-31.xlsx", "labs_2026-03-31.csv"
DEMOGRAPHICS_COLUMNS = [
    "Site", "Subject", "Initials", "Date of birth", "Sex", "Race", "Ethnicity", "Consent date",
    "Randomisation date", "Arm", "Weight (kg)", "Aetiology", "Liver transplant",
    "End of study date", "Date of death",
]  # fmt: skip
INFUSIONS_COLUMNS = [
    "Subject", "Infusion number", "Infusion date", "Start time", "End time", "Body weight (kg)",
    "Dose (10^6 cells/kg)", "Total cells (10^6)", "Route", "Not given reason",
]  # fmt: skip
LABS_COLUMNS = [
    "Subject", "Visit", "Collection date", "Collection time", "Test", "Result", "Unit",
    "Normal low", "Normal high", "Not done reason",
]  # fmt: skip
ASSESSMENTS_COLUMNS = [
    "Subject", "Visit", "Assessment date", "Ascites", "Encephalopathy", "Dialysis in past week",
]  # fmt: skip

TERMINOLOGY = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld" / "terminology.csv"
DATA_CUT = dt.date(2026, 3, 31)
MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return generate_sample_export()


@pytest.fixture(scope="module")
def labs(frames) -> pd.DataFrame:
    """Labs indexed by the row number the site sees (header = row 1)."""
    out = frames["Labs"].copy()
    out.index = out.index + 2
    return out


@pytest.fixture(scope="module")
def written(frames, tmp_path_factory) -> list[Path]:
    return write_sample_export(frames, tmp_path_factory.mktemp("sample"))


def site_rows(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.index = out.index + 2
    return out


def parse_full_date(value) -> dt.date | None:
    """A complete date in any style the contract allows; None for partial or impossible ones."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int):
        return dt.date(1899, 12, 30) + dt.timedelta(days=value)
    patterns = [
        (r"(\d{4})-(\d{2})-(\d{2})", lambda y, m, d: (y, m, d)),
        (r"(\d{4})/(\d{1,2})/(\d{1,2})", lambda y, m, d: (y, m, d)),
        (r"(\d{2})-([A-Za-z]{3})-(\d{4})", lambda d, m, y: (y, MONTHS[m.upper()], d)),
        (r"(\d{2})([A-Z]{3})(\d{4})", lambda d, m, y: (y, MONTHS[m], d)),
    ]
    for pattern, order in patterns:
        match = re.fullmatch(pattern, value)
        if match:
            y, m, d = order(*match.groups())
            try:
                return dt.date(int(y), int(m), int(d))
            except ValueError:
                return None
    return None


def terminology(codelist: str) -> set[str]:
    table = pd.read_csv(TERMINOLOGY, dtype=str, keep_default_na=False)
    return set(table.loc[table["codelist"] == codelist, "raw"])


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_equal_frames(frames):
    again = generate_sample_export(22, 20260301)
    assert list(again) == ["Demographics", "Infusions", "Labs", "Assessments"]
    for name in frames:
        pd.testing.assert_frame_equal(frames[name], again[name])


def test_another_seed_gives_another_sample(frames):
    other = generate_sample_export(22, 1)
    assert not frames["Labs"]["Result"].equals(other["Labs"]["Result"])


def test_two_writes_are_byte_identical(frames, tmp_path):
    first = write_sample_export(frames, tmp_path / "a")
    second = write_sample_export(generate_sample_export(), tmp_path / "b")
    assert [p.name for p in first] == [WORKBOOK_NAME, LABS_CSV_NAME]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_subjects_must_be_positive():
    with pytest.raises(ValueError, match="subjects"):
        generate_sample_export(0)


# --- shape and realism --------------------------------------------------------------------------


def test_site_column_headers(frames):
    assert list(frames["Demographics"].columns) == DEMOGRAPHICS_COLUMNS
    assert list(frames["Infusions"].columns) == INFUSIONS_COLUMNS
    assert list(frames["Labs"].columns) == LABS_COLUMNS
    assert list(frames["Assessments"].columns) == ASSESSMENTS_COLUMNS
    assert "Dose (10^6 cells/kg)" in INFUSIONS_COLUMNS and "Normal low" in LABS_COLUMNS


def test_default_has_22_subjects_in_both_arms(frames):
    dm = frames["Demographics"]
    assert dm["Subject"].tolist() == [f"01-{i:03d}" for i in range(1, 23)]
    assert set(dm["Site"]) == {"01"}
    arms = terminology("ARMCD")
    assert set(dm["Arm"]) <= arms
    codes = dm["Arm"].map({"Low dose": 1, "LD": 1, "Low": 1, "Medium-high dose": 3, "MHD": 3,
                           "High": 3})  # fmt: skip
    assert set(codes) == {1, 3}
    assert dm["Arm"].nunique() >= 4  # spellings are mixed


def test_one_to_four_infusions_each_matching_the_arm(frames):
    dm, ex = frames["Demographics"], frames["Infusions"]
    counts = ex.groupby("Subject").size()
    assert set(counts.index) == set(dm["Subject"])
    assert counts.between(1, 4).all()
    numbers = ex.groupby("Subject")["Infusion number"].apply(list)
    assert all(n == list(range(1, len(n) + 1)) for n in numbers)
    dose = dm.set_index("Subject")["Arm"].map(
        {"Low dose": 1, "LD": 1, "Low": 1, "Medium-high dose": 3, "MHD": 3, "High": 3}
    )
    assert (ex["Dose (10^6 cells/kg)"].to_numpy() == dose[ex["Subject"]].to_numpy()).all()
    expected = ex["Dose (10^6 cells/kg)"] * ex["Body weight (kg)"]
    assert ((ex["Total cells (10^6)"] - expected).abs() <= 0.1 * expected).all()
    assert set(ex["Route"]) == {"IV", "Peripheral vein"}
    assert ex["Start time"].dropna().str.fullmatch(r"\d\d:\d\d").all()


def test_initials_filled(frames):
    initials = frames["Demographics"]["Initials"]
    assert initials.notna().all()
    assert initials.str.fullmatch(r"[A-Z]{2,3}").all()
    assert not set(initials) & {"ALT", "AST", "ALP", "ALB", "INR", "PT", "LB", "DM", "EX", "RS"}


def test_demographics_values_in_terminology(frames):
    dm = frames["Demographics"]
    assert set(dm["Sex"]) == {"M", "Male", "男", "F", "Female", "女"}
    assert set(dm["Race"]) == {"Asian", "Han"}
    assert dm["Ethnicity"].isna().mean() > 0.5
    assert set(dm["Aetiology"]) <= {"HBV", "Alcohol", "HCV", "PBC", "Other"}
    assert set(dm["Liver transplant"]) == {"N"}
    assert dm["End of study date"].notna().sum() >= 2
    assert dm["Date of death"].notna().sum() == 1


def test_ages_25_to_75_at_consent(frames):
    dm = frames["Demographics"]
    for birth, consent in zip(dm["Date of birth"], dm["Consent date"]):
        born, consented = parse_full_date(birth), parse_full_date(consent)
        if born is None:  # the two partial birth dates
            continue
        birthday_to_come = (consented.month, consented.day) < (born.month, born.day)
        age = consented.year - born.year - birthday_to_come
        assert 25 <= age <= 75


def test_every_date_between_consent_and_data_cut_except_the_planted_one(frames, labs):
    consent = {
        s: parse_full_date(c)
        for s, c in zip(frames["Demographics"]["Subject"], frames["Demographics"]["Consent date"])
    }
    checks = [
        (frames["Demographics"], "Randomisation date"),
        (frames["Demographics"], "End of study date"),
        (frames["Demographics"], "Date of death"),
        (frames["Infusions"], "Infusion date"),
        (frames["Assessments"], "Assessment date"),
        (labs.drop(index=685), "Collection date"),
    ]
    for frame, column in checks:
        for subject, value in zip(frame["Subject"], frame[column]):
            if value is None or (isinstance(value, float) and pd.isna(value)):
                continue
            date = parse_full_date(value)
            assert date is not None, (column, value)
            assert date <= DATA_CUT, (column, value)
            if subject in consent:
                assert date >= consent[subject], (subject, column, value)


def test_visits_follow_the_first_infusion(frames):
    ex = frames["Infusions"]
    first = {}
    for subject, number, date in zip(ex["Subject"], ex["Infusion number"], ex["Infusion date"]):
        if number == 1:
            first[subject] = parse_full_date(date)
    qs = frames["Assessments"]
    weeks = {"Week 1": 1, "W1": 1, "Wk 1": 1}
    for w in (4, 8, 12, 24, 48):
        weeks.update({f"Week {w}": w, f"W{w}": w, f"Wk {w}": w})
    for subject, visit, date in zip(qs["Subject"], qs["Visit"], qs["Assessment date"]):
        offset = (parse_full_date(date) - first[subject]).days
        if visit == "Screening":
            assert 7 <= -offset <= 21
        elif visit == "Baseline":
            assert 0 <= -offset <= 2
        else:
            assert abs(offset - 7 * weeks[visit]) <= 2, (subject, visit, offset)


def test_assessments_one_row_per_subject_and_visit(frames):
    qs = frames["Assessments"]
    assert not qs.duplicated(["Subject", "Visit"]).any()
    assert set(qs["Ascites"]) == {"None", "Slight", "Mild", "Moderate", "Severe"}
    assert set(qs["Encephalopathy"]) == {"None", "Grade 1", "Grade 1-2", "Grade 3-4"}
    assert qs["Visit"].isin(terminology("VISIT")).all()


def test_lab_values_clinically_plausible(labs):
    numeric = labs[labs["Result"].str.fullmatch(r"[\d.]+", na=False)].copy()
    numeric["value"] = numeric["Result"].astype(float)
    ranges = {
        "µmol/L TBIL": (30, 300), "mg/dL": (30 / 17.1 - 0.01, 300 / 17.1 + 0.01),
        "INR": (1.2, 2.8), "g/L": (22, 38), "g/dL": (2.2, 3.8), "mmol/L": (125, 142),
    }  # fmt: skip
    inr = numeric[numeric["Test"].isin(["INR", "国际标准化比值"])]["value"]
    assert inr.between(*ranges["INR"]).all()
    assert numeric[numeric["Unit"] == "mg/dL"]["value"].between(*ranges["mg/dL"]).all()
    assert numeric[numeric["Unit"] == "g/L"]["value"].between(*ranges["g/L"]).all()
    assert numeric[numeric["Unit"] == "g/dL"]["value"].between(*ranges["g/dL"]).all()
    assert numeric[numeric["Unit"] == "mmol/L"]["value"].between(*ranges["mmol/L"]).all()
    pt = numeric[numeric["Unit"].isin(["s", "sec"])]["value"]
    assert pt.between(12, 25).all()


# --- messiness the contract allows --------------------------------------------------------------


def test_lab_names_units_and_visits_are_known_to_the_study_terminology(labs):
    known = labs[labs["Test"] != "Ferritin-X"]
    assert known["Test"].isin(terminology("LBTESTCD")).all()
    assert known["Unit"].dropna().isin(terminology("UNIT")).all()
    assert labs["Visit"].isin(terminology("VISIT")).all()
    assert known.loc[known["Test"].isin(["INR", "国际标准化比值"]), "Unit"].isna().all()


def test_lab_messiness_present(labs):
    units = set(labs["Unit"].dropna())
    assert {"µmol/L", "umol/L", "U/L", "IU/L", "mg/dL", "g/L", "g/dL", "s", "sec"} <= units
    assert {"ALT (GPT)", "谷丙转氨酶", "Total bilirubin", "TBIL", "Alb", "Na"} <= set(labs["Test"])
    assert {"W4", "Wk 8", "Unscheduled"} <= set(labs["Visit"])
    dates = labs["Collection date"]
    for style in [r"\d{4}-\d{2}-\d{2}", r"\d{4}/\d{1,2}/\d{1,2}", r"\d{2}-[A-Z][a-z]{2}-\d{4}",
                  r"\d{2}[A-Z]{3}\d{4}"]:  # fmt: skip
        assert dates.str.fullmatch(style).any(), style


def test_documented_lab_messiness_rows(labs):
    flare = labs.loc[110:118]
    assert set(flare["Subject"]) == {"01-002"} and set(flare["Visit"]) == {"Unscheduled"}
    assert (labs["Visit"] == "Unscheduled").sum() == 9
    assert labs.loc[110, ["Test", "Result"]].tolist() == ["ALT", ">1000"]
    assert labs.loc[191, ["Subject", "Visit", "Test", "Result"]].tolist() == [
        "01-003", "W12", "ALT", "<5"
    ]  # fmt: skip
    assert labs["Result"].isin(["<5", ">1000"]).sum() == 2
    row = labs.loc[302]
    assert (row["Subject"], row["Test"], row["Not done reason"]) == ("01-005", "总胆红素", "Haemolysed")
    assert pd.isna(row["Result"])
    assert labs["Result"].isna().sum() == 1 and labs["Not done reason"].notna().sum() == 1
    screening = labs.loc[2:10]
    assert screening.loc[5, ["Test", "Unit"]].tolist() == ["Total bilirubin", "mg/dL"]
    assert screening.loc[6, ["Test", "Unit"]].tolist() == ["Albumin", "g/dL"]
    assert set(screening["Collection date"]) == {"11-Mar-2025"}
    assert set(labs.loc[29:37, "Visit"]) == {"W4"} and set(labs.loc[38:46, "Visit"]) == {"Wk 8"}


def test_bilirubin_in_mg_dl_is_converted(labs):
    bili = labs[labs["Test"].isin(["TBIL", "Total bilirubin", "总胆红素"]) & labs["Result"].notna()]
    mg = bili[bili["Unit"] == "mg/dL"]
    assert len(mg) and (mg["Normal high"] == "1.2").all()
    assert (mg["Result"].astype(float) * 17.1).between(29.9, 300.1).all()


def test_documented_demographics_infusions_assessments_rows(frames):
    dm = site_rows(frames["Demographics"])
    assert dm.loc[5, ["Subject", "Date of birth"]].tolist() == ["01-004", "1971-07"]
    assert dm.loc[10, ["Subject", "Date of birth"]].tolist() == ["01-009", "UN-SEP-1972"]
    assert dm.loc[7, ["Subject", "Consent date"]].tolist() == ["01-006", 45818]
    assert parse_full_date(45818) == dt.date(2025, 6, 10)  # Excel: 45658 is 2025-01-01
    assert dm.loc[8, ["Subject", "Date of death", "End of study date"]].tolist() == [
        "01-007", dt.date(2025, 10, 4), dt.date(2025, 10, 4)
    ]  # fmt: skip
    ex = site_rows(frames["Infusions"])
    row = ex.loc[8, ["Subject", "Infusion number", "Infusion date"]].tolist()
    assert row == ["01-003", 1, 45794]
    serials = [v for v in ex["Infusion date"] if isinstance(v, int)]
    assert serials == [45794]
    assert any(isinstance(v, dt.date) for v in ex["Infusion date"])
    assert any(isinstance(v, str) for v in ex["Infusion date"])
    qs = site_rows(frames["Assessments"])
    dialysis = qs[qs["Dialysis in past week"] == "Y"]
    assert dialysis.index.tolist() == [38, 39]
    assert dialysis[["Subject", "Visit"]].values.tolist() == [
        ["01-006", "Screening"], ["01-006", "Baseline"]
    ]  # fmt: skip
    assert set(qs["Dialysis in past week"]) == {"Y", "N"}


# --- planted errors, exactly as documented ------------------------------------------------------


def test_orphan_subject_is_the_last_nine_lab_rows(frames, labs):
    orphan = labs[~labs["Subject"].isin(frames["Demographics"]["Subject"])]
    assert orphan.index.tolist() == list(range(1282, 1291))
    assert set(orphan["Subject"]) == {"01-099"} and set(orphan["Visit"]) == {"Screening"}


def test_impossible_date(labs):
    impossible = [i for i, v in labs["Collection date"].items() if parse_full_date(v) is None]
    assert impossible == [685]
    row = labs.loc[685]
    assert (row["Subject"], row["Visit"], row["Test"], row["Collection date"]) == (
        "01-011", "Week 24", "Creatinine", "2026-02-30"
    )  # fmt: skip


def test_unknown_test(labs):
    unknown = labs[~labs["Test"].isin(terminology("LBTESTCD"))]
    assert unknown.index.tolist() == [768]
    row = unknown.loc[768, ["Subject", "Visit", "Test"]].tolist()
    assert row == ["01-013", "Baseline", "Ferritin-X"]


def test_exact_duplicate_row(labs):
    duplicated = labs[labs.duplicated(keep=False)]
    assert duplicated.index.tolist() == [582, 583]
    row = duplicated.loc[583, ["Subject", "Visit", "Test"]].tolist()
    assert row == ["01-010", "Week 1", "Albumin"]


@pytest.mark.parametrize("subjects", [1, 3, 13, 150])
def test_planted_errors_at_any_size(subjects):
    generated = generate_sample_export(subjects, seed=subjects)
    lab, dm = generated["Labs"], generated["Demographics"]
    assert len(dm) == subjects
    assert lab.duplicated().sum() == 1
    assert (lab["Test"] == "Ferritin-X").sum() == 1
    assert sum(parse_full_date(v) is None for v in lab["Collection date"]) == 1
    orphans = lab[~lab["Subject"].isin(dm["Subject"])]
    assert len(orphans) == 9 and orphans.index.tolist() == list(range(len(lab) - 9, len(lab)))
    assert generated["Infusions"].groupby("Subject").size().between(1, 4).all()


# --- the written files read back ----------------------------------------------------------------


def test_written_files_read_back_with_expected_rows(written):
    workbook, csv = written
    sheets = pd.read_excel(workbook, sheet_name=None, engine="calamine", dtype=str)
    assert list(sheets) == ["Demographics", "Infusions", "Assessments"]
    assert {name: len(frame) for name, frame in sheets.items()} == {
        "Demographics": 22, "Infusions": 58, "Assessments": 141
    }  # fmt: skip
    lab = pd.read_csv(csv, dtype=str)
    assert len(lab) == 1289
    assert list(lab.columns) == LABS_COLUMNS


def test_written_workbook_keeps_ids_as_text_and_dates_as_typed(written):
    workbook, _ = written
    dm = pd.read_excel(workbook, sheet_name="Demographics", engine="calamine", dtype=str,
                       keep_default_na=False)  # fmt: skip
    assert dm["Subject"].tolist()[6] == "01-007"
    assert dm["Site"].eq("01").all()
    assert dm.loc[5, "Consent date"] == "45818"  # the serial number stays a number
    assert dm.loc[3, "Date of birth"] == "1971-07"
    assert dm.loc[8, "Date of birth"] == "UN-SEP-1972"
    assert dm.loc[0, "Consent date"] == "08-Mar-2025"

    from openpyxl import load_workbook

    sheet = load_workbook(workbook)["Infusions"]
    types = {type(row[2]) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert {dt.datetime, str, int} <= types


def test_written_csv_is_utf8_with_chinese_names_and_micro_sign(written):
    _, csv = written
    text = csv.read_bytes().decode("utf-8")
    assert "谷丙转氨酶" in text and "µmol/L" in text and "Ferritin-X" in text
    assert "\r\n" not in text
    lab = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert lab.loc[685 - 2, "Collection date"] == "2026-02-30"
    assert lab.loc[302 - 2, "Result"] == "" and lab.loc[302 - 2, "Not done reason"] == "Haemolysed"


def test_bundled_sample_study_is_the_default_generation(written):
    """The committed sample must be regenerated whenever the generator changes."""
    bundled = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld" / "sample_export"
    for path in written:
        assert (bundled / path.name).read_bytes() == path.read_bytes(), (
            f"{path.name} is stale; regenerate with write_sample_export(generate_sample_export(), "
            f"Path('{bundled}'))"
        )


# --- every name from the study folder -----------------------------------------------------------


def renamed_study(tmp_path: Path) -> Path:
    """A copy of the first study's folder whose site calls the dosing sheet `Dosing`, the labs
    file `Bloods`, the dose date `Dose given on`, Week 4 `Month 1` and plants `Zinc-Q`."""
    source = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld"
    folder = tmp_path / "renamed"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("sample_export"))

    def rewrite(name: str, *pairs: tuple[str, str]) -> None:
        text = (folder / name).read_text(encoding="utf-8")
        for old, new in pairs:
            assert re.search(old, text), (name, old)
            text = re.sub(old, new, text)
        (folder / name).write_text(text, encoding="utf-8")

    week4 = (r"Week 4(?!\d)", "Month 1")
    rewrite("sheets.csv", (r",Infusions,", ",Dosing,"), (r",Labs,", ",Bloods,"))
    rewrite("raw_columns.csv", (r",Infusion date,", ",Dose given on,"))
    rewrite("visits.csv", week4)
    rewrite("terminology.csv", week4)
    rewrite("sample.toml", week4, (r'"Ferritin-X"', '"Zinc-Q"'), (r'"labs_2026-03-31.csv"', '"bloods.csv"'))
    return folder


def test_sheets_headers_visits_and_planted_words_come_from_the_folder(frames, tmp_path):
    spec = read_sample_spec(renamed_study(tmp_path))
    renamed = generate_sample_export(spec=spec)
    assert list(renamed) == ["Demographics", "Dosing", "Bloods", "Assessments"]
    assert "Dose given on" in renamed["Dosing"].columns and "Infusion date" not in renamed["Dosing"].columns
    assert "Month 1" in set(renamed["Bloods"]["Visit"]) and "Week 4" not in set(renamed["Bloods"]["Visit"])
    assert (renamed["Bloods"]["Test"] == "Zinc-Q").sum() == 1

    # renamed back, it is the default export value for value: only the names moved
    back = {
        "Demographics": renamed["Demographics"],
        "Infusions": renamed["Dosing"].rename(columns={"Dose given on": "Infusion date"}),
        "Labs": renamed["Bloods"].replace({"Visit": {"Month 1": "Week 4"}, "Test": {"Zinc-Q": "Ferritin-X"}}),
        "Assessments": renamed["Assessments"].replace({"Visit": {"Month 1": "Week 4"}}),
    }
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(back[name], frame, obj=name)

    written = write_sample_export(renamed, tmp_path / "out", spec)
    assert [p.name for p in written] == [WORKBOOK_NAME, "bloods.csv"]
    book = pd.read_excel(written[0], sheet_name=None, engine="calamine", dtype=str)
    assert list(book) == ["Demographics", "Dosing", "Assessments"]


def test_a_study_of_another_shape_is_sent_to_sample_study():
    other = Path(__file__).resolve().parents[2] / "mappings" / "zx101-liv2"
    with pytest.raises(FileNotFoundError, match="sample.toml not found.*sdtmflow sample --study"):
        read_sample_spec(other)


def test_a_folder_the_shape_does_not_fit_says_what_to_change(tmp_path):
    folder = renamed_study(tmp_path)
    tests = pd.read_csv(folder / "lab_tests.csv", dtype=str, keep_default_na=False)
    tests.iloc[::-1].to_csv(folder / "lab_tests.csv", index=False)
    columns = (folder / "sample.toml").read_text(encoding="utf-8").replace(
        'total_dose = "total_cells"', 'total_dose = "cells_total"'
    )
    (folder / "sample.toml").write_text(columns, encoding="utf-8")
    with pytest.raises(ValueError) as raised:
        read_sample_spec(folder)
    message = str(raised.value)
    assert "[[labs.tests]]: give one per lab_tests.csv test, in its order ['SODIUM'" in message
    assert "[columns.exposure]: ['cells_total'] are not raw_columns.csv columns of sheet 'infusions'" in message


def test_a_visit_or_test_sample_toml_names_must_be_the_study_s(tmp_path):
    folder = renamed_study(tmp_path)
    text = (folder / "sample.toml").read_text(encoding="utf-8")
    text = text.replace('death_after = "Week 12"', 'death_after = "Week 13"').replace(
        'impossible_test = "CREAT"', 'impossible_test = "CREA"'
    )
    (folder / "sample.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as raised:
        read_sample_spec(folder)
    assert "sample.toml [messiness] death_after: 'Week 13' is not a visits.csv VISIT" in str(raised.value)
    assert "sample.toml [planted] impossible_test: 'CREA' is not a lab_tests.csv LBTESTCD" in str(raised.value)
