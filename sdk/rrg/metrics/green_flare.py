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

It is written for speed. Each text is lower-cased once and turned into its *word image* (ASCII
bytes, non-word characters made spaces), whose words are looked up in a table of what each
distinct word contributes (location and temporal groups, which modifiers, markers, section words
and units it holds, whether it starts an entity term or a negation cue); only the terms and
substrings so flagged are then searched for, with ``bytes.find`` on the padded image, which gives
the reference's word-bounded matches exactly. Negation cues are found once per text, the
modifier and marker positions once per text (each context window then tested with a binary
search), the severity correlations and entity details of recurring cases are kept, every
distinct text is analysed once per :class:`GreenFlareScorer`, and :func:`score_pairs` and
:func:`score_corpus` pause the cyclic garbage collector while they score.

Example:

>>> result = score_pair("No pneumothorax.", "Pneumothorax.")
>>> round(result.overall, 6), result.entity_matching, result.negation_handling
(0.79, 0.6, 0.4)
"""

from __future__ import annotations

import gc
import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any, NamedTuple, TypeVar

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
# Word-bounded vocabularies
# --------------------------------------------------------------------------------------------
#
# Entity, location and temporal terms and negation cues match with a word boundary on both sides
# (``\bterm\b``); word characters are those of Python's ``re`` (``str.isalnum()`` or ``_``).
# A text's *word image* is its lower-cased form as ASCII bytes of the same length, with every
# non-word character turned into a space (and, in the rare non-ASCII text, every non-ASCII word
# character into ``_``, which no term contains). There a word boundary is the edge of a run of
# non-spaces, so the word-bounded matches of a term are exactly the places where `` term ``
# occurs in the image padded with a space at each end; a term with a space or hyphen inside
# ("left-sided", "pleural fluid") is also compared character for character with the text. Every
# term starts and ends with a word character, so it can only match where its first word is one
# of the text's words; only those terms are searched for (``bytes.find``). This finds the same
# non-overlapping left-to-right matches as the reference's one ``re.finditer`` per term.

_T = TypeVar("_T")
_NON_WORD_RE = re.compile(r"\W")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_IMAGE_TABLE = bytes(
    c if c < 128 and _NON_WORD_RE.match(chr(c)) is None else 32 for c in range(256)
)


def _ascii_stand_in(char: re.Match[str]) -> str:
    return "_" if char.group().isalnum() else " "


def _word_image(lower: str) -> bytes:
    """``lower`` as ASCII bytes of the same length: non-word characters made spaces, non-ASCII
    word characters ``_``."""
    if not lower.isascii():
        lower = _NON_ASCII_RE.sub(_ascii_stand_in, lower)
    return lower.encode("ascii").translate(_IMAGE_TABLE)


class _Term(NamedTuple):
    """A word-bounded term and how to find it in a padded word image."""

    term: str
    key: bytes  # b" " + the term's word image + b" "
    first_word: bytes
    last_word: bytes
    one_word: bool  # made of word characters only: a key match is a term match

    @classmethod
    def of(cls, term: str) -> _Term:
        image = _word_image(term)
        words = image.split()
        if not words or image[0] == 32 or image[-1] == 32:
            raise ValueError(f"vocabulary term {term!r} must start and end with a word character")
        return cls(term, b" " + image + b" ", words[0], words[-1], words == [term.encode()])


def _starts(padded: bytes, lower: str, term: _Term) -> list[int]:
    """Starts of the non-overlapping word-bounded matches of ``term`` in ``lower``, in order.

    ``padded`` is the word image of ``lower`` with a space added at each end: a key found at
    index ``i`` of it is the term's image at position ``i`` of ``lower``.
    """
    key = term.key
    i = padded.find(key)
    if i < 0:
        return []
    starts = []
    step = len(term.term)
    while i >= 0:
        if term.one_word or lower.startswith(term.term, i):
            starts.append(i)
            i = padded.find(key, i + step)
        else:
            i = padded.find(key, i + 1)
    return starts


def _implied_by(term: str, shorter: Iterable[str]) -> bool:
    """Whether one of ``shorter`` matches wherever ``term`` does: a proper prefix of it that
    ends where a word of it ends ("left" for "left side" and "left-sided", "no" for "no signs")."""
    return any(
        s != term and term.startswith(s) and _word_image(term)[len(s)] == 32 for s in shorter
    )


def _by_first_word(items: Iterable[tuple[_Term, _T]]) -> dict[bytes, tuple[_T, ...]]:
    """``{first word of the term: (value, ...)}`` for (term, value) pairs, in their order."""
    out: dict[bytes, tuple[_T, ...]] = {}
    for term, value in items:
        out[term.first_word] = (*out.get(term.first_word, ()), value)
    return out


class _EntityTerm(NamedTuple):
    order: int  # position in table order (types, then their terms): the reference's mention order
    type_index: int
    base_severity: int
    term: _Term


_ENTITY_TERMS: tuple[_EntityTerm, ...] = tuple(
    _EntityTerm(order, type_index, base_severity, _Term.of(term))
    for order, (type_index, base_severity, term) in enumerate(
        (type_index, entity.base_severity, term)
        for type_index, entity in enumerate(ENTITY_TYPES)
        for term in entity.terms
    )
)
_ENTITY_BY_WORD = _by_first_word((t.term, t) for t in _ENTITY_TERMS)
_ENTITY_WORDS = frozenset(_ENTITY_BY_WORD)
_TYPE_WEIGHTS: tuple[float, ...] = tuple(e.weight for e in ENTITY_TYPES)
_TYPE_NAMES: tuple[str, ...] = tuple(e.name for e in ENTITY_TYPES)


def _group_tables(
    groups: dict[str, tuple[str, ...]],
) -> tuple[dict[str, int], tuple[tuple[_Term, int], ...]]:
    """One-word terms -> group bit (groups in table order), and (term, group bit) for the
    several-word terms that do not imply a one-word term of their own group (those need a search
    of their own)."""
    bit = {g: 1 << i for i, g in enumerate(groups)}
    single = {t: g for g, terms in groups.items() for t in terms if _Term.of(t).one_word}
    multi = tuple(
        (_Term.of(t), bit[g])
        for g, terms in groups.items()
        for t in terms
        if t not in single and not _implied_by(t, [s for s in single if single[s] == g])
    )
    return {t: bit[g] for t, g in single.items()}, multi


_LOCATION_BIT_OF_WORD, _LOCATION_PHRASES = _group_tables(LOCATION_GROUPS)
_TEMPORAL_BIT_OF_WORD, _TEMPORAL_PHRASES = _group_tables(TEMPORAL_GROUPS)

# Negation cues, less those that imply a shorter one starting at the same place ("no evidence",
# "no signs"): only whether some cue fits in a window matters, and the shorter one fits first.
_CUES = tuple(_Term.of(c) for c in NEGATION_CUES if not _implied_by(c, NEGATION_CUES))
_CUES_BY_WORD = _by_first_word((c, c) for c in _CUES)
_CUE_WORDS = frozenset(_CUES_BY_WORD)
# A cue that starts exactly at a negation window's left edge (see analyse_text).
_NEGATION_AT_RE = re.compile("(?:" + "|".join(re.escape(c.term) for c in _CUES) + r")\b")
_CUE_INITIALS = frozenset(c.term[0] for c in _CUES)

# The reference's four size patterns reduce to the first: each of the others ends in a match of it.
_SIZE_RE = re.compile(r"(\d+\.?\d*)\s*(cm|mm|millimeter|centimeter)")
_SIZE_UNITS = ("cm", "mm", "millimeter", "centimeter")
_NUMBER_RE = re.compile(r"\d+\.?\d*")
_MODIFIERS = tuple(w for w, _ in SEVERITY_MODIFIERS)
_MODIFIER_FACTORS = dict(SEVERITY_MODIFIERS)
# "unlikely" can never be the first marker found: every text holding it holds "likely" (earlier).
_MARKERS = tuple(w for w, _ in UNCERTAINTY_MARKERS if w != "unlikely")
_MARKER_CONFIDENCES = dict(UNCERTAINTY_MARKERS)


# --------------------------------------------------------------------------------------------
# What each word of a text can contribute
# --------------------------------------------------------------------------------------------
#
# Severity modifiers, uncertainty markers, section words and size units are found by substring,
# not by word, but each starts with a run of word characters, so it can only occur in a text
# where that run occurs inside one of the text's words. What a word holds (its location or
# temporal group, which of those runs are inside it, whether it starts an entity term, a
# negation cue or a several-word location or temporal term) is computed once per distinct word
# and kept as a bit set; a text's features are the union over its words. Texts share most of
# their words, so this replaces some thirty substring searches of every text by one dictionary
# look-up per word; the substrings it flags are then searched for in the text itself.


# Bit positions of a word's features: location groups from bit 0, then temporal groups,
# modifiers, marker first words, section words (each in table order), then four flags.
_TEMPORAL_SHIFT = len(LOCATION_GROUPS)
_MODIFIER_SHIFT = _TEMPORAL_SHIFT + len(TEMPORAL_GROUPS)
_MARKER_SHIFT = _MODIFIER_SHIFT + len(_MODIFIERS)
_SECTION_SHIFT = _MARKER_SHIFT + len(_MARKERS)
_UNIT_BIT = 1 << (_SECTION_SHIFT + len(SECTION_WORDS))  # holds a size unit
_ENTITY_BIT = _UNIT_BIT << 1  # starts an entity term
_CUE_BIT = _UNIT_BIT << 2  # starts a negation cue
_PHRASE_BIT = _UNIT_BIT << 3  # ends a several-word location or temporal term searched on its own
_LOCATION_MASK = (1 << len(LOCATION_GROUPS)) - 1
_TEMPORAL_MASK = (1 << len(TEMPORAL_GROUPS)) - 1
_MODIFIER_MASK = ((1 << len(_MODIFIERS)) - 1) << _MODIFIER_SHIFT
_MARKER_MASK = ((1 << len(_MARKERS)) - 1) << _MARKER_SHIFT
_SECTION_MASK = (1 << len(SECTION_WORDS)) - 1


_PHRASE_WORDS = frozenset(t.last_word for t, _ in (*_LOCATION_PHRASES, *_TEMPORAL_PHRASES))
# A marker of several words is searched for only where a word holds its first word.
_MARKER_FIRST_WORDS = tuple(m.split(" ", 1)[0] for m in _MARKERS)
_SUBSTRING_BITS: tuple[tuple[str, int], ...] = (
    *((m, 1 << (_MODIFIER_SHIFT + i)) for i, m in enumerate(_MODIFIERS)),
    *((m, 1 << (_MARKER_SHIFT + i)) for i, m in enumerate(_MARKER_FIRST_WORDS)),
    *((s, 1 << (_SECTION_SHIFT + i)) for i, s in enumerate(SECTION_WORDS)),
    *((u, _UNIT_BIT) for u in _SIZE_UNITS),
)
_MAX_WORDS = 100_000  # bound on the words whose features are kept


def _word_features(word: bytes) -> int:
    """The feature bits of one word of a word image."""
    text = word.decode("ascii")
    bits = _LOCATION_BIT_OF_WORD.get(text, 0)
    bits |= _TEMPORAL_BIT_OF_WORD.get(text, 0) << _TEMPORAL_SHIFT
    for needle, bit in _SUBSTRING_BITS:
        if needle in text:
            bits |= bit
    if word in _ENTITY_BY_WORD:
        bits |= _ENTITY_BIT
    if word in _CUES_BY_WORD:
        bits |= _CUE_BIT
    if word in _PHRASE_WORDS:
        bits |= _PHRASE_BIT
    return bits


class _WordFeatures(dict[bytes, int]):
    """word -> feature bits, computed on first sight (up to ``_MAX_WORDS`` words are kept)."""

    def __missing__(self, word: bytes) -> int:
        bits = _word_features(word)
        if len(self) < _MAX_WORDS:
            self[word] = bits
        return bits


class _GroupSets(dict[int, frozenset[str]]):
    """group bits -> frozenset of group names (the few combinations that occur are kept)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self._names = names

    def __missing__(self, bits: int) -> frozenset[str]:
        groups = frozenset(name for i, name in enumerate(self._names) if bits >> i & 1)
        self[bits] = groups
        return groups


_WORD_FEATURES = _WordFeatures()
_LOCATION_SETS = _GroupSets(tuple(LOCATION_GROUPS))
_TEMPORAL_SETS = _GroupSets(tuple(TEMPORAL_GROUPS))
_SECTION_TUPLES = tuple(
    tuple(s for i, s in enumerate(SECTION_WORDS) if bits >> i & 1)
    for bits in range(1 << len(SECTION_WORDS))
)


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

    ``mentions`` maps entity-type index to its mentions, in table order of the types, the mentions
    ordered by term then position, exactly as the reference lists them; each is a plain tuple of
    the :class:`Mention` fields, in order (cheaper to build and to compare than objects).
    ``entities`` gives the same as :class:`Mention` objects.
    """

    mentions: dict[int, tuple[tuple[Any, ...], ...]]
    locations: frozenset[str]
    temporal: frozenset[str]
    sections: tuple[str, ...]
    length: int
    mention_count: int
    # The same sets as bits (entity types, location and temporal groups, section words, each in
    # table order), for the pair score.
    type_bits: int = field(default=0, repr=False)
    location_bits: int = field(default=0, repr=False)
    temporal_bits: int = field(default=0, repr=False)
    section_bits: int = field(default=0, repr=False)
    _entities: dict[int, tuple[Mention, ...]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def entities(self) -> dict[int, tuple[Mention, ...]]:
        """The mentions by entity-type index, as :class:`Mention` objects."""
        if self._entities is None:
            self._entities = {t: tuple(Mention(*m) for m in ms) for t, ms in self.mentions.items()}
        return self._entities

    @property
    def terms_by_type(self) -> dict[int, frozenset[str]]:
        """The distinct terms found for each present entity type."""
        return {t: frozenset(m[0] for m in ms) for t, ms in self.mentions.items()}


def _occurrences(text: str, needle: str) -> list[int]:
    positions = []
    i = text.find(needle)
    while i >= 0:
        positions.append(i)
        i = text.find(needle, i + 1)
    return positions


def _flagged(
    text: str, bits: int, needles: tuple[str, ...], shift: int
) -> list[tuple[str, list[int]]]:
    """The needles (in order) whose feature bit is set and that occur in ``text`` as substrings,
    with every position where they occur."""
    found = []
    flags = bits >> shift & ((1 << len(needles)) - 1)
    while flags:
        i = (flags & -flags).bit_length() - 1  # lowest set bit: needles stay in table order
        flags &= flags - 1
        positions = _occurrences(text, needles[i])
        if positions:
            found.append((needles[i], positions))
    return found


def _first_in_window(found: list[tuple[str, list[int]]], start: int, end: int) -> str | None:
    """The first needle of ``found`` that occurs wholly inside ``[start, end)``."""
    for needle, positions in found:
        k = bisect_left(positions, start)
        if k < len(positions) and positions[k] + len(needle) <= end:
            return needle
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
    """Extract entity mentions, location and temporal groups and section words from ``text``.

    Negation: the reference searches each window ``lower[start - 50 : start]`` on its own for a
    word-bounded cue. A cue inside the window is bounded there exactly when it is bounded in the
    whole text (it cannot end at ``start``, since a mention starts after a non-word character),
    except at the window's left edge, where a word cut by the window counts as starting there.
    So the cues of the whole text are found once, and that one edge position is tested apart.
    """
    lower = text.lower()
    n = len(lower)
    image = _word_image(lower)
    padded = b" " + image + b" "
    words = image.split()
    bits = reduce(or_, filter(None, map(_WORD_FEATURES.__getitem__, words)), 0)

    location_bits = bits & _LOCATION_MASK
    temporal_bits = bits >> _TEMPORAL_SHIFT & _TEMPORAL_MASK
    if bits & _PHRASE_BIT:
        for term, bit in _LOCATION_PHRASES:
            if not location_bits & bit and term.key in padded and _starts(padded, lower, term):
                location_bits |= bit
        for term, bit in _TEMPORAL_PHRASES:
            if not temporal_bits & bit and term.key in padded and _starts(padded, lower, term):
                temporal_bits |= bit
    locations = _LOCATION_SETS[location_bits]
    temporal = _TEMPORAL_SETS[temporal_bits]
    section_bits = bits >> _SECTION_SHIFT & _SECTION_MASK
    sections = _SECTION_TUPLES[section_bits]

    # (order, type index, term, base severity, starts) of every entity term found
    found: list[tuple[int, int, str, int, list[int]]] = []
    if bits & _ENTITY_BIT:
        for word in _ENTITY_WORDS.intersection(words):
            for order, t_index, base_severity, term in _ENTITY_BY_WORD[word]:
                if term.one_word:
                    # a word of the text: it occurs at least once, and every key match is one
                    key, step = term.key, len(term.term)
                    starts = [padded.find(key)]
                    i = padded.find(key, starts[0] + step)
                    while i >= 0:
                        starts.append(i)
                        i = padded.find(key, i + step)
                elif term.key not in padded or not (starts := _starts(padded, lower, term)):
                    continue
                found.append((order, t_index, term.term, base_severity, starts))
    if not found:
        return TextAnalysis(
            {}, locations, temporal, sections, len(text), 0,
            0, location_bits, temporal_bits, section_bits,
        )  # fmt: skip

    cues: list[tuple[int, int]] = []  # (start, end) of each word-bounded negation cue
    if bits & _CUE_BIT:
        for word in _CUE_WORDS.intersection(words):
            for cue in _CUES_BY_WORD[word]:
                key, length = cue.key, len(cue.term)
                if cue.one_word:
                    i = padded.find(key)
                    while i >= 0:
                        cues.append((i, i + length))
                        i = padded.find(key, i + length)
                elif key in padded:
                    cues += [(i, i + length) for i in _starts(padded, lower, cue)]
    modifiers = (
        _flagged(lower, bits, _MODIFIERS, _MODIFIER_SHIFT) if bits & _MODIFIER_MASK else None
    )
    markers = _flagged(lower, bits, _MARKERS, _MARKER_SHIFT) if bits & _MARKER_MASK else None
    # A match inside a context is a match inside the text: test the text once.
    has_size = bool(bits & _UNIT_BIT) and _SIZE_RE.search(lower) is not None

    found.sort()
    entities: dict[int, tuple[tuple[Any, ...], ...]] = {}
    mentions: list[tuple[Any, ...]] = []
    type_index = -1
    mention_count = 0
    type_bits = 0
    for _, t_index, term, base_severity, starts in found:
        if t_index != type_index:
            if mentions:
                entities[type_index] = tuple(mentions)
                mentions = []
            type_index = t_index
            type_bits |= 1 << type_index
        term_length = len(term)
        for start in starts:
            context_start = start - CONTEXT_CHARS if start > CONTEXT_CHARS else 0
            context_end = min(start + term_length + CONTEXT_CHARS, n)
            severity = base_severity
            if modifiers:
                modifier = _first_in_window(modifiers, context_start, context_end)
                if modifier is not None:
                    severity = base_severity * _MODIFIER_FACTORS[modifier]
            uncertainty = 0.0
            if markers:
                marker = _first_in_window(markers, context_start, context_end)
                if marker is not None:
                    uncertainty = 1.0 - _MARKER_CONFIDENCES[marker]
            size = size_value = None
            if has_size:
                # No anchors, boundaries or lookbehind in the pattern: searching [pos, endpos) is
                # the same as searching the context string.
                size_match = _SIZE_RE.search(lower, context_start, context_end)
                if size_match:
                    size = size_match.group(0)
                    size_value = _size_value(size)
            # Negation (see the docstring): the window's left edge, then the text's cues.
            window_start = start - NEGATION_WINDOW_CHARS
            negated = (
                window_start > 0
                and lower[window_start] in _CUE_INITIALS
                and image[window_start - 1] != 32  # a word character: the edge cuts a word
                and _NEGATION_AT_RE.match(lower, window_start, start) is not None
            )
            if not negated:
                for cue_start, cue_end in cues:
                    if cue_start >= window_start and cue_end <= start:
                        negated = True
                        break
            mentions.append((term, start, severity, uncertainty, size, size_value, negated))
        mention_count += len(starts)
    entities[type_index] = tuple(mentions)
    return TextAnalysis(
        entities, locations, temporal, sections, len(text), mention_count,
        type_bits, location_bits, temporal_bits, section_bits,
    )  # fmt: skip


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


def _numpy_severity_correlation(ref: tuple[float, ...], gen: tuple[float, ...]) -> float:
    """``(pearson(ref, gen) + 1) / 2`` computed as ``numpy.corrcoef`` does; 0.5 when undefined.

    The mean, the centring, the covariance ``dot`` and its scaling by 1/(N-1) are numpy's own
    operations, as in ``corrcoef``; the square roots, the two divisions and the clipping to
    [-1, 1] are IEEE operations that give the same doubles in Python.
    """
    import numpy as np

    n = len(ref)
    x = np.array((ref, gen), dtype=np.float64)
    x -= (np.add.reduce(x, axis=1) / n)[:, None]  # x.mean(axis=1), without its Python overhead
    c = np.dot(x, x.T)
    c *= 1.0 / (n - 1)
    (c00, c01), (_, c11) = c.tolist()
    s0, s1 = math.sqrt(c00), math.sqrt(c11)
    if s0 == 0.0 or s1 == 0.0:  # numpy divides by zero: 0/0 is NaN, x/0 is +-inf
        if c01 == 0.0:
            return 0.5
        rho = math.copysign(1.0, c01)
    else:
        rho = max(-1.0, min(1.0, c01 / s0 / s1))
    return (rho + 1) / 2


# Severities take few values (base severity times a modifier factor), so the same (reference,
# prediction) severity lists recur across a corpus; their correlations are kept, up to a bound.
_CORRELATIONS: dict[tuple[tuple[float, ...], tuple[float, ...]], float] = {}
_MAX_CORRELATIONS = 16_384


def _severity_correlation(ref: list[float], gen: list[float]) -> float:
    """``(pearson(ref, gen) + 1) / 2`` as the reference computes it; 0.0 without pairs and 0.5
    when undefined (one pair, or a constant list)."""
    n = len(ref)
    if n == 0:
        return 0.0
    if n == 1:
        return 0.5  # corrcoef of one pair is NaN (zero degrees of freedom)
    key = (tuple(ref), tuple(gen))
    value = _CORRELATIONS.get(key)
    if value is None:
        value = _numpy_severity_correlation(*key)
        if len(_CORRELATIONS) < _MAX_CORRELATIONS:
            _CORRELATIONS[key] = value
    return value


# (reference type bits, prediction type bits, mention counts) -> EntityDetails; few combinations
# occur, and the details are immutable, so results share them.
_DETAILS: dict[tuple[int, int, int, int], EntityDetails] = {}
_MAX_DETAILS = 4_096


def _entity_details(ref: TextAnalysis, gen: TextAnalysis) -> EntityDetails:
    key = (ref.type_bits, gen.type_bits, ref.mention_count, gen.mention_count)
    details = _DETAILS.get(key)
    if details is None:
        ref_bits, gen_bits = key[0], key[1]
        details = EntityDetails(
            total_ref_entities=ref.mention_count,
            total_gen_entities=gen.mention_count,
            matched_entity_types=(ref_bits & gen_bits).bit_count(),
            missed_entity_types=tuple(
                name for t, name in enumerate(_TYPE_NAMES) if (ref_bits & ~gen_bits) >> t & 1
            ),
            extra_entity_types=tuple(
                name for t, name in enumerate(_TYPE_NAMES) if (gen_bits & ~ref_bits) >> t & 1
            ),
        )
        if len(_DETAILS) < _MAX_DETAILS:
            _DETAILS[key] = details
    return details


def _score_analyses(gen: TextAnalysis, ref: TextAnalysis) -> GreenFlareResult:
    ge, re_ = gen.mentions, ref.mentions

    # 1. entity matching, 3. negation handling, 5. measurement, 6. clinical significance and
    # 8. severity pairs, all in one pass over the reference mentions (types in table order).
    total = wsum = 0.0
    neg_total = 0.0
    neg_count = 0
    ref_sev: list[float] = []
    gen_sev: list[float] = []
    meas_total = 0.0
    meas_count = 0
    sig_num = sig_den = 0.0
    for type_index, ref_mentions in re_.items():
        weight = _TYPE_WEIGHTS[type_index]
        gen_mentions = ge.get(type_index)
        if gen_mentions is None:
            for r in ref_mentions:
                wsum += weight
                sig_den += weight * (1 + r[2] / 4.0)
            continue
        for r_term, _, r_sev, r_unc, r_size, r_size_value, r_neg in ref_mentions:
            best = 0.0  # 1. entity matching
            best_neg = 0.0  # 3. negation handling
            best_size = 0.0  # 5. measurement (counted when the reference mention has a size)
            same_term_sev = None  # 6./8. severity of the first prediction mention of the term
            for g_term, _, g_sev, g_unc, g_size, g_size_value, g_neg in gen_mentions:
                same_neg = r_neg == g_neg
                unc_diff = abs(r_unc - g_unc)
                # The reference clips both terms at 0 with max(0, ...); severities lie in [0, 4]
                # and uncertainties in [0, 0.8], so neither can be negative here.
                s = 0.4 if same_neg else 0.0
                s += 0.3 * (1 - abs(r_sev - g_sev) / 4.0)
                s += 0.2 * (1 - unc_diff)
                if r_size:
                    if g_size:
                        similarity = _size_similarity(r_size_value, g_size_value)
                        s += 0.1 * similarity
                        best_size = max(best_size, similarity)
                elif not g_size:
                    s += 0.1
                if s > best:  # noqa: PLR1730 (max() is a call: slower in this inner loop)
                    best = s
                t = 0.6 if same_neg else 0.0
                u = 1 - unc_diff * 2
                if u > 0:
                    t += 0.4 * u
                if t > best_neg:  # noqa: PLR1730
                    best_neg = t
                if same_term_sev is None and g_term == r_term:
                    same_term_sev = g_sev
            total += best * weight
            wsum += weight
            neg_total += best_neg
            neg_count += 1
            if r_size:
                meas_total += best_size
                meas_count += 1
            # 6. clinical significance: captured when the prediction has the exact term; the
            # first such mention also gives 8. the severity pair.
            w = weight * (1 + r_sev / 4.0)
            if same_term_sev is not None:
                sig_num += w
                ref_sev.append(r_sev)
                gen_sev.append(same_term_sev)
            sig_den += w
    if re_:
        entity = total / wsum
    else:
        entity = 1.0 if not ge else 0.0
    negation = neg_total / neg_count if neg_count > 0 else 1.0
    measurement = meas_total / meas_count if meas_count > 0 else 1.0
    significance = sig_num / sig_den if sig_den > 0 else 0.0

    # 2. location accuracy (Jaccard index of the location groups)
    ref_bits, gen_bits = ref.location_bits, gen.location_bits
    if not ref_bits:
        location = 1.0 if not gen_bits else 0.0
    else:
        location = (gen_bits & ref_bits).bit_count() / (gen_bits | ref_bits).bit_count()

    # 4. temporal accuracy
    ref_bits, gen_bits = ref.temporal_bits, gen.temporal_bits
    if not ref_bits:
        temporal = 1.0 if not gen_bits else 0.5
    else:
        covered = float((ref_bits & gen_bits).bit_count())
        association = 0.8 if (gen_bits and ge and re_) else 0.5
        temporal = covered / ref_bits.bit_count() * 0.5 + association * 0.5

    # 7. structure completeness
    ref_bits = ref.section_bits
    if ref_bits:
        section = float((ref_bits & gen.section_bits).bit_count()) / ref_bits.bit_count()
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
    return GreenFlareResult(
        overall,
        entity,
        location,
        negation,
        temporal,
        measurement,
        significance,
        structure,
        _severity_correlation(ref_sev, gen_sev),
        _entity_details(ref, gen),
    )


def _clear_caches() -> None:
    """Empty the module's bounded caches (word features, severity correlations, entity details,
    group sets), so that the next texts are scored as in a fresh process (used to time a cold
    start)."""
    for cache in (_WORD_FEATURES, _CORRELATIONS, _DETAILS, _LOCATION_SETS, _TEMPORAL_SETS):
        cache.clear()


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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a batch is scored (also by the streaming scorer).

    Scoring allocates many small objects that live until the batch is done and form no reference
    cycles, so collections during the batch would only re-scan them (about a tenth of the time).
    Reference counting still frees everything; the collector runs again afterwards, unless it was
    already off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def score_pair(prediction: str, reference: str) -> GreenFlareResult:
    """green_flare of one prediction against its reference."""
    return _score_analyses(analyse_text(prediction), analyse_text(reference))


def score_pairs(predictions: Sequence[str], references: Sequence[str]) -> list[GreenFlareResult]:
    """green_flare of each pair (the two lists must have the same length)."""
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    with collector_paused():
        scorer = GreenFlareScorer()
        results = [scorer.score(p, r) for p, r in zip(predictions, references)]
        del scorer  # its analyses go while the collector is paused: it never scans them
    return results


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
    with collector_paused():
        scorer = GreenFlareScorer()
        results = [
            scorer.score(p, r) if isinstance(p, str) and isinstance(r, str) else None
            for p, r in zip(predictions, references)
        ]
        del scorer  # its analyses go while the collector is paused: it never scans them
    return aggregate(results)
