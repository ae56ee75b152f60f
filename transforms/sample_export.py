"""A deterministic, realistic sample of the site's nightly export, with planted errors.

The bundled sample study (`mappings/ucmsc-esld/sample_export/`), the end-to-end tests and the
benchmarks all run on this generator, so it follows `raw-data-contract.md` exactly: the site's own
sheet names and column headers, and every kind of messiness the contract allows (date styles, unit
and test-name variants, `<5` / `>1000` results, a not-done result, an unscheduled visit). On top of
that it plants a few errors the pipeline must turn into findings. `generate_sample_export` is pure;
`write_sample_export` is the only I/O.

Excel cell typing is decided here, as data: in the Demographics, Infusions and Assessments frames a
`datetime.date` is meant to become a real Excel date cell, an `int` in a date column an Excel serial
number stored as a number, and a `str` text exactly as the site typed it. The Labs frame is all text
(it is written as CSV).

Default sample (subjects=22, seed=20260301), rows as the site sees them (header = row 1)
-------------------------------------------------------------------------------------------
Files: `site01_export_2026-03-31.xlsx` (Demographics 22 rows, Infusions 58, Assessments 141) and
`labs_2026-03-31.csv` (Labs 1289 rows).

Planted errors, each exactly once, all in `labs_2026-03-31.csv` (sheet Labs):

* orphan subject: rows 1282-1290, Subject `01-099` (a Screening set, 2026-03-20, of a screen
  failure never entered in Demographics; always the last 9 rows).
* impossible date: row 685, Collection date `2026-02-30` (`01-011`, Week 24, Creatinine; the
  other rows of that set say `2026-02-03`).
* unknown test name: row 768, Test `Ferritin-X` (`01-013`, Baseline, after the set's Na row).
* exact duplicate row: row 583 repeats row 582 in every column (`01-010`, Week 1, Albumin).

Allowed messiness the pipeline must accept (one documented place each, among random ones):

* rows 110-118: `Unscheduled` set of `01-002` (an HBV flare between Week 4 and Week 8); row 110
  ALT `>1000`.
* row 191: ALT `<5` (`01-003`, visit `W12`).
* row 302: blank Result for `总胆红素` (bilirubin) with `Not done reason` = `Haemolysed` (`01-005`,
  Week 4).
* rows 2-10: `01-001` Screening from a referring hospital: `Total bilirubin` in `mg/dL`, `Albumin`
  in `g/dL`, `IU/L`, `sec`, `umol/L`, date `11-Mar-2025`; rows 20-28 Chinese test names and
  date `2025/4/8`; rows 29-37 visit `W4`, `ALT (GPT)`, `Alb`, date `01MAY2025`; rows 38-46 `Wk 8`.
* Demographics row 5: Date of birth partial `1971-07` (`01-004`); row 10 `UN-SEP-1972` (`01-009`);
  row 7: Consent date as the Excel serial number 45818 (`01-006`). Infusions row 8: Infusion date
  as the serial 45794 (`01-003`, infusion 1).
* Assessments rows 38-39: `Dialysis in past week` = `Y` (`01-006`, Screening and Baseline); the
  only `Y`s.
* `01-007` died (Date of death = End of study date = 2025-10-04); `01-008` withdrew after Week 8
  (End of study date 2025-09-10); `01-001` reached Week 48 (End of study date = that visit).

Subjects keep these roles for any `subjects` >= 13; with fewer, the planted errors still appear
(placed on subject index modulo `subjects`), some messiness may not. The exact rows above hold for
the default arguments only; `tests/test_sample_export.py` asserts them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.workbook import compute_frames_xlsx_bytes

SITE = "01"
ENROLMENT_START = pd.Timestamp("2025-03-01")
ENROLMENT_DAYS = 365
DATA_CUT = pd.Timestamp("2026-03-31")
EXPORT_STAMP = dt.datetime(2026, 3, 31, 0, 0, 0)
WORKBOOK_NAME = "site01_export_2026-03-31.xlsx"
LABS_CSV_NAME = "labs_2026-03-31.csv"
WORKBOOK_SHEETS = ["Demographics", "Infusions", "Assessments"]

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

# Planned visits in protocol order; `week` None is Screening (dated from screening, not dosing).
_VISIT_NAMES = ["Screening", "Baseline", "Week 1", "Week 4", "Week 8", "Week 12", "Week 24",
                "Week 48"]  # fmt: skip
_VISIT_WEEKS = [None, 0, 1, 4, 8, 12, 24, 48]
_UNSCHEDULED = len(_VISIT_NAMES)
_SCREENING, _BASELINE, _WEEK1, _WEEK4, _WEEK8, _WEEK12, _WEEK24, _WEEK48 = range(8)

# Roles of subjects by index; see the module docstring for what each one carries.
_FLARE, _LOW_ALT, _PARTIAL_DOB, _HAEMOLYSED, _DIALYSIS, _DEATH, _WITHDRAWN = 1, 2, 3, 4, 5, 6, 7
_UNKNOWN_DAY_DOB, _DUPLICATE, _IMPOSSIBLE_DATE, _UNKNOWN_TEST = 8, 9, 10, 12
_SERIAL_INFUSION = 2

# Lab tests in the order the site's lab system prints them.
_TESTS = ["ALT", "AST", "ALP", "BILI", "ALB", "PT", "INR", "CREAT", "SODIUM"]
_ALT, _AST, _ALP, _BILI, _ALB, _PT, _INR, _CREAT, _SODIUM = range(9)

# Lab "profiles": which system produced a visit's lab set decides the test names and units it
# uses. 0: hospital lab; 1: the same lab's Chinese LIS printout; 2: an older ASCII-only export;
# 3: a referring hospital reporting conventional units.
_PROFILE_P = [0.55, 0.2, 0.15, 0.1]
_TEST_NAMES = np.array([
    ["ALT", "AST", "ALP", "TBIL", "ALB", "PT", "INR", "Creatinine", "Na"],
    ["谷丙转氨酶", "谷草转氨酶", "碱性磷酸酶", "总胆红素", "白蛋白", "凝血酶原时间", "国际标准化比值",
     "肌酐", "钠"],
    ["ALT (GPT)", "AST (GOT)", "ALP", "Total bilirubin", "Alb", "PT", "INR", "Creatinine", "Na"],
    ["ALT", "AST", "ALP", "Total bilirubin", "Albumin", "Prothrombin time", "INR", "Creatinine",
     "Sodium"],
], dtype=object)  # fmt: skip
_UNITS = np.array([
    ["U/L", "U/L", "U/L", "µmol/L", "g/L", "s", None, "µmol/L", "mmol/L"],
    ["U/L", "U/L", "U/L", "µmol/L", "g/L", "s", None, "µmol/L", "mmol/L"],
    ["IU/L", "IU/L", "IU/L", "umol/L", "g/L", "sec", None, "umol/L", "mmol/L"],
    ["IU/L", "IU/L", "IU/L", "mg/dL", "g/dL", "sec", None, "umol/L", "mmol/L"],
], dtype=object)  # fmt: skip
_CONVENTIONAL = 3
# Reference ranges as the lab prints them, in the standard unit: (male low, male high, female
# low, female high). Conventional-unit profiles divide by the same factors the pipeline uses.
_RANGES = {
    _ALT: (9, 50, 7, 40), _AST: (15, 40, 13, 35), _ALP: (45, 125, 35, 100),
    _BILI: (3.4, 20.5, 3.4, 20.5), _ALB: (40, 55, 40, 55), _PT: (10.0, 13.5, 10.0, 13.5),
    _INR: (0.8, 1.2, 0.8, 1.2), _CREAT: (57, 111, 41, 81), _SODIUM: (137, 147, 137, 147),
}  # fmt: skip
_DECIMALS = [0, 0, 0, 1, 1, 1, 2, 0, 0]
_RANGE_DECIMALS = [0, 0, 0, 1, 0, 1, 1, 0, 0]
_CONVENTIONAL_FACTOR = {_BILI: (17.1, 2), _ALB: (10.0, 1)}  # divisor, decimals

# Date styles. Text styles 0-3 are what the site types; 4 becomes an Excel date cell, 5 an Excel
# serial number (a date cell that lost its format).
_ISO, _SLASH, _DMY, _DMONY, _CELL, _SERIAL = range(6)
_MONTHS = np.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec"], dtype=object)  # fmt: skip
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")

_SEX_SPELLINGS = {True: ["M", "Male", "男"], False: ["F", "Female", "女"]}
_ARM_SPELLINGS = [["Low dose", "LD", "Low"], ["Medium-high dose", "MHD", "High"]]
_ARM_DOSE = np.array([1, 3])
_AETIOLOGIES = ["HBV", "Alcohol", "HCV", "PBC", "Other"]
_INITIAL_LETTERS = np.array(list("ABCDFGHJKLMNPQRSTWXYZ"), dtype=object)
# Codes, names and words the SDTM outputs carry as values or names (domains, test codes, arms,
# units, yes/no, study terms); no subject's initials may equal one of them.
_RESERVED_INITIALS = frozenset(
    "AE CM CO DM DS EX LB MH RS SE SV TA TE TI TS TV VS "
    "ALB ALP ALT AST INR PT NA BIL CR TB "
    "LOW LD MHD ARM AGE SEX DAY DY DTC SEQ ORR STR TPT GRP CAT "
    "ML MG KG IU IV UL SEC CHN HAN UN NY NT ND NS QS "
    "SAS XPT ID MSC UC FL CPS".split()
)


def generate_sample_export(subjects: int = 22, seed: int = 20260301) -> dict[str, pd.DataFrame]:
    """The site's export as frames keyed by sheet name, with the site's own column headers.

    Pure and deterministic: the same (`subjects`, `seed`) gives identical frames. Row order is the
    order the site exports (by subject, then date). See the module docstring for what is planted.
    """
    if not isinstance(subjects, (int, np.integer)) or subjects < 1:
        raise ValueError(f"subjects must be a positive integer, got {subjects!r}")
    n = int(subjects)
    rng = np.random.default_rng(seed)
    people = _draw_subjects(rng, n)
    sets = _draw_lab_sets(rng, people, n)
    demographics = _build_demographics(rng, people, n)
    infusions = _build_infusions(rng, people, n)
    assessments = _build_assessments(rng, people, sets, n)
    labs = _build_labs(rng, people, sets, n)
    return {
        "Demographics": demographics,
        "Infusions": infusions,
        "Labs": labs,
        "Assessments": assessments,
    }


def write_sample_export(frames: dict[str, pd.DataFrame], output_dir: Path) -> list[Path]:
    """Write the frames as the site delivers them; returns the written paths (workbook, CSV).

    Demographics, Infusions and Assessments go into one xlsx workbook, Labs into a UTF-8 CSV. Cell
    types follow the Python types in the frames (see the module docstring). The same frames give
    byte-identical files.
    """
    missing = [s for s in [*WORKBOOK_SHEETS, "Labs"] if s not in frames]
    if missing:
        raise ValueError(
            f"frames is missing sheet(s) {missing}; "
            "pass the dict returned by generate_sample_export"
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    workbook_path = output_dir / WORKBOOK_NAME
    workbook_path.write_bytes(_workbook_bytes({s: frames[s] for s in WORKBOOK_SHEETS}))
    labs_path = output_dir / LABS_CSV_NAME
    # newline="" keeps "\n" line ends on every OS, so the file is byte-identical everywhere.
    with open(labs_path, "w", encoding="utf-8", newline="") as handle:
        frames["Labs"].to_csv(handle, index=False, lineterminator="\n")
    return [workbook_path, labs_path]


# --- subjects ---------------------------------------------------------------------------------


def _draw_subjects(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Subject-level facts and the planned visit and infusion calendars, as arrays.

    Index n is an extra, never-enrolled screen failure: it only ever appears in Labs (the orphan).
    """
    m = n + 1
    day = np.timedelta64(1, "D")
    consent_offset = np.sort(rng.integers(0, ENROLMENT_DAYS, m))
    consent = ENROLMENT_START.to_datetime64() + consent_offset * day
    screening = consent + rng.integers(0, 4, m) * day
    screen_to_dose = rng.integers(7, 22, m)
    first_dose = screening + screen_to_dose * day
    # Randomised 1-14 days before the first infusion, never before screening.
    rand_lead = 1 + np.floor(rng.random(m) * np.minimum(14, screen_to_dose)).astype(int)
    randomisation = first_dose - rand_lead * day
    # Baseline on, or up to 2 days before, the first infusion but not before randomisation.
    baseline = first_dose - np.minimum(rng.integers(0, 3, m), rand_lead) * day

    weeks = np.array([w for w in _VISIT_WEEKS if w], dtype=int)
    jitter = rng.integers(-2, 3, (m, len(weeks)))
    jitter[:, 0] = np.clip(jitter[:, 0], -1, 1)  # a week-1 visit is kept within a day of plan
    planned = np.empty((m, len(_VISIT_NAMES)), dtype="datetime64[ns]")
    planned[:, _SCREENING] = screening
    planned[:, _BASELINE] = baseline
    planned[:, _WEEK1:] = first_dose[:, None] + (7 * weeks[None, :] + jitter) * day

    male = rng.random(m) < 0.7
    arm = rng.permuted(np.tile([0, 0, 1, 1], (m // 4 + 1, 1)), axis=1).ravel()[:m]
    severity = rng.beta(2.0, 2.0, m)
    improve = rng.uniform(0.1, 0.45, m) + 0.05 * arm
    aetiology = rng.choice(len(_AETIOLOGIES), m, p=[0.5, 0.2, 0.1, 0.1, 0.1])
    people = {
        "consent": consent,
        "randomisation": randomisation,
        "first_dose": first_dose,
        "planned": planned,
        "male": male,
        "arm": arm,
        "severity": severity,
        "improve": improve,
        "aetiology": aetiology,
        "renal": rng.random(m),
        "alt_base": np.exp(rng.uniform(np.log(25), np.log(150), m)),
        "ast_ratio": rng.uniform(1.1, 1.9, m),
        "alp_base": np.exp(rng.uniform(np.log(70), np.log(250), m)),
        "age_years": rng.uniform(25.05, 75.95, m),
        "weight": np.round(np.clip(rng.normal(63.0, 9.0, m), 42.0, 95.0), 1),
        "infusion_count": rng.integers(1, 5, m),
        "infusion_gaps": rng.integers(7, 29, (m, 3)),
    }
    death_lag, withdraw_lag = rng.integers(10, 41), rng.integers(7, 21)

    if _FLARE < n:
        aetiology[_FLARE] = 0  # an HBV flare needs HBV
    if _LOW_ALT < n:
        aetiology[_LOW_ALT] = 1  # very low ALT reads plausibly in malnourished alcoholic cirrhosis
        people["alt_base"][_LOW_ALT] = 22.0
    if _DIALYSIS < n:
        severity[_DIALYSIS] = max(severity[_DIALYSIS], 0.85)
        people["renal"][_DIALYSIS] = 1.0
    if _DEATH < n:
        severity[_DEATH] = max(severity[_DEATH], 0.7)
        improve[_DEATH] = -0.6  # deteriorates until death

    # End of study: death or withdrawal for the two subjects with those roles, if the event falls
    # before the data cut; Week 48 for everyone who reached it.
    event = np.full(m, np.datetime64("NaT"), dtype="datetime64[ns]")
    death = np.full(m, np.datetime64("NaT"), dtype="datetime64[ns]")
    cut = DATA_CUT.to_datetime64()
    if _DEATH < n and planned[_DEATH, _WEEK12] + death_lag * day <= cut:
        event[_DEATH] = death[_DEATH] = planned[_DEATH, _WEEK12] + death_lag * day
    if _WITHDRAWN < n and planned[_WITHDRAWN, _WEEK8] + withdraw_lag * day <= cut:
        event[_WITHDRAWN] = planned[_WITHDRAWN, _WEEK8] + withdraw_lag * day
    horizon = np.where(np.isnat(event), cut, event - day)
    visit_done = planned <= horizon[:, None]
    end_of_study = event.copy()
    completed = np.isnat(event) & visit_done[:, _WEEK48]
    end_of_study[completed] = planned[completed, _WEEK48]
    visit_done[n, :] = False  # the screen failure was never dosed; its Screening is added later

    people.update(horizon=horizon, visit_done=visit_done, end_of_study=end_of_study, death=death)
    return people


def _build_demographics(rng: np.random.Generator, people: dict, n: int) -> pd.DataFrame:
    day = np.timedelta64(1, "D")
    consent = people["consent"][:n]
    male = people["male"][:n]
    arm = people["arm"][:n]
    dob = consent - np.floor(people["age_years"][:n] * 365.2425).astype(int) * day

    letters = rng.choice(_INITIAL_LETTERS, (n, 3))
    three = rng.random(n) < 0.7
    initials = _avoid_reserved(letters[:, 0] + letters[:, 1] + np.where(three, letters[:, 2], ""))
    # Cycling spellings within each sex guarantees all six appear once there are 3 of each.
    sex_rank = np.where(male, np.cumsum(male) - 1, np.cumsum(~male) - 1) % 3
    sex = np.array([_SEX_SPELLINGS[bool(k)][r] for k, r in zip(male, sex_rank)], dtype=object)
    arm_spelling = rng.integers(0, 3, n)
    arm_text = np.array([_ARM_SPELLINGS[a][s] for a, s in zip(arm, arm_spelling)], dtype=object)
    race = np.where(rng.random(n) < 0.4, "Asian", "Han").astype(object)
    ethnicity = np.where(rng.random(n) < 0.15, "Not Hispanic or Latino", None).astype(object)

    styles = _cell_date_styles(rng, (n, 5))
    if _PARTIAL_DOB < n:
        styles[_PARTIAL_DOB, 0] = _ISO
    if _DIALYSIS < n:
        styles[_DIALYSIS, 1] = _SERIAL  # Consent date of 01-006
    birth = _render_dates(dob, styles[:, 0])
    stamp = pd.DatetimeIndex(dob)
    if _PARTIAL_DOB < n:
        birth[_PARTIAL_DOB] = stamp[_PARTIAL_DOB].strftime("%Y-%m")
    if _UNKNOWN_DAY_DOB < n:
        born = stamp[_UNKNOWN_DAY_DOB]
        birth[_UNKNOWN_DAY_DOB] = f"UN-{_MONTHS[born.month - 1].upper()}-{born.year}"

    return pd.DataFrame(
        {
            "Site": np.full(n, SITE, dtype=object),
            "Subject": _subject_ids(n)[:n],
            "Initials": initials,
            "Date of birth": birth,
            "Sex": sex,
            "Race": race,
            "Ethnicity": ethnicity,
            "Consent date": _render_dates(consent, styles[:, 1]),
            "Randomisation date": _render_dates(people["randomisation"][:n], styles[:, 2]),
            "Arm": arm_text,
            "Weight (kg)": people["weight"][:n],
            "Aetiology": np.array(_AETIOLOGIES, dtype=object)[people["aetiology"][:n]],
            "Liver transplant": np.full(n, "N", dtype=object),
            "End of study date": _render_dates(people["end_of_study"][:n], styles[:, 3]),
            "Date of death": _render_dates(people["death"][:n], styles[:, 4]),
        },
        columns=DEMOGRAPHICS_COLUMNS,
    )


def _build_infusions(rng: np.random.Generator, people: dict, n: int) -> pd.DataFrame:
    day = np.timedelta64(1, "D")
    offsets = np.concatenate([np.zeros((n, 1), int), np.cumsum(people["infusion_gaps"][:n], 1)], 1)
    dates = people["first_dose"][:n, None] + offsets * day
    number = np.tile(np.arange(1, 5), (n, 1))
    given = (number <= people["infusion_count"][:n, None]) & (
        dates <= people["horizon"][:n, None]
    )
    given[:, 0] = True  # everyone in this sample was dosed at least once

    start = rng.integers(8 * 12, 11 * 12, (n, 4)) * 5  # minutes after midnight, 5-minute clock
    duration = rng.integers(4, 13, (n, 4)) * 5
    timed = rng.random((n, 4)) < 0.7
    body_weight = np.round(people["weight"][:n, None] + rng.normal(0.0, 0.6, (n, 4)), 1)
    route = np.where(rng.random((n, 4)) < 0.6, "IV", "Peripheral vein").astype(object)
    styles = _cell_date_styles(rng, (n, 4))
    if _SERIAL_INFUSION < n:
        styles[_SERIAL_INFUSION, 0] = _SERIAL

    dose = _ARM_DOSE[people["arm"][:n]][:, None].repeat(4, 1)
    rows = given.ravel()
    flat_dates = dates.ravel()[rows]
    return pd.DataFrame(
        {
            "Subject": _subject_ids(n)[:n].repeat(4)[rows],
            "Infusion number": number.ravel()[rows],
            "Infusion date": _render_dates(flat_dates, styles.ravel()[rows]),
            "Start time": np.where(timed, _clock(start), None).ravel()[rows],
            "End time": np.where(timed, _clock(start + duration), None).ravel()[rows],
            "Body weight (kg)": body_weight.ravel()[rows],
            "Dose (10^6 cells/kg)": dose.ravel()[rows],
            "Total cells (10^6)": np.round(dose * body_weight, 1).ravel()[rows],
            "Route": route.ravel()[rows],
            "Not given reason": np.full(rows.sum(), None, dtype=object),
        },
        columns=INFUSIONS_COLUMNS,
    )


# --- visits and labs --------------------------------------------------------------------------


def _draw_lab_sets(rng: np.random.Generator, people: dict, n: int) -> pd.DataFrame:
    """One row per (subject, visit) lab draw, in export order, with its state of disease."""
    m = n + 1
    day = np.timedelta64(1, "D")
    planned, done = people["planned"], people["visit_done"]
    nv = len(_VISIT_NAMES)
    grid = pd.DataFrame(
        {
            "subject": np.arange(m).repeat(nv),
            "visit": np.tile(np.arange(nv), m),
            "date": planned.ravel(),
            "profile": rng.choice(4, m * nv, p=_PROFILE_P),
            "date_style": rng.choice(4, m * nv, p=[0.7, 0.1, 0.1, 0.1]),
            "timed": rng.random(m * nv) < 0.75,
            "minute": rng.integers(7 * 12, 10 * 12, m * nv) * 5,
            "spelling": rng.choice(3, m * nv, p=[0.75, 0.15, 0.1]),
            "noise": rng.normal(0.0, 0.04, m * nv),
        }
    )
    done = done.ravel().copy()
    # Forced on subject 01-001 so every lab profile, date style and visit spelling appears.
    first = grid["subject"] == 0
    for visit, profile, style, spelling in [
        (_SCREENING, _CONVENTIONAL, _DMY, 0),
        (_BASELINE, 0, _ISO, 0),
        (_WEEK1, 1, _SLASH, 0),
        (_WEEK4, 2, _DMONY, 1),
        (_WEEK8, 0, _ISO, 2),
    ]:
        at = first & (grid["visit"] == visit)
        grid.loc[at, ["profile", "date_style", "spelling"]] = [profile, style, spelling]

    # The screen failure's only visit, late in the export window.
    orphan = (grid["subject"] == n) & (grid["visit"] == _SCREENING)
    grid.loc[orphan, ["date", "profile", "date_style"]] = [DATA_CUT - pd.Timedelta(days=11), 0, 0]
    done[orphan.to_numpy()] = True

    flare_lag = int(rng.integers(8, 15))
    extra = []
    if _FLARE < n:
        when = planned[_FLARE, _WEEK4] + flare_lag * day
        if done[_FLARE * nv + _WEEK4] and when <= people["horizon"][_FLARE]:
            row = grid.iloc[[_FLARE * nv + _WEEK4]].assign(visit=_UNSCHEDULED, date=when)
            extra.append(row.assign(profile=0, date_style=_ISO))
    sets = pd.concat([grid[done], *extra], ignore_index=True)
    sets = sets.sort_values(["subject", "date", "visit"], kind="stable").reset_index(drop=True)

    # Disease state at the draw: the subject's severity, easing with time since the first dose.
    subject = sets["subject"].to_numpy()
    since_dose = (sets["date"].to_numpy() - people["first_dose"][subject]) / day
    progress = np.clip(since_dose / 168.0, 0.0, 1.0)
    state = people["severity"][subject] * (1.0 - people["improve"][subject] * progress)
    sets["severity"] = np.clip(state + sets["noise"].to_numpy(), 0.02, 1.0)
    sets["progress"] = progress
    return sets


def _build_labs(rng: np.random.Generator, people: dict, sets: pd.DataFrame, n: int) -> pd.DataFrame:
    ns, nt = len(sets), len(_TESTS)
    subject = sets["subject"].to_numpy()
    sev = sets["severity"].to_numpy()
    progress = sets["progress"].to_numpy()
    z = rng.normal(0.0, 1.0, (ns, nt))

    value = np.empty((ns, nt))
    alt = people["alt_base"][subject] * (1 - 0.5 * people["improve"][subject] * progress)
    value[:, _ALT] = np.clip(alt * np.exp(0.15 * z[:, _ALT]), 20, 200)
    value[:, _AST] = np.clip(
        value[:, _ALT] * people["ast_ratio"][subject] * np.exp(0.1 * z[:, _AST]), 20, 200
    )
    value[:, _ALP] = np.clip(people["alp_base"][subject] * np.exp(0.1 * z[:, _ALP]), 60, 300)
    value[:, _BILI] = np.clip(30.0 * 10.0**sev * np.exp(0.08 * z[:, _BILI]), 30, 300)
    value[:, _ALB] = np.clip(38.0 - 16.0 * sev + z[:, _ALB], 22, 38)
    value[:, _INR] = np.clip(1.2 + 1.6 * sev + 0.06 * z[:, _INR], 1.2, 2.8)
    # PT follows INR through a typical thromboplastin ISI of 1.3 and mean normal PT of 11.5 s.
    value[:, _PT] = np.clip(11.5 * value[:, _INR] ** (1 / 1.3) + 0.3 * z[:, _PT], 12, 25)
    renal = people["renal"][subject]
    creat = (55.0 + 60.0 * renal + 80.0 * sev**2) * np.exp(0.08 * z[:, _CREAT])
    value[:, _CREAT] = np.clip(creat, 50, 200)
    value[:, _SODIUM] = np.clip(141.5 - 14.0 * sev + 1.2 * z[:, _SODIUM], 125, 142)
    flare = (sets["visit"] == _UNSCHEDULED).to_numpy()
    value[flare, _AST] = rng.uniform(500, 800)
    value[flare, _BILI] = np.minimum(value[flare, _BILI] * 1.6, 300)
    value[flare, _INR] = np.minimum(value[flare, _INR] + 0.3, 2.8)

    profile = sets["profile"].to_numpy()
    conventional = profile == _CONVENTIONAL
    male = people["male"][subject]
    result = np.empty((ns, nt), dtype=object)
    low = np.empty((ns, nt), dtype=object)
    high = np.empty((ns, nt), dtype=object)
    for t in range(nt):
        ranges = _RANGES[t]
        lo = np.where(male, ranges[0], ranges[2]).astype(float)
        hi = np.where(male, ranges[1], ranges[3]).astype(float)
        shown, decimals, range_decimals = value[:, t], np.full(ns, _DECIMALS[t]), _RANGE_DECIMALS[t]
        if t in _CONVENTIONAL_FACTOR:
            factor, conv_decimals = _CONVENTIONAL_FACTOR[t]
            shown = np.where(conventional, shown / factor, shown)
            lo = np.where(conventional, np.round(lo / factor, 1), lo)
            hi = np.where(conventional, np.round(hi / factor, 1), hi)
            decimals = np.where(conventional, conv_decimals, decimals)
            range_decimals = np.where(conventional, 1, range_decimals)
        result[:, t] = _fixed(shown, decimals)
        low[:, t] = _fixed(lo, range_decimals)
        high[:, t] = _fixed(hi, range_decimals)
    result[flare, _ALT] = ">1000"

    reason = np.full((ns, nt), None, dtype=object)
    visits = sets["visit"].to_numpy()
    low_alt = _pick_set(subject, visits, _LOW_ALT, _WEEK12, n, fallback_last=True)
    if low_alt is not None:
        result[low_alt, _ALT] = "<5"
    haemolysed = _pick_set(subject, visits, _HAEMOLYSED, _WEEK4, n, fallback_last=True)
    if haemolysed is not None:
        result[haemolysed, _BILI] = None
        reason[haemolysed, _BILI] = "Haemolysed"

    ids = _subject_ids(n)
    date_text = _render_dates(sets["date"].to_numpy(), sets["date_style"].to_numpy())
    time_text = np.where(sets["timed"], _clock(sets["minute"].to_numpy()), None)
    visit_text = _visit_labels(visits, sets["spelling"].to_numpy())
    labs = pd.DataFrame(
        {
            "Subject": ids[subject].repeat(nt),
            "Visit": visit_text.repeat(nt),
            "Collection date": date_text.repeat(nt),
            "Collection time": time_text.repeat(nt),
            "Test": _TEST_NAMES[profile[:, None], np.arange(nt)[None, :]].ravel(),
            "Result": result.ravel(),
            "Unit": _UNITS[profile[:, None], np.arange(nt)[None, :]].ravel(),
            "Normal low": low.ravel(),
            "Normal high": high.ravel(),
            "Not done reason": reason.ravel(),
        },
        columns=LABS_COLUMNS,
    )
    labs["_order"] = np.arange(ns * nt, dtype=float)
    labs = _plant_lab_errors(labs, subject, visits, sets["date"].to_numpy(), n)
    return labs.astype("str")


def _plant_lab_errors(
    labs: pd.DataFrame, subject: np.ndarray, visits: np.ndarray, dates: np.ndarray, n: int
) -> pd.DataFrame:
    """Duplicate row, unknown test and impossible date (the orphan is already the last set)."""
    nt = len(_TESTS)
    dup_set = _pick_set(subject, visits, _DUPLICATE % n, _WEEK1, n, fallback_last=False)
    duplicate = labs.iloc[[dup_set * nt + _ALB]].assign(_order=lambda f: f["_order"] + 0.5)

    unknown_set = _pick_set(subject, visits, _UNKNOWN_TEST % n, _BASELINE, n, fallback_last=False)
    unknown = labs.iloc[[unknown_set * nt + nt - 1]].assign(
        Test="Ferritin-X",
        Result="850",
        Unit="ng/mL",
        **{"Normal low": "30", "Normal high": "400", "Not done reason": None},
        _order=lambda f: f["_order"] + 0.5,
    )

    # A day past the end of the month, in a month short enough to make it look like a typo.
    not_duplicated = np.arange(len(subject)) != dup_set
    candidates = np.flatnonzero((subject == _IMPOSSIBLE_DATE % n) & not_duplicated)
    if len(candidates) == 0:
        candidates = np.flatnonzero(not_duplicated)
    stamp = pd.DatetimeIndex(dates[candidates])
    month_days = stamp.days_in_month.to_numpy()
    preference = np.select([stamp.month == 2, month_days == 30], [0, 1], 2)
    chosen = candidates[np.argmin(preference)]  # argmin keeps the earliest among equals
    when = pd.Timestamp(dates[chosen])
    impossible_day = 30 if when.month == 2 else when.days_in_month + 1
    labs.iloc[chosen * nt + _CREAT, labs.columns.get_loc("Collection date")] = (
        f"{when.year}-{when.month:02d}-{impossible_day:02d}"
    )

    out = pd.concat([labs, duplicate, unknown], ignore_index=True)
    out = out.sort_values("_order", kind="stable").drop(columns="_order")
    return out.reset_index(drop=True)


def _pick_set(
    subject: np.ndarray, visits: np.ndarray, who: int, visit: int, n: int, *, fallback_last: bool
) -> int | None:
    """Position of `who`'s lab set at `visit`, else its last (or first) set; None if it has none."""
    own = np.flatnonzero(subject == who)
    if who >= n or len(own) == 0:
        return None
    exact = own[visits[own] == visit]
    if len(exact):
        return int(exact[0])
    return int(own[-1] if fallback_last else own[0])


def _build_assessments(
    rng: np.random.Generator, people: dict, sets: pd.DataFrame, n: int
) -> pd.DataFrame:
    planned = sets[(sets["subject"] < n) & (sets["visit"] != _UNSCHEDULED)].reset_index(drop=True)
    na = len(planned)
    sev = np.clip(planned["severity"].to_numpy() + rng.normal(0.0, 0.05, na), 0.0, 1.0)
    subject, visits = planned["subject"].to_numpy(), planned["visit"].to_numpy()

    ascites_band = np.digitize(sev, [0.3, 0.55, 0.8])
    slight = np.where(rng.random(na) < 0.5, "Slight", "Mild")
    ascites = np.select(
        [ascites_band == 0, ascites_band == 1, ascites_band == 2], ["None", slight, "Moderate"],
        "Severe",
    ).astype(object)  # fmt: skip
    enceph_band = np.digitize(sev, [0.6, 0.88])
    grade1 = np.where(rng.random(na) < 0.5, "Grade 1", "Grade 1-2")
    enceph = np.select([enceph_band == 0, enceph_band == 1], ["None", grade1], "Grade 3-4")
    enceph = enceph.astype(object)
    if _DEATH < n and (subject == _DEATH).any():
        last = np.flatnonzero(subject == _DEATH)[-1]
        ascites[last], enceph[last] = "Severe", "Grade 3-4"
    dialysis = np.full(na, "N", dtype=object)
    dialysis[(subject == _DIALYSIS) & np.isin(visits, [_SCREENING, _BASELINE])] = "Y"

    spelling = rng.choice(3, na, p=[0.85, 0.1, 0.05])
    styles = _cell_date_styles(rng, na)
    return pd.DataFrame(
        {
            "Subject": _subject_ids(n)[subject],
            "Visit": _visit_labels(visits, spelling),
            "Assessment date": _render_dates(planned["date"].to_numpy(), styles),
            "Ascites": ascites,
            "Encephalopathy": enceph,
            "Dialysis in past week": dialysis,
        },
        columns=ASSESSMENTS_COLUMNS,
    )


# --- rendering --------------------------------------------------------------------------------


def _subject_ids(n: int) -> np.ndarray:
    """Text ids `01-001` ... for the n subjects, then the orphan screen failure's id."""
    width = max(3, len(str(n)))
    orphan = 99 if n < 99 else 10**width - 1
    if orphan <= n:
        width, orphan = width + 1, 10 ** (width + 1) - 1
    numbers = np.append(np.arange(1, n + 1), orphan).astype(str)
    return np.char.add(f"{SITE}-", np.char.zfill(numbers, width)).astype(object)


def _avoid_reserved(initials: np.ndarray) -> np.ndarray:
    """Initials that cannot be mistaken for a code the outputs legitimately carry.

    Privacy checks look for the initials in every output; `ALT` or `LB` as someone's initials
    would make such a check fail on the lab test code or the domain name instead.
    """
    out = initials.copy()
    pool = "".join(_INITIAL_LETTERS)
    for i, text in enumerate(out):
        while text in _RESERVED_INITIALS:
            text = text[:-1] + pool[(pool.index(text[-1]) + 1) % len(pool)]
        out[i] = text
    return out


def _visit_labels(visits: np.ndarray, spelling: np.ndarray) -> np.ndarray:
    """Visit names as the site spells them: `Week 4`, `W4` or `Wk 4` by spelling 0, 1, 2."""
    spelled = np.array(
        [[name if week is None or week == 0 else (name, f"W{week}", f"Wk {week}")[s]
          for s in range(3)] for name, week in zip(_VISIT_NAMES, _VISIT_WEEKS)]
        + [["Unscheduled"] * 3],
        dtype=object,
    )  # fmt: skip
    return spelled[visits, spelling]


def _cell_date_styles(rng: np.random.Generator, shape) -> np.ndarray:
    """Workbook date cells: mostly real date cells, the rest text in the site's styles."""
    return rng.choice([_CELL, _ISO, _SLASH, _DMY, _DMONY], shape, p=[0.7, 0.12, 0.06, 0.06, 0.06])


def _render_dates(dates: np.ndarray, styles: np.ndarray) -> np.ndarray:
    """Each date as the cell value its style asks for; NaT gives None (a blank cell)."""
    index = pd.DatetimeIndex(dates)
    styles = np.broadcast_to(np.asarray(styles), (len(index),))
    missing = index.isna()
    filled = index.fillna(ENROLMENT_START)
    year = filled.year.to_numpy().astype(str).astype(object)
    month = filled.month.to_numpy()
    day = filled.day.to_numpy().astype(str).astype(object)
    day2 = np.char.zfill(day.astype(str), 2).astype(object)
    mon = _MONTHS[month - 1]
    iso = np.asarray(filled.strftime("%Y-%m-%d"), dtype=object)
    slash = year + "/" + month.astype(str).astype(object) + "/" + day
    dmy = day2 + "-" + mon + "-" + year
    dmony = day2 + np.char.upper(mon.astype(str)).astype(object) + year
    cell = np.asarray(filled.date, dtype=object)
    serial = np.empty(len(index), dtype=object)
    serial[:] = list((filled - _EXCEL_EPOCH).days)
    out = np.select(
        [styles == _ISO, styles == _SLASH, styles == _DMY, styles == _DMONY, styles == _CELL],
        [iso, slash, dmy, dmony, cell],
        serial,
    ).astype(object)
    out[missing] = None
    return out


def _clock(minutes: np.ndarray) -> np.ndarray:
    """Minutes after midnight as `HH:MM` text."""
    minutes = np.asarray(minutes)
    hours = np.char.zfill((minutes // 60).astype(str), 2)
    mins = np.char.zfill((minutes % 60).astype(str), 2)
    return np.char.add(np.char.add(hours, ":"), mins).astype(object)


def _fixed(values: np.ndarray, decimals) -> np.ndarray:
    """Numbers as fixed-decimal text, the way a lab system prints them."""
    decimals = np.broadcast_to(np.asarray(decimals), values.shape)
    out = np.empty(values.shape, dtype=object)
    for d in np.unique(decimals):
        at = decimals == d
        # Format each distinct printed value once: a million results hold only a few thousand.
        printed, where = np.unique(np.round(values[at], d), return_inverse=True)
        out[at] = np.char.mod(f"%.{d}f", printed).astype(object)[where]
    return out


# --- workbook ---------------------------------------------------------------------------------


def _workbook_bytes(frames: dict[str, pd.DataFrame]) -> bytes:
    """An xlsx whose bytes depend only on the frames (fixed properties and zip timestamps)."""
    return compute_frames_xlsx_bytes(frames, EXPORT_STAMP, creator=f"Site {SITE}")
