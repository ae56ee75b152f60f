"""A deterministic, realistic site export in the first bundled study's shape, with planted errors.

The bundled sample study (`mappings/ucmsc-esld/sample_export/`), the end-to-end tests and the
benchmarks all run on this generator, so it follows `docs/raw-data-contract.md` exactly: the site's
own sheet names and column headers, and every kind of messiness the contract allows (date styles,
unit and test-name variants, `<5` / `>1000` results, a not-done result, an unscheduled visit). On
top of that it plants a few errors the pipeline must turn into findings.

The shape is a liver-disease trial: a subjects sheet, an exposure sheet of one administration per
row (1-4 each, the dose the arm's), a findings CSV of lab sets at each visit moved by a simulated
disease severity, and an assessments sheet of graded answers at each visit. Every name and every
value a site writes comes from the study folder: the sheets (sheets.csv, by role), their headers
(raw_columns.csv), the visits (visits.csv), the arms and doses (study.toml) and the rest, down to
the planted errors, from its `sample.toml`, which also documents the rows of the bundled sample.
`sdtmflow sample --study DIR` (transforms/samples/sample_study.py) is the generator for a study of any
other shape.

`read_sample_spec` reads the folder; `generate_sample_export` is pure; `write_sample_export` is the
only I/O. Excel cell typing is decided here, as data: in the workbook's frames a `datetime.date` is
meant to become a real Excel date cell, an `int` in a date column an Excel serial number stored as
a number, and a `str` text exactly as the site typed it. The findings frame is all text (it is
written as CSV).
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.spec.study import ASSESSMENTS, DEFAULT_STUDY_DIR, EXPOSURE, FINDINGS, SUBJECTS, read_study
from transforms.ingest.workbook import compute_frames_xlsx_bytes

SAMPLE_FILE = "sample.toml"
# Positions in visits.csv the shape relies on: the one visit before dosing, then the week-0 visit,
# then the visits weeks after the first dose.
_SCREENING, _BASELINE, _FIRST_WEEK = 0, 1, 2

# How the simulated disease moves each lab test (sample.toml [[labs.tests]] model).
MODELS = (
    "hepatocellular", "hepatocellular_ratio", "cholestatic", "excretory", "synthetic",
    "coagulation_ratio", "coagulation_time", "renal", "electrolyte",
)  # fmt: skip

# Date styles. Text styles 0-3 are what the site types; 4 becomes an Excel date cell, 5 an Excel
# serial number (a date cell that lost its format).
_ISO, _SLASH, _DMY, _DMONY, _CELL, _SERIAL = range(6)
_MONTHS = np.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec"], dtype=object)  # fmt: skip
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


@dataclass(frozen=True)
class SampleSpec:
    """What the generator reads from a study folder, checked once."""

    directory: Path
    settings: dict  # sample.toml
    sheets: dict[str, str]  # role -> the sheet's name (its first name in sheets.csv)
    headers: dict[str, dict[str, str]]  # role -> {column: header}, in raw_columns.csv order
    visits: list[str]  # visits.csv VISIT, in order
    weeks: list[int | None]  # weeks after the first dose; None before dosing
    arm_doses: np.ndarray  # study.toml [[arms]] dose, in order

    @property
    def site(self) -> str:
        return str(self.settings["export"]["site"])

    @property
    def enrolment_start(self) -> pd.Timestamp:
        return pd.Timestamp(self.settings["export"]["enrolment_start"])

    @property
    def data_cut(self) -> pd.Timestamp:
        return pd.Timestamp(self.settings["export"]["data_cut"])

    @property
    def workbook_name(self) -> str:
        return self.settings["export"]["workbook"]

    @property
    def csv_name(self) -> str:
        return self.settings["export"]["csv"]

    @property
    def workbook_sheets(self) -> list[str]:
        """The sheets written into the workbook, in sheets.csv order: all but the findings."""
        return [name for role, name in self.sheets.items() if role != FINDINGS]

    @property
    def tests(self) -> list[dict]:
        return self.settings["labs"]["tests"]

    def visit(self, name: str) -> int:
        return self.visits.index(name)

    def test(self, code: str) -> int:
        return [t["LBTESTCD"] for t in self.tests].index(code)

    def model(self, name: str) -> int:
        return [t["model"] for t in self.tests].index(name)

    def role(self, name: str) -> int:
        """The subject index (0-based) of a sample.toml [roles] role."""
        return int(self.settings["roles"][name]) - 1


def read_sample_spec(study_dir: Path = DEFAULT_STUDY_DIR) -> SampleSpec:
    """The study's sheets, headers, visits and arms, and its sample.toml; a folder the shape does
    not fit is a ValueError saying what to change. Read once per folder: the tests and the fuzzing
    generate hundreds of exports from the same one."""
    return _read_sample_spec(Path(study_dir).resolve())


@functools.lru_cache(maxsize=8)
def _read_sample_spec(study_dir: Path) -> SampleSpec:
    path = study_dir / SAMPLE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: this generator writes the first bundled study's shape of export "
            "from its sample.toml; for any other study use `sdtmflow sample --study DIR`"
        )
    with path.open("rb") as handle:
        settings = tomllib.load(handle)
    study = read_study(study_dir)
    sheets = {study.role_of(sheet): study.label_of(sheet) for sheet in study.sheets["sheet"]}
    headers = {study.role_of(sheet): study.headers_of(sheet) for sheet in study.sheets["sheet"]}
    missing = [role for role in (SUBJECTS, EXPOSURE, FINDINGS, ASSESSMENTS) if role not in sheets]
    day = study.visits["VISITDY"]
    weeks = [None if pd.isna(d) else (int(d) - 1) // 7 for d in day]
    shape = (
        len(weeks) >= 3 and weeks[_SCREENING] is None and weeks[_BASELINE] == 0
        and all(w is not None and w > 0 for w in weeks[_FIRST_WEEK:])
        and all(pd.isna(d) or (int(d) - 1) % 7 == 0 for d in day)
    )  # fmt: skip
    lab_codes = list(study.lab_tests["LBTESTCD"])
    problems = [f"sheets.csv: no sheet with role {role!r}" for role in missing]
    if not shape:
        problems.append(
            "visits.csv: the sample needs one visit before dosing (blank VISITDY), then the first "
            "dose's visit (VISITDY 1), then visits whole weeks after it (VISITDY 1 + 7 x week)"
        )
    if [t["LBTESTCD"] for t in settings["labs"]["tests"]] != lab_codes:
        problems.append(f"{SAMPLE_FILE} [[labs.tests]]: give one per lab_tests.csv test, in its order {lab_codes}")
    if sorted(t["model"] for t in settings["labs"]["tests"]) != sorted(MODELS):
        problems.append(f"{SAMPLE_FILE} [[labs.tests]] model: use each of {', '.join(MODELS)} once")
    if len(settings["subjects"]["arm_spellings"]) != len(study.arms):
        problems.append(f"{SAMPLE_FILE} [subjects] arm_spellings: one list per study.toml arm")
    if len({len(s) for s in settings["subjects"]["arm_spellings"]}) > 1:
        problems.append(f"{SAMPLE_FILE} [subjects] arm_spellings: give every arm as many spellings")
    messiness, planted = settings["messiness"], settings["planted"]
    named_visits = {
        f"[messiness] {k}": messiness[k] for k in ("flare_after", "below_at", "not_done_at", "death_after", "withdrawn_after")
    } | {f"[planted] {k}": planted[k] for k in ("duplicate_at", "unknown_at")}
    named_visits |= {f"[messiness] first_subject #{i}": row[0] for i, row in enumerate(messiness["first_subject"], 1)}
    named_visits |= {f"[assessments.flag] yes_at #{i}": v for i, v in enumerate(settings["assessments"]["flag"]["yes_at"], 1)}
    problems += [f"{SAMPLE_FILE} {where}: {name!r} is not a visits.csv VISIT"
                 for where, name in named_visits.items() if name not in set(study.visits["VISIT"])]  # fmt: skip
    named_tests = {f"[messiness] {k}": messiness[k] for k in ("flare_above", "below_test", "not_done_test")}
    named_tests |= {f"[planted] {k}": planted[k] for k in ("duplicate_test", "impossible_test")}
    problems += [f"{SAMPLE_FILE} {where}: {code!r} is not a lab_tests.csv LBTESTCD"
                 for where, code in named_tests.items() if code not in lab_codes]  # fmt: skip
    for role, sheet in ((study.role_of(s), s) for s in study.sheets["sheet"]):
        mapped = [*settings["columns"].get(role, {}).values(), *settings["columns"].get(f"{role}_constant", {})]
        unknown = [c for c in mapped if c not in study.headers_of(sheet)]
        if unknown:
            problems.append(f"{SAMPLE_FILE} [columns.{role}]: {unknown} are not raw_columns.csv columns of sheet {sheet!r}")
    if problems:
        raise ValueError(f"{study_dir}: cannot write this study's sample export:\n" + "\n".join(
            f"  - {p}" for p in problems))
    return SampleSpec(
        directory=study_dir, settings=settings, sheets=sheets, headers=headers,
        visits=list(study.visits["VISIT"]), weeks=weeks,
        arm_doses=study.arms["dose"].to_numpy(),
    )  # fmt: skip


def generate_sample_export(
    subjects: int = 22, seed: int = 20260301, spec: SampleSpec | None = None
) -> dict[str, pd.DataFrame]:
    """The site's export as frames keyed by sheet name, with the site's own column headers.

    Pure and deterministic: the same (`subjects`, `seed`, spec) gives identical frames. Row order
    is the order the site exports (by subject, then date). `spec` defaults to the first bundled
    study's; its sample.toml documents what is planted.
    """
    if not isinstance(subjects, (int, np.integer)) or subjects < 1:
        raise ValueError(f"subjects must be a positive integer, got {subjects!r}")
    spec = spec or read_sample_spec()
    n = int(subjects)
    rng = np.random.default_rng(seed)
    people = _draw_subjects(rng, spec, n)
    sets = _draw_lab_sets(rng, spec, people, n)
    # Built in this order (it is the order of the random draws), returned in sheets.csv order.
    frames = {SUBJECTS: _build_subjects(rng, spec, people, n), EXPOSURE: _build_exposure(rng, spec, people, n)}
    frames[ASSESSMENTS] = _build_assessments(rng, spec, people, sets, n)
    frames[FINDINGS] = _build_labs(rng, spec, people, sets, n)
    return {spec.sheets[role]: _as_site_sheet(frames[role], spec, role) for role in spec.sheets}


def write_sample_export(
    frames: dict[str, pd.DataFrame], output_dir: Path, spec: SampleSpec | None = None
) -> list[Path]:
    """Write the frames as the site delivers them; returns the written paths (workbook, CSV).

    The findings sheet goes into a UTF-8 CSV, the others into one xlsx workbook. Cell types follow
    the Python types in the frames (see the module docstring). The same frames give
    byte-identical files.
    """
    spec = spec or read_sample_spec()
    findings = spec.sheets[FINDINGS]
    missing = [s for s in [*spec.workbook_sheets, findings] if s not in frames]
    if missing:
        raise ValueError(
            f"frames is missing sheet(s) {missing}; "
            "pass the dict returned by generate_sample_export"
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    workbook_path = output_dir / spec.workbook_name
    stamp = dt.datetime.combine(spec.data_cut.date(), dt.time())
    workbook = {s: frames[s] for s in spec.workbook_sheets}
    # Fixed properties and zip timestamps: the bytes depend only on the frames.
    workbook_path.write_bytes(
        compute_frames_xlsx_bytes(workbook, stamp, creator=spec.settings["export"]["creator"])
    )
    csv_path = output_dir / spec.csv_name
    # newline="" keeps "\n" line ends on every OS, so the file is byte-identical everywhere.
    with open(csv_path, "w", encoding="utf-8", newline="") as handle:
        frames[findings].to_csv(handle, index=False, lineterminator="\n")
    return [workbook_path, csv_path]


def _as_site_sheet(frame: pd.DataFrame, spec: SampleSpec, role: str) -> pd.DataFrame:
    """The generated quantities in the raw columns sample.toml [columns.<role>] puts them in,
    plus its constant answers, under the study's headers in raw_columns.csv order; a raw column
    the shape does not generate is blank."""
    columns = spec.settings["columns"]
    out = frame.rename(columns=columns[role])
    out = out.assign(**{c: np.full(len(out), v, dtype=object) for c, v in columns.get(f"{role}_constant", {}).items()})
    headers = spec.headers[role]
    return out.reindex(columns=list(headers)).rename(columns=headers)


# --- subjects ---------------------------------------------------------------------------------


def _draw_subjects(rng: np.random.Generator, spec: SampleSpec, n: int) -> dict[str, np.ndarray]:
    """Subject-level facts and the planned visit and dosing calendars, as arrays.

    Index n is an extra, never-enrolled screen failure: it only ever appears in the findings (the
    orphan).
    """
    m = n + 1
    day = np.timedelta64(1, "D")
    consent_offset = np.sort(rng.integers(0, int(spec.settings["export"]["enrolment_days"]), m))
    consent = spec.enrolment_start.to_datetime64() + consent_offset * day
    screening = consent + rng.integers(0, 4, m) * day
    screen_to_dose = rng.integers(7, 22, m)
    first_dose = screening + screen_to_dose * day
    # Randomised 1-14 days before the first dose, never before screening.
    rand_lead = 1 + np.floor(rng.random(m) * np.minimum(14, screen_to_dose)).astype(int)
    randomisation = first_dose - rand_lead * day
    # Baseline on, or up to 2 days before, the first dose but not before randomisation.
    baseline = first_dose - np.minimum(rng.integers(0, 3, m), rand_lead) * day

    weeks = np.array(spec.weeks[_FIRST_WEEK:], dtype=int)
    jitter = rng.integers(-2, 3, (m, len(weeks)))
    jitter[:, 0] = np.clip(jitter[:, 0], -1, 1)  # the first weekly visit is kept within a day of plan
    planned = np.empty((m, len(spec.visits)), dtype="datetime64[ns]")
    planned[:, _SCREENING] = screening
    planned[:, _BASELINE] = baseline
    planned[:, _FIRST_WEEK:] = first_dose[:, None] + (7 * weeks[None, :] + jitter) * day

    subjects = spec.settings["subjects"]
    male = rng.random(m) < subjects["male_p"]
    # Arms in blocks of two subjects per arm.
    block = np.repeat(np.arange(len(spec.arm_doses)), 2)
    arm = rng.permuted(np.tile(block, (m // len(block) + 1, 1)), axis=1).ravel()[:m]
    severity = rng.beta(2.0, 2.0, m)
    improve = rng.uniform(0.1, 0.45, m) + 0.05 * arm
    diagnosis = rng.choice(len(subjects["diagnosis"]), m, p=subjects["diagnosis_p"])
    people = {
        "consent": consent,
        "randomisation": randomisation,
        "first_dose": first_dose,
        "planned": planned,
        "male": male,
        "arm": arm,
        "severity": severity,
        "improve": improve,
        "diagnosis": diagnosis,
        "renal": rng.random(m),
        "hepatocellular_base": np.exp(rng.uniform(np.log(25), np.log(150), m)),
        "hepatocellular_ratio": rng.uniform(1.1, 1.9, m),
        "cholestatic_base": np.exp(rng.uniform(np.log(70), np.log(250), m)),
        "age_years": rng.uniform(25.05, 75.95, m),
        "weight": np.round(np.clip(rng.normal(63.0, 9.0, m), 42.0, 95.0), 1),
        "dose_count": rng.integers(1, 5, m),
        "dose_gaps": rng.integers(7, 29, (m, 3)),
    }
    death_lag, withdraw_lag = rng.integers(10, 41), rng.integers(7, 21)

    flare, below, renal_failure = spec.role("flare"), spec.role("below_range"), spec.role("renal_failure")
    death, withdrawn = spec.role("death"), spec.role("withdrawn")
    if flare < n:
        diagnosis[flare] = 0  # a viral flare needs the viral diagnosis (sample.toml lists it first)
    if below < n:
        diagnosis[below] = 1  # a very low enzyme level reads plausibly with the second diagnosis
        people["hepatocellular_base"][below] = float(spec.settings["messiness"]["below_base"])
    if renal_failure < n:
        severity[renal_failure] = max(severity[renal_failure], 0.85)
        people["renal"][renal_failure] = 1.0
    if death < n:
        severity[death] = max(severity[death], 0.7)
        improve[death] = -0.6  # deteriorates until death

    # End of study: death or withdrawal for the two subjects with those roles, if the event falls
    # before the data cut; the last visit for everyone who reached it.
    messiness = spec.settings["messiness"]
    event = np.full(m, np.datetime64("NaT"), dtype="datetime64[ns]")
    died = np.full(m, np.datetime64("NaT"), dtype="datetime64[ns]")
    cut = spec.data_cut.to_datetime64()
    death_after, withdrawn_after = spec.visit(messiness["death_after"]), spec.visit(messiness["withdrawn_after"])
    if death < n and planned[death, death_after] + death_lag * day <= cut:
        event[death] = died[death] = planned[death, death_after] + death_lag * day
    if withdrawn < n and planned[withdrawn, withdrawn_after] + withdraw_lag * day <= cut:
        event[withdrawn] = planned[withdrawn, withdrawn_after] + withdraw_lag * day
    horizon = np.where(np.isnat(event), cut, event - day)
    visit_done = planned <= horizon[:, None]
    end_of_study = event.copy()
    completed = np.isnat(event) & visit_done[:, -1]
    end_of_study[completed] = planned[completed, -1]
    visit_done[n, :] = False  # the screen failure was never dosed; its screening is added later

    people.update(horizon=horizon, visit_done=visit_done, end_of_study=end_of_study, death=died)
    return people


def _build_subjects(rng: np.random.Generator, spec: SampleSpec, people: dict, n: int) -> pd.DataFrame:
    day = np.timedelta64(1, "D")
    words = spec.settings["subjects"]
    consent = people["consent"][:n]
    male = people["male"][:n]
    arm = people["arm"][:n]
    dob = consent - np.floor(people["age_years"][:n] * 365.2425).astype(int) * day

    letters = rng.choice(np.array(list(words["initial_letters"]), dtype=object), (n, 3))
    three = rng.random(n) < 0.7
    initials = _avoid_reserved(
        letters[:, 0] + letters[:, 1] + np.where(three, letters[:, 2], ""),
        words["initial_letters"], frozenset(words["reserved_initials"].split()),
    )
    # Cycling spellings within each sex guarantees all appear once there are enough of each.
    sex_spellings = np.array(words["sex"], dtype=object)  # [male, female] x spellings
    sex_rank = np.where(male, np.cumsum(male) - 1, np.cumsum(~male) - 1) % sex_spellings.shape[1]
    sex = sex_spellings[(~male).astype(int), sex_rank]
    arm_spellings = np.array(words["arm_spellings"], dtype=object)
    arm_text = arm_spellings[arm, rng.integers(0, arm_spellings.shape[1], n)]
    race_first, race_other = words["race"]
    race = np.where(rng.random(n) < words["race_first_p"], race_first, race_other).astype(object)
    ethnicity = np.where(rng.random(n) < words["ethnicity_p"], words["ethnicity"], None).astype(object)

    partial, unknown_day, serial = (
        spec.role("partial_birth_date"), spec.role("unknown_birth_day"), spec.role("serial_consent_date")
    )
    styles = _cell_date_styles(rng, (n, 5))
    if partial < n:
        styles[partial, 0] = _ISO
    if serial < n:
        styles[serial, 1] = _SERIAL  # the consent date
    birth = _render_dates(dob, styles[:, 0], spec)
    stamp = pd.DatetimeIndex(dob)
    if partial < n:
        birth[partial] = stamp[partial].strftime("%Y-%m")
    if unknown_day < n:
        born = stamp[unknown_day]
        birth[unknown_day] = f"UN-{_MONTHS[born.month - 1].upper()}-{born.year}"

    return pd.DataFrame(
        {
            "site": np.full(n, spec.site, dtype=object),
            "subject": _subject_ids(n, spec.site)[:n],
            "initials": initials,
            "birth_date": birth,
            "sex": sex,
            "race": race,
            "ethnicity": ethnicity,
            "consent_date": _render_dates(consent, styles[:, 1], spec),
            "randomisation_date": _render_dates(people["randomisation"][:n], styles[:, 2], spec),
            "arm": arm_text,
            "weight": people["weight"][:n],
            "diagnosis": np.array(words["diagnosis"], dtype=object)[people["diagnosis"][:n]],
            "end_of_study_date": _render_dates(people["end_of_study"][:n], styles[:, 3], spec),
            "death_date": _render_dates(people["death"][:n], styles[:, 4], spec),
        }
    )


def _build_exposure(rng: np.random.Generator, spec: SampleSpec, people: dict, n: int) -> pd.DataFrame:
    """One row per administration: 1-4 per subject, 7-28 days apart, the arm's dose."""
    day = np.timedelta64(1, "D")
    offsets = np.concatenate([np.zeros((n, 1), int), np.cumsum(people["dose_gaps"][:n], 1)], 1)
    dates = people["first_dose"][:n, None] + offsets * day
    number = np.tile(np.arange(1, 5), (n, 1))
    given = (number <= people["dose_count"][:n, None]) & (
        dates <= people["horizon"][:n, None]
    )
    given[:, 0] = True  # everyone in this sample was dosed at least once

    start = rng.integers(8 * 12, 11 * 12, (n, 4)) * 5  # minutes after midnight, 5-minute clock
    duration = rng.integers(4, 13, (n, 4)) * 5
    timed = rng.random((n, 4)) < 0.7
    body_weight = np.round(people["weight"][:n, None] + rng.normal(0.0, 0.6, (n, 4)), 1)
    words = spec.settings["exposure"]
    route_first, route_other = words["route"]
    route = np.where(rng.random((n, 4)) < words["route_first_p"], route_first, route_other).astype(object)
    styles = _cell_date_styles(rng, (n, 4))
    serial = spec.role("serial_dose_date")
    if serial < n:
        styles[serial, 0] = _SERIAL

    dose = spec.arm_doses[people["arm"][:n]][:, None].repeat(4, 1)
    rows = given.ravel()
    flat_dates = dates.ravel()[rows]
    return pd.DataFrame(
        {
            "subject": _subject_ids(n, spec.site)[:n].repeat(4)[rows],
            "number": number.ravel()[rows],
            "date": _render_dates(flat_dates, styles.ravel()[rows], spec),
            "start_time": np.where(timed, _clock(start), None).ravel()[rows],
            "end_time": np.where(timed, _clock(start + duration), None).ravel()[rows],
            "body_weight": body_weight.ravel()[rows],
            "dose": dose.ravel()[rows],
            "total_dose": np.round(dose * body_weight, 1).ravel()[rows],
            "route": route.ravel()[rows],
            "not_given_reason": np.full(rows.sum(), None, dtype=object),
        }
    )


# --- visits and labs --------------------------------------------------------------------------


def _draw_lab_sets(rng: np.random.Generator, spec: SampleSpec, people: dict, n: int) -> pd.DataFrame:
    """One row per (subject, visit) lab draw, in export order, with its state of disease."""
    m = n + 1
    day = np.timedelta64(1, "D")
    planned, done = people["planned"], people["visit_done"]
    nv = len(spec.visits)
    labs = spec.settings["labs"]
    grid = pd.DataFrame(
        {
            "subject": np.arange(m).repeat(nv),
            "visit": np.tile(np.arange(nv), m),
            "date": planned.ravel(),
            "profile": rng.choice(len(labs["profile_p"]), m * nv, p=labs["profile_p"]),
            "date_style": rng.choice(4, m * nv, p=[0.7, 0.1, 0.1, 0.1]),
            "timed": rng.random(m * nv) < 0.75,
            "minute": rng.integers(7 * 12, 10 * 12, m * nv) * 5,
            "spelling": rng.choice(len(spec.settings["visits"]["spellings"]), m * nv,
                                   p=spec.settings["visits"]["labs_p"]),
            "noise": rng.normal(0.0, 0.04, m * nv),
        }
    )  # fmt: skip
    done = done.ravel().copy()
    messiness = spec.settings["messiness"]
    # Forced on the first subject so every lab profile, date style and visit spelling appears.
    first = grid["subject"] == 0
    for visit, profile, style, spelling in messiness["first_subject"]:
        at = first & (grid["visit"] == spec.visit(visit))
        grid.loc[at, ["profile", "date_style", "spelling"]] = [profile, style, spelling]

    # The screen failure's only visit, late in the export window.
    orphan = (grid["subject"] == n) & (grid["visit"] == _SCREENING)
    grid.loc[orphan, ["date", "profile", "date_style"]] = [spec.data_cut - pd.Timedelta(days=11), 0, 0]
    done[orphan.to_numpy()] = True

    flare_lag = int(rng.integers(8, 15))
    flare, after = spec.role("flare"), spec.visit(messiness["flare_after"])
    extra = []
    if flare < n:
        when = planned[flare, after] + flare_lag * day
        if done[flare * nv + after] and when <= people["horizon"][flare]:
            row = grid.iloc[[flare * nv + after]].assign(visit=nv, date=when)  # nv: unscheduled
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


def _draw_lab_values(rng: np.random.Generator, spec: SampleSpec, people: dict, sets: pd.DataFrame) -> np.ndarray:
    """(sets x tests) values in the standard unit, each test moved by its model's disease."""
    ns, nt = len(sets), len(spec.tests)
    subject = sets["subject"].to_numpy()
    sev = sets["severity"].to_numpy()
    progress = sets["progress"].to_numpy()
    z = rng.normal(0.0, 1.0, (ns, nt))
    hep, ratio, chol, excr, synth, coag, time_, renal_, lyte = (spec.model(m) for m in MODELS)

    value = np.empty((ns, nt))
    base = people["hepatocellular_base"][subject] * (1 - 0.5 * people["improve"][subject] * progress)
    value[:, hep] = np.clip(base * np.exp(0.15 * z[:, hep]), 20, 200)
    value[:, ratio] = np.clip(
        value[:, hep] * people["hepatocellular_ratio"][subject] * np.exp(0.1 * z[:, ratio]), 20, 200
    )
    value[:, chol] = np.clip(people["cholestatic_base"][subject] * np.exp(0.1 * z[:, chol]), 60, 300)
    value[:, excr] = np.clip(30.0 * 10.0**sev * np.exp(0.08 * z[:, excr]), 30, 300)
    value[:, synth] = np.clip(38.0 - 16.0 * sev + z[:, synth], 22, 38)
    value[:, coag] = np.clip(1.2 + 1.6 * sev + 0.06 * z[:, coag], 1.2, 2.8)
    # The clotting time follows the ratio through a typical thromboplastin ISI of 1.3 and a mean
    # normal time of 11.5 s.
    value[:, time_] = np.clip(11.5 * value[:, coag] ** (1 / 1.3) + 0.3 * z[:, time_], 12, 25)
    renal = people["renal"][subject]
    kidney = (55.0 + 60.0 * renal + 80.0 * sev**2) * np.exp(0.08 * z[:, renal_])
    value[:, renal_] = np.clip(kidney, 50, 200)
    value[:, lyte] = np.clip(141.5 - 14.0 * sev + 1.2 * z[:, lyte], 125, 142)
    flare = (sets["visit"] == len(spec.visits)).to_numpy()
    value[flare, ratio] = rng.uniform(500, 800)
    value[flare, excr] = np.minimum(value[flare, excr] * 1.6, 300)
    value[flare, coag] = np.minimum(value[flare, coag] + 0.3, 2.8)
    return value


def _build_labs(rng: np.random.Generator, spec: SampleSpec, people: dict, sets: pd.DataFrame, n: int) -> pd.DataFrame:
    ns, nt = len(sets), len(spec.tests)
    subject = sets["subject"].to_numpy()
    value = _draw_lab_values(rng, spec, people, sets)
    flare = (sets["visit"] == len(spec.visits)).to_numpy()
    messiness = spec.settings["messiness"]

    profile = sets["profile"].to_numpy()
    conventional = profile == spec.settings["labs"]["conventional"]
    male = people["male"][subject]
    result = np.empty((ns, nt), dtype=object)
    low = np.empty((ns, nt), dtype=object)
    high = np.empty((ns, nt), dtype=object)
    for t, test in enumerate(spec.tests):
        ranges = test["ranges"]
        lo = np.where(male, ranges[0], ranges[2]).astype(float)
        hi = np.where(male, ranges[1], ranges[3]).astype(float)
        shown, range_decimals = value[:, t], test["decimals"][1]
        decimals = np.full(ns, test["decimals"][0])
        if "conventional" in test:
            factor, conv_decimals = test["conventional"]
            shown = np.where(conventional, shown / factor, shown)
            lo = np.where(conventional, np.round(lo / factor, 1), lo)
            hi = np.where(conventional, np.round(hi / factor, 1), hi)
            decimals = np.where(conventional, conv_decimals, decimals)
            range_decimals = np.where(conventional, 1, range_decimals)
        result[:, t] = _fixed(shown, decimals)
        low[:, t] = _fixed(lo, range_decimals)
        high[:, t] = _fixed(hi, range_decimals)
    result[flare, spec.test(messiness["flare_above"])] = messiness["above_text"]

    reason = np.full((ns, nt), None, dtype=object)
    visits = sets["visit"].to_numpy()
    below = _pick_set(subject, visits, spec.role("below_range"), spec.visit(messiness["below_at"]), n,
                      fallback_last=True)  # fmt: skip
    if below is not None:
        result[below, spec.test(messiness["below_test"])] = messiness["below_text"]
    not_done = _pick_set(subject, visits, spec.role("not_done"), spec.visit(messiness["not_done_at"]), n,
                         fallback_last=True)  # fmt: skip
    if not_done is not None:
        result[not_done, spec.test(messiness["not_done_test"])] = None
        reason[not_done, spec.test(messiness["not_done_test"])] = messiness["not_done_reason"]

    names = np.array([t["names"] for t in spec.tests], dtype=object).T  # profile x test
    units = np.array([[u or None for u in t["units"]] for t in spec.tests], dtype=object).T
    ids = _subject_ids(n, spec.site)
    date_text = _render_dates(sets["date"].to_numpy(), sets["date_style"].to_numpy(), spec)
    time_text = np.where(sets["timed"], _clock(sets["minute"].to_numpy()), None)
    visit_text = _visit_labels(spec, visits, sets["spelling"].to_numpy())
    labs = pd.DataFrame(
        {
            "subject": ids[subject].repeat(nt),
            "visit": visit_text.repeat(nt),
            "date": date_text.repeat(nt),
            "time": time_text.repeat(nt),
            "test": names[profile[:, None], np.arange(nt)[None, :]].ravel(),
            "result": result.ravel(),
            "unit": units[profile[:, None], np.arange(nt)[None, :]].ravel(),
            "normal_low": low.ravel(),
            "normal_high": high.ravel(),
            "not_done_reason": reason.ravel(),
        }
    )
    labs["_order"] = np.arange(ns * nt, dtype=float)
    labs = _plant_lab_errors(labs, spec, subject, visits, sets["date"].to_numpy(), n)
    return labs.astype("str")


def _plant_lab_errors(
    labs: pd.DataFrame, spec: SampleSpec, subject: np.ndarray, visits: np.ndarray, dates: np.ndarray, n: int
) -> pd.DataFrame:
    """Duplicate row, unknown test and impossible date (the orphan is already the last set)."""
    nt = len(spec.tests)
    planted = spec.settings["planted"]
    dup_set = _pick_set(subject, visits, spec.role("duplicate") % n, spec.visit(planted["duplicate_at"]), n,
                        fallback_last=False)  # fmt: skip
    duplicate = labs.iloc[[dup_set * nt + spec.test(planted["duplicate_test"])]].assign(
        _order=lambda f: f["_order"] + 0.5
    )

    unknown_set = _pick_set(subject, visits, spec.role("unknown_test") % n, spec.visit(planted["unknown_at"]), n,
                            fallback_last=False)  # fmt: skip
    word = planted["unknown"]
    unknown = labs.iloc[[unknown_set * nt + nt - 1]].assign(
        test=word["test"], result=word["result"], unit=word["unit"], normal_low=word["low"],
        normal_high=word["high"], not_done_reason=None, _order=lambda f: f["_order"] + 0.5,
    )  # fmt: skip

    # A day past the end of the month, in a month short enough to make it look like a typo.
    not_duplicated = np.arange(len(subject)) != dup_set
    candidates = np.flatnonzero((subject == spec.role("impossible_date") % n) & not_duplicated)
    if len(candidates) == 0:
        candidates = np.flatnonzero(not_duplicated)
    stamp = pd.DatetimeIndex(dates[candidates])
    month_days = stamp.days_in_month.to_numpy()
    preference = np.select([stamp.month == 2, month_days == 30], [0, 1], 2)
    chosen = candidates[np.argmin(preference)]  # argmin keeps the earliest among equals
    when = pd.Timestamp(dates[chosen])
    impossible_day = 30 if when.month == 2 else when.days_in_month + 1
    labs.iloc[chosen * nt + spec.test(planted["impossible_test"]), labs.columns.get_loc("date")] = (
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
    rng: np.random.Generator, spec: SampleSpec, people: dict, sets: pd.DataFrame, n: int
) -> pd.DataFrame:
    """One row per subject and planned visit with labs: graded answers following the severity."""
    planned = sets[(sets["subject"] < n) & (sets["visit"] != len(spec.visits))].reset_index(drop=True)
    na = len(planned)
    sev = np.clip(planned["severity"].to_numpy() + rng.normal(0.0, 0.05, na), 0.0, 1.0)
    subject, visits = planned["subject"].to_numpy(), planned["visit"].to_numpy()
    words = spec.settings["assessments"]
    death = spec.role("death")
    last = np.flatnonzero(subject == death)[-1:] if death < n else np.array([], dtype=int)

    answers = {}
    for graded in words["graded"]:
        band = np.digitize(sev, graded["cuts"])
        pick = rng.random(na)  # which spelling, where a grade has two
        choices = [
            np.where(pick < 0.5, grade[0], grade[-1]) if len(grade) > 1 else grade[0]
            for grade in graded["grades"][:-1]
        ]
        column = np.select([band == b for b in range(len(choices))], choices, graded["grades"][-1][0])
        column = column.astype(object)
        column[last] = graded["grades"][-1][0]  # the subject who dies ends at the worst grade
        answers[graded["column"]] = column
    flag = words["flag"]
    answer = np.full(na, flag["no"], dtype=object)
    yes_at = [spec.visit(v) for v in flag["yes_at"]]
    answer[(subject == spec.role("renal_failure")) & np.isin(visits, yes_at)] = flag["yes"]
    answers[flag["column"]] = answer

    spelling = rng.choice(len(spec.settings["visits"]["spellings"]), na, p=spec.settings["visits"]["assessments_p"])
    styles = _cell_date_styles(rng, na)
    return pd.DataFrame(
        {
            "subject": _subject_ids(n, spec.site)[subject],
            "visit": _visit_labels(spec, visits, spelling),
            "date": _render_dates(planned["date"].to_numpy(), styles, spec),
            **answers,
        }
    )


# --- rendering --------------------------------------------------------------------------------


def _subject_ids(n: int, site: str) -> np.ndarray:
    """Text ids `<site>-001` ... for the n subjects, then the orphan screen failure's id."""
    width = max(3, len(str(n)))
    orphan = 99 if n < 99 else 10**width - 1
    if orphan <= n:
        width, orphan = width + 1, 10 ** (width + 1) - 1
    numbers = np.append(np.arange(1, n + 1), orphan).astype(str)
    return np.char.add(f"{site}-", np.char.zfill(numbers, width)).astype(object)


def _avoid_reserved(initials: np.ndarray, pool: str, reserved: frozenset[str]) -> np.ndarray:
    """Initials that cannot be mistaken for a code the outputs legitimately carry.

    Privacy checks look for the initials in every output; a lab test code or a domain name as
    someone's initials would make such a check fail on the code instead. Only the few reserved
    ones are respelled, by moving the last letter on through the pool.
    """
    out = initials.copy()
    for i in np.flatnonzero(np.isin(out, list(reserved))):
        text = out[i]
        while text in reserved:
            text = text[:-1] + pool[(pool.index(text[-1]) + 1) % len(pool)]
        out[i] = text
    return out


def _visit_labels(spec: SampleSpec, visits: np.ndarray, spelling: np.ndarray) -> np.ndarray:
    """Visit names as the site spells them (sample.toml [visits] spellings); an index past the
    schedule is the unscheduled visit."""
    words = spec.settings["visits"]
    spelled = np.array(
        [[name if week is None or week == 0 else template.format(name=name, week=week)
          for template in words["spellings"]] for name, week in zip(spec.visits, spec.weeks)]
        + [[words["unscheduled"]] * len(words["spellings"])],
        dtype=object,
    )  # fmt: skip
    return spelled[visits, spelling]


def _cell_date_styles(rng: np.random.Generator, shape) -> np.ndarray:
    """Workbook date cells: mostly real date cells, the rest text in the site's styles."""
    return rng.choice([_CELL, _ISO, _SLASH, _DMY, _DMONY], shape, p=[0.7, 0.12, 0.06, 0.06, 0.06])


def _render_dates(dates: np.ndarray, styles: np.ndarray, spec: SampleSpec) -> np.ndarray:
    """Each date as the cell value its style asks for; NaT gives None (a blank cell)."""
    index = pd.DatetimeIndex(dates)
    styles = np.broadcast_to(np.asarray(styles), (len(index),))
    missing = index.isna()
    filled = index.fillna(spec.enrolment_start)
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
