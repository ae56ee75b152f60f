"""check-study finds each mistake a person makes in a study folder, naming file, row and column."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from transforms.spec.study import DEFAULT_STUDY_DIR, read_study
from transforms.spec.study_check import check_study


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}: the mistake would not be planted"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def drop_rows(path: Path, prefix: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith(prefix)))


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")


# (id, how to plant the mistake, file, row, column, words of the message)
MISTAKES = [
    ("codelist that does not exist", lambda d: edit(d / "raw_columns.csv", ",SEX,SEX,", ",SEXX,SEX,"),
     "raw_columns.csv", 6, "codelist", "has no rows in terminology.csv"),
    ("variable in no domain", lambda d: append(d / "mapping.csv", "EX,EXFOO,assign_no_ct,EXDOSE,,,"),
     "mapping.csv", 80, "variable", "EX.EXFOO is in no domain"),
    ("sheet name used twice", lambda d: edit(d / "sheets.csv", "infusions,exposure,Infusions,", "infusions,exposure,Infusions|Labs,"),
     "sheets.csv", 4, "names", "also a name of sheet 'infusions'"),
    ("derivation input no sheet provides", lambda d: edit(d / "mapping.csv", "EX,EXDOSE,assign_no_ct,EXDOSE", "EX,EXDOSE,assign_no_ct,dose_mg"),
     "mapping.csv", 28, "source", "provided by no column"),
    ("unknown algorithm", lambda d: edit(d / "mapping.csv", "EX,EXSPID,assign_no_ct", "EX,EXSPID,assign_raw"),
     "mapping.csv", 26, "algorithm", "is not one of"),
    ("hardcode without a value", lambda d: edit(d / "mapping.csv", "DM,DTHFL,hardcode_ct,,Y,", "DM,DTHFL,hardcode_ct,,,"),
     "mapping.csv", 11, "value", "needs the value"),
    ("unknown derivation", lambda d: edit(d / "mapping.csv", "DM,AGE,derived,,age,", "DM,AGE,derived,,age_at_entry,"),
     "mapping.csv", 14, "value", "no derivation of DM"),
    ("condition outside the forms", lambda d: edit(d / "mapping.csv", "end_time not null", "end_time exists"),
     "mapping.csv", 35, "condition", "COLUMN is null"),
    ("condition on a column the sheet lacks", lambda d: edit(d / "mapping.csv", "end_time not null", "stop_time not null"),
     "mapping.csv", 35, "condition", "'stop_time' is provided by no column"),
    ("study key that does not exist", lambda d: edit(d / "mapping.csv", "treatment.EXDOSU", "treatment.EXDOSEU"),
     "mapping.csv", 29, "value", "treatment.EXDOSEU"),
    ("unknown role", lambda d: edit(d / "sheets.csv", "labs,findings,", "labs,lab,"),
     "sheets.csv", 4, "role", "'lab' is not a role"),
    ("no subjects sheet", lambda d: edit(d / "sheets.csv", "demographics,subjects,", "demographics,assessments,"),
     "sheets.csv", None, "role", "0 sheets have the role 'subjects'"),
    ("record key naming no column", lambda d: edit(d / "sheets.csv", "subject infusion_number", "subject infusion_no"),
     "sheets.csv", 3, "record_key", "'infusion_no' is no column"),
    ("raw column of an unknown sheet", lambda d: append(d / "raw_columns.csv", "vitals,subject,Subject,,Y,text,N,,,,,,"),
     "raw_columns.csv", 43, "sheet", "'vitals' is not a sheet"),
    ("unknown kind", lambda d: edit(d / "raw_columns.csv", "demographics,weight,Weight (kg),,N,number", "demographics,weight,Weight (kg),,N,float"),
     "raw_columns.csv", 12, "kind", "'float' is not one of"),
    ("required not Y/N", lambda d: edit(d / "raw_columns.csv", "demographics,sex,Sex,,Y,", "demographics,sex,Sex,,yes,"),
     "raw_columns.csv", 6, "required", "write Y or N"),
    ("header alias naming two columns", lambda d: edit(d / "raw_columns.csv", "labs,collection_date,Collection date,,", "labs,collection_date,Collection date,Visit,"),
     "raw_columns.csv", 29, "aliases", "also names column 'visit'"),
    ("time combined with no date", lambda d: edit(d / "raw_columns.csv", "EXSTDTC,infusion_date", "EXSTDTC,infusion_day"),
     "raw_columns.csv", 20, "combine_with", "not a date column"),
    ("codelist without its coded name", lambda d: edit(d / "raw_columns.csv", ",RACE,RACE,", ",RACE,,"),
     "raw_columns.csv", 7, "coded_as", "needs both codelist and coded_as"),
    ("column listed twice", lambda d: append(d / "raw_columns.csv", "labs,unit,Units,,N,text,N,,,,,,"),
     "raw_columns.csv", 43, "column", "listed twice"),
    ("visit number that is not a number", lambda d: edit(d / "visits.csv", "Week 8,5,", "Week 8,five,"),
     "visits.csv", 6, "VISITNUM", "is not a number"),
    ("visit listed twice", lambda d: append(d / "visits.csv", "Week 8,9,"),
     "visits.csv", 10, "VISIT", "listed twice"),
    ("two arms with one code", lambda d: edit(d / "study.toml", 'ARMCD = "MHIGH"', 'ARMCD = "LOW"'),
     "study.toml", None, "[[arms]] ARMCD", "given to two arms"),
    ("unknown actual-arm rule", lambda d: edit(d / "study.toml", 'actual_arm = "dose_level"', 'actual_arm = "by_dose"'),
     "study.toml", None, "[derivations] actual_arm", "'by_dose' is not one of"),
    ("a missing section", lambda d: edit(d / "study.toml", "[visits]", "[visit_settings]"),
     "study.toml", None, "[visits]", "section missing"),
    ("a table missing", lambda d: (d / "mapping.csv").unlink(),
     "mapping.csv", None, None, "not found"),
    ("a table missing a column", lambda d: edit(d / "sheets.csv", "sheet,role,names,row_is,record_key", "sheet,role,name,row_is,record_key"),
     "sheets.csv", 1, "names", "missing from the header row"),
    # the LB, SV and MH rows of mapping.csv
    ("unknown LB derivation", lambda d: edit(d / "mapping.csv", "LB,LBTEST,derived,,lab_test_attributes,", "LB,LBTEST,derived,,lab_tests,"),
     "mapping.csv", 38, "value", "'lab_tests' is no derivation of LB: use one of lab_test_attributes"),
    ("LB source the findings sheet lacks", lambda d: edit(d / "mapping.csv", "LB,LBORNRLO,assign_no_ct,normal_low", "LB,LBORNRLO,assign_no_ct,normal_lo"),
     "mapping.csv", 45, "source", "'normal_lo' is provided by no column of the LB source sheet"),
    ("condition on a variable filled later", lambda d: edit(d / "mapping.csv", "LBORRESU,,LBSTAT is null", "LBORRESU,,LBSTRESN is null"),
     "mapping.csv", 44, "condition", "nor by a variable of an earlier row"),
    ("derivation before the variable it reads", lambda d: edit(d / "mapping.csv", 'LB,LBSEQ,derived,,sequence,,"Per subject, in the order of study.toml [domains.LB] seq_by"\n', ""),
     "mapping.csv", 59, "value", "baseline_flag reads LBSEQ, which no earlier LB row fills"),
    ("sequence by a variable filled after it", lambda d: edit(d / "study.toml", 'seq_by = ["LBTESTCD", "VISITNUM", "LBDTC"]', 'seq_by = ["LBTESTCD", "VISITNUM", "LBDY"]'),
     "mapping.csv", 57, "value", "sequence orders by LBDY"),
    ("sequence without its order", lambda d: edit(d / "study.toml", 'seq_by = ["MHCAT", "MHTERM"]\n', ""),
     "study.toml", None, "[domains.MH] seq_by", "missing"),
    ("variable filled by rows and by a derivation", lambda d: append(d / "mapping.csv", "LB,LBSTAT,hardcode_ct,,NOT DONE,result is null,"),
     "mapping.csv", 80, "algorithm", "fill a variable either by rows of its own or by one derivation"),
    ("domain mapping.csv does not fill", lambda d: append(d / "mapping.csv", "VS,VSTESTCD,assign_no_ct,test,,,"),
     "mapping.csv", 80, "domain", "'VS' is no domain mapping.csv fills"),
    ("SV source the visits present lack", lambda d: edit(d / "mapping.csv", "SV,SVSTDTC,assign_datetime,first_dtc", "SV,SVSTDTC,assign_datetime,start_dtc"),
     "mapping.csv", 66, "source", "'start_dtc' is provided by no column of the SV source"),
    ("MH topic that is no column", lambda d: edit(d / "study.toml", 'topics = ["aetiology", "transplant"]', 'topics = ["aetiology", "transplant_yn"]'),
     "study.toml", None, "[domains.MH] topics", "'transplant_yn' is no column"),
    ("findings sheet with no LBDTC", lambda d: edit(d / "raw_columns.csv", ",LBDTC,collection_date,", ",,collection_date,"),
     "raw_columns.csv", None, "column", "provides no 'LBDTC'"),
    ("spelling coded to an arm the study lacks", lambda d: append(d / "terminology.csv", "ARMCD,Old arm,ZX50"),
     "terminology.csv", 124, "value", "'ZX50' is not an ARMCD of study.toml"),
    ("spelling coded to a visit visits.csv lacks", lambda d: append(d / "terminology.csv", "VISIT,Week 99,Week 99"),
     "terminology.csv", 124, "value", "'Week 99' is not a VISIT of visits.csv"),
    ("spelling coded to a test lab_tests.csv lacks", lambda d: append(d / "terminology.csv", "LBTESTCD,Ferritin,FERR"),
     "terminology.csv", 124, "value", "'FERR' is not an LBTESTCD of lab_tests.csv"),
    ("TS parameter TS cannot carry", lambda d: edit(d / "trial_design.toml", 'TSPARMCD = "TPHASE"', 'TSPARMCD = "COMPTRT"'),
     "trial_design.toml", None, "[[ts]] #1 TSPARMCD", "'COMPTRT' is not in mappings/ct/ts_parameters.csv"),
    ("a domain every run builds left out", lambda d: drop_rows(d / "mapping.csv", "SV,"),
     "mapping.csv", None, "domain", "no SV row: every study maps SV"),
    ("a variable later stages read left out", lambda d: drop_rows(d / "mapping.csv", "LB,LBDTC,"),
     "mapping.csv", None, "variable", "LB.LBDTC is filled by no row, and the later stages read it"),
    ("broken TOML", lambda d: edit(d / "study.toml", 'studyid = "UCMSC-ESLD"', 'studyid = "UCMSC-ESLD'),
     "study.toml", None, None, "not valid TOML"),
    ("score input the formulas do not read", lambda d: append(d / "score_inputs.csv", "PLT,PLAT,platelets"),
     "score_inputs.csv", 10, "input", "'PLT' is no input of the scores"),
    ("score input no lab test provides", lambda d: edit(d / "score_inputs.csv", "CREAT,CREAT,", "CREAT,CREA,"),
     "score_inputs.csv", 3, "source", "'CREA' is no test of lab_tests.csv"),
    ("score input no assessments column provides", lambda d: edit(d / "score_inputs.csv", "ENCEPH,encephalopathy,", "ENCEPH,enceph,"),
     "score_inputs.csv", 8, "source", "'enceph' is no column of the assessments sheet"),
    ("score input listed twice", lambda d: append(d / "score_inputs.csv", "INR,PT,"),
     "score_inputs.csv", 10, "input", "'INR' is listed twice"),
    ("score input left out", lambda d: edit(d / "score_inputs.csv", "INR,INR,prothrombin INR\n", ""),
     "score_inputs.csv", None, "input", "INR is missing"),
    ("score input unit with no conversion", lambda d: edit(d / "unit_conversions.csv", "CREAT,mg/dL,umol/L,88.4\n", ""),
     "score_inputs.csv", 3, "source", "the scores take CREAT in 'mg/dL' but CREAT is held in 'umol/L'"),
    ("RS tests without score inputs", lambda d: (d / "score_inputs.csv").write_text("input,source,comment\n"),
     "score_inputs.csv", None, None, "rs_tests.csv declares RS tests but no score input"),
    ("eligibility rule on a column the sheet lacks", lambda d: edit(d / "eligibility.csv", "demographics,liver_transplant,", "demographics,transplant,"),
     "eligibility.csv", 2, "column", "'transplant' is no column of sheet 'demographics'"),
    ("eligibility value the codelist cannot hold", lambda d: edit(d / "eligibility.csv", "liver_transplant,Y,", "liver_transplant,Yes,"),
     "eligibility.csv", 2, "value", "'Yes' is no value of codelist NY"),
    ("eligibility rule without its reason", lambda d: edit(d / "eligibility.csv", "Y,transplant recipients are not eligible for this study", "Y,"),
     "eligibility.csv", 2, "reason", "give the protocol's reason"),
]


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    shutil.copytree(DEFAULT_STUDY_DIR, folder, ignore=shutil.ignore_patterns("sample_export"))
    return folder


def test_the_bundled_study_has_no_problem():
    assert check_study(DEFAULT_STUDY_DIR) == []


@pytest.mark.parametrize("name, plant, file, row, column, words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_one_problem_naming_file_row_and_column(study_copy, name, plant, file, row, column, words):
    plant(study_copy)
    problems = check_study(study_copy)
    matching = [p for p in problems if p.file == file and words in p.message]
    assert matching, f"no problem for {name}: {[str(p) for p in problems]}"
    assert (matching[0].row, matching[0].column) == (row, column)


def test_the_command_lists_every_problem_and_exits_2(study_copy):
    MISTAKES[0][1](study_copy)
    MISTAKES[4][1](study_copy)
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "check-study", str(study_copy)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "raw_columns.csv row 6 column codelist" in done.stderr
    assert "mapping.csv row 26 column algorithm" in done.stderr
    assert "2 problem(s)" in done.stderr


def test_a_study_renaming_its_score_sources_needs_no_code(study_copy):
    """Creatinine held in mg/dL, the ascites column called `fluid`, dialysis not asked: only
    data changes, check-study accepts it and the score inputs follow."""
    edit(study_copy / "raw_columns.csv", "assessments,ascites,", "assessments,fluid,")
    edit(study_copy / "score_inputs.csv", "ASCITES,ascites,", "ASCITES,fluid,")
    lines = (study_copy / "score_inputs.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    edit(study_copy / "score_inputs.csv", next(line for line in lines if line.startswith("DIALYSIS,")), "")
    edit(study_copy / "lab_tests.csv", "Creatinine,CHEMISTRY,SERUM,umol/L", "Creatinine,CHEMISTRY,SERUM,mg/dL")
    edit(study_copy / "unit_conversions.csv", "CREAT,umol/L,umol/L,1", "CREAT,umol/L,mg/dL,0.0113")
    edit(study_copy / "unit_conversions.csv", "CREAT,mg/dL,umol/L,88.4", "CREAT,mg/dL,mg/dL,1")
    assert check_study(study_copy) == []
    sources = read_study(study_copy).score_sources.set_index("input")
    assert sources.loc["CREAT", "unit"] == "mg/dL"
    assert tuple(sources.loc["ASCITES", ["source", "column"]]) == ("fluid", "ASCITES")
    assert "DIALYSIS" not in sources.index


def test_a_study_without_scores_declares_none():
    study = read_study(DEFAULT_STUDY_DIR.parent / "zx101-liv2")
    assert study.score_inputs.empty and study.rs_tests.empty and not study.has_scores
    assert read_study(DEFAULT_STUDY_DIR).has_scores
