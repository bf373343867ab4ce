"""Data: the FLARE 2025 Task 5 reader and the bundled demo data set.

Importing this package is light (no datasets, numpy or PIL until a function needs them).
"""

from __future__ import annotations

from rrg.data.demo import build_demo
from rrg.data.flare import REPORT_GENERATION, FlareSplit, count_questions, load_flare, load_images
from rrg.data.layout import resolve_data_root

__all__ = [
    "REPORT_GENERATION",
    "FlareSplit",
    "build_demo",
    "count_questions",
    "load_flare",
    "load_images",
    "resolve_data_root",
]
