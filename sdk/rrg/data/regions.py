"""Region-specific questions and the report sentences that answer them.

The IU_XRay questions of FLARE 2025 Task 5 each ask for the part of a report about one
anatomical region. The demo set asks the same kind of questions, answered with the report's own
findings sentences about that region (verbatim, in report order, joined by one space), plus two
whole-section questions answered with the findings or the impression text as written.

Region assignment is a set of keyword rules over a findings sentence (lower-cased, matched on
word starts; see :data:`REGION_KEYWORDS`). A sentence can belong to several regions ("The
cardiac silhouette and mediastinum are normal." → heart and mediastinum) or to none ("No acute
abnormality.", which then only appears in the whole-findings answer). Negated sentences belong
to their region like any other: "No pleural effusion." is what the report says about the pleura.
A region question is asked only when the report has at least one sentence for that region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rrg.data.sentences import split_sentences

# Region name -> question, in the order questions are generated.
REGION_QUESTIONS: dict[str, str] = {
    "heart": "Write the part of the radiology report that describes the heart.",
    "lungs": "Write the part of the radiology report that describes the lungs.",
    "pleura": "Write the part of the radiology report that describes the pleura.",
    "mediastinum": "Write the part of the radiology report that describes the mediastinum.",
    "bones": "Write the part of the radiology report that describes the bones.",
}
FINDINGS_QUESTION = (
    "Write the findings section of the radiology report for these chest X-ray images."
)
IMPRESSION_QUESTION = (
    "Write the impression section of the radiology report for these chest X-ray images."
)

# Region -> keyword stems (regular-expression fragments, case-insensitive); a stem matches at
# the start of a word ("cardi" matches "cardiac", "cardiomegaly" and "cardiomediastinal"; "rib"
# matches "ribs" but not "fibrosis"; "mass\\b" matches "mass" but not "massive").
REGION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "heart": ("heart", "cardi", "pericardi", "ventric", "atri", "cardiomediastinal"),
    "lungs": (
        "lung",
        "pulmonary",
        "airspace",
        "air space",
        "alveolar",
        "consolidat",
        "opacit",
        "infiltrat",
        "atelecta",
        "pneumonia",
        "edema",
        "oedema",
        "emphysem",
        "hyperinfla",
        "hyperexpan",
        "overinfla",
        "copd",
        "nodul",
        r"mass\b",
        "masses",
        "granulom",
        "interstitial",
        "vascula",
        "scar",
        "bronch",
        "lobe",
        "lingula",
        "apex",
        "apical",
        "bibasilar",
        "basilar",
        "perihilar",
        "parenchym",
        "fibros",
        "infectio",
        "inflated",
        "aerated",
    ),
    "pleura": ("pleura", "effusion", "pneumothora", "costophrenic", "fissur", "hydropneumo"),
    "mediastinum": (
        "mediastin",
        "cardiomediastinal",
        "hila",
        "hilum",
        "hilar",
        "aort",
        "trachea",
        "paratrache",
        "thymus",
        "hiatal",
        "superior vena",
        "azygos",
    ),
    "bones": (
        "bone",
        "bony",
        "osseous",
        "skelet",
        "spine",
        "spinal",
        "vertebr",
        "thoracic spine",
        "rib",
        "clavic",
        "scapul",
        "shoulder",
        "humer",
        "stern",
        "fractur",
        "osteo",
        "spondyl",
        "degenerative",
        "kyphos",
        "scolios",
        "thoracolumbar",
        "dextroscolios",
        "levoscolios",
        "acromioclavicular",
        "glenohumeral",
        "cervical",
    ),
}

_PATTERNS: dict[str, re.Pattern[str]] = {
    region: re.compile(r"\b(?:" + "|".join(stems) + r")", re.IGNORECASE)
    for region, stems in REGION_KEYWORDS.items()
}


def sentence_regions(sentence: str) -> list[str]:
    """The regions a findings sentence talks about, in :data:`REGION_QUESTIONS` order."""
    return [region for region, pattern in _PATTERNS.items() if pattern.search(sentence)]


@dataclass(frozen=True)
class RegionQuestion:
    """One question about a report and its verbatim answer."""

    region: str  # a key of REGION_QUESTIONS, or "findings" / "impression"
    question: str
    answer: str
    sentences: tuple[str, ...]  # the report sentences the answer is made of


def region_questions(findings: str | None, impression: str | None) -> list[RegionQuestion]:
    """Every question the report can answer: regions with a sentence, then findings, impression.

    Region answers are the region's findings sentences joined by one space; the findings and
    impression answers are those sections exactly as written (outer whitespace stripped).
    """
    out: list[RegionQuestion] = []
    if findings and findings.strip():
        sentences = split_sentences(findings)
        by_region: dict[str, list[str]] = {region: [] for region in REGION_QUESTIONS}
        for sentence in sentences:
            for region in sentence_regions(sentence):
                by_region[region].append(sentence)
        for region, question in REGION_QUESTIONS.items():
            if by_region[region]:
                chosen = tuple(by_region[region])
                out.append(RegionQuestion(region, question, " ".join(chosen), chosen))
        text = findings.strip()
        out.append(RegionQuestion("findings", FINDINGS_QUESTION, text, tuple(sentences)))
    if impression and impression.strip():
        text = impression.strip()
        out.append(RegionQuestion("impression", IMPRESSION_QUESTION, text, (text,)))
    return out
