"""Files written once, whole: what every writer of the run folder shares."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary name beside `path`, then rename it onto `path`: a reader
    (or a run killed mid-write) sees the old file or the new one, never half of one. Same folder
    so the rename is one file system's; a unique name so parallel writers never share one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
