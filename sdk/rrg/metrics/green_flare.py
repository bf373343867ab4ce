"""green_flare: the lexical seven-component report score of the FLARE 2025 baselines.

The FLARE 2025 baseline code (``utils/metrics.py`` of ``medfm-flare/FLARE25-QWen2.5VL``, class
``GREENScorer``) and the study rrg reproduces call this score "GREEN". It is **not** the GREEN of
Ostmeier et al. (2024), which asks a fine-tuned language model to count clinically significant
errors: this one is purely rule-based (fixed term lists, regular expressions, ±50-character
windows, hand-set weights). rrg therefore calls it ``green_flare`` everywhere.

The behaviour follows the written specification (``docs/metrics.md``) and reproduces the
reference's values: per pair bit for bit, except ``negation_handling``, ``severity_correlation`` and,
through the former, ``overall``, where the reference iterates over a Python set (hash-seed
dependent order) and this module visits entity types in table order; those agree to a few ulps.

It is written for speed (one ``lower()`` per text, one precompiled regular expression per
vocabulary, modifier and marker positions found once per text, every distinct text analysed once
per :class:`GreenFlareScorer`), so that scoring a validation set takes milliseconds.

Example:

>>> result = score_pair("No pneumothorax.", "Pneumothorax.")
>>> round(result.overall, 6), result.entity_matching, result.negation_handling
(0.79, 0.6, 0.4)
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "COMPONENTS",
    "COMPONENT_WEIGHTS",
    "ENTITY_TYPES",
    "SCORE_KEYS",
    "EntityDetails",
    "GreenFlareResult",
    "GreenFlareScorer",
    "TextAnalysis",
    "aggregate",
    "score_corpus",
    "score_pair",
    "score_pairs",
]


# --------------------------------------------------------------------------------------------
# Vocabularies (order matters: it is the reference's iteration order)
# --------------------------------------------------------------------------------------------


class EntityType(NamedTuple):
    """One clinical entity type: its name, base severity, weight and terms (in order)."""

    name: str
    base_severity: int
    weight: float
    terms: tuple[str, ...]


ENTITY_TYPES: tuple[EntityType, ...] = (
    EntityType(
        "normal", 0, 1.0, ("normal", "unremarkable", "no abnormality", "clear", "no acute findings")
    ),
    EntityType(
        "opacity", 2, 0.8, ("opacity", "opacities", "opacification", "density", "densities")
    ),
    EntityType(
        "consolidation",
        3,
        0.9,
        ("consolidation", "consolidations", "consolidated", "airspace disease"),
    ),
    EntityType("effusion", 2, 0.8, ("effusion", "effusions", "fluid", "pleural fluid")),
    EntityType(
        "pneumothorax", 4, 1.0, ("pneumothorax", "pneumothoraces", "collapsed lung", "air leak")
    ),
    EntityType("nodule", 3, 0.9, ("nodule", "nodules", "mass", "lesion", "tumor", "neoplasm")),
    EntityType("fracture", 3, 0.9, ("fracture", "fractures", "fractured", "break", "broken")),
    EntityType(
        "cardiomegaly",
        2,
        0.7,
        ("cardiomegaly", "enlarged heart", "cardiac enlargement", "heart enlargement"),
    ),
    EntityType(
        "edema", 2, 0.8, ("edema", "edematous", "swelling", "pulmonary edema", "interstitial edema")
    ),
    EntityType(
        "infiltrate", 2, 0.7, ("infiltrate", "infiltrates", "infiltration", "interstitial markings")
    ),
    EntityType("atelectasis", 2, 0.7, ("atelectasis", "atelectatic", "collapse", "volume loss")),
    EntityType("pneumonia", 3, 0.9, ("pneumonia", "pneumonic", "infection", "infectious process")),
)

LOCATION_GROUPS: dict[str, tuple[str, ...]] = {
    "lung": ("lung", "lungs", "pulmonary", "pulmonic"),
    "lobe": ("lobe", "lobar"),
    "left": ("left", "left-sided", "left side"),
    "right": ("right", "right-sided", "right side"),
    "upper": ("upper", "superior", "apex", "apical", "apices"),
    "lower": ("lower", "inferior", "base", "basal", "basilar"),
    "middle": ("middle", "mid", "central", "lingula", "lingular"),
    "bilateral": ("bilateral", "both", "bibasilar", "bilaterally"),
    "unilateral": ("unilateral", "one side", "single"),
    "heart": ("heart", "cardiac", "cardiovascular", "pericardium"),
    "mediastinum": ("mediastinum", "mediastinal", "hilar", "hilum"),
    "pleura": ("pleura", "pleural", "pleural space"),
    "chest": ("chest", "thorax", "thoracic", "hemithorax"),
    "diaphragm": ("diaphragm", "diaphragmatic", "hemidiaphragm"),
    "costophrenic": ("costophrenic", "cp angle", "costophrenic angle"),
}

# (substring, factor); the first one (in this order) found in a mention's context wins.
SEVERITY_MODIFIERS: tuple[tuple[str, float], ...] = (
    ("mild", 0.3), ("minimal", 0.2), ("slight", 0.2), ("moderate", 0.6), ("marked", 0.8),
    ("severe", 1.0), ("extensive", 0.9), ("large", 0.8), ("small", 0.3), ("tiny", 0.1),
    ("trace", 0.1), ("prominent", 0.7), ("significant", 0.8),
)  # fmt: skip

# (substring, confidence); uncertainty = 1.0 - confidence of the first one found.
UNCERTAINTY_MARKERS: tuple[tuple[str, float], ...] = (
    ("possible", 0.3), ("probable", 0.7), ("likely", 0.7), ("unlikely", 0.2),
    ("questionable", 0.3), ("suspected", 0.6), ("concerning for", 0.7), ("suggestive of", 0.6),
    ("may represent", 0.5), ("cannot exclude", 0.4), ("differential includes", 0.5),
)  # fmt: skip

TEMPORAL_GROUPS: dict[str, tuple[str, ...]] = {
    "new": ("new", "newly", "recent", "acute"),
    "old": ("old", "chronic", "longstanding", "prior"),
    "unchanged": ("unchanged", "stable", "no change", "similar"),
    "improved": ("improved", "improving", "decreased", "resolving"),
    "worsened": ("worsened", "worsening", "increased", "progressed"),
}

NEGATION_CUES: tuple[str, ...] = (
    "no", "not", "without", "absent", "negative", "denied", "none", "free of", "rule out",
    "ruled out", "no evidence", "no signs",
)  # fmt: skip

SECTION_WORDS: tuple[str, ...] = (
    "findings",
    "impression",
    "comparison",
    "technique",
    "recommendation",
)

COMPONENT_WEIGHTS: dict[str, float] = {
    "entity_matching": 0.30,
    "location_accuracy": 0.20,
    "negation_handling": 0.15,
    "temporal_accuracy": 0.10,
    "measurement_accuracy": 0.10,
    "clinical_significance": 0.10,
    "structure_completeness": 0.05,
}
COMPONENTS: tuple[str, ...] = tuple(COMPONENT_WEIGHTS)
"""The seven components, in the order they enter ``overall``."""

SCORE_KEYS: tuple[str, ...] = ("overall", *COMPONENTS, "severity_correlation")
"""The nine numeric per-pair values (``severity_correlation`` is reported, not weighted)."""

CONTEXT_CHARS = 50  # characters each side of a mention for severity, uncertainty and size
NEGATION_WINDOW_CHARS = 50  # characters before a mention searched for a negation cue


# --------------------------------------------------------------------------------------------
# Compiled patterns
# --------------------------------------------------------------------------------------------


def _alternation(terms: Iterable[str]) -> str:
    """A regular expression matching any of ``terms``, factored as a trie so that the engine
    rejects a position after one character instead of trying every term; where one term is a
    prefix of another, the longer is tried first."""
    trie: dict[str, Any] = {}
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        if len(branches) == 1 and "" not in node:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if "" in node else group  # "?" is greedy: longer terms first

    return render(trie)


_ENTITY_TERM_INDEX: dict[str, tuple[int, int]] = {
    term: (type_index, term_index)
    for type_index, entity in enumerate(ENTITY_TYPES)
    for term_index, term in enumerate(entity.terms)
}
# Entity terms may overlap in the text ("pleural fluid" holds "fluid"), so the scan is a zero-width
# lookahead tried at every word boundary. No two entity terms can match at the same position and
# no term can overlap itself, so this finds exactly the union of every term's own matches.
_ENTITY_RE = re.compile(r"\b(?=(" + _alternation(_ENTITY_TERM_INDEX) + r")\b)")

_LOCATION_OF_TERM = {t: g for g, terms in LOCATION_GROUPS.items() for t in terms}
_TEMPORAL_OF_TERM = {t: g for g, terms in TEMPORAL_GROUPS.items() for t in terms}
# Location and temporal terms are scanned together. Only the presence of a group matters; two
# terms that can match at the same position belong to the same group, and no term starts inside
# another at a word boundary, so plain non-overlapping scanning finds every group that occurs.
_GROUP_OF_TERM: dict[str, tuple[bool, str]] = {
    **{t: (False, g) for t, g in _LOCATION_OF_TERM.items()},
    **{t: (True, g) for t, g in _TEMPORAL_OF_TERM.items()},
}
_GROUP_RE = re.compile(r"\b(?:" + _alternation(_GROUP_OF_TERM) + r")\b")
_NEGATION_RE = re.compile(r"\b(?:" + _alternation(NEGATION_CUES) + r")\b")
# The reference's four size patterns reduce to the first: each of the others ends in a match of it.
_SIZE_RE = re.compile(r"(\d+\.?\d*)\s*(cm|mm|millimeter|centimeter)")
_SIZE_UNITS = ("cm", "mm", "millimeter", "centimeter")
_NUMBER_RE = re.compile(r"\d+\.?\d*")


# --------------------------------------------------------------------------------------------
# Per-text analysis
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Mention:
    """One entity-term match in a lower-cased text, with what its context says about it."""

    term: str
    start: int
    severity: float
    uncertainty: float
    size: str | None
    size_value: float | None
    negated: bool


@dataclass(slots=True)
class TextAnalysis:
    """Everything green_flare needs from one text (computed once per distinct text).

    ``entities`` maps entity-type index (table order) to its mentions, ordered by term then
    position, exactly as the reference lists them.
    """

    entities: dict[int, tuple[Mention, ...]]
    locations: frozenset[str]
    temporal: frozenset[str]
    sections: tuple[str, ...]
    length: int
    mention_count: int
    terms_by_type: dict[int, frozenset[str]] = field(repr=False)


def _occurrences(text: str, needle: str) -> list[int]:
    positions = []
    i = text.find(needle)
    while i >= 0:
        positions.append(i)
        i = text.find(needle, i + 1)
    return positions


def _first_in_window(
    found: list[tuple[str, float, list[int]]], start: int, end: int
) -> float | None:
    """The value of the first (table-order) word that occurs wholly inside ``[start, end)``."""
    for word, value, positions in found:
        k = bisect_left(positions, start)
        if k < len(positions) and positions[k] + len(word) <= end:
            return value
    return None


def _size_value(size: str) -> float | None:
    match = _NUMBER_RE.search(size)
    if match is None:
        return None
    try:
        return float(match.group())
    except ValueError:
        return None


def analyse_text(text: str) -> TextAnalysis:
    """Extract entity mentions, location and temporal groups and section words from ``text``."""
    lower = text.lower()
    n = len(lower)

    modifiers = [(w, f, _occurrences(lower, w)) for w, f in SEVERITY_MODIFIERS if w in lower]
    markers = [(w, c, _occurrences(lower, w)) for w, c in UNCERTAINTY_MARKERS if w in lower]
    # A match inside a context is a match inside the text: test the text once.
    has_size = any(u in lower for u in _SIZE_UNITS) and _SIZE_RE.search(lower) is not None

    # (type index, term index) -> match starts, in text order
    starts: dict[tuple[int, int], list[int]] = {}
    for match in _ENTITY_RE.finditer(lower):
        starts.setdefault(_ENTITY_TERM_INDEX[match.group(1)], []).append(match.start())

    locations = set()
    temporal = set()
    for match in _GROUP_RE.finditer(lower):
        is_temporal, group = _GROUP_OF_TERM[match.group()]
        (temporal if is_temporal else locations).add(group)

    entities: dict[int, tuple[Mention, ...]] = {}
    terms_by_type: dict[int, frozenset[str]] = {}
    mention_count = 0
    for key in sorted(starts):
        type_index, term_index = key
        entity = ENTITY_TYPES[type_index]
        term = entity.terms[term_index]
        mentions = []
        for start in starts[key]:
            context_start = max(0, start - CONTEXT_CHARS)
            context_end = min(n, start + len(term) + CONTEXT_CHARS)
            factor = _first_in_window(modifiers, context_start, context_end) if modifiers else None
            severity = entity.base_severity if factor is None else entity.base_severity * factor
            confidence = _first_in_window(markers, context_start, context_end) if markers else None
            uncertainty = 0.0 if confidence is None else 1.0 - confidence
            size = None
            if has_size:
                # No anchors, boundaries or lookbehind in the pattern: searching [pos, endpos) is
                # the same as searching the context string.
                size_match = _SIZE_RE.search(lower, context_start, context_end)
                size = size_match.group(0) if size_match else None
            window = lower[max(0, start - NEGATION_WINDOW_CHARS) : start]
            mentions.append(
                Mention(
                    term=term,
                    start=start,
                    severity=severity,
                    uncertainty=uncertainty,
                    size=size,
                    size_value=_size_value(size) if size else None,
                    negated=_NEGATION_RE.search(window) is not None,
                )
            )
        entities[type_index] = entities.get(type_index, ()) + tuple(mentions)
        terms_by_type[type_index] = terms_by_type.get(type_index, frozenset()) | {term}
        mention_count += len(mentions)

    return TextAnalysis(
        entities=entities,
        locations=frozenset(locations),
        temporal=frozenset(temporal),
        sections=tuple(s for s in SECTION_WORDS if s in lower),
        length=len(text),
        mention_count=mention_count,
        terms_by_type=terms_by_type,
    )


# --------------------------------------------------------------------------------------------
# Per-pair score
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityDetails:
    """Entity counts of one pair: mentions (not types) and which types matched, were missed or added."""

    total_ref_entities: int
    total_gen_entities: int
    matched_entity_types: int
    missed_entity_types: tuple[str, ...]
    extra_entity_types: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_ref_entities": self.total_ref_entities,
            "total_gen_entities": self.total_gen_entities,
            "matched_entity_types": self.matched_entity_types,
            "missed_entity_types": list(self.missed_entity_types),
            "extra_entity_types": list(self.extra_entity_types),
        }


@dataclass(frozen=True, slots=True)
class GreenFlareResult:
    """green_flare of one prediction/reference pair: ``overall``, the seven components,
    ``severity_correlation`` (not part of ``overall``) and entity counts."""

    overall: float
    entity_matching: float
    location_accuracy: float
    negation_handling: float
    temporal_accuracy: float
    measurement_accuracy: float
    clinical_significance: float
    structure_completeness: float
    severity_correlation: float
    entity_details: EntityDetails

    def scores(self) -> dict[str, float]:
        """The nine numeric values by name (``SCORE_KEYS`` order)."""
        return {key: getattr(self, key) for key in SCORE_KEYS}

    def as_dict(self) -> dict[str, Any]:
        """The reference's per-pair record: the nine values plus ``entity_details``."""
        return {**self.scores(), "entity_details": self.entity_details.as_dict()}


def _size_similarity(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return 0.0
    if a == 0 and b == 0:
        return 1.0
    diff = abs(a - b) / max(abs(a), abs(b))
    if diff < 0.1:
        return 1.0
    if diff < 0.2:
        return 0.8
    if diff < 0.5:
        return 0.5
    return 0.2


def _severity_correlation(ref: list[float], gen: list[float]) -> float:
    """``(pearson(ref, gen) + 1) / 2`` computed as ``numpy.corrcoef`` does; 0.5 when undefined.

    The same numpy operations as ``corrcoef`` (mean, centring, ``dot``, scaling by 1/(N-1), two
    divisions, clipping) without its overhead, so the value is bit-identical to the reference's.
    """
    n = len(ref)
    if n == 0:
        return 0.0
    if n == 1:
        return 0.5  # corrcoef of one pair is NaN (zero degrees of freedom)
    import numpy as np

    x = np.array((ref, gen), dtype=np.float64)
    x -= x.mean(axis=1)[:, None]
    c = np.dot(x, x.T)
    c *= 1.0 / (n - 1)
    std = np.sqrt(c.diagonal())
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = c[0, 1] / std[0] / std[1]
    if math.isnan(rho):
        return 0.5
    return (float(np.clip(rho, -1.0, 1.0)) + 1) / 2


def _score_analyses(gen: TextAnalysis, ref: TextAnalysis) -> GreenFlareResult:
    ge, re_ = gen.entities, ref.entities

    # 1. entity matching and 3. negation handling (shared types, table order), plus
    # 8. severity pairs, all in one pass over reference mentions.
    if not re_:
        entity = 1.0 if not ge else 0.0
    total = wsum = 0.0
    neg_total = 0.0
    neg_count = 0
    ref_sev: list[float] = []
    gen_sev: list[float] = []
    meas_total = 0.0
    meas_count = 0
    sig_num = sig_den = 0.0
    for type_index in sorted(re_):
        ref_mentions = re_[type_index]
        entity_type = ENTITY_TYPES[type_index]
        weight = entity_type.weight
        gen_mentions = ge.get(type_index)
        if gen_mentions is None:
            for r in ref_mentions:
                wsum += weight
                sig_den += weight * (1 + r.severity / 4.0)
            continue
        gen_terms = gen.terms_by_type[type_index]
        for r in ref_mentions:
            best = 0.0
            best_neg = 0.0
            r_neg, r_sev, r_unc, r_size = r.negated, r.severity, r.uncertainty, r.size
            for g in gen_mentions:
                same_neg = r_neg == g.negated
                unc_diff = abs(r_unc - g.uncertainty)
                s = 0.0
                if same_neg:
                    s += 0.4
                s += 0.3 * max(0, 1 - abs(r_sev - g.severity) / 4.0)
                s += 0.2 * max(0, 1 - unc_diff)
                if r_size and g.size:
                    s += 0.1 * _size_similarity(r.size_value, g.size_value)
                elif not r_size and not g.size:
                    s += 0.1
                best = max(best, s)
                t = 0.0
                if same_neg:
                    t += 0.6
                t += 0.4 * max(0, 1 - unc_diff * 2)
                best_neg = max(best_neg, t)
            total += best * weight
            wsum += weight
            neg_total += best_neg
            neg_count += 1
            # 5. measurement
            if r_size:
                best_size = 0.0
                for g in gen_mentions:
                    if g.size:
                        v = _size_similarity(r.size_value, g.size_value)
                        best_size = max(best_size, v)
                meas_total += best_size
                meas_count += 1
            # 6. clinical significance (exact term captured)
            w = weight * (1 + r_sev / 4.0)
            if r.term in gen_terms:
                sig_num += w
            sig_den += w
            # 8. severity pairs: first generated mention with the same term
            for g in gen_mentions:
                if g.term == r.term:
                    ref_sev.append(r_sev)
                    gen_sev.append(g.severity)
                    break
    if re_:
        entity = total / wsum
    negation = neg_total / neg_count if neg_count > 0 else 1.0
    measurement = meas_total / meas_count if meas_count > 0 else 1.0
    significance = sig_num / sig_den if sig_den > 0 else 0.0

    # 2. location accuracy
    if not ref.locations:
        location = 1.0 if not gen.locations else 0.0
    else:
        location = len(gen.locations & ref.locations) / len(gen.locations | ref.locations)

    # 4. temporal accuracy
    if not ref.temporal:
        temporal = 1.0 if not gen.temporal else 0.5
    else:
        covered = float(len(ref.temporal & gen.temporal))
        association = 0.8 if (gen.temporal and ge and re_) else 0.5
        temporal = covered / len(ref.temporal) * 0.5 + association * 0.5

    # 7. structure completeness
    if ref.sections:
        hits = float(sum(1 for s in ref.sections if s in gen.sections))
        section = hits / len(ref.sections)
    else:
        section = 1.0
    ratio = gen.length / ref.length if ref.length > 0 else 0
    length = min(1.0, ratio) if ratio < 2.0 else max(0, 2.0 - ratio)
    structure = section * 0.7 + length * 0.3

    overall = (
        0.30 * entity
        + 0.20 * location
        + 0.15 * negation
        + 0.10 * temporal
        + 0.10 * measurement
        + 0.10 * significance
        + 0.05 * structure
    )
    names = [e.name for e in ENTITY_TYPES]
    details = EntityDetails(
        total_ref_entities=ref.mention_count,
        total_gen_entities=gen.mention_count,
        matched_entity_types=sum(1 for t in re_ if t in ge),
        missed_entity_types=tuple(names[t] for t in sorted(re_) if t not in ge),
        extra_entity_types=tuple(names[t] for t in sorted(ge) if t not in re_),
    )
    return GreenFlareResult(
        overall=overall,
        entity_matching=entity,
        location_accuracy=location,
        negation_handling=negation,
        temporal_accuracy=temporal,
        measurement_accuracy=measurement,
        clinical_significance=significance,
        structure_completeness=structure,
        severity_correlation=_severity_correlation(ref_sev, gen_sev),
        entity_details=details,
    )


class GreenFlareScorer:
    """Scores pairs, analysing each distinct text once (references repeat across a corpus).

    The memory is bounded by ``max_cached_texts``; a scorer lives as long as the caller keeps it
    (``score_pairs`` and ``score_corpus`` use a fresh one per call).
    """

    def __init__(self, max_cached_texts: int = 200_000) -> None:
        self._analyses: dict[str, TextAnalysis] = {}
        self._max_cached_texts = max_cached_texts

    def analyse(self, text: str) -> TextAnalysis:
        """The analysis of ``text``, computed on first use."""
        analysis = self._analyses.get(text)
        if analysis is None:
            analysis = analyse_text(text)
            if len(self._analyses) < self._max_cached_texts:
                self._analyses[text] = analysis
        return analysis

    def score(self, prediction: str, reference: str) -> GreenFlareResult:
        """green_flare of one pair."""
        return _score_analyses(self.analyse(prediction), self.analyse(reference))


def score_pair(prediction: str, reference: str) -> GreenFlareResult:
    """green_flare of one prediction against its reference."""
    return _score_analyses(analyse_text(prediction), analyse_text(reference))


def score_pairs(predictions: Sequence[str], references: Sequence[str]) -> list[GreenFlareResult]:
    """green_flare of each pair (the two lists must have the same length)."""
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    scorer = GreenFlareScorer()
    return [scorer.score(p, r) for p, r in zip(predictions, references)]


def aggregate(results: Sequence[GreenFlareResult | None]) -> dict[str, Any]:
    """The reference's corpus aggregate of per-pair results.

    For each of the nine values: ``<key>_mean``, ``<key>_std`` (population), ``<key>_min`` and
    ``<key>_max`` (numpy, float64; all 0.0 for no pairs). A ``None`` entry stands for a pair the
    reference could not score (a non-string input): it counts 0.0 for every value and is left out
    of the entity statistics, as in the reference. Then ``avg_ref_entities``,
    ``avg_gen_entities``, ``avg_matched_types`` and ``most_missed_entities`` (the five entity
    types most often missing from the prediction, with counts; ties in table order).
    """
    import numpy as np

    out: dict[str, Any] = {}
    for key in SCORE_KEYS:
        values = np.array(
            [0.0 if r is None else getattr(r, key) for r in results], dtype=np.float64
        )
        if values.size:
            out[f"{key}_mean"] = float(np.mean(values))
            out[f"{key}_std"] = float(np.std(values))
            out[f"{key}_min"] = float(np.min(values))
            out[f"{key}_max"] = float(np.max(values))
        else:
            for stat in ("mean", "std", "min", "max"):
                out[f"{key}_{stat}"] = 0.0
    details = [r.entity_details for r in results if r is not None]
    if details:
        out["avg_ref_entities"] = float(np.mean([d.total_ref_entities for d in details]))
        out["avg_gen_entities"] = float(np.mean([d.total_gen_entities for d in details]))
        out["avg_matched_types"] = float(np.mean([d.matched_entity_types for d in details]))
        missed = Counter(name for d in details for name in d.missed_entity_types)
        if missed:
            out["most_missed_entities"] = dict(missed.most_common(5))
    return out


def score_corpus(predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, Any]:
    """green_flare over a corpus: the reference's aggregate (see :func:`aggregate`).

    ``overall_mean`` is what the FLARE evaluation reports as its primary report score. Pairs where
    either side is not a string score 0.0 everywhere, as in the reference.
    """
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    scorer = GreenFlareScorer()
    results = [
        scorer.score(p, r) if isinstance(p, str) and isinstance(r, str) else None
        for p, r in zip(predictions, references)
    ]
    return aggregate(results)
