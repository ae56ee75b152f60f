"""SAS transport (XPORT) version 5 files, written with numpy: no per-record Python.

Layout (SAS TS-140, "The Record Layout of a Data Set in SAS Transport (XPORT) Format"):

    record 0      LIBRARY header        "HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000..."
    records 1-2   first real header     SAS SAS SASLIB version os, created (1:64-80), modified (2:0-16)
    record 3      MEMBER header         ... "0160" ... "0140" (NAMESTR size)
    record 4      DSCRPTR header
    records 5-6   member header data    SAS name SASDATA version os, created (5:64-80);
                                        modified (6:0-16), blanks, dataset label (6:32-72), type
    record 7      NAMESTR header        variable count at bytes 54-58
    then          one 140-byte NAMESTR per variable, blank-padded to an 80-byte boundary
    then          OBS header, then the observations back to back, blank-padded to 80 bytes

Numbers are 8-byte IBM System/360 hexadecimal doubles (sign bit, 7-bit excess-64 base-16
exponent, 56-bit fraction), big-endian; missing is "." followed by seven zero bytes. Character
values are ASCII, blank-padded to the variable's length, so "" and missing are the same bytes.

Every IEEE double between 16**-65 and 16**63 converts exactly (53 significant bits fit the
56-bit fraction whatever the 0-3 bit hexadecimal normalisation shift), so a round trip gives
the very same float. Smaller magnitudes underflow to 0; 16**63 and above (and infinities)
cannot be written and raise: transforms.conform.xpt_rules.check_xpt_rules lists them before any writing.

Apart from the fields naming the software (version, OS) and the date-times, the bytes are the
ones SAS 9.4 writes for the same data (tests/outputs/test_xpt.py rewrites two SAS-written files). The
version/OS fields keep the values pyreadstat (ReadStat) wrote before this writer replaced it:
"6.06", "bsd4.2"; we do not claim to be SAS 9.4.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import pandas as pd

RECORD = 80
NAMESTR_SIZE = 140
NUM_LENGTH = 8
MAX_VARIABLES = 9999  # the NAMESTR header holds the count in 4 digits
# IBM hexadecimal double range: 0.1(hex) x 16**-64 is the smallest normalised magnitude and
# every magnitude below 16**63 fits (float64 cannot hold the true maximum (1 - 16**-14) x 16**63).
IBM_MIN = 16.0**-65
IBM_LIMIT = 16.0**63
MISSING = 0x2E << 56  # "." then zeros: SAS's ordinary missing value

LIBRARY_HEADER = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30
# "160": the member header data is 160 bytes (records 5-6); "140": the NAMESTR size.
MEMBER_HEADER = b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140"
DSCRPTR_HEADER = b"HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!" + b"0" * 30
NAMESTR_HEADER = b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!" + b"0" * 30
NAMESTR_HEADER_AT = 7 * RECORD
# (offset, what) of the four ddMMMyy:hh:mm:ss header fields.
DATETIME_FIELDS = (
    (1 * RECORD + 64, "library created"),
    (2 * RECORD + 0, "library modified"),
    (5 * RECORD + 64, "member created"),
    (6 * RECORD + 0, "member modified"),
)
_SAS_VERSION = b"6.06"
_SAS_OS = b"bsd4.2"
# Fixed English month names: strftime("%b") follows the locale.
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_BLANK = 0x20
# Observations are built and written this many bytes at a time: memory stays flat on
# millions of records while each numpy call still handles thousands of them.
_CHUNK_BYTES = 8 * 1024 * 1024


class XptVariable(NamedTuple):
    """One variable as stored: name, label, "Char" or "Num", length in bytes."""

    name: str
    label: str
    type: str
    length: int


# --- values ---------------------------------------------------------------------------------


def compute_ibm_doubles(values: np.ndarray) -> np.ndarray:
    """IEEE float64 values as IBM hexadecimal doubles: a big-endian uint64 array (">u8").

    NaN becomes SAS missing ("."); magnitudes below 16**-65 (and -0.0) become 0. Raises
    ValueError on infinities and magnitudes of 16**63 or more, which IBM cannot hold.
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    magnitude = np.abs(x)
    overflow = magnitude >= IBM_LIMIT  # NaN compares False
    if overflow.any():
        bad = x[overflow]
        raise ValueError(
            f"{len(bad)} value(s) outside the IBM/XPT range (first {bad[0]!r}); "
            "check_xpt_rules reports them before writing"
        )
    bits = x.view(np.uint64)
    sign = bits >> np.uint64(63)
    # value = 1.m x 2**e2 = (mantissa << (e2 mod 4)) x 2**-56 x 16**(e2 // 4 + 1): the shift
    # keeps the fraction's leading hex digit non-zero, and is exact (53 + 3 <= 56 bits).
    e2 = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    mantissa = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    fraction = mantissa << (e2 & 3).astype(np.uint64)
    exponent = ((e2 >> 2) + 65).astype(np.uint64)
    ibm = (sign << np.uint64(63)) | (exponent << np.uint64(56)) | fraction
    ibm[magnitude < IBM_MIN] = 0
    ibm[np.isnan(x)] = MISSING
    return ibm.astype(">u8")


def compute_char_field(values: pd.Series | np.ndarray, length: int) -> np.ndarray:
    """Text values (str or None/NaN) as a (records, length) uint8 array, blank-padded.

    Raises ValueError for a value longer than `length` bytes (the lengths come from the data,
    so that is a programming error) and UnicodeEncodeError for non-ASCII text.
    """
    # Encoded once per distinct value: SDTM text repeats a few values over many records.
    codes, distinct = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    encoded = np.asarray(distinct, dtype=object).astype(f"S{length}") if len(distinct) else None
    padded = np.full((len(distinct) + 1, length), _BLANK, dtype=np.uint8)  # last row: missing
    if encoded is not None:
        used = np.strings.str_len(encoded)
        too_long = pd.Series(distinct).str.len().to_numpy() > length
        if too_long.any():
            raise ValueError(
                f"value {distinct[np.flatnonzero(too_long)[0]]!r} is longer than its variable "
                f"length {length}: compute lengths from the data being written"
            )
        matrix = encoded.view(np.uint8).reshape(len(distinct), length)
        keep = np.arange(length) < used[:, None]  # numpy pads with NUL; SAS pads with blanks
        padded[:-1] = np.where(keep, matrix, _BLANK)
    return padded[codes]  # code -1 (missing) takes the last, blank row


def compute_xpt_datetime(timestamp: datetime) -> bytes:
    """`timestamp` as the 16-byte XPT header field ddMMMyy:hh:mm:ss (e.g. 25NOV26:08:56:20).

    An aware timestamp is converted to UTC first, so the bytes do not depend on the zone.
    """
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(UTC).replace(tzinfo=None)
    t = timestamp
    date = f"{t.day:02d}{_MONTHS[t.month - 1]}{t.year % 100:02d}"
    return f"{date}:{t.hour:02d}:{t.minute:02d}:{t.second:02d}".encode("ascii")


# --- headers --------------------------------------------------------------------------------


def compute_xpt_header(
    dataset: str, dataset_label: str, variables: Sequence[XptVariable], timestamp: datetime
) -> bytes:
    """Everything before the first observation: library, member, NAMESTR and OBS headers."""
    if not 1 <= len(variables) <= MAX_VARIABLES:
        raise ValueError(
            f"{dataset}: {len(variables)} variables; an XPT v5 member holds 1-{MAX_VARIABLES}"
        )
    stamp = compute_xpt_datetime(timestamp)
    real = _text(b"SAS", 8) + _text(b"SAS", 8) + _text(b"SASLIB", 8)
    real += _text(_SAS_VERSION, 8) + _text(_SAS_OS, 8) + b" " * 24 + stamp
    member = _text(b"SAS", 8) + _text(dataset.encode("ascii"), 8) + _text(b"SASDATA", 8)
    member += _text(_SAS_VERSION, 8) + _text(_SAS_OS, 8) + b" " * 24 + stamp
    member_2 = stamp + b" " * 16 + _text(dataset_label.encode("ascii"), 40) + b" " * 8
    namestr_header = NAMESTR_HEADER + b"000000" + f"{len(variables):04d}".encode() + b"0" * 20
    namestrs = b"".join(_namestr(v, i, at) for i, (v, at) in enumerate(_positions(variables)))
    parts = [
        _record(LIBRARY_HEADER),
        real,
        _record(stamp),
        _record(MEMBER_HEADER),
        _record(DSCRPTR_HEADER),
        member,
        member_2,
        _record(namestr_header),
        _pad(namestrs),
        _record(OBS_HEADER),
    ]
    return b"".join(parts)


def _namestr(variable: XptVariable, index: int, position: int) -> bytes:
    numeric = variable.type == "Num"
    return struct.pack(
        ">hhhh8s40s8shhh2s8shhi52s",
        1 if numeric else 2,  # ntype
        0,  # nhfun: always 0
        variable.length,
        index + 1,  # nvar0: variable number
        _text(variable.name.encode("ascii"), 8),
        _text(variable.label.encode("ascii"), 40),
        b" " * 8,  # nform: no format
        0,
        0,
        0,  # nfj: as SAS writes it for unformatted variables (ReadStat wrote 1 for numbers)
        b"\0\0",
        b" " * 8,  # niform: no informat
        0,
        0,
        position,  # npos: offset of the value in the observation
        b"\0" * 52,
    )


def _positions(variables: Sequence[XptVariable]) -> list[tuple[XptVariable, int]]:
    lengths = np.array([v.length for v in variables], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return list(zip(variables, starts.tolist(), strict=True))


def _text(value: bytes, width: int) -> bytes:
    if len(value) > width:
        raise ValueError(f"{value!r} does not fit its {width}-byte XPT header field")
    return value.ljust(width, b" ")


def _record(value: bytes) -> bytes:
    return _text(value, RECORD)


def _pad(data: bytes) -> bytes:
    return data + b" " * (-len(data) % RECORD)


# --- observations ---------------------------------------------------------------------------


def write_xpt_observations(
    handle: BinaryIO, columns: Mapping[str, pd.Series], variables: Sequence[XptVariable]
) -> int:
    """Write every record's values back to back, then blank padding; returns bytes written."""
    records = len(next(iter(columns.values()))) if columns else 0
    width = sum(v.length for v in variables)
    step = max(1, _CHUNK_BYTES // max(width, 1))
    layout = _positions(variables)
    written = 0
    for first in range(0, records, step):
        last = min(first + step, records)
        block = np.empty((last - first, width), dtype=np.uint8)
        for variable, at in layout:
            values = columns[variable.name].iloc[first:last]
            if variable.type == "Num":
                field = compute_ibm_doubles(values.to_numpy(dtype=np.float64, na_value=np.nan))
                block[:, at : at + NUM_LENGTH] = field.view(np.uint8).reshape(-1, NUM_LENGTH)
            else:
                block[:, at : at + variable.length] = compute_char_field(values, variable.length)
        handle.write(block.data)
        written += block.nbytes
    padding = b" " * (-written % RECORD)
    handle.write(padding)
    return written + len(padding)


def write_xpt_file(
    path: Path,
    frame: pd.DataFrame,
    variables: Sequence[XptVariable],
    dataset: str,
    dataset_label: str,
    timestamp: datetime,
) -> None:
    """Write `frame`'s `variables` (in that order) as a one-member XPT v5 file at `path`.

    No rule checking happens here (transforms.outputs.write does it first and collects every
    violation); out-of-range numbers, over-long or non-ASCII values raise.
    """
    missing = [v.name for v in variables if v.name not in frame.columns]
    if missing:
        raise ValueError(f"{dataset}: no column(s) {missing} in the frame to write")
    header = compute_xpt_header(dataset, dataset_label, variables, timestamp)
    with open(path, "wb") as handle:
        handle.write(header)
        write_xpt_observations(handle, {v.name: frame[v.name] for v in variables}, variables)


# --- reading the header back ----------------------------------------------------------------


def read_xpt_lengths(path: Path) -> dict[str, int]:
    """Variable name -> stored length, read from the NAMESTR records of a v5 XPT file."""
    with open(path, "rb") as handle:
        # Only the header is read: the observations can be gigabytes.
        handle.seek(NAMESTR_HEADER_AT)
        header = handle.read(RECORD)
        if not header.startswith(NAMESTR_HEADER):
            raise ValueError(f"{path}: no NAMESTR header at byte {NAMESTR_HEADER_AT}")
        count = int(header[54:58])
        namestrs = handle.read(count * NAMESTR_SIZE)
    lengths = {}
    for i in range(count):  # one per variable, not per record
        record = namestrs[i * NAMESTR_SIZE : (i + 1) * NAMESTR_SIZE]
        _, _, length, _ = struct.unpack(">hhhh", record[:8])
        lengths[record[8:16].decode("ascii").rstrip()] = length
    return lengths


def read_xpt_datetimes(path: Path) -> dict[str, str]:
    """The four header date-time fields of a v5 XPT file, by name (e.g. "member created")."""
    with open(path, "rb") as handle:
        head = handle.read(NAMESTR_HEADER_AT)
    if not head.startswith(LIBRARY_HEADER):
        raise ValueError(f"{path}: no XPT v5 library header")
    return {what: head[at : at + 16].decode("ascii") for at, what in DATETIME_FIELDS}
