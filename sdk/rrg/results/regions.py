"""Which part of a chest X-ray report a question asks for.

FLARE IU_XRay questions, and the demo set's, are region-specific ("Write the part of the
radiology report that describes the heart."), or ask for a whole section ("Write the findings
section ..."). :func:`question_region` sorts a question into one of :data:`REGIONS`:

1. a question the demo set asks (:data:`rrg.data.regions.REGION_QUESTIONS`) is its region; its
   findings and impression questions ask for the whole report;
2. otherwise the question's words are matched against the demo set's keyword rules
   (:data:`rrg.data.regions.REGION_KEYWORDS`, matched on word starts, case-insensitive) plus
   :data:`DEVICE_KEYWORDS` for support devices; the region named first in the question wins
   ("the heart and lungs" → heart);
3. a question that names no region asks for the whole report.
"""

from __future__ import annotations

import re

from rrg.data.regions import (
    FINDINGS_QUESTION,
    IMPRESSION_QUESTION,
    REGION_KEYWORDS,
    REGION_QUESTIONS,
)

WHOLE_REPORT = "whole report"
REGIONS: tuple[str, ...] = ("heart", "lungs", "pleura", "mediastinum", "bones", "devices", WHOLE_REPORT)
"""The regions a question can ask about, in the order figures show them."""

DEVICE_KEYWORDS: tuple[str, ...] = (
    "device",
    "tube",
    r"lines?\b",
    "catheter",
    "pacemaker",
    "pacer",
    "defibrillator",
    r"icd\b",
    r"picc\b",
    "wire",
    r"leads?\b",
    "stent",
    r"clips?\b",
    r"ports?\b",
    "hardware",
    "drain",
    "implant",
    "prosthe",
    "valve",
)
"""Word starts (regular-expression fragments) of support devices, lines and tubes."""

_KEYWORDS: dict[str, tuple[str, ...]] = {**REGION_KEYWORDS, "devices": DEVICE_KEYWORDS}
_PATTERNS: dict[str, re.Pattern[str]] = {
    region: re.compile(r"\b(?:" + "|".join(stems) + r")", re.IGNORECASE) for region, stems in _KEYWORDS.items()
}
_KNOWN: dict[str, str] = {
    **{" ".join(question.split()).lower(): region for region, question in REGION_QUESTIONS.items()},
    " ".join(FINDINGS_QUESTION.split()).lower(): WHOLE_REPORT,
    " ".join(IMPRESSION_QUESTION.split()).lower(): WHOLE_REPORT,
}


def question_region(question: str | None) -> str:
    """The region of :data:`REGIONS` that ``question`` asks about (see the module docstring).

    >>> question_region("Write the part of the radiology report that describes the heart.")
    'heart'
    >>> question_region("Describe the lines and tubes.")
    'devices'
    >>> question_region("Write the impression section of the radiology report for these chest X-ray images.")
    'whole report'
    """
    text = " ".join((question or "").split())
    known = _KNOWN.get(text.lower())
    if known is not None:
        return known
    found = [(match.start(), REGIONS.index(region)) for region, pattern in _PATTERNS.items() if (match := pattern.search(text))]
    if not found:
        return WHOLE_REPORT
    return REGIONS[min(found)[1]]
