"""A realistic, deterministic site export for any study folder, generated from its spec alone.

`sdtmflow sample --study DIR` lets a data manager try a spec before the site sends data: the
sheets of sheets.csv with the headers of raw_columns.csv (the second site writes each column's
first alias, as a real second site spells its own headers), the arms of study.toml, the visits of
visits.csv, the tests and units of lab_tests.csv, spellings from terminology.csv, and a few
planted errors the run must turn into findings. Nothing here knows a particular study.

What a column holds is read from its canonical name, the engine's vocabulary (`subject`, `site`,
`arm`, `visit`, `test`, `result`, `unit`, `birth_date`, `consent_date` ...), from its codelist
(a spelling of a term) and from the EX mapping (which dates start and end a dose). Settings that
only a sample needs are study.toml [sample]: the export date, the sites, the number of subjects,
the first consent date, the days of each dosing period.

Planted errors (one each, in the first site's findings file): a visit name no schedule knows, an
impossible date, and the rows of a subject who is not on the subjects sheet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.spec.study import EXPOSURE, FINDINGS, SUBJECTS, Study
from transforms.ingest.workbook import compute_frames_xlsx_bytes

UNKNOWN_VISIT = "Week 99"
IMPOSSIBLE_DATE = "2026-02-30"
ORPHAN_NUMBER = 999


def generate_study_export(study: Study, subjects: int | None = None, seed: int = 1) -> dict[tuple[str, str], pd.DataFrame]:
    """{(file name, sheet name): frame of text as the site writes it} for every sheet and site."""
    settings = study.config.get("sample", {})
    sites = [str(site) for site in settings.get("sites", ["01"])]
    count = int(subjects or settings.get("subjects", 12))
    rng = np.random.default_rng(seed)
    export_date = dt.date.fromisoformat(settings.get("export_date", "2026-03-31"))
    people = draw_subjects(study, count, sites, rng, settings)
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    for site_number, site in enumerate(sites):
        mine = people[people["site"] == site]
        for sheet in study.sheet_ids:
            role = study.role_of(sheet)
            if role == SUBJECTS:
                rows = mine
            elif role == EXPOSURE:
                rows = draw_doses(study, mine, export_date, settings)
            elif role == FINDINGS:
                rows = draw_results(study, mine, export_date, rng)
                if site_number == 0:
                    rows = plant_errors(rows, study, mine)
            else:
                rows = draw_visit_rows(study, mine, export_date)
            frames[(file_name(study, sheet, site, export_date), study.label_of(sheet))] = (
                render_sheet(study, sheet, rows, rng, alias=site_number)
            )
    return frames


def draw_subjects(study: Study, count: int, sites: list[str], rng, settings: dict) -> pd.DataFrame:
    start = dt.date.fromisoformat(settings.get("first_consent", "2025-06-02"))
    arms = study.arms
    index = np.arange(count)
    consent = [start + dt.timedelta(days=int(3 * i)) for i in index]
    ages = rng.integers(int(study.config["study"]["age_min"]) + 2, int(study.config["study"]["age_max"]) - 2, count)
    return pd.DataFrame(
        {
            "site": [sites[i % len(sites)] for i in index],
            "subject": [f"{sites[i % len(sites)]}-{i + 1:03d}" for i in index],
            "ARMCD": [arms["ARMCD"].iloc[i % len(arms)] for i in index],
            "consent_date": consent,
            "birth_date": [c.replace(year=c.year - int(a)) - dt.timedelta(days=40) for c, a in zip(consent, ages)],
            "randomisation_date": [c + dt.timedelta(days=7) for c in consent],
            "first_dose": [c + dt.timedelta(days=8) for c in consent],
        }
    )


def draw_doses(study: Study, people: pd.DataFrame, export_date: dt.date, settings: dict) -> pd.DataFrame:
    """One row per dosing period of `period_days` (study.toml [sample]): the arm's dose, reduced
    in the second period for every second subject of an arm that allows a reduction."""
    start_column, end_column = study.dose_date_columns()
    days = [int(d) for d in settings.get("period_days", [28, 56])]
    numbers = [key for key in study.record_keys[study.sheet_with_role(EXPOSURE)] if key != "subject"]
    arms = study.arms.set_index("ARMCD")
    rows = []
    # the order of each subject within its arm: every second subject of an arm that allows a
    # reduction is reduced in the second period
    within_arm = people.groupby("ARMCD").cumcount().to_numpy()
    for number, person in zip(within_arm, people.itertuples()):
        arm = arms.loc[person.ARMCD]
        reductions = arm["doses"] if "doses" in arms.columns and isinstance(arm["doses"], list) else []
        begin = person.first_dose
        for period, length in enumerate(days, start=1):
            end = begin + dt.timedelta(days=length - 1)
            if begin > export_date:
                break
            dose = reductions[0] if period > 1 and reductions and number % 2 == 1 else arm["dose"]
            # the record key beside the subject (a period, an injection number) is the running number
            row = {"subject": person.subject, **{key: str(period) for key in numbers}, "dose": _number(dose),
                   start_column: begin, "ARMCD": person.ARMCD}
            if end_column and end_column != start_column:
                row[end_column] = min(end, export_date)
            rows.append(row)
            begin = end + dt.timedelta(days=1)
    return pd.DataFrame(rows)


def draw_results(study: Study, people: pd.DataFrame, export_date: dt.date, rng) -> pd.DataFrame:
    """Every test at every planned visit that has happened by the export date."""
    tests = study.lab_tests
    rows = []
    for person in people.itertuples():
        for visit in study.visits.itertuples():
            day = person.consent_date + dt.timedelta(days=2) if pd.isna(visit.VISITDY) else (
                person.first_dose + dt.timedelta(days=int(visit.VISITDY) - 1)
            )
            if day > export_date:
                continue
            for test in tests.itertuples():
                rows.append({"subject": person.subject, "VISIT": visit.VISIT, "collection_date": day,
                             "collection_time": "08:30", "LBTESTCD": test.LBTESTCD,
                             "unit_code": test.LBSTRESU, **draw_result(test, rng)})
    return pd.DataFrame(rows)


def draw_result(test, rng) -> dict:
    low, high = float(getattr(test, "sample_low", "") or 0), float(getattr(test, "sample_high", "") or 1)
    text = getattr(test, "sample_text", "") or ""
    if text and rng.random() < 0.3:
        return {"result": text}
    value = round(rng.uniform(low, high), 2)
    # large counts (viral loads) come as lab systems print them: 6.98E+05
    return {"result": f"{value:.2E}" if value >= 1e5 else _number(value),
            "normal_low": getattr(test, "normal_low", "") or None,
            "normal_high": getattr(test, "normal_high", "") or None}


def draw_visit_rows(study: Study, people: pd.DataFrame, export_date: dt.date) -> pd.DataFrame:
    """One row per subject and planned visit held by the export date (any other record sheet)."""
    rows = []
    for person in people.itertuples():
        for visit in study.visits.itertuples():
            day = person.consent_date if pd.isna(visit.VISITDY) else person.first_dose + dt.timedelta(days=int(visit.VISITDY) - 1)
            if day <= export_date:
                rows.append({"subject": person.subject, "VISIT": visit.VISIT, "date": day})
    return pd.DataFrame(rows)


def plant_errors(rows: pd.DataFrame, study: Study, people: pd.DataFrame) -> pd.DataFrame:
    """An unknown visit on one row, an impossible date on another, an orphan subject's rows."""
    rows = rows.copy()
    rows["collection_date"] = rows["collection_date"].astype("object")
    if len(rows) > 12:
        rows.loc[rows.index[5], "VISIT"] = UNKNOWN_VISIT
        rows.loc[rows.index[11], "collection_date"] = IMPOSSIBLE_DATE
    orphan = rows.head(len(study.lab_tests)).assign(subject=f"{people['site'].iloc[0]}-{ORPHAN_NUMBER}")
    return pd.concat([rows, orphan], ignore_index=True)


def render_sheet(study: Study, sheet: str, rows: pd.DataFrame, rng, alias: int) -> pd.DataFrame:
    """The rows as the site's sheet: one column per raw column, under its header (site 0) or
    its alias number `alias` (site n writes the n-th alias, the last one when it has fewer), so
    every site's spelling of a three-site study is tried."""
    columns = study.raw_columns[study.raw_columns["sheet"] == sheet]
    out = {}
    for column in columns.itertuples():
        header = column.header
        aliases = [a for a in str(getattr(column, "aliases", "") or "").split("|") if a.strip()]
        if alias and aliases:
            header = aliases[min(alias, len(aliases)) - 1]
        out[header] = render_column(study, column, rows, rng)
    return pd.DataFrame(out)


def render_column(study: Study, column, rows: pd.DataFrame, rng) -> list:
    name = column.column
    if column.codelist:
        source = _code_source(name, column.coded_as)
        if source in rows.columns:
            return [spelling(study, column.codelist, code) for code in rows[source]]
        # a coded answer the sample does not model: any term of the codelist where the answer is
        # required (sex), else the codelist's first spelling (the usual answer: twice daily)
        terms = study.terminology.loc[study.terminology["codelist"] == column.codelist, "raw"]
        if terms.empty:
            return [None] * len(rows)
        if column.required != "Y":
            return [terms.iloc[0]] * len(rows)
        return list(rng.choice(terms.to_numpy(), len(rows)))
    if name in rows.columns:
        return [_text(v) for v in rows[name]]
    if column.kind == "date" and "date" in rows.columns and name.endswith("date") and not _is_end(name):
        return [_text(v) for v in rows["date"]]
    return [None] * len(rows)


def spelling(study: Study, codelist: str, code) -> str | None:
    """A raw spelling the terminology maps to `code` (the code itself when none is listed)."""
    if code is None or (not isinstance(code, str) and pd.isna(code)):
        return None
    terms = study.terminology
    match = terms.loc[(terms["codelist"] == codelist) & (terms["value"] == str(code)), "raw"]
    return match.iloc[0] if len(match) else str(code)


def file_name(study: Study, sheet: str, site: str, export_date: dt.date) -> str:
    stamp = export_date.isoformat()
    if study.role_of(sheet) == FINDINGS:
        return f"{study.label_of(sheet).lower()}_site{site}_{stamp}.csv"
    return f"site{site}_export_{stamp}.xlsx"


def write_study_export(frames: dict[tuple[str, str], pd.DataFrame], output_dir: Path, export_date: dt.date) -> list[Path]:
    """Write the frames: CSV files as UTF-8, the other sheets into one workbook per file name."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written, books = [], {}
    for (name, sheet), frame in frames.items():
        if name.endswith(".csv"):
            path = output_dir / name
            with open(path, "w", encoding="utf-8", newline="") as handle:
                frame.to_csv(handle, index=False, lineterminator="\n")
            written.append(path)
        else:
            books.setdefault(name, {})[sheet] = frame
    stamp = dt.datetime.combine(export_date, dt.time())
    for name, sheets in books.items():
        path = output_dir / name
        path.write_bytes(compute_frames_xlsx_bytes(sheets, stamp, creator="sdtmflow sample"))
        written.append(path)
    return sorted(written)


def _code_source(name: str, coded_as: str) -> str:
    """Where the generated rows keep a coded column's code: the coded name (ARMCD, LBTESTCD),
    or, for units, `unit_code`."""
    return "unit_code" if coded_as.endswith("ORRESU") else coded_as


def _is_end(name: str) -> bool:
    return any(word in name for word in ("end", "death", "stop"))


def _number(value) -> str:
    return f"{float(value):g}"


def _text(value):
    if value is None or (not isinstance(value, (str, dt.date)) and pd.isna(value)):
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)
