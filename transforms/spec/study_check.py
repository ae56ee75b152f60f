"""check-study: every problem of a study folder, found before any raw data is read.

A study is a folder of data (study.toml, sheets.csv, raw_columns.csv, mapping.csv, ...); a
mistake in it would otherwise surface after all the mapping work, or as a traceback. Each problem
names the file, the row (as a spreadsheet shows it: header = row 1), the column, what is wrong and
how to fix it. `read_study` is only called on a folder with no problem.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from transforms.scores.liver_scores import ASSESSMENT_INPUTS, LAB_INPUTS, OPTIONAL_INPUTS
from transforms.domains.spec_map import ALGORITHMS, ASSIGN, HARDCODE, read_condition, read_study_value
from transforms.spec.study import ASSESSMENTS, MAPPINGS_DIR, OPTIONAL_TABLES, ROLES, SUBJECTS, TABLE_FILES
from transforms.domains.sv import VISITS_PRESENT_COLUMNS
from transforms.standardise.visits import UNSCHEDULED

KINDS = ("text", "date", "time", "number", "identifying")
ACTUAL_ARM_RULES = ("dose_level", "planned_regimen")
# What a derivation reads of the variables filled before it ({d}: the domain), so a spec that
# orders them wrongly is told before the run.
DERIVATION_INPUTS = {
    "lab_test_attributes": ("{d}TESTCD",),
    "visit": ("{d}DTC",),
    "epoch": ("{d}DTC",),
    "baseline_flag": ("{d}TESTCD", "{d}STRESC", "{d}DTC", "{d}SEQ"),
}
REQUIRED_COLUMNS = {
    "sheets.csv": ["sheet", "role", "names", "row_is", "record_key"],
    "raw_columns.csv": ["sheet", "column", "header", "required", "kind", "verbatim", "codelist", "coded_as"],
    "mapping.csv": ["domain", "variable", "algorithm", "source", "value", "condition"],
    "terminology.csv": ["codelist", "raw", "value"],
    "visits.csv": ["VISIT", "VISITNUM", "VISITDY"],
    "variables.csv": ["dataset", "variable"],
    "score_inputs.csv": ["input", "source"],
    "eligibility.csv": ["sheet", "column", "value", "reason"],
    "lab_tests.csv": ["LBTESTCD", "LBSTRESU"],
    "unit_conversions.csv": ["LBTESTCD", "LBORRESU", "LBSTRESU"],
    "rs_tests.csv": ["RSTESTCD"],
}
# Columns standardise adds to every sheet (transforms.standardise.sheets) and lineage: a mapping
# may read them though no raw column is named so.
ADDED_EVERYWHERE = {"SUBJID", "USUBJID", "ARMCD", "_file", "_sheet", "_row"}
ADDED_BY_ROLE = {
    "subjects": {"age_at_consent"},
    "findings": {"result_operator", "result_number", "problem_result", "LBSTRESU", "factor",
                 "result_standard", "result_stresc", "result_stresn"},
}
# The sheet role each domain's records come from, unless study.toml [domains.<domain>] `from`
# says otherwise; SV's records are the visits present in the Findings domains instead.
DOMAIN_SOURCES = {"DM": SUBJECTS, "EX": "exposure", "LB": "findings", "MH": SUBJECTS}
ADDED_BY_DOMAIN = {"MH": {"topic"}}
# What LB's derivations read from the findings sheet by name (transforms/domains/lb.py): a sheet that names
# none of a column's ids would fail after all the work instead of here.
ROLE_NEEDS = {
    "findings": {
        "VISIT": "code the visit column (codelist VISIT, coded_as VISIT)",
        "LBTESTCD": "code the test column (codelist LBTESTCD, coded_as LBTESTCD)",
        "LBORRESU": "code the unit column (codelist UNIT, coded_as LBORRESU)",
        "LBDTC": "give the collection time standard_as LBDTC (combine_with its date), or, when no time is collected, the collection date standard_as LBDTC",
        "result": "name the result column 'result'",
        "normal_low": "name the lower reference limit 'normal_low' (not required, may be blank)",
        "normal_high": "name the upper reference limit 'normal_high' (not required, may be blank)",
        "not_done_reason": "name the reason a result is missing 'not_done_reason' (not required, may be blank)",
    },
}


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f" row {self.row}" if self.row is not None else "")
        where += f" column {self.column}" if self.column else ""
        return f"{where}: {self.message}"


def check_study(study_dir: Path) -> list[Problem]:
    """Every problem of the study folder `study_dir` (empty: the folder is fit to run)."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        return [Problem(str(study_dir), None, None, "is not a folder: give the study folder (e.g. mappings/<study>)")]
    problems: list[Problem] = []
    config = _read_toml(study_dir / "study.toml", problems)
    tables = {
        filename: _read_table(study_dir / filename, problems)
        for name, filename in TABLE_FILES.items()
        if name not in OPTIONAL_TABLES or (study_dir / filename).is_file()
    }
    variables = _read_table(study_dir / "variables.csv", problems)
    tables["variables.csv"] = variables
    for name, frame in tables.items():
        missing = [c for c in REQUIRED_COLUMNS.get(name, []) if frame is not None and c not in frame.columns]
        if missing:
            problems.append(Problem(name, 1, ", ".join(missing), "column(s) missing from the header row: add them"))
            tables[name] = None
    if config is not None:
        problems += check_config(config)
    sheets, columns = tables["sheets.csv"], tables["raw_columns.csv"]
    if sheets is not None:
        problems += check_sheets(sheets)
    if sheets is not None and columns is not None:
        problems += check_raw_columns(columns, sheets, tables.get("terminology.csv"))
    if tables["visits.csv"] is not None:
        problems += check_visits(tables["visits.csv"])
    if (study_dir / "trial_design.toml").is_file():
        problems += check_ts_parameters(_read_toml(study_dir / "trial_design.toml", problems) or {})
    terminology = tables.get("terminology.csv")
    if terminology is not None and config is not None:
        problems += check_terminology_targets(terminology, config, tables.get("visits.csv"), tables.get("lab_tests.csv"))
    if all(part is not None for part in (config, sheets, columns, tables["mapping.csv"], variables)):
        problems += check_mapping(tables["mapping.csv"], config, sheets, columns, variables)
    score_parts = ("sheets.csv", "raw_columns.csv", "lab_tests.csv", "unit_conversions.csv", "rs_tests.csv")
    if all(tables.get(name) is not None for name in score_parts):
        problems += check_score_inputs(
            tables.get("score_inputs.csv"), *(tables[name] for name in score_parts)
        )
    if tables.get("eligibility.csv") is not None and sheets is not None and columns is not None:
        problems += check_eligibility(tables["eligibility.csv"], columns, tables.get("terminology.csv"))
    return problems


def check_config(config: dict) -> list[Problem]:
    problems = []
    for section in ("study", "arms", "treatment", "visits", "domains"):
        if section not in config:
            problems.append(Problem("study.toml", None, f"[{section}]", "section missing: add it (see docs/new-study.md)"))
    for key in ("studyid", "title", "country", "age_min", "age_max"):
        if key not in config.get("study", {}):
            problems.append(Problem("study.toml", None, f"[study] {key}", "missing: add it"))
    arms = config.get("arms", [])
    codes = [arm.get("ARMCD") for arm in arms]
    for number, arm in enumerate(arms, start=1):
        for key in ("ARMCD", "ARM", "dose"):
            if key not in arm:
                problems.append(Problem("study.toml", None, f"[[arms]] #{number} {key}", "missing: every arm has ARMCD, ARM and dose"))
        if arm.get("ARMCD") and len(str(arm["ARMCD"])) > 20:
            problems.append(Problem("study.toml", None, f"[[arms]] #{number} ARMCD", "longer than 20 characters (SDTM limit): shorten it"))
    for code in {c for c in codes if codes.count(c) > 1}:
        problems.append(Problem("study.toml", None, "[[arms]] ARMCD", f"{code!r} is given to two arms: give each arm its own code"))
    rule = config.get("derivations", {}).get("actual_arm", "dose_level")
    if rule not in ACTUAL_ARM_RULES:
        problems.append(Problem("study.toml", None, "[derivations] actual_arm", f"{rule!r} is not one of {', '.join(ACTUAL_ARM_RULES)}"))
    if "EX" not in config.get("domains", {}):
        problems.append(Problem("study.toml", None, "[domains.EX]", "missing: say which sheet role the doses come from (from = \"exposure\")"))
    condition = config.get("domains", {}).get("EX", {}).get("not_given")
    if condition:
        try:
            read_condition(condition)
        except ValueError as error:
            problems.append(Problem("study.toml", None, "[domains.EX] not_given", str(error)))
    return problems


def check_sheets(sheets: pd.DataFrame) -> list[Problem]:
    problems = []
    for row, item in _rows(sheets):
        if item["role"] not in ROLES:
            problems.append(Problem("sheets.csv", row, "role", f"{item['role']!r} is not a role: use one of {', '.join(ROLES)}"))
        if not item["names"].strip():
            problems.append(Problem("sheets.csv", row, "names", "no name: give the sheet or file name the site uses"))
        if not item["record_key"].strip():
            problems.append(Problem("sheets.csv", row, "record_key", "empty: name the columns that identify one record"))
    for sheet in sheets["sheet"][sheets["sheet"].duplicated()]:
        problems.append(Problem("sheets.csv", None, "sheet", f"{sheet!r} is listed twice: one row per sheet"))
    for role in ("subjects", "exposure", "findings"):
        count = int((sheets["role"] == role).sum())
        if count != 1:
            problems.append(Problem("sheets.csv", None, "role", f"{count} sheets have the role {role!r}: exactly one must"))
    owner: dict[str, str] = {}
    from transforms.ingest.export import compute_name_words  # the matching rule ingest applies

    for row, item in _rows(sheets):
        for name in item["names"].split("|"):
            key = " ".join(compute_name_words(name))
            if key and key in owner and owner[key] != item["sheet"]:
                problems.append(Problem("sheets.csv", row, "names", f"{name.strip()!r} is also a name of sheet {owner[key]!r}: a name may belong to one sheet"))
            owner.setdefault(key, item["sheet"])
    return problems


def check_raw_columns(columns: pd.DataFrame, sheets: pd.DataFrame, terminology: pd.DataFrame | None) -> list[Problem]:
    from transforms.ingest.export import compute_header_key

    problems = []
    known_sheets = set(sheets["sheet"])
    codelists = set(terminology["codelist"]) if terminology is not None and "codelist" in terminology else set()
    for row, item in _rows(columns):
        if item["sheet"] not in known_sheets:
            problems.append(Problem("raw_columns.csv", row, "sheet", f"{item['sheet']!r} is not a sheet of sheets.csv: add the sheet or correct the name"))
        if item["kind"] not in KINDS:
            problems.append(Problem("raw_columns.csv", row, "kind", f"{item['kind']!r} is not one of {', '.join(KINDS)}"))
        if item["required"] not in ("Y", "N"):
            problems.append(Problem("raw_columns.csv", row, "required", f"{item['required']!r}: write Y or N"))
        if item["codelist"] and item["codelist"] not in codelists:
            problems.append(Problem("raw_columns.csv", row, "codelist", f"codelist {item['codelist']!r} has no rows in terminology.csv: add its spellings there or correct the name"))
        if bool(item["codelist"]) != bool(item["coded_as"]):
            problems.append(Problem("raw_columns.csv", row, "coded_as", "a coded column needs both codelist and coded_as (the name of the coded value)"))
        same_sheet = columns[columns["sheet"] == item["sheet"]]
        if item.get("combine_with") and item["combine_with"] not in set(same_sheet.loc[same_sheet["kind"] == "date", "column"]):
            problems.append(Problem("raw_columns.csv", row, "combine_with", f"{item['combine_with']!r} is not a date column of sheet {item['sheet']!r}"))
        if item.get("required_unless") and item["required_unless"] not in set(same_sheet["column"]):
            problems.append(Problem("raw_columns.csv", row, "required_unless", f"{item['required_unless']!r} is not a column of sheet {item['sheet']!r}"))
    duplicated = columns[columns.duplicated(["sheet", "column"])]
    for row, item in _rows(duplicated):
        problems.append(Problem("raw_columns.csv", row, "column", f"{item['column']!r} is listed twice for sheet {item['sheet']!r}"))
    for sheet, group in columns.groupby("sheet"):
        seen: dict[str, str] = {}
        for row, item in _rows(group):
            spellings = [item["header"], *[a for a in str(item.get("aliases", "")).split("|") if a.strip()]]
            for spelling, key in zip(spellings, compute_header_key(spellings)):
                if key in seen and seen[key] != item["column"]:
                    problems.append(Problem("raw_columns.csv", row, "aliases", f"header {spelling!r} also names column {seen[key]!r} of sheet {sheet!r}: a header may name one column"))
                seen.setdefault(key, item["column"])
    for row, item in _rows(sheets):
        mine = columns[columns["sheet"] == item["sheet"]]
        available = set(mine["column"]) | set(mine["coded_as"]) | {f"dtc_{c}" for c in mine.loc[mine["kind"] == "date", "column"]}
        for key in item["record_key"].split():
            if key not in available:
                problems.append(Problem("sheets.csv", row, "record_key", f"{key!r} is no column of sheet {item['sheet']!r} (raw, coded or dtc_ date)"))
        if "subject" not in set(mine["column"]):
            problems.append(Problem("raw_columns.csv", None, "column", f"sheet {item['sheet']!r} has no column 'subject': every sheet names its subject"))
        provided = set(mine["column"]) | set(mine["coded_as"]) | set(mine.get("standard_as", pd.Series(dtype=str)))
        for name, fix in ROLE_NEEDS.get(item["role"], {}).items():
            if name not in provided:
                problems.append(Problem("raw_columns.csv", None, "column", f"sheet {item['sheet']!r} ({item['role']}) provides no {name!r}: {fix}"))
    return problems


def check_terminology_targets(
    terminology: pd.DataFrame, config: dict, visits: pd.DataFrame | None, lab_tests: pd.DataFrame | None
) -> list[Problem]:
    """A spelling that codes to an arm, visit or test the study does not have (a row left from
    the skeleton, a typo) would turn every such raw row into a finding after the work."""
    targets = {"ARMCD": ({arm.get("ARMCD") for arm in config.get("arms", [])}, "an ARMCD of study.toml [[arms]]")}
    if visits is not None and "VISIT" in visits:
        targets["VISIT"] = (set(visits["VISIT"]) | {UNSCHEDULED}, f"a VISIT of visits.csv (or {UNSCHEDULED})")
    if lab_tests is not None and "LBTESTCD" in lab_tests:
        targets["LBTESTCD"] = (set(lab_tests["LBTESTCD"]), "an LBTESTCD of lab_tests.csv")
    problems = []
    for row, item in _rows(terminology):
        known = targets.get(item["codelist"])
        if known and item["value"] not in known[0]:
            problems.append(Problem("terminology.csv", row, "value", f"{item['value']!r} is not {known[1]}: add it there or correct the row"))
    return problems


def check_ts_parameters(design: dict) -> list[Problem]:
    """A [[ts]] parameter TS cannot build (it is not in the shared parameter table) stops the run
    after all the work; here it is named first."""
    known = set(pd.read_csv(MAPPINGS_DIR / "ct" / "ts_parameters.csv", dtype=str, keep_default_na=False)["TSPARMCD"])
    return [
        Problem("trial_design.toml", None, f"[[ts]] #{number} TSPARMCD",
                f"{item.get('TSPARMCD')!r} is not in mappings/ct/ts_parameters.csv: TS can only carry the parameters listed there")
        for number, item in enumerate(design.get("ts", []), start=1)
        if item.get("TSPARMCD") not in known
    ]


def check_visits(visits: pd.DataFrame) -> list[Problem]:
    problems = []
    numbers = pd.to_numeric(visits["VISITNUM"], errors="coerce")
    for row, item in _rows(visits[numbers.isna()]):
        problems.append(Problem("visits.csv", row, "VISITNUM", f"{item['VISITNUM']!r} is not a number"))
    for name in ("VISIT", "VISITNUM"):
        for row, item in _rows(visits[visits[name].duplicated()]):
            problems.append(Problem("visits.csv", row, name, f"{item[name]!r} is listed twice: each visit once"))
    return problems


# The domains every run builds and, of each, the variables later stages read (study days, epochs
# and the actual arm read DM; SV and the scores read LB's visits and results).
READ_DOWNSTREAM = {
    "DM": ["RFSTDTC", "RFXSTDTC", "RFXENDTC", "ARMCD", "ARM"],
    "EX": ["EXSTDTC", "EXENDTC", "EXDOSE"],
    "LB": ["LBTESTCD", "LBSTRESN", "LBSTRESU", "LBDTC", "VISITNUM", "VISIT", "VISITDY", "LBSEQ"],
    "SV": ["VISITNUM", "VISIT"],
}


def check_mapping(
    mapping: pd.DataFrame, config: dict, sheets: pd.DataFrame, columns: pd.DataFrame, variables: pd.DataFrame
) -> list[Problem]:
    from transforms.domains.mapping import DERIVATIONS as REGISTERED  # the builders' own registries

    derivations = {domain: tuple(names) for domain, names in REGISTERED.items()}
    problems = []
    domain_variables = variables.groupby("dataset")["variable"].agg(set).to_dict()
    filled: dict[str, set[str]] = {}  # per domain, the variables of the rows read so far
    kinds: dict[tuple[str, str], set[str]] = {}  # per variable, `derived` or the derivation names
    for row, item in _rows(mapping):
        domain, variable, algorithm = item["domain"], item["variable"], item["algorithm"]
        before = set(filled.get(domain, set()))
        filled.setdefault(domain, set()).add(variable)
        if domain not in derivations:
            problems.append(Problem("mapping.csv", row, "domain", f"{domain!r} is no domain mapping.csv fills: use one of {', '.join(derivations)}"))
            continue
        kind = f"derived {item['value']}" if algorithm == "derived" else "assigned"
        seen = kinds.setdefault((domain, variable), set())
        if seen and kind not in seen:
            problems.append(Problem("mapping.csv", row, "algorithm", f"{domain}.{variable} is filled by {' and '.join(sorted(seen | {kind}))}: fill a variable either by rows of its own or by one derivation"))
        seen.add(kind)
        if variable not in domain_variables.get(domain, set()):
            problems.append(Problem("mapping.csv", row, "variable", f"{domain}.{variable} is in no domain of variables.csv: add it there or correct the name"))
        if algorithm not in ALGORITHMS:
            problems.append(Problem("mapping.csv", row, "algorithm", f"{algorithm!r} is not one of {', '.join(ALGORITHMS)}"))
            continue
        if algorithm in HARDCODE and not item["value"]:
            problems.append(Problem("mapping.csv", row, "value", f"{algorithm} needs the value to write"))
        if algorithm == "derived" and item["value"] not in derivations[domain]:
            problems.append(Problem("mapping.csv", row, "value", f"{item['value']!r} is no derivation of {domain}: use one of {', '.join(derivations[domain]) or '(none)'}"))
        elif algorithm == "derived":
            problems += _check_derivation_inputs(row, domain, item["value"], before | {variable}, config)
        if algorithm == "assign_study":
            try:
                read_study_value(config, item["value"])
            except KeyError as error:
                problems.append(Problem("mapping.csv", row, "value", str(error).strip('"')))
        available = _columns_for(domain, config, sheets, columns)
        if algorithm in ASSIGN and available is not None and item["source"] not in available:
            problems.append(Problem("mapping.csv", row, "source", f"{item['source']!r} is provided by no column of the {domain} source sheet: name a raw or standardised column"))
        if item["condition"]:
            try:
                column = read_condition(item["condition"])[0]
            except ValueError as error:
                problems.append(Problem("mapping.csv", row, "condition", str(error)))
                continue
            if available is not None and column not in available | before:
                problems.append(Problem("mapping.csv", row, "condition", f"{column!r} is provided by no column of the {domain} source sheet, nor by a variable of an earlier row"))
    for domain, needed in READ_DOWNSTREAM.items():
        if domain not in filled:
            problems.append(Problem("mapping.csv", None, "domain", f"no {domain} row: every study maps {domain}; copy its rows from the skeleton (sdtmflow new-study) and name your columns"))
            continue
        for variable in needed:
            if variable not in filled[domain]:
                problems.append(Problem("mapping.csv", None, "variable", f"{domain}.{variable} is filled by no row, and the later stages read it: add its row (see the skeleton's)"))
    return problems + check_history_topics(config, sheets, columns)


def _check_derivation_inputs(row: int, domain: str, name: str, before: set[str], config: dict) -> list[Problem]:
    """A derivation reads variables filled before it: name the one missing and where to add it."""
    problems = []
    for needed in (n.format(d=domain) for n in DERIVATION_INPUTS.get(name, ())):
        if needed not in before:
            problems.append(Problem("mapping.csv", row, "value", f"{name} reads {needed}, which no earlier {domain} row fills: add or move its row above this one"))
    if name == "sequence":
        seq_by = config.get("domains", {}).get(domain, {}).get("seq_by")
        if not seq_by:
            problems.append(Problem("study.toml", None, f"[domains.{domain}] seq_by", f"missing: {domain}'s sequence counts in the order of the variables it names"))
        for needed in seq_by or []:
            if needed not in before:
                problems.append(Problem("mapping.csv", row, "value", f"sequence orders by {needed} (study.toml [domains.{domain}] seq_by), which no earlier {domain} row fills"))
    return problems


def check_history_topics(config: dict, sheets: pd.DataFrame, columns: pd.DataFrame) -> list[Problem]:
    """study.toml [domains.MH] topics: each a raw or coded column of MH's source sheet."""
    available = _columns_for("MH", config, sheets, columns)
    topics = config.get("domains", {}).get("MH", {}).get("topics", [])
    return [
        Problem("study.toml", None, "[domains.MH] topics", f"{topic!r} is no column of the MH source sheet (raw or coded): correct it")
        for topic in topics
        if available is not None and topic not in available
    ]


def check_score_inputs(
    score_inputs: pd.DataFrame | None, sheets: pd.DataFrame, columns: pd.DataFrame,
    lab_tests: pd.DataFrame, conversions: pd.DataFrame, rs_tests: pd.DataFrame,
) -> list[Problem]:
    """score_inputs.csv: each formula input once, fed by a test lab_tests.csv has or a column of
    the assessments sheet, in a unit every formula can be given (the test's standard unit, or a
    unit_conversions.csv row to it). `score_inputs` None: the file is absent (no scores)."""
    file = "score_inputs.csv"
    table = score_inputs if score_inputs is not None else pd.DataFrame(columns=["input", "source"])
    problems = []
    if table.empty and not rs_tests.empty:
        problems.append(Problem(file, None, None, "rs_tests.csv declares RS tests but no score input is named: list each formula input and its source here, or empty rs_tests.csv"))
    if table.empty:
        return problems
    if rs_tests.empty:
        problems.append(Problem(file, None, None, "score inputs are named but rs_tests.csv declares no RS test: add the RS tests, or leave only the header row here"))
    assessments = sheets.loc[sheets["role"] == ASSESSMENTS, "sheet"]
    assessment_columns = set(columns.loc[columns["sheet"].isin(set(assessments)), "column"])
    units = dict(zip(lab_tests["LBTESTCD"], lab_tests["LBSTRESU"]))
    pairs = set(zip(conversions["LBTESTCD"], conversions["LBORRESU"], conversions["LBSTRESU"]))
    known = [*LAB_INPUTS, *ASSESSMENT_INPUTS]
    for row, item in _rows(table):
        name, source = item["input"], item["source"].strip()
        if name not in known:
            problems.append(Problem(file, row, "input", f"{name!r} is no input of the scores: use one of {', '.join(known)}"))
            continue
        if not source:
            problems.append(Problem(file, row, "source", f"{name} has no source: name the LB test code or the assessments column that gives it"))
        elif name in LAB_INPUTS and source not in units:
            problems.append(Problem(file, row, "source", f"{source!r} is no test of lab_tests.csv: name the LBTESTCD the study gives {name} as, or add the test"))
        elif name in LAB_INPUTS:
            for unit in LAB_INPUTS[name]:
                held = units[source]
                if unit != held and (source, unit, held) not in pairs and (source, held, unit) not in pairs:
                    problems.append(Problem(file, row, "source", f"the scores take {name} in {unit or 'no unit'!r} but {source} is held in {held or 'no unit'!r} and unit_conversions.csv has no row between the two: add it (LBTESTCD {source})"))
        elif assessments.empty:
            problems.append(Problem(file, row, "source", f"{name} comes from the assessments sheet, but sheets.csv has no sheet with the role 'assessments'"))
        elif source not in assessment_columns:
            problems.append(Problem(file, row, "source", f"{source!r} is no column of the assessments sheet in raw_columns.csv: name the column that gives {name}"))
    for row, item in _rows(table[table["input"].duplicated()]):
        problems.append(Problem(file, row, "input", f"{item['input']!r} is listed twice: one source per input"))
    for name in known:
        if name not in set(table["input"]) and name not in OPTIONAL_INPUTS:
            problems.append(Problem(file, None, "input", f"{name} is missing: the scores need every input ({', '.join(n for n in known if n not in OPTIONAL_INPUTS)}; {', '.join(sorted(OPTIONAL_INPUTS))} may be left out)"))
    return problems


def check_eligibility(eligibility: pd.DataFrame, columns: pd.DataFrame, terminology: pd.DataFrame | None) -> list[Problem]:
    """eligibility.csv: each rule names a raw column of its sheet, a value the column can hold
    (a submission value of its codelist where it is coded) and the reason the site is told."""
    file = "eligibility.csv"
    problems = []
    for row, item in _rows(eligibility):
        match = columns[(columns["sheet"] == item["sheet"]) & (columns["column"] == item["column"])]
        if match.empty:
            problems.append(Problem(file, row, "column", f"{item['column']!r} is no column of sheet {item['sheet']!r} in raw_columns.csv: correct the sheet or column"))
            continue
        if not item["value"].strip():
            problems.append(Problem(file, row, "value", "empty: give the answer that makes the subject ineligible"))
        codelist = match["codelist"].iloc[0]
        if codelist and terminology is not None and item["value"].strip():
            values = set(terminology.loc[terminology["codelist"] == codelist, "value"])
            if item["value"] not in values:
                problems.append(Problem(file, row, "value", f"{item['value']!r} is no value of codelist {codelist} (terminology.csv): the column is compared as coded, use one of {', '.join(sorted(values))}"))
        if not item["reason"].strip():
            problems.append(Problem(file, row, "reason", "empty: give the protocol's reason, as the site is to read it"))
    for row, item in _rows(eligibility[eligibility.duplicated(["sheet", "column", "value"])]):
        problems.append(Problem(file, row, "value", f"{item['column']} = {item['value']} is listed twice"))
    return problems


def _columns_for(domain: str, config: dict, sheets: pd.DataFrame, columns: pd.DataFrame) -> set[str] | None:
    """What a domain's mapping rows may read: the raw and standardised columns of its source sheet
    (SV: the visits present)."""
    if domain == "SV":
        return set(VISITS_PRESENT_COLUMNS)
    role = config.get("domains", {}).get(domain, {}).get("from", DOMAIN_SOURCES.get(domain))
    sheet = sheets.loc[sheets["role"] == role, "sheet"]
    if sheet.empty:
        return None
    mine = columns[columns["sheet"] == sheet.iloc[0]]
    dates = {f"dtc_{c}" for c in mine.loc[mine["kind"] == "date", "column"]}
    standard = set(mine.get("standard_as", pd.Series(dtype=str))) | set(mine["coded_as"])
    added = ADDED_EVERYWHERE | ADDED_BY_ROLE.get(role, set()) | ADDED_BY_DOMAIN.get(domain, set())
    return (set(mine["column"]) | dates | standard | added) - {""}


def _rows(frame: pd.DataFrame):
    """(spreadsheet row number, row as a dict) — the header is row 1."""
    for index, item in frame.iterrows():
        yield int(index) + 2, item.to_dict()


def _read_toml(path: Path, problems: list[Problem]) -> dict | None:
    if not path.is_file():
        problems.append(Problem(path.name, None, None, "not found: every study folder needs it (sdtmflow new-study writes one)"))
        return None
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        problems.append(Problem(path.name, None, None, f"cannot be read: it is not valid TOML ({error}); correct it"))
        return None


def _read_table(path: Path, problems: list[Problem]) -> pd.DataFrame | None:
    if not path.is_file():
        problems.append(Problem(path.name, None, None, "not found: every study folder needs it (sdtmflow new-study writes one)"))
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        problems.append(Problem(path.name, None, None, f"cannot be read as UTF-8 CSV ({error}); save it as CSV UTF-8"))
        return None
