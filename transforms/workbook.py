"""Deterministic xlsx bytes: the same workbook content always gives the same file.

openpyxl's `save()` stamps the current time into docProps/core.xml and into every zip entry, so
identical queries, conformance reports or sample exports would differ run to run. Writing through
ExcelWriter keeps the document properties we set, and re-packing the zip with one fixed entry time
removes the rest.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

_ZIP_EPOCH = datetime(1980, 1, 1)  # the zip format cannot store an earlier time


def compute_xlsx_bytes(book: Workbook, stamp: datetime, creator: str = "sdtmflow") -> bytes:
    """The workbook as xlsx bytes with `stamp` as created/modified time and zip entry time."""
    stamp = max(stamp, _ZIP_EPOCH)
    book.properties.creator = book.properties.lastModifiedBy = creator
    book.properties.created = book.properties.modified = stamp
    staged = io.BytesIO()
    with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()
    packed = io.BytesIO()
    with zipfile.ZipFile(staged) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=stamp.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = entry.external_attr
            target.writestr(fixed, source.read(entry.filename))
    return packed.getvalue()
