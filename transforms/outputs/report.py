"""report.html: the analysis report for the medical monitor and the statistician.

One self-contained HTML file (every plot inline SVG, no script, no external URL), built
from the run's Parquet files only, so it shows exactly what the package holds:

- disposition per arm (DM: enrolled, treated, died; SV, or else the findings domains: subjects
  seen at each planned visit);
- each score of the analysis table (`liver_scores.parquet`: a column X with X_BASE and X_CHG
  beside it) over the visits per arm: median and interquartile range, each subject's line, and
  the change from baseline the table holds;
- each LB test in its standard unit (LBSTRESN, LBSTRESU) with its reference range
  (LBSTNRLO-LBSTNRHI), and its change from the baseline record (LBLOBXFL = "Y");
- the data-quality picture: findings per rule and severity, and per site (the finding's subject,
  raw or USUBJID, -> DM.SITEID).

Nothing here knows the study: arms come from DM, visits from VISITNUM/VISIT (the planned visits of
TV when the run has it; records at other visits, e.g. unscheduled, are counted but not plotted), the
scores from the analysis table's columns, the tests and units from LB. A study without an analysis
table gets no score section, one without LB no lab section.

Under each plot, the numbers drawn (n, median, Q1, Q3 per arm and visit) are a table, so the plot
can be checked and copied. Quartiles are pandas' (linear interpolation, numpy's default).
Deterministic: the plots are SVG text drawn by transforms/outputs/svg_plot.py (coordinates at 0.1 px, no
font measured), so the same run gives the same bytes on any machine. A panel draws at most
MAX_SUBJECT_LINES subjects' own lines (the first by USUBJID); its median, band and numbers use every
subject.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from transforms.core.files import write_atomically
from transforms.outputs.svg_plot import (
    Panel,
    colour_of,
    compute_nice_range,
    compute_text_width,
    draw_band,
    draw_bars,
    draw_category_labels,
    draw_error_bars,
    draw_frame,
    draw_horizontal,
    draw_legend,
    draw_lines,
    draw_markers,
    svg_document,
)

SUMMARY_COLUMNS = ["ARM", "VISITNUM", "VISIT", "n", "median", "q1", "q3"]
NO_ARM = "(no arm)"
NO_SITE = "(subject not in DM)"
NO_SUBJECT = "(no subject)"
SEVERITIES = ["ERROR", "WARNING", "INFO"]

_SEVERITY_COLOURS = {"ERROR": "#d62728", "WARNING": "#ff7f0e", "INFO": "#7f7f7f"}


# --- reading ----------------------------------------------------------------------------------


def read_report_inputs(parquet_dir: Path) -> dict[str, pd.DataFrame]:
    """The Parquet files the report reads, by table name (dm, lb, sv, tv, liver_scores), and the
    run id from their schema metadata under "_run_id"; a table the run did not write is absent
    (even DM: a run whose Demographics were all held back maps no subject, and is published)."""
    parquet_dir = Path(parquet_dir)
    if not parquet_dir.is_dir():
        raise FileNotFoundError(f"write_report: {parquet_dir} is no folder; pass the run's parquet/ folder")
    tables, run_id = {}, ""
    for name in ("dm", "lb", "sv", "tv", "liver_scores"):
        path = parquet_dir / f"{name}.parquet"
        if path.is_file():
            table = pq.read_table(path)
            tables[name] = table.to_pandas()
            run_id = run_id or (table.schema.metadata or {}).get(b"run_id", b"").decode()
    tables["_run_id"] = run_id
    return tables


# --- numbers ----------------------------------------------------------------------------------


def derive_arms(dm: pd.DataFrame) -> pd.DataFrame:
    """USUBJID -> ARM (the planned arm; NO_ARM where DM has none), one row per subject."""
    arm = dm["ARM"].astype("object").where(dm["ARM"].notna() & (dm["ARM"].astype(str) != ""), NO_ARM)
    return pd.DataFrame({"USUBJID": dm["USUBJID"].astype("object"), "ARM": arm}).drop_duplicates("USUBJID")


def derive_planned_visits(tables: dict) -> pd.DataFrame:
    """VISITNUM, VISIT of the visits plotted, in VISITNUM order: TV's when the run has it, else
    every visit any table has."""
    if "tv" in tables and not tables["tv"].empty:
        visits = tables["tv"][["VISITNUM", "VISIT"]]
    else:
        parts = [tables[n][["VISITNUM", "VISIT"]] for n in ("sv", "lb", "liver_scores") if n in tables]
        visits = pd.concat(parts) if parts else pd.DataFrame(columns=["VISITNUM", "VISIT"])
    visits = visits.dropna(subset=["VISITNUM"]).drop_duplicates("VISITNUM").sort_values("VISITNUM")
    return visits.astype({"VISITNUM": "float64", "VISIT": "object"}).reset_index(drop=True)


def derive_visit_summary(frame: pd.DataFrame, value: str, visits: pd.DataFrame) -> pd.DataFrame:
    """n, median, Q1, Q3 of `value` per ARM and planned visit (SUMMARY_COLUMNS), from a frame with
    USUBJID, ARM, VISITNUM and `value`; rows without a value and visits not in `visits` are left
    out, arms and visits in their order."""
    rows = frame[frame[value].notna() & frame["VISITNUM"].isin(visits["VISITNUM"])]
    grouped = rows.groupby(["ARM", "VISITNUM"], sort=True)[value]
    summary = pd.DataFrame({
        "n": grouped.count(),
        "median": grouped.median(),
        "q1": grouped.quantile(0.25),
        "q3": grouped.quantile(0.75),
    }).reset_index()
    summary = summary.merge(visits, on="VISITNUM", how="left")
    return summary[SUMMARY_COLUMNS].astype({"n": "int64", "median": "float64", "q1": "float64", "q3": "float64"})


def derive_lab_changes(lb: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """One row per subject, test and visit (the visit's latest numeric result: latest LBDTC, then
    highest LBSEQ) with ARM, LBSTRESN, BASE (the subject's LBLOBXFL = "Y" result of the test) and
    CHG = LBSTRESN - BASE on visits after the baseline's."""
    keys = ["USUBJID", "LBTESTCD", "VISITNUM"]
    # only the columns used: selecting the numeric rows of every LB column was most of the time
    numeric = lb.loc[lb["LBSTRESN"].notna(), keys + ["LBSTRESN", "LBSTRESU", "LBLOBXFL", "LBDTC", "LBSEQ"]]
    order = numeric.assign(_dtc=numeric["LBDTC"].fillna("")).sort_values(["_dtc", "LBSEQ"], kind="stable")
    last = order.drop_duplicates(keys, keep="last")[keys + ["LBSTRESN", "LBSTRESU", "LBLOBXFL"]]
    base = (
        last[last["LBLOBXFL"] == "Y"]
        .drop_duplicates(["USUBJID", "LBTESTCD"], keep="last")
        .rename(columns={"LBSTRESN": "BASE", "VISITNUM": "BASE_VISITNUM"})
        [["USUBJID", "LBTESTCD", "BASE", "BASE_VISITNUM"]]
    )
    out = last.merge(base, on=["USUBJID", "LBTESTCD"], how="left").merge(arms, on="USUBJID", how="left")
    out["ARM"] = out["ARM"].fillna(NO_ARM)
    after = out["VISITNUM"] > out["BASE_VISITNUM"]
    out["CHG"] = (out["LBSTRESN"] - out["BASE"]).where(after)
    return out.drop(columns=["LBLOBXFL", "BASE_VISITNUM"]).reset_index(drop=True)


def derive_score_columns(scores: pd.DataFrame) -> list[str]:
    """The scores of an analysis table: each column X with X_BASE and X_CHG beside it."""
    columns = set(scores.columns)
    return [c for c in scores.columns if f"{c}_BASE" in columns and f"{c}_CHG" in columns]


def derive_lab_tests(lb: pd.DataFrame) -> pd.DataFrame:
    """One row per LB test with numeric results: LBTESTCD, LBTEST, its standard unit (the most
    frequent LBSTRESU of its numeric results; blank for a unitless test such as INR) and its
    reference ranges as text ("40-55 (142)"; several when they differ, e.g. by sex)."""
    # only the columns used: selecting the numeric rows of every LB column was most of the time
    numeric = lb.loc[lb["LBSTRESN"].notna(), ["LBTESTCD", "LBTEST", "LBSTRESU", "LBSTNRLO", "LBSTNRHI"]].assign(
        LBSTRESU=lambda f: f["LBSTRESU"].astype("object").fillna(""),
    )
    if numeric.empty:
        return pd.DataFrame(columns=["LBTESTCD", "LBTEST", "LBSTRESU", "ranges"])
    units = (
        numeric.groupby(["LBTESTCD", "LBSTRESU"]).size().rename("count").reset_index()
        .sort_values(["LBTESTCD", "count", "LBSTRESU"], ascending=[True, False, True])
        .drop_duplicates("LBTESTCD")
    )
    names = numeric.drop_duplicates("LBTESTCD")[["LBTESTCD", "LBTEST"]]
    given = numeric[numeric["LBSTNRLO"].notna() | numeric["LBSTNRHI"].notna()]
    counted = given.groupby(["LBTESTCD", "LBSTNRLO", "LBSTNRHI"], dropna=False).size().rename("count").reset_index()
    counted["text"] = (
        _format_numbers(counted["LBSTNRLO"]).replace("", "?") + "\u2013"
        + _format_numbers(counted["LBSTNRHI"]).replace("", "?") + " (" + counted["count"].astype(str) + ")"
    )
    text = counted.sort_values(["LBTESTCD", "count"], ascending=[True, False]).groupby("LBTESTCD")["text"].agg("; ".join)
    tests = units[["LBTESTCD", "LBSTRESU"]].merge(names, on="LBTESTCD").merge(
        text.rename("ranges").reset_index(), on="LBTESTCD", how="left"
    )
    tests["ranges"] = tests["ranges"].fillna("")
    return tests[["LBTESTCD", "LBTEST", "LBSTRESU", "ranges"]].sort_values("LBTESTCD").reset_index(drop=True)


def derive_disposition(dm: pd.DataFrame, seen: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Per arm: subjects enrolled (in DM), treated (RFXSTDTC given), died (DTHFL = "Y"), and seen
    at each planned visit (`seen`: USUBJID, VISITNUM of the visits that took place); one row per
    arm plus "All", one column per visit named by VISIT."""
    arms = derive_arms(dm)
    subjects = dm.assign(ARM=arms["ARM"].to_numpy())
    treated = subjects[subjects["RFXSTDTC"].notna()]
    died = subjects[subjects["DTHFL"] == "Y"] if "DTHFL" in subjects else subjects.iloc[:0]
    counts = pd.DataFrame({
        "enrolled": subjects.groupby("ARM")["USUBJID"].nunique(),
        "treated": treated.groupby("ARM")["USUBJID"].nunique(),
        "died": died.groupby("ARM")["USUBJID"].nunique(),
    })
    present = seen[["USUBJID", "VISITNUM"]].drop_duplicates().merge(arms, on="USUBJID")
    present = present[present["VISITNUM"].isin(visits["VISITNUM"])]
    by_visit = present.groupby(["ARM", "VISITNUM"])["USUBJID"].nunique().unstack("VISITNUM")
    by_visit = by_visit.reindex(columns=visits["VISITNUM"]).set_axis(visits["VISIT"].tolist(), axis=1)
    table = counts.join(by_visit, how="outer").fillna(0).astype("int64").rename_axis(columns=None)
    total = pd.DataFrame(
        [[
            subjects["USUBJID"].nunique(),
            treated["USUBJID"].nunique(),
            died["USUBJID"].nunique(),
            *present.groupby("VISITNUM")["USUBJID"].nunique().reindex(visits["VISITNUM"]).fillna(0).astype(int),
        ]],
        index=["All"], columns=table.columns,
    )
    return pd.concat([table, total]).rename_axis("ARM").reset_index()


def derive_findings_by_rule(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings per rule: stage, one count column per severity, total, and one example message;
    most findings first."""
    columns = ["rule", "stage", *SEVERITIES, "total", "example"]
    if findings.empty:
        return pd.DataFrame(columns=columns)
    counts = pd.crosstab(findings["rule"], findings["severity"]).reindex(columns=SEVERITIES, fill_value=0).rename_axis(columns=None)
    first = findings.drop_duplicates("rule").set_index("rule")
    table = counts.assign(
        total=counts.sum(axis=1), stage=first["stage"], example=first["message"].astype("object").fillna(""),
    ).reset_index()
    return table.sort_values(["total", "rule"], ascending=[False, True])[columns].reset_index(drop=True)


def derive_findings_by_site(findings: pd.DataFrame, dm: pd.DataFrame) -> pd.DataFrame:
    """Findings per site and severity: the finding's subject (the raw subject id, SUBJID, or a
    USUBJID) -> DM.SITEID; NO_SITE for a subject DM does not have, NO_SUBJECT for a finding that
    names none (a file, a whole sheet)."""
    columns = ["site", *SEVERITIES, "total"]
    if findings.empty:
        return pd.DataFrame(columns=columns)
    site_of = pd.concat([
        pd.Series(dm["SITEID"].to_numpy(), index=dm["SUBJID"].astype(str)),
        pd.Series(dm["SITEID"].to_numpy(), index=dm["USUBJID"].astype(str)),
    ])
    site_of = site_of[~site_of.index.duplicated()]
    subject = findings["subject"].astype("object")
    named = subject.notna() & (subject.astype(str).str.strip() != "")
    site = subject.astype(str).map(site_of).astype("object")
    site = site.where(site.notna(), NO_SITE).where(named, NO_SUBJECT)
    counts = pd.crosstab(site.rename("site"), findings["severity"]).reindex(columns=SEVERITIES, fill_value=0).rename_axis(columns=None)
    table = counts.assign(total=counts.sum(axis=1)).reset_index()
    return table.sort_values("site")[columns].reset_index(drop=True)


# --- plots ------------------------------------------------------------------------------------


# The thin per-subject lines of a panel: beyond this many the lines are a solid mass that says
# nothing the median and band do not, and each costs bytes; the first by USUBJID are drawn.
MAX_SUBJECT_LINES = 200

_PANEL_WIDTH, _PANEL_HEIGHT = 290.0, 200.0
_MARGIN_LEFT, _MARGIN_TOP, _MARGIN_BOTTOM, _GAP = 62.0, 26.0, 78.0, 58.0


def render_measure_figure(
    frame: pd.DataFrame,
    value: str,
    summary: pd.DataFrame,
    changes: pd.DataFrame,
    visits: pd.DataFrame,
    arms: list[str],
    title: str,
    unit: str = "",
    ranges: pd.DataFrame | None = None,
) -> str:
    """One panel per arm (each subject's line of `value` from `frame`, the median and IQR band
    of `summary`, the reference range), and one panel of the change from baseline (`changes`:
    median and IQR per arm and visit); both summaries are derive_visit_summary's. SVG text."""
    positions = pd.Series(np.arange(len(visits), dtype="float64"), index=visits["VISITNUM"].to_numpy())
    x_range = (-0.5, len(visits) - 0.5)
    levels = np.array([], dtype="float64")
    if ranges is not None and not ranges.empty:
        levels = pd.unique(pd.to_numeric(pd.Series(ranges[["LBSTNRLO", "LBSTNRHI"]].to_numpy().ravel()),
                                         errors="coerce").dropna())
    planned = frame[frame["VISITNUM"].isin(visits["VISITNUM"])]
    # arms on one scale, so their panels compare
    low, high, ticks = compute_nice_range(np.concatenate([
        pd.to_numeric(planned[value], errors="coerce").to_numpy(dtype="float64"),
        summary[["q1", "q3", "median"]].to_numpy(dtype="float64").ravel(), np.asarray(levels, dtype="float64"),
    ]))
    y_label = f"{title} ({unit})" if unit else title
    elements = []
    for number, arm in enumerate(arms):
        colour = colour_of(number)
        panel = Panel(_MARGIN_LEFT + number * (_PANEL_WIDTH + _GAP), _MARGIN_TOP, _PANEL_WIDTH, _PANEL_HEIGHT,
                      x_range, (low, high))
        rows = planned[planned["ARM"] == arm]
        subjects = sorted(rows["USUBJID"].unique())
        drawn = rows[rows["USUBJID"].isin(subjects[:MAX_SUBJECT_LINES])]
        wide = drawn.pivot_table(index="VISITNUM", columns="USUBJID", values=value, aggfunc="last")
        wide = wide.reindex(index=visits["VISITNUM"])
        stats = summary[summary["ARM"] == arm]
        x = positions.loc[stats["VISITNUM"]].to_numpy()
        shown = f"n={len(subjects)}" + (f", {MAX_SUBJECT_LINES} lines" if len(subjects) > MAX_SUBJECT_LINES else "")
        elements += [
            draw_frame(panel, ticks, y_label, f"{arm} ({shown})", visits["VISIT"].astype(str).tolist()),
            # one path draws every subject: a column per subject, a gap where a visit is missing
            draw_lines(panel, positions.to_numpy(), wide.to_numpy(dtype="float64"), colour, 0.7, 0.25),
            draw_band(panel, x, stats["q1"], stats["q3"], colour),
            draw_lines(panel, x, stats["median"].to_numpy(), colour, 2.0),
            draw_markers(panel, x, stats["median"].to_numpy(), colour, 2.5),
            *(draw_horizontal(panel, level, dash="4 3") for level in levels),
        ]
    width = 0.8 / max(len(arms), 1)
    offsets = [(number - (len(arms) - 1) / 2) * width for number in range(len(arms))]
    change_values = changes[["q1", "q3", "median"]].to_numpy(dtype="float64").ravel()
    c_low, c_high, c_ticks = compute_nice_range(np.concatenate([change_values, [0.0]]))
    panel = Panel(_MARGIN_LEFT + len(arms) * (_PANEL_WIDTH + _GAP), _MARGIN_TOP, _PANEL_WIDTH, _PANEL_HEIGHT,
                  x_range, (c_low, c_high))
    elements += [
        draw_frame(panel, c_ticks, f"change ({unit})" if unit else "change", "Change from baseline: median, IQR",
                   visits["VISIT"].astype(str).tolist()),
        draw_horizontal(panel, 0.0),
    ]
    for number, arm in enumerate(arms):
        stats = changes[changes["ARM"] == arm]
        x = positions.loc[stats["VISITNUM"]].to_numpy() + offsets[number]
        elements.append(draw_error_bars(panel, x, stats["median"], stats["q1"], stats["q3"], colour_of(number)))
    if arms:
        elements.append(draw_legend(panel.left + 6, panel.top + 6,
                                    [(colour_of(n), arm) for n, arm in enumerate(arms)]))
    page_width = panel.left + _PANEL_WIDTH + 12
    return svg_document(page_width, _MARGIN_TOP + _PANEL_HEIGHT + _MARGIN_BOTTOM, elements, title)


def render_disposition_figure(disposition: pd.DataFrame, visits: pd.DataFrame) -> str:
    """Subjects seen at each planned visit, per arm (bars side by side). SVG text."""
    arms = disposition[disposition["ARM"] != "All"].reset_index(drop=True)
    counts = arms[visits["VISIT"].tolist()].to_numpy(dtype="float64") if len(arms) else np.zeros((0, len(visits)))
    low, high, ticks = compute_nice_range(np.concatenate([counts.ravel(), [0.0]]))
    panel = Panel(_MARGIN_LEFT, _MARGIN_TOP - 10, 860.0, 170.0, (-0.5, len(visits) - 0.5), (0.0, high))
    width = 0.8 / max(len(arms), 1)
    elements = [draw_frame(panel, ticks, "subjects seen", "", visits["VISIT"].astype(str).tolist())]
    for number, row in arms.iterrows():  # one bar series per arm: a handful
        x = np.arange(len(visits)) + (number - (len(arms) - 1) / 2) * width
        elements.append(draw_bars(panel, x, np.zeros(len(visits)), counts[number], width, colour_of(number)))
    elements.append(draw_legend(panel.left + panel.width - 200, panel.top + 6, [
        (colour_of(n), f"{row.ARM} (enrolled {row.enrolled})") for n, row in arms.iterrows()
    ]))
    return svg_document(panel.left + panel.width + 20, panel.top + panel.height + _MARGIN_BOTTOM, elements,
                        "Subjects seen per visit and arm")


def render_findings_figure(by_rule: pd.DataFrame, by_site: pd.DataFrame) -> str:
    """Findings per rule and per site, stacked by severity (horizontal bars). SVG text."""
    rows = max(len(by_rule), len(by_site), 1)
    height = 16.0 * rows
    elements, left = [], 10.0
    for table, label, title, panel_width in ((by_rule, "rule", "Findings per rule", 420.0),
                                             (by_site, "site", "Findings per site", 300.0)):
        table = table.iloc[::-1].reset_index(drop=True)  # the largest on top
        names = table[label].astype(str).tolist()
        left += compute_text_width(names) + 12
        totals = table[SEVERITIES].to_numpy(dtype="float64").sum(axis=1)
        _, high, ticks = compute_nice_range(np.concatenate([totals, [0.0]]))
        panel = Panel(left, _MARGIN_TOP, panel_width, height, (0.0, high), (-0.5, rows - 0.5))
        elements += [_draw_x_frame(panel, ticks, title), draw_category_labels(panel, names)]
        start = np.zeros(len(table))
        for severity in SEVERITIES:
            stop = start + table[severity].to_numpy(dtype="float64")
            elements.append(draw_bars(panel, np.arange(len(table)), start, stop, 0.8,
                                      _SEVERITY_COLOURS[severity], horizontal=True))
            start = stop
        left += panel_width + 20
    elements.append(draw_legend(left - 110, _MARGIN_TOP + 6, [(_SEVERITY_COLOURS[s], s) for s in SEVERITIES]))
    return svg_document(left, _MARGIN_TOP + height + 40, elements, "Findings per rule and site")


def _draw_x_frame(panel: Panel, ticks: np.ndarray, title: str) -> str:
    """A horizontal bar chart's box, its count axis under it and its title."""
    bottom = panel.top + panel.height
    xs = panel.x(ticks)
    parts = [f'<rect x="{panel.left:.1f}" y="{panel.top:.1f}" width="{panel.width:.1f}" height="{panel.height:.1f}" '
             'fill="none" stroke="#333333" stroke-width="0.8"/>',
             f'<text x="{panel.left + panel.width / 2:.1f}" y="{panel.top - 7:.1f}" text-anchor="middle" '
             f'font-size="12">{html.escape(title)}</text>',
             f'<text x="{panel.left + panel.width / 2:.1f}" y="{bottom + 28:.1f}" text-anchor="middle">findings</text>']
    for x, tick in zip(xs, ticks):
        parts.append(f'<line x1="{x:.1f}" y1="{panel.top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#000000" '
                     f'stroke-opacity="0.12" stroke-width="0.8"/><text x="{x:.1f}" y="{bottom + 13:.1f}" '
                     f'text-anchor="middle">{"%g" % tick}</text>')
    return "".join(parts)


# --- HTML -------------------------------------------------------------------------------------


def write_report(parquet_dir: Path, findings: pd.DataFrame, out_path: Path) -> Path:
    """Write report.html for the run whose Parquet files are in `parquet_dir`; `findings` is the
    run's findings table (FINDING_COLUMNS). Returns `out_path`."""
    html_text = render_report(read_report_inputs(parquet_dir), findings)
    out_path = Path(out_path)
    write_atomically(out_path, lambda tmp: tmp.write_text(html_text, encoding="utf-8"))
    return out_path


def render_report(tables: dict, findings: pd.DataFrame) -> str:
    """The report's HTML from the tables read_report_inputs returns and the findings. Without DM
    (no subject mapped) there is no arm to count by: the report says so and shows the findings."""
    if "dm" not in tables:
        study, sections = "", [("subjects", "Subjects", "<p>No DM records in this run: no subject was mapped "
                                "(the findings say why), so there is no disposition, score or lab to show "
                                "by arm.</p>"), _findings_section(findings, _NO_SUBJECTS)]
    else:
        sections, study = _subject_sections(tables, findings), ", ".join(
            sorted(tables["dm"]["STUDYID"].dropna().astype(str).unique()))
    contents = "".join(f'<li><a href="#section-{anchor}">{html.escape(title)}</a></li>' for anchor, title, _ in sections)
    body = "".join(f'<section id="section-{anchor}"><h2>{html.escape(title)}</h2>{text}</section>'
                   for anchor, title, text in sections)
    run_id = html.escape(tables.get("_run_id", ""))
    # the tables this run has: a study without scores has no liver_scores to name
    read = ", ".join(name for name in ("dm", "lb", "sv", "tv", "liver_scores") if name in tables)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(study)} analysis report {run_id}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(study + ': ' if study else '')}analysis report</h1>"
        f"<p class=\"meta\">Run <code>{run_id}</code>. Read from the run's Parquet files "
        f"({read}) and its findings; every plot's numbers are in the table "
        "under it (medians and quartiles: linear interpolation).</p>"
        f"<nav><ol>{contents}</ol></nav>{body}</body></html>\n"
    )


_NO_SUBJECTS = pd.DataFrame({c: pd.Series(dtype="str") for c in ("STUDYID", "USUBJID", "SUBJID", "SITEID")})


def _subject_sections(tables: dict, findings: pd.DataFrame) -> list[tuple[str, str, str]]:
    dm = tables["dm"]
    arms_of = derive_arms(dm)
    arms = sorted(arms_of["ARM"].unique(), key=lambda a: (a == NO_ARM, a))
    visits = derive_planned_visits(tables)
    sections = [_disposition_section(tables, visits)]
    if "liver_scores" in tables and derive_score_columns(tables["liver_scores"]):
        sections.append(_scores_section(tables["liver_scores"], arms_of, arms, visits))
    if "lb" in tables and tables["lb"]["LBSTRESN"].notna().any():
        sections.append(_labs_section(tables["lb"], arms_of, arms, visits))
    sections.append(_findings_section(findings, dm))
    return sections


def _disposition_section(tables: dict, visits: pd.DataFrame):
    dm = tables["dm"]
    if "sv" in tables:
        seen, source = tables["sv"], "SV"
    else:
        parts = [tables[n][["USUBJID", "VISITNUM"]] for n in ("lb", "liver_scores") if n in tables]
        seen = pd.concat(parts) if parts else pd.DataFrame(columns=["USUBJID", "VISITNUM"])
        source = "LB and the analysis table"
    disposition = derive_disposition(dm, seen, visits)
    text = (
        f"<p>Subjects per planned arm (DM.ARM): enrolled (in DM), treated (RFXSTDTC given), died "
        f"(DTHFL = Y), and seen at each planned visit ({source}).</p>"
        + _image(render_disposition_figure(disposition, visits), "Subjects seen per visit and arm")
        + _table(disposition, "disposition")
    )
    return "disposition", "Subject disposition", text


def _scores_section(scores: pd.DataFrame, arms_of: pd.DataFrame, arms: list, visits: pd.DataFrame):
    frame = scores.drop(columns=["ARM"], errors="ignore").merge(arms_of, on="USUBJID", how="left")
    frame["ARM"] = frame["ARM"].fillna(NO_ARM)
    parts = ["<p>Each score of the analysis table (liver_scores.parquet) per visit and arm: thin "
             "lines are subjects, the thick line the median, the band the interquartile range; "
             "the change from baseline is the table's own (&lt;score&gt;_CHG).</p>"]
    for score in derive_score_columns(scores):
        parts.append(f'<h3 id="score-{html.escape(score)}">{html.escape(score)}</h3>')
        parts.append(_measure(frame, score, f"{score}_CHG", visits, arms, score, score))
    return "scores", "Scores over the visits", "".join(parts)


def _labs_section(lb: pd.DataFrame, arms_of: pd.DataFrame, arms: list, visits: pd.DataFrame):
    tests = derive_lab_tests(lb)
    changes = derive_lab_changes(lb, arms_of)
    parts = ["<p>Each lab test in its standard unit (LBSTRESN, LBSTRESU) per visit and arm; dashed "
             "lines are the reference range limits (LBSTNRLO, LBSTNRHI); change from the subject's "
             "baseline record (LBLOBXFL = Y) on the visits after it. Of several results at one "
             "visit the latest is used.</p>"]
    # units filled and reference ranges made distinct once, not once per test over every LB record;
    # a (test, unit)'s distinct ranges are the same rows, in the same order, as before
    change_units = changes["LBSTRESU"].fillna("")
    all_ranges = lb[["LBTESTCD", "LBSTNRLO", "LBSTNRHI"]].assign(_unit=lb["LBSTRESU"].fillna("")).drop_duplicates()
    for test in tests.itertuples(index=False):
        of_test = changes["LBTESTCD"] == test.LBTESTCD
        in_unit = of_test & (change_units == test.LBSTRESU)
        rows = changes.loc[in_unit, ["USUBJID", "ARM", "VISITNUM", "LBSTRESN", "CHG"]]  # what _measure reads
        other = int((of_test & ~in_unit).sum())
        title = f"{test.LBTEST} ({test.LBTESTCD})"
        ranges = all_ranges.loc[(all_ranges["LBTESTCD"] == test.LBTESTCD) & (all_ranges["_unit"] == test.LBSTRESU),
                                ["LBSTNRLO", "LBSTNRHI"]]
        parts.append(f'<h3 id="lab-{html.escape(test.LBTESTCD)}">{html.escape(title)}</h3>')
        note = f"Standard unit: {html.escape(test.LBSTRESU) or 'none'}. Reference range (records): {html.escape(test.ranges) or 'none given'}."
        if other:
            note += f" {other} results in another unit are not plotted."
        parts.append(f'<p class="meta">{note}</p>')
        parts.append(_measure(rows, "LBSTRESN", "CHG", visits, arms, test.LBTESTCD, title, test.LBSTRESU, ranges))
    return "labs", "Lab tests over the visits", "".join(parts)


def _findings_section(findings: pd.DataFrame, dm: pd.DataFrame):
    by_rule = derive_findings_by_rule(findings)
    by_site = derive_findings_by_site(findings, dm)
    if by_rule.empty:
        return "quality", "Data quality", "<p>No findings.</p>"
    text = (
        f"<p>{len(findings)} findings (findings.csv): per rule and per site (the finding's subject "
        "-> DM.SITEID), by severity. ERROR rows were held back, WARNING and INFO let through.</p>"
        + _image(render_findings_figure(by_rule, by_site), "Findings per rule and site")
        + _table(by_rule, "findings-by-rule") + _table(by_site, "findings-by-site")
    )
    return "quality", "Data quality", text


def _measure(frame, value, change, visits, arms, measure, title, unit="", ranges=None) -> str:
    """A measure's plot and, under it, the numbers it draws (table id "numbers-<measure>")."""
    summary = derive_visit_summary(frame, value, visits)
    changes = derive_visit_summary(frame, change, visits)
    svg = render_measure_figure(frame, value, summary, changes, visits, arms, measure, unit, ranges)
    table = summary.merge(
        changes.rename(columns={"n": "change n", "median": "change median", "q1": "change q1", "q3": "change q3"}),
        on=["ARM", "VISITNUM", "VISIT"], how="outer",
    ).sort_values(["ARM", "VISITNUM"]).astype({"n": "Int64", "change n": "Int64"})
    return (_image(svg, title) + "<details><summary>Numbers behind the plot</summary>"
            + _table(table, "numbers", measure) + "</details>")


def _table(frame: pd.DataFrame, kind: str, measure: str | None = None) -> str:
    cells = frame.assign(**{
        c: _format_numbers(frame[c]) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
    }).astype("object").fillna("")
    table_id = f"{kind}-{measure}" if measure else kind
    return cells.to_html(index=False, classes=kind, table_id=table_id, border=0, escape=True)


def _format_numbers(values: pd.Series) -> pd.Series:
    """Numbers as short text (6 significant digits, no trailing zeros); blank where missing."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    text = pd.Series(np.char.mod("%.6g", numbers.to_numpy()), index=values.index, dtype="object")
    return text.where(numbers.notna(), "")


def _image(svg: str, alt: str) -> str:
    # inline: the page stays one file with nothing to fetch; the label is the image's name
    return f'<figure role="img" aria-label="{html.escape(alt)}">{svg}</figure>'


_CSS = """
body{font-family:"DejaVu Sans",Verdana,sans-serif;font-size:14px;margin:1.5em auto;max-width:1180px;color:#222}
h1{font-size:1.5em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:1.6em}h3{margin-bottom:.2em}
figure{margin:.4em 0;overflow-x:auto}figure svg{display:block}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
table.findings-by-rule td:last-child,table.findings-by-rule th:last-child{text-align:left;max-width:520px}
.meta{color:#555}details{margin-bottom:1em}summary{cursor:pointer;color:#1f4e99}
"""
