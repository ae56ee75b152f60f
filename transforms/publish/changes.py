"""The changes report: every SDTM value that differs from the previously published run.

Records are matched by their natural key, never by --SEQ (which renumbers when a record is added
before another). A record in both runs whose values differ gives one row per changed variable
(old -> new); a record only in the new run is `added`, one only in the old run `removed`. Each row
names the raw file, sheet and row the new value came from (for `removed`, where the old one came
from), taken from the runs' lineage tables.

A corrected export shows up here: the newer file's row supersedes the older one (checks.py,
SF-0111) and its changed values are listed with the newer file as their source.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from transforms.outputs.submission import find_sdtm_datasets

# The variables that identify one record of each dataset across runs (records repeating a key
# pair up in --SEQ order). A dataset without an entry is matched on all its values except
# --SEQ, so a change there reads as one record removed and one added.
NATURAL_KEYS = {
    "DM": ["USUBJID"],
    "EX": ["USUBJID", "EXSPID"],
    "LB": ["USUBJID", "LBTESTCD", "VISITNUM", "LBDTC"],
    "RS": ["USUBJID", "RSTESTCD", "VISITNUM"],
    "MH": ["USUBJID", "MHCAT", "MHTERM"],
    "SV": ["USUBJID", "VISITNUM"],
    "TS": ["TSPARMCD"],
    "TA": ["ARMCD", "TAETORD"],
    "TE": ["ETCD"],
    "TV": ["VISITNUM", "ARMCD"],
    "TI": ["IETESTCD"],
}

CHANGE_COLUMNS = [
    "domain", "change", "key", "USUBJID", "variable", "old", "new", "file", "sheet", "row",
]
ADDED, REMOVED, CHANGED = "added", "removed", "changed"
_OCCURRENCE = "_occurrence"
_LINEAGE = ["file", "sheet", "row"]


def compute_changes(
    old: dict[str, pd.DataFrame],
    new: dict[str, pd.DataFrame],
    old_lineage: pd.DataFrame,
    new_lineage: pd.DataFrame,
    keys: dict[str, list[str]] = NATURAL_KEYS,
) -> pd.DataFrame:
    """CHANGE_COLUMNS, one row per changed value or added/removed record, sorted by domain and key.

    `old`/`new` map a domain name to its SDTM frame (as published); the lineage frames are the
    runs' lineage.csv (DOMAIN, USUBJID, SEQ, file, sheet, row). An empty `old` (first run) lists
    every record as added.
    """
    parts = [_empty_changes()]
    for domain in sorted(set(old) | set(new)):
        before = old.get(domain)
        after = new.get(domain)
        template = after if after is not None else before
        before = before if before is not None else template.iloc[0:0]
        after = after if after is not None else template.iloc[0:0]
        parts.append(
            compare_domain(
                domain,
                before, after,
                _domain_lineage(old_lineage, domain), _domain_lineage(new_lineage, domain),
                keys.get(domain),
            )
        )
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["domain", "key", "change", "variable"], kind="stable").reset_index(drop=True)


def compare_domain(
    domain: str,
    old: pd.DataFrame,
    new: pd.DataFrame,
    old_lineage: pd.DataFrame,
    new_lineage: pd.DataFrame,
    key: list[str] | None,
) -> pd.DataFrame:
    """The changes of one domain (see compute_changes)."""
    seq = f"{domain}SEQ"
    old = _keyed(_as_text(old), seq, old_lineage)
    new = _keyed(_as_text(new), seq, new_lineage)
    key = list(key) if key else [c for c in new.columns if c not in (seq, *_LINEAGE)]
    missing = [c for c in key if c not in new.columns or c not in old.columns]
    if missing:
        raise ValueError(f"{domain}: natural key variable(s) {missing} not in the dataset; fix NATURAL_KEYS")
    match = key + [_OCCURRENCE]
    old = _number_occurrences(old, key, seq)
    new = _number_occurrences(new, key, seq)
    both = old.merge(new, on=match, how="outer", suffixes=("_old", "_new"), indicator=True)
    values = [c for c in new.columns if c not in (*match, seq, *_LINEAGE) and c in old.columns]
    only_new = [c for c in new.columns if c not in (*match, seq, *_LINEAGE) and c not in old.columns]
    only_old = [c for c in old.columns if c not in (*match, seq, *_LINEAGE) and c not in new.columns]
    labels = _format_keys(both, key)
    parts = []
    for side, change in (("right_only", ADDED), ("left_only", REMOVED)):
        rows = both[both["_merge"] == side]
        suffix = "_new" if change == ADDED else "_old"
        parts.append(
            pd.DataFrame(
                {
                    "change": change,
                    "key": labels[rows.index],
                    "USUBJID": rows["USUBJID"] if "USUBJID" in key else rows.get(f"USUBJID{suffix}", ""),
                    "variable": "",
                    "old": "",
                    "new": "",
                    **{c: rows[f"{c}{suffix}"] for c in _LINEAGE},
                }
            )
        )
    matched = both[both["_merge"] == "both"]
    for variable in values + only_new + only_old:
        before = matched[f"{variable}_old"] if variable in values else (
            matched[variable] if variable in only_old else pd.Series("", index=matched.index)
        )
        after = matched[f"{variable}_new"] if variable in values else (
            matched[variable] if variable in only_new else pd.Series("", index=matched.index)
        )
        differs = before != after
        if not differs.any():
            continue
        rows = matched[differs]
        parts.append(
            pd.DataFrame(
                {
                    "change": CHANGED,
                    "key": labels[rows.index],
                    "USUBJID": rows["USUBJID"] if "USUBJID" in key else rows.get("USUBJID_new", ""),
                    "variable": variable,
                    "old": before[differs],
                    "new": after[differs],
                    **{c: rows[f"{c}_new"] for c in _LINEAGE},
                }
            )
        )
    out = pd.concat([_empty_changes(), *[p for p in parts if not p.empty]], ignore_index=True)
    return out.assign(domain=domain)[CHANGE_COLUMNS]


def read_published_domains(run_dir: Path | None) -> dict[str, pd.DataFrame]:
    """The SDTM datasets of a run from its Parquet files ({} when there is no run).

    A dataset is SDTM when the run wrote it as XPT too; analysis tables (Parquet only) are skipped.
    """
    if run_dir is None or not Path(run_dir).is_dir():
        return {}
    names = sorted(path.stem.upper() for path in find_sdtm_datasets(run_dir))
    frames = {}
    for name in names:
        path = Path(run_dir) / "parquet" / f"{name.lower()}.parquet"
        if path.is_file():
            frames[name] = pq.read_table(path).to_pandas()
    return frames


def read_lineage(run_dir: Path | None) -> pd.DataFrame:
    """A run's lineage.csv (empty frame when there is no run)."""
    path = Path(run_dir) / "lineage.csv" if run_dir is not None else None
    if path is None or not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ["DOMAIN", "USUBJID", "SEQ", *_LINEAGE]})
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def format_changes(changes: pd.DataFrame, previous_run: str | None = None) -> str:
    """One line for the run summary: counts by change kind and domain."""
    if previous_run is None:
        return "changes: first publication in this output folder, nothing to compare with"
    since = f"changes since run {previous_run}"
    if changes.empty:
        return f"{since}: none (see changes.csv)"
    counts = changes.groupby(["change", "domain"]).size()
    text = ", ".join(
        f"{change} {int(counts[change].sum())} ({', '.join(f'{d} {int(n)}' for d, n in counts[change].items())})"
        for change in (CHANGED, ADDED, REMOVED)
        if change in counts.index.get_level_values(0)
    )
    return f"{since}: {text} (see changes.csv)"


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as text, missing as "": values compare the same way whatever their dtype.
    Numbers print as SAS shows them: 3.0 as "3", 0.1 as "0.1" (the shortest exact form)."""
    out = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    return pd.DataFrame({c: compute_text(out[c]) for c in out.columns}, index=out.index)


def compute_text(values: pd.Series) -> pd.Series:
    """A column as comparable text (see _as_text)."""
    if pd.api.types.is_float_dtype(values.dtype):
        text = [
            "" if x != x else (str(int(x)) if float(x).is_integer() else repr(float(x)))
            for x in values.to_numpy(dtype=float, na_value=float("nan"))
        ]
        return pd.Series(text, index=values.index, dtype=object)
    return values.astype("string").fillna("").astype(object)


def _keyed(frame: pd.DataFrame, seq: str, lineage: pd.DataFrame) -> pd.DataFrame:
    """Attach each record's raw file/sheet/row via (USUBJID, --SEQ), or via USUBJID for DM."""
    if lineage.empty or "USUBJID" not in frame.columns:
        return frame.assign(**{c: "" for c in _LINEAGE})
    lineage = lineage[["USUBJID", "SEQ", *_LINEAGE]].astype("string").fillna("").astype(object)
    lineage = lineage.drop_duplicates(["USUBJID", "SEQ"])
    by = frame[seq] if seq in frame.columns else pd.Series("", index=frame.index)
    joined = frame.assign(_seq=by.to_numpy()).merge(
        lineage.rename(columns={"SEQ": "_seq"}), on=["USUBJID", "_seq"], how="left"
    )
    return joined.drop(columns="_seq").fillna({c: "" for c in _LINEAGE})


def _domain_lineage(lineage: pd.DataFrame, domain: str) -> pd.DataFrame:
    return lineage[lineage["DOMAIN"].astype(str) == domain]


def _number_occurrences(frame: pd.DataFrame, key: list[str], seq: str) -> pd.DataFrame:
    """1, 2, ... per repeated natural key (in --SEQ order), so repeats pair up one to one."""
    order = frame.sort_values(
        key + ([seq] if seq in frame.columns else []),
        key=lambda c: pd.to_numeric(c, errors="coerce") if c.name == seq else c,
        kind="stable",
    )
    return order.assign(**{_OCCURRENCE: order.groupby(key, sort=False).cumcount() + 1}).reset_index(drop=True)


def _format_keys(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    label = pd.Series("", index=frame.index, dtype=object)
    for i, column in enumerate(key):
        label = label + ("; " if i else "") + column + "=" + frame[column].astype(str)
    repeat = frame[_OCCURRENCE] > 1
    return label.where(~repeat, label + " #" + frame[_OCCURRENCE].astype(str))


def _empty_changes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in CHANGE_COLUMNS})
