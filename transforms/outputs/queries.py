"""Site queries: the findings the site must answer, in the site's own terms.

The findings table is for reviewers (rule ids, canonical column names, every INFO note). The site
needs something else: one line per problem it has to answer, pointing at the cell as the site sees
it (subject, visit as typed, file, sheet, spreadsheet row, the column header as written in the
file, the value as sent), what is wrong and what is needed, in subject and visit order.
`build_queries` makes that table (pure); `write_queries` writes it as `queries.xlsx` and
`queries.csv` beside the package.

Which findings become queries: ERROR (the row is held back until the site corrects it) and
WARNING (the row is mapped; the site confirms or corrects it) of the stages that judge the site's
data (ingest, standardise, validate, map), including file-level ones (an unreadable file, a
missing column) that have no row. INFO notes and our own conformance checks are not queries.

A spreadsheet is an attack surface: a value the site sent that starts with `=`, `+`, `-`, `@`, a
tab or a carriage return would be a formula in Excel, so every such cell is written with a
leading `'` (both files). The workbook's bytes depend only on its content and the timestamp
given (fixed document properties and zip entry times).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from transforms.core.files import write_atomically
from transforms.core.xlsx import Sheet, compute_tables_xlsx_bytes
from transforms.core.findings import ERROR, WARNING
from transforms.spec.study import MAPPINGS_DIR

SITE_STAGES = ("ingest", "standardise", "validate", "map")
QUERY_COLUMNS = [
    "Subject",
    "Visit",
    "File",
    "Sheet",
    "Row",
    "Column",
    "Value as sent",
    "What is wrong",
    "What is needed",
    "Status",
    "Rule",
]
# The row's fate, not the finding's: a WARNING on a row another finding holds back says so.
STATUS = {
    ERROR: "held back: not in the SDTM package until corrected",
    WARNING: "mapped: please confirm or correct",
}
RULE_COLUMNS = ["rule", "stage", "title", "what_is_needed"]
SHEET_NAME = "Queries"
# Characters that make a spreadsheet cell a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_WIDTHS = {"What is wrong": 80, "What is needed": 50, "Value as sent": 24, "Status": 30}
_DEFAULT_TIMESTAMP = datetime(2000, 1, 1)


def read_rules(path: Path | None = None) -> pd.DataFrame:
    """The rules table (`mappings/rules.csv`): rule id, stage, title, what the site must do."""
    path = Path(path) if path is not None else MAPPINGS_DIR / "rules.csv"
    rules = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; it needs {', '.join(RULE_COLUMNS)}")
    duplicated = rules.loc[rules["rule"].duplicated(), "rule"]
    if not duplicated.empty:
        raise ValueError(f"{path}: rule {duplicated.iloc[0]} is listed twice; keep one row")
    return rules[RULE_COLUMNS]


def build_queries(
    findings: pd.DataFrame,
    sheets: dict[str, pd.DataFrame] | None = None,
    headers: pd.DataFrame | None = None,
    rules: pd.DataFrame | None = None,
    sheet_labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per problem the site must answer (QUERY_COLUMNS), sorted by subject, visit, file,
    sheet and row; file-level problems (no subject) first.

    `sheets` are the raw sheets with lineage (`visit` gives the visit as typed); `headers` the
    ingest's (file, sheet, column, header) so the column is named as the site wrote it (else
    the canonical name); `rules` the rules table (read_rules) for "What is needed";
    `sheet_labels` {role: the name the site knows the sheet of that role by} (Study.label_of),
    which fills a rule's `{sheet:<role>}` and `{sheets}` (None: the role's own word).
    """
    if rules is None:
        rules = read_rules()
    selected = findings[
        findings["severity"].isin([ERROR, WARNING]) & findings["stage"].isin(SITE_STAGES)
    ].reset_index(drop=True)
    keyed = selected.assign(row=selected["row"].astype("Int64"))
    keyed = keyed.merge(_visits(sheets), on=["file", "sheet", "row"], how="left")
    keyed = keyed.merge(
        _headers(headers), left_on=["file", "sheet", "variable"],
        right_on=["file", "sheet", "column"], how="left",
    )
    keyed = keyed.merge(rules[["rule", "what_is_needed"]], on="rule", how="left")
    keyed = keyed.assign(what_is_needed=compute_needed_text(keyed, _headers(headers), sheet_labels))
    # a WARNING's row may still be held back by an ERROR on the same row (or its subject's)
    held = findings.loc[(findings["severity"] == ERROR) & findings["row"].notna(), ["file", "sheet", "row"]]
    held = held.drop_duplicates().astype({"row": "Int64"}).assign(_held=True)
    keyed = keyed.merge(held, on=["file", "sheet", "row"], how="left")
    status = keyed["severity"].where(keyed["_held"].isna() | keyed["row"].isna(), ERROR)
    queries = pd.DataFrame(
        {
            "Subject": keyed["subject"],
            "Visit": keyed["visit"],
            "File": keyed["file"],
            "Sheet": keyed["sheet"],
            "Row": keyed["row"],
            "Column": keyed["header"].fillna(keyed["variable"]),
            "Value as sent": keyed["value"],
            "What is wrong": keyed["message"],
            "What is needed": keyed["what_is_needed"],
            "Status": status.map(STATUS),
            "Rule": keyed["rule"],
        }
    )
    text = [c for c in QUERY_COLUMNS if c != "Row"]
    queries[text] = queries[text].astype("object").where(queries[text].notna(), None)
    order = ["Subject", "Visit", "File", "Sheet", "Row", "Rule", "Column"]
    return queries.sort_values(order, na_position="first", kind="stable").reset_index(drop=True)


def compute_needed_text(
    keyed: pd.DataFrame, headers: pd.DataFrame, sheet_labels: dict[str, str] | None = None
) -> pd.Series:
    """"What is needed" in the site's words: each `{column}` of a rule's text (rules.csv, e.g.
    `{not_done_reason}`) becomes that column's header as the row's file sent it, else as any file
    of the run sent it, else the column id in words; `{sheet:<role>}` the name of the study's
    sheet of that role, `{sheets}` all of them. rules.csv is shared by every study, so a header
    or sheet name written into it would be one study's in every other study's queries."""
    needed = keyed["what_is_needed"].astype("object")
    text = needed.where(needed.notna(), "").astype("str")
    labels = dict(sheet_labels or {})
    text = text.str.replace(
        r"\{sheet:([a-z_]+)\}", lambda m: labels.get(m[1], f"{m[1]} sheet"), regex=True
    ).str.replace("{sheets}", ", ".join(labels.values()) or "the study's sheets", regex=False)
    for name in sorted(set(text.str.findall(r"\{([a-z_]+)\}").explode().dropna())):
        mine = headers[headers["column"] == name]
        here = keyed[["file", "sheet"]].merge(mine[["file", "sheet", "header"]], on=["file", "sheet"], how="left")["header"]
        anywhere = mine["header"].iloc[0] if not mine.empty else name.replace("_", " ")
        header = pd.Series(here.to_numpy(), index=keyed.index).fillna(anywhere).astype("str")
        has = text.str.contains("{" + name + "}", regex=False)
        text = text.where(~has, [t.replace("{" + name + "}", h) for t, h in zip(text, header)])
    return text.where(needed.notna(), None)


def compute_neutralised(values: pd.Series) -> pd.Series:
    """Text that a spreadsheet would read as a formula, prefixed with `'`; other values as they
    are (numbers stay numbers, missing stays missing)."""
    if pd.api.types.is_numeric_dtype(values):
        return values
    text = values.astype("object")
    as_text = text.where(text.notna(), "").astype("str")
    risky = text.notna() & as_text.str.startswith(FORMULA_START)
    return text.where(~risky, "'" + as_text)


def write_queries(queries: pd.DataFrame, run_dir: Path, timestamp: datetime | None = None) -> list[Path]:
    """Write `queries.xlsx` (header row, column widths, frozen header, wrapped text, fixed
    properties and zip times) and `queries.csv` into `run_dir`; returns the two paths."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    safe = queries[QUERY_COLUMNS].apply(compute_neutralised)
    csv_path = run_dir / "queries.csv"
    write_atomically(csv_path, lambda tmp: safe.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8"))
    xlsx_path = run_dir / "queries.xlsx"
    data = _workbook_bytes(safe, timestamp or _DEFAULT_TIMESTAMP)
    write_atomically(xlsx_path, lambda tmp: tmp.write_bytes(data))
    return [xlsx_path, csv_path]


def _workbook_bytes(table: pd.DataFrame, timestamp: datetime) -> bytes:
    """The queries as an xlsx whose bytes depend only on `table` and `timestamp`: header row
    frozen, an autofilter, each column as wide as its longest value (at most 40 characters,
    except the widths set in _WIDTHS), the two long texts wrapped."""
    widths = {}
    for name in table.columns:
        lengths = table[name].astype("object").where(table[name].notna(), "").astype("str").str.len()
        longest = int(lengths.max()) if len(lengths) else 0
        widths[name] = _WIDTHS.get(name, min(max(len(name), longest) + 2, 40))
    sheet = Sheet(SHEET_NAME, table, widths, wrapped=("What is wrong", "What is needed"), autofilter=True)
    return compute_tables_xlsx_bytes([sheet], timestamp)


def _visits(sheets: dict[str, pd.DataFrame] | None) -> pd.DataFrame:
    """(file, sheet, row) -> the visit as the site typed it, from every sheet that has one."""
    parts = [
        frame[["_file", "_sheet", "_row", "visit"]]
        for frame in (sheets or {}).values()
        if {"_file", "_sheet", "_row", "visit"} <= set(frame.columns)
    ]
    if not parts:
        return pd.DataFrame({"file": pd.Series(dtype="object"), "sheet": pd.Series(dtype="object"),
                             "row": pd.Series(dtype="Int64"), "visit": pd.Series(dtype="object")})
    visits = pd.concat(parts, ignore_index=True).set_axis(["file", "sheet", "row", "visit"], axis=1)
    visits = visits.astype({"file": "object", "sheet": "object", "row": "Int64", "visit": "object"})
    return visits.drop_duplicates(["file", "sheet", "row"])


def _headers(headers: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["file", "sheet", "column", "header"]
    if headers is None or headers.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return headers[columns].astype("object").drop_duplicates(["file", "sheet", "column"])

