"""ce: the keyword "clinical efficacy" of the FLARE 2025 baselines and the study.

Each text is put into one of four categories by scanning keyword lists in a fixed order with
plain substring tests on the lower-cased text; a keyword counts unless the 20 characters before
its *first* occurrence contain ``"no "``, ``"not "`` or ``"without"``. A text with no counting
keyword is ``normal``. A pair scores 1 when both texts get the same category, 0.5 when they are
different members of {critical, abnormal}, else 0; ``ce`` is the mean over pairs.

This is not the CheXpert-label clinical efficacy of the report-generation literature (precision,
recall and F1 of 14 observation labels extracted by the CheXpert/CheXbert labeler).

>>> ce_category("No acute cardiopulmonary abnormality.")  # "acute" is negated, "abnormal" is not
'abnormal'
>>> ce_category("Possible pneumonia.")
'uncertain'
>>> ce(["Heart size normal."], ["Lungs are clear."])
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["CE_CATEGORIES", "CeCategory", "ce", "ce_category", "ce_pair"]

CeCategory = Literal["critical", "abnormal", "normal", "uncertain"]

CE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "critical": ("emergency", "urgent", "critical", "acute", "severe"),
    "abnormal": ("abnormal", "abnormality", "pathology", "disease", "disorder"),
    "normal": ("normal", "unremarkable", "clear", "no acute", "negative"),
    "uncertain": ("possible", "probable", "suspicious", "concerning", "question"),
}
"""Categories in scanning order, each with its keywords in scanning order."""

NEGATION_WINDOW_CHARS = 20
NEGATION_CUES = ("no ", "not ", "without")
_SEVERE = frozenset({"critical", "abnormal"})


def ce_category(text: str) -> CeCategory:
    """The category of one text: the first keyword (table order) whose first occurrence is not
    preceded within 20 characters by a negation cue decides; ``normal`` if none does."""
    lower = text.lower()
    for category, terms in CE_CATEGORIES.items():
        for term in terms:
            position = lower.find(term)
            if position < 0:
                continue
            window = lower[max(0, position - NEGATION_WINDOW_CHARS) : position]
            if not any(cue in window for cue in NEGATION_CUES):
                return category  # type: ignore[return-value]
    return "normal"


def ce_pair(prediction: str, reference: str) -> float:
    """1.0 for the same category, 0.5 for critical vs abnormal, else 0.0."""
    return _agreement(ce_category(prediction), ce_category(reference))


def _agreement(pred: str, ref: str) -> float:
    if pred == ref:
        return 1.0
    if pred in _SEVERE and ref in _SEVERE:
        return 0.5
    return 0.0


def ce(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean category agreement over pairs (0.0 for no pairs), as the reference computes it."""
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    if not predictions:
        return 0.0
    categories = {text: ce_category(text) for text in {*predictions, *references}}
    total = 0.0
    for p, r in zip(predictions, references):
        total += _agreement(categories[p], categories[r])
    return total / len(predictions)
