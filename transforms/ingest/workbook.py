"""Deterministic xlsx bytes from openpyxl workbooks: the same content always gives the same file.

The generated sample exports are written here, through openpyxl, because a site's workbook has
date cells and number formats; the run's own reports use transforms.core.xlsx. openpyxl's `save()`
stamps the current time into docProps/core.xml and into every zip entry, so identical sample
exports would differ run to run. Writing through
ExcelWriter keeps the document properties we set, and re-packing the zip with one fixed entry time
removes the rest.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from transforms.core.xlsx import ZIP_EPOCH, compute_zip_bytes


def compute_xlsx_bytes(book: Workbook, stamp: datetime, creator: str = "sdtmflow") -> bytes:
    """The workbook as xlsx bytes with `stamp` as created/modified time and zip entry time."""
    stamp = max(stamp, ZIP_EPOCH)
    book.properties.creator = book.properties.lastModifiedBy = creator
    book.properties.created = book.properties.modified = stamp
    staged = io.BytesIO()
    with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()
    with zipfile.ZipFile(staged) as source:
        entries = [(e.filename, source.read(e.filename), e.external_attr) for e in source.infolist()]
    return compute_zip_bytes(entries, stamp)


def compute_frames_xlsx_bytes(frames: dict[str, pd.DataFrame], stamp: datetime, creator: str) -> bytes:
    """An xlsx of one sheet per frame (header row, then the rows; cell types follow the Python
    types: None blank, numbers, dates, text), its bytes depending only on the frames."""
    book = Workbook()
    book.remove(book.active)
    for name, frame in frames.items():
        sheet = book.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False, name=None):
            sheet.append([_cell_value(v) for v in row])
    return compute_xlsx_bytes(book, stamp, creator=creator)


def _cell_value(value):
    """A frame value as openpyxl should store it: blank, number, date or text."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
