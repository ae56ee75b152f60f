"""Reconciliation: every raw row read is an SDTM record or a finding, and the counts say so.

rows read = rows mapped + rows held back, per file and sheet. A row is mapped when some SDTM
record carries its lineage; held back when it has none, which is only allowed when a finding
names that row (or its whole sheet was rejected). A row that is neither, or a row mapped despite
an ERROR finding, breaks the invariant and the run fails.
"""

from __future__ import annotations

import pandas as pd

from transforms.findings import ERROR, LINEAGE

KEY = ["file", "sheet", "row"]


def reconcile_rows(
    sheets: dict[str, pd.DataFrame],
    inventory: pd.DataFrame,
    findings: pd.DataFrame,
    domains: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Counts per file and sheet: read, mapped, held_back, unaccounted, mapped_with_error."""
    raw = pd.concat(
        [frame[LINEAGE] for frame in sheets.values() if not frame.empty]
        or [pd.DataFrame(columns=LINEAGE)],
        ignore_index=True,
    ).set_axis(KEY, axis=1)
    mapped = pd.concat(
        [frame[LINEAGE] for frame in domains.values() if set(LINEAGE) <= set(frame.columns)]
        or [pd.DataFrame(columns=LINEAGE)],
        ignore_index=True,
    ).set_axis(KEY, axis=1).drop_duplicates()
    raw = _typed(raw)
    mapped = _typed(mapped)
    row_findings = _typed(findings.loc[findings["row"].notna(), KEY].drop_duplicates())
    error_rows = _typed(
        findings.loc[(findings["severity"] == ERROR) & findings["row"].notna(), KEY].drop_duplicates()
    )
    status = (
        raw.merge(mapped.assign(is_mapped=True), on=KEY, how="left")
        .merge(row_findings.assign(has_finding=True), on=KEY, how="left")
        .merge(error_rows.assign(has_error=True), on=KEY, how="left")
    )
    status = status.fillna({"is_mapped": False, "has_finding": False, "has_error": False}).infer_objects()
    status = status.assign(
        held_back=~status["is_mapped"] & status["has_finding"],
        unaccounted=~status["is_mapped"] & ~status["has_finding"],
        mapped_with_error=status["is_mapped"] & status["has_error"],
    )
    loaded = status.groupby(["file", "sheet"], as_index=False).agg(
        read=("row", "size"),
        mapped=("is_mapped", "sum"),
        held_back=("held_back", "sum"),
        unaccounted=("unaccounted", "sum"),
        mapped_with_error=("mapped_with_error", "sum"),
    )
    rejected = inventory.loc[~inventory["loaded"].astype(bool), ["file", "sheet", "rows"]].rename(
        columns={"rows": "read"}
    )
    rejected = rejected.assign(
        mapped=0, held_back=rejected["read"], unaccounted=0, mapped_with_error=0
    )
    kinds = inventory[["file", "sheet", "kind"]]
    counts = pd.concat([loaded, rejected], ignore_index=True).merge(kinds, on=["file", "sheet"], how="left")
    columns = ["kind", "file", "sheet", "read", "mapped", "held_back", "unaccounted", "mapped_with_error"]
    counts = counts[columns].astype({c: "int64" for c in columns[3:]})
    return counts.sort_values(["kind", "file", "sheet"], kind="stable").reset_index(drop=True)


def check_reconciliation(counts: pd.DataFrame) -> list[str]:
    """The invariant's violations, as sentences; empty when every row is accounted for."""
    problems = []
    for row in counts.itertuples(index=False):
        if row.read != row.mapped + row.held_back or row.unaccounted:
            problems.append(
                f"{row.file} / {row.sheet}: {row.read} rows read but {row.mapped} mapped + "
                f"{row.held_back} held back ({row.unaccounted} rows have neither a record nor a finding)"
            )
        if row.mapped_with_error:
            problems.append(
                f"{row.file} / {row.sheet}: {row.mapped_with_error} rows reached SDTM despite an ERROR finding"
            )
    return problems


def format_reconciliation(counts: pd.DataFrame) -> str:
    """The per-sheet table the run prints at its end."""
    lines = [f"{'sheet':<12} {'file':<40} {'read':>7} {'mapped':>7} {'held back':>9}"]
    for row in counts.itertuples(index=False):
        lines.append(
            f"{row.kind:<12} {row.file + ' / ' + row.sheet:<40.40} {row.read:>7} {row.mapped:>7} {row.held_back:>9}"
        )
    total = counts[["read", "mapped", "held_back"]].sum()
    verdict = "OK" if not check_reconciliation(counts) else "MISMATCH"
    lines.append(
        f"{'all':<12} {'':<40} {total['read']:>7} {total['mapped']:>7} {total['held_back']:>9}"
        f"   rows read = mapped + held back: {verdict}"
    )
    return "\n".join(lines)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"file": "object", "sheet": "object", "row": "int64"})
