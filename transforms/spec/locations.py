"""Where the bundled mappings live. Kept free of pandas so the CLI can name its defaults and
decide "unchanged" without importing the data stack."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

MAPPINGS_DIR = Path(str(files("mappings")))
STANDARDS_DIR = MAPPINGS_DIR / "standards"
DEFAULT_STUDY_DIR = MAPPINGS_DIR / "ucmsc-esld"
