"""Reconciliation: every raw row read is an SDTM record or a finding, and the counts say so.

rows read = rows mapped + rows held back, per file and sheet. A row is mapped when some SDTM
record carries its lineage; held back when it has none, which is only allowed when a finding
names that row (or its whole sheet was rejected). A row that is neither, or a row mapped despite
an ERROR finding, breaks the invariant and the run fails.
"""

from __future__ import annotations

import pandas as pd

from transforms.core.findings import ERROR, LINEAGE
from transforms.ingest.read_files import INVENTORY_COLUMNS

KEY = ["file", "sheet", "row"]


def reconcile_rows(
    sheets: dict[str, pd.DataFrame],
    inventory: pd.DataFrame,
    findings: pd.DataFrame,
    domains: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Counts per file and sheet, and per entry of the folder not read (sheet None): read (rows
    present, from the inventory), mapped, held_back (by a row finding, or by ingest: a sheet or
    entry not read, a truncated row), unaccounted, mapped_with_error, status (the inventory's)."""
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
    in_frames = status.groupby(["file", "sheet"], as_index=False).agg(
        in_frame=("row", "size"),
        mapped=("is_mapped", "sum"),
        finding_held=("held_back", "sum"),
        mapped_with_error=("mapped_with_error", "sum"),
    )
    # Rows present, not rows recognised: every sheet and entry the inventory lists counts with
    # the rows it holds; the frames' lineage says which of them were mapped or held back.
    present = complete_inventory(inventory).drop(columns="loaded").rename(columns={"held_back": "ingest_held"})
    counts = present.merge(in_frames, on=["file", "sheet"], how="outer")
    counts = counts.fillna({"in_frame": 0, "mapped": 0, "finding_held": 0, "mapped_with_error": 0,
                            "ingest_held": 0})
    counts["rows"] = counts["rows"].fillna(counts["in_frame"])
    counts = counts.assign(
        read=counts["rows"],
        held_back=counts["finding_held"] + counts["ingest_held"],
    )
    counts = counts.assign(unaccounted=counts["read"] - counts["mapped"] - counts["held_back"])
    columns = ["kind", "file", "sheet", "read", "mapped", "held_back", "unaccounted", "mapped_with_error", "status"]
    counts = counts[columns].astype({c: "int64" for c in columns[3:8]}).astype(
        {"kind": object, "sheet": object, "status": object})
    for column in ("kind", "sheet", "status"):
        counts[column] = counts[column].where(counts[column].notna(), None)
    return counts.sort_values(["kind", "file", "sheet"], kind="stable", na_position="last").reset_index(drop=True)


def complete_inventory(inventory: pd.DataFrame) -> pd.DataFrame:
    """The inventory with every INVENTORY_COLUMNS column: one without `held_back` / `status`
    (built before they existed) holds back all the rows of a sheet not loaded."""
    loaded = inventory["loaded"].astype(bool)
    defaults = {
        "held_back": inventory["rows"].where(~loaded, 0),
        "status": pd.Series("read", index=inventory.index).where(loaded, "not loaded"),
    }
    out = inventory.assign(**{c: v for c, v in defaults.items() if c not in inventory.columns})
    return out[INVENTORY_COLUMNS].astype({"loaded": bool})


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
        where = f"{row.file} / {row.sheet}" if row.sheet is not None else f"{row.file} (not read)"
        note = "" if getattr(row, "status", None) in (None, "read") else f"   {row.status}"
        lines.append(
            f"{row.kind or '-':<12} {where:<40.40} {row.read:>7} {row.mapped:>7} {row.held_back:>9}{note}"
        )
    total = counts[["read", "mapped", "held_back"]].sum()
    verdict = "OK" if not check_reconciliation(counts) else "MISMATCH"
    seen, read = compute_file_counts(counts)
    lines.append(
        f"{'all':<12} {'':<40} {total['read']:>7} {total['mapped']:>7} {total['held_back']:>9}"
        f"   files: {seen} seen, {read} read, {seen - read} not read;"
        f" rows read = mapped + held back: {verdict}"
    )
    return "\n".join(lines)


def compute_file_counts(counts: pd.DataFrame) -> tuple[int, int]:
    """(entries of the export folder seen, files read): a file is read when its sheets were."""
    return int(counts["file"].nunique()), int(counts.loc[counts["sheet"].notna(), "file"].nunique())


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    # text, not Python objects: the raw side has a row per row read
    return frame.astype({"file": "str", "sheet": "str", "row": "int64"})
