"""Reading the export folder's files: which files there are, and each file's tables as raw text.

The file layer of ingest (transforms/ingest.py recognises sheets and columns in what this reads).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd

from transforms.findings import ERROR, empty_findings, make_finding

STAGE = "ingest"
_DATE_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # an encrypted (password-protected) xlsx is an OLE container


def list_input_files(input_dir: Path) -> pd.DataFrame:
    """Files of the export, oldest first: a date in the name (`Labs_2026-03-01.csv`) orders them,
    then the name. File dates, not modification times, because a copy or a git clone resets mtimes
    and the newest export must win the same way on every machine."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input folder {input_dir} does not exist")
    paths = sorted(
        p for p in input_dir.iterdir()
        if p.is_file() and p.suffix.lower() in (".xlsx", ".csv") and not p.name.startswith(("~$", "."))
    )
    dates = [
        "".join(m.groups()) if (m := _DATE_IN_NAME.search(p.name)) else "00000000" for p in paths
    ]
    files = pd.DataFrame(
        {
            "path": [str(p) for p in paths],
            "name": [p.name for p in paths],
            "size": [p.stat().st_size for p in paths],
            "export_date": dates,
        }
    )
    files = files.sort_values(["export_date", "name"], kind="stable").reset_index(drop=True)
    return files.assign(order=range(len(files)))


def read_file_tables(path: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """All tables of one file as raw text frames (header row as columns), or a file-level finding."""
    try:
        if path.suffix.lower() == ".csv":
            return {path.stem: read_csv_text(path)}, empty_findings()
        return read_workbook_text(path), empty_findings()
    except UnicodeDecodeError as error:
        message = (
            f"file is not UTF-8 text (byte {error.start}): re-export it as 'CSV UTF-8' "
            "so Chinese text and units like µmol/L survive"
        )
    except _EncryptedWorkbook:
        message = "workbook is password-protected: export it again without a password"
    except _EmptyFile:
        message = "file is empty: the export did not write any data"
    except Exception as error:  # noqa: BLE001 — any reader failure is the site's file, not our bug
        message = f"file cannot be read ({type(error).__name__}: {error}); re-export it"
    return {}, make_finding(severity=ERROR, stage=STAGE, rule="SF-0001", file=path.name, message=message)


class _EncryptedWorkbook(Exception):
    pass


class _EmptyFile(Exception):
    pass


def read_workbook_text(path: Path) -> dict[str, pd.DataFrame]:
    """Every sheet of an xlsx as text. calamine is ~6x faster than openpyxl on large sheets."""
    head = path.read_bytes()[:8]
    if not head:
        raise _EmptyFile()
    if head.startswith(_OLE_MAGIC):
        raise _EncryptedWorkbook()
    if not zipfile.is_zipfile(path):
        raise ValueError("not an xlsx workbook (no zip container)")
    # keep_default_na=False: "None" (no ascites) and "NA" are answers the site gave, not blanks.
    return pd.read_excel(
        path, sheet_name=None, engine="calamine", dtype=str, header=0, keep_default_na=False
    )


def read_csv_text(path: Path) -> pd.DataFrame:
    """A CSV as text. utf-8-sig: Excel's 'CSV UTF-8' starts with a byte-order mark."""
    if path.stat().st_size == 0:
        raise _EmptyFile()
    return pd.read_csv(
        path, dtype=str, encoding="utf-8-sig", keep_default_na=False, skip_blank_lines=False
    )
