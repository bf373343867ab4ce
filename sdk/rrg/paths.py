"""Where rrg keeps files it builds on demand (tiny model twins, the demo data set)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DATA_DIR = PACKAGE_DIR / "data"
BUNDLED_REPORTS = BUNDLED_DATA_DIR / "iu_xray_reports.jsonl"


def cache_dir() -> Path:
    """The rrg cache folder: ``$XDG_CACHE_HOME/rrg`` (default ``~/.cache/rrg``).

    Everything in it is rebuilt deterministically when missing, so it can be deleted at any time.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "rrg"
