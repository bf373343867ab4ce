"""Findings derived from report text by keyword rules, with negation.

The demo images are drawn from these attributes (see :mod:`rrg.data.radiograph`), so the
pictures carry what the report says. Every rule is a regular expression applied to one clause of
one sentence of the findings and impression sections; the rules, the sides and zones and the
negation rule are documented in ``docs/data.md`` and here.

Negation rule
    A sentence is cut into clauses at ``;``, ``:`` and at the words *but, however, although,
    though, whereas, while, except*; a mention is **negated** when, in its clause,

    * a negation cue comes before it or inside it: *no, not, without, negative for, free of,
      absence of, clear of, resolution of, resolved, nor*, and the cues of a finding that was
      looked for but not seen: *evaluation for, if, could obscure, to exclude, rule(d) out*
      ("No pneumothorax or large pleural effusion." negates both; "Stable cardiomegaly without
      pulmonary edema." negates only the edema; "The heart is not enlarged." is negated), or
    * a post-negation follows it: *is/are not (…) seen, identified, present, visualized,
      appreciated, evident, demonstrated, noted, detected, visible, excluded*, *cannot be
      excluded*, *has resolved*, *resolved*, *absent* ("Pleural effusion is not seen.").

    "No change", "no interval change" and "no significant change" are not negation cues
    ("No change in moderate left pneumothorax." keeps the pneumothorax). Other hedged mentions
    ("possible small left effusion", "could represent scarring") count as present.

Sides and zones
    *left*, *right* (not in view names such as "left lateral decubitus film"); *bilateral*, *bilaterally*, *both*, *bibasilar* or both words mean both
    sides; a mention without a side is drawn on both sides. Zones: *upper, apex, apices,
    apical* → upper; *middle lobe, lingula, mid, midlung, perihilar* → middle; *lower, base(s),
    basilar, bibasilar, basal, retrocardiac, infrahilar* → lower; *diffuse* → all three; no zone
    → lower for opacities, middle for nodules. *Retrocardiac* implies the left side.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rrg.data.sentences import split_sentences

Side = Literal["left", "right"]
Zone = Literal["upper", "middle", "lower"]

# Cardiothoracic ratio drawn for each heart size.
CARDIOTHORACIC_RATIO: dict[str, float] = {"normal": 0.42, "borderline": 0.51, "enlarged": 0.60}


class LungLesion(BaseModel):
    """An opacity or a nodule in one lung zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side: Side = Field(description="Patient side: left or right.")
    zone: Zone = Field(description="Lung zone: upper, middle or lower.")


class Effusion(BaseModel):
    """A pleural effusion on one side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side: Side = Field(description="Patient side: left or right.")
    size: Literal["small", "large"] = Field(
        description="small (trace, small, minimal) or large (moderate, large)."
    )


class ReportFindings(BaseModel):
    """What the demo renderer draws for one report, with the sentences that triggered it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heart: Literal["normal", "borderline", "enlarged"] = Field(
        default="normal", description="Heart size; sets the cardiothoracic ratio of the drawing."
    )
    effusions: list[Effusion] = Field(
        default_factory=list, description="Pleural effusions, one per side at most."
    )
    opacities: list[LungLesion] = Field(
        default_factory=list,
        description="Opacity / consolidation / atelectasis / pneumonia / infiltrate patches.",
    )
    nodules: list[LungLesion] = Field(
        default_factory=list, description="Nodules, masses, granulomas."
    )
    pneumothorax: list[Side] = Field(default_factory=list, description="Sides with a pneumothorax.")
    fractures: list[Side] = Field(
        default_factory=list, description="Sides with a (rib or other) fracture."
    )
    degenerative_spine: bool = Field(
        default=False, description="Spondylosis / osteophytes / degenerative spine."
    )
    sternotomy: bool = Field(default=False, description="Median sternotomy wires (or CABG).")
    surgical_clips: bool = Field(default=False, description="Surgical clips anywhere.")
    hyperinflation: bool = Field(default=False, description="Hyperinflation, emphysema or COPD.")
    evidence: dict[str, list[str]] = Field(
        default_factory=dict, description="Attribute name -> the report sentences that set it."
    )

    @property
    def cardiothoracic_ratio(self) -> float:
        """The cardiothoracic ratio the renderer draws."""
        return CARDIOTHORACIC_RATIO[self.heart]

    @property
    def is_normal(self) -> bool:
        """True when no abnormal attribute is set."""
        return (
            self.heart == "normal"
            and not (
                self.effusions
                or self.opacities
                or self.nodules
                or self.pneumothorax
                or self.fractures
            )
            and not (
                self.degenerative_spine
                or self.sternotomy
                or self.surgical_clips
                or self.hyperinflation
            )
        )


# ---------------------------------------------------------------- clauses and negation

_CLAUSE_BREAK = re.compile(
    r"[;:]|\b(?:but|however|although|though|whereas|while|except)\b", re.IGNORECASE
)
_PSEUDO_NEGATION = re.compile(r"\bno\s+(?:significant\s+|interval\s+)?change\b", re.IGNORECASE)
_PRE_NEGATION = re.compile(
    r"\b(?:no|not|without|negative\s+for|free\s+of|absence\s+of|clear\s+of|resolution\s+of|resolved|nor"
    r"|evaluation\s+for|if|could\s+obscure|to\s+exclude|rule\s+out|ruled\s+out)\b",
    re.IGNORECASE,
)
_POST_NEGATION = re.compile(
    r"\b(?:(?:is|are|was|were)\s+)?(?:not|no\s+longer)\s+(?:\w+\s+)?(?:seen|identified|present|visualized|"
    r"appreciated|evident|demonstrated|noted|detected|visible|excluded)\b|\b(?:has\s+|have\s+)?resolved\b"
    r"|\babsent\b|\bcannot\s+be\s+(?:entirely\s+|completely\s+)?excluded\b",
    re.IGNORECASE,
)


def clauses(sentence: str) -> list[str]:
    """Cut a sentence at the clause breaks of the negation rule."""
    return [part for part in _CLAUSE_BREAK.split(sentence) if part and part.strip()]


def is_negated(clause: str, start: int, end: int) -> bool:
    """Whether the mention at ``clause[start:end]`` is negated by the rule in the module docstring."""
    masked = _PSEUDO_NEGATION.sub(lambda m: " " * len(m.group()), clause)
    if any(m.start() < end for m in _PRE_NEGATION.finditer(masked)):
        return True
    return _POST_NEGATION.search(masked, end) is not None


def positive_mentions(pattern: re.Pattern[str], sentence: str) -> list[tuple[str, re.Match[str]]]:
    """``(clause, match)`` for every non-negated match of ``pattern`` in ``sentence``."""
    found = []
    for clause in clauses(sentence):
        for match in pattern.finditer(clause):
            if not is_negated(clause, match.start(), match.end()):
                found.append((clause, match))
    return found


# ---------------------------------------------------------------- rules

_CARDIOMEGALY = re.compile(
    r"\bcardiomegaly\b|\bcardiac\s+enlargement\b|\benlarge(?:d|ment\s+of\s+the)\s+(?:heart|cardiac|cardiomediastinal)"
    r"|\b(?:heart|cardiac\s+silhouette|cardiomediastinal\s+silhouette|heart\s+size)\s+(?:size\s+)?"
    r"(?:is|are|remains|appears|is\s+again)?\s*(?:\w+\s+)?(?:enlarged|increased)\b",
    re.IGNORECASE,
)
_BORDERLINE = re.compile(
    r"\b(?:borderline|mild(?:ly)?|minimal(?:ly)?|slight(?:ly)?)\b", re.IGNORECASE
)
_UPPER_NORMAL = re.compile(
    r"\b(?:upper\s+limits?\s+of\s+normal|top(?:\s+|-)normal|borderline\s+(?:heart|cardiac)\s+size)\b",
    re.IGNORECASE,
)
_HEART_WORD = re.compile(r"\b(?:heart|cardi)", re.IGNORECASE)
_EFFUSION = re.compile(
    r"\beffusions?\b|\bpleural\s+fluid\b|\bblunting\s+of\s+the\s+(?:\w+\s+)?costophrenic",
    re.IGNORECASE,
)
_PERICARDIAL = re.compile(r"\bpericardial\s+effusion", re.IGNORECASE)
_OPACITY = re.compile(
    r"\bopacit(?:y|ies)\b|\bconsolidat\w*|\batelecta\w*|\bpneumonias?\b|\binfiltrat\w*|\bair\s*space\s+disease\b",
    re.IGNORECASE,
)
_NODULE = re.compile(
    r"\bnodul(?:e|es|ar)\b|\bmass(?:es)?\b|\bgranulomas?\b|\bgranulomata\b", re.IGNORECASE
)
_PNEUMOTHORAX = re.compile(r"\bpneumothora(?:x|ces)\b", re.IGNORECASE)
_FRACTURE = re.compile(r"\bfractur\w*", re.IGNORECASE)
_SPONDYLOSIS = re.compile(r"\bspondylo\w*|\bosteophyt\w*|\bDJD\b", re.IGNORECASE)
_DEGENERATIVE = re.compile(r"\bdegenerative\b", re.IGNORECASE)
_SPINE_WORD = re.compile(
    r"\b(?:spine|spinal|vertebr\w*|thoracic|disc|disk|endplate\w*|lumbar)\b", re.IGNORECASE
)
_STERNOTOMY = re.compile(
    r"\bsternotomy\b|\bsternal\s+wires?\b|\bCABG\b|\bcoronary\s+artery\s+bypass", re.IGNORECASE
)
_CLIPS = re.compile(r"\bclips?\b", re.IGNORECASE)
_HYPERINFLATION = re.compile(
    r"\bhyperinfla\w*|\bhyperexpan\w*|\boverinfla\w*|\bemphysem\w*|\bCOPD\b|\bchronic\s+obstructive"
    r"|\bflatten\w*\s+(?:of\s+(?:the\s+)?)?(?:hemi)?diaphragm|\bhyperlucen\w*",
    re.IGNORECASE,
)

_LEFT = re.compile(r"\bleft\b", re.IGNORECASE)
_RIGHT = re.compile(r"\bright\b", re.IGNORECASE)
_BOTH = re.compile(r"\b(?:bilateral(?:ly)?|both|bibasilar|bibasal)\b", re.IGNORECASE)
# "left lateral decubitus film", "right lateral view": a projection, not a side of the finding.
_VIEW_NAME = re.compile(
    r"\b(?:left|right)\s+lateral\s+(?:decubitus|view|film|projection)", re.IGNORECASE
)
_RETROCARDIAC = re.compile(r"\bretrocardiac\b", re.IGNORECASE)
_ZONES: dict[str, re.Pattern[str]] = {
    "upper": re.compile(r"\b(?:upper|apex|apices|apical)\b", re.IGNORECASE),
    "middle": re.compile(
        r"\b(?:middle\s+lobe|lingula\w*|mid|midlung|mid-lung|perihilar)\b", re.IGNORECASE
    ),
    "lower": re.compile(
        r"\b(?:lower|bases?|basilar|bibasilar|basal|bibasal|retrocardiac|infrahilar)\b",
        re.IGNORECASE,
    ),
}
_DIFFUSE = re.compile(r"\bdiffuse(?:ly)?\b", re.IGNORECASE)
_LARGE = re.compile(r"\b(?:moderate|large|massive)\b", re.IGNORECASE)


def _sides(clause: str) -> list[Side]:
    clause = _VIEW_NAME.sub(" ", clause)
    if _RETROCARDIAC.search(clause) and not (_RIGHT.search(clause) or _BOTH.search(clause)):
        return ["left"]
    left, right = bool(_LEFT.search(clause)), bool(_RIGHT.search(clause))
    if _BOTH.search(clause) or left == right:
        return ["left", "right"]
    return ["left"] if left else ["right"]


def _zones(clause: str, default: Zone) -> list[Zone]:
    if _DIFFUSE.search(clause):
        return ["upper", "middle", "lower"]
    zones: list[Zone] = [zone for zone, pattern in _ZONES.items() if pattern.search(clause)]  # type: ignore[misc]
    return zones or [default]


def derive_findings(findings: str | None, impression: str | None) -> ReportFindings:
    """Apply the keyword rules to a report's findings and impression sections."""
    heart = "normal"
    effusions: dict[str, str] = {}
    opacities: set[tuple[str, str]] = set()
    nodules: set[tuple[str, str]] = set()
    pneumothorax: set[str] = set()
    fractures: set[str] = set()
    flags = {
        "degenerative_spine": False,
        "sternotomy": False,
        "surgical_clips": False,
        "hyperinflation": False,
    }
    evidence: dict[str, list[str]] = {}

    def note(name: str, sentence: str) -> None:
        if sentence not in evidence.setdefault(name, []):
            evidence[name].append(sentence)

    rank = {"normal": 0, "borderline": 1, "enlarged": 2}
    sentences = [
        s for section in (findings, impression) if section for s in split_sentences(section)
    ]
    for sentence in sentences:
        for clause, _ in positive_mentions(_CARDIOMEGALY, sentence):
            level = "borderline" if _BORDERLINE.search(clause) else "enlarged"
            if rank[level] > rank[heart]:
                heart = level
            note("heart", sentence)
        if _HEART_WORD.search(sentence) and positive_mentions(_UPPER_NORMAL, sentence):
            if rank["borderline"] > rank[heart]:
                heart = "borderline"
            note("heart", sentence)
        for clause, match in positive_mentions(_EFFUSION, sentence):
            if _PERICARDIAL.search(clause[max(0, match.start() - 12) : match.end()]):
                continue
            size = "large" if _LARGE.search(clause) else "small"
            for side in _sides(clause):
                if effusions.get(side) != "large":
                    effusions[side] = size
            note("effusions", sentence)
        for clause, _ in positive_mentions(_OPACITY, sentence):
            for side in _sides(clause):
                for zone in _zones(clause, "lower"):
                    opacities.add((side, zone))
            note("opacities", sentence)
        for clause, _ in positive_mentions(_NODULE, sentence):
            for side in _sides(clause):
                for zone in _zones(clause, "middle"):
                    nodules.add((side, zone))
            note("nodules", sentence)
        for clause, _ in positive_mentions(_PNEUMOTHORAX, sentence):
            pneumothorax.update(_sides(clause))
            note("pneumothorax", sentence)
        for clause, _ in positive_mentions(_FRACTURE, sentence):
            fractures.update(_sides(clause))
            note("fractures", sentence)
        spine = positive_mentions(_SPONDYLOSIS, sentence) or [
            hit for hit in positive_mentions(_DEGENERATIVE, sentence) if _SPINE_WORD.search(hit[0])
        ]
        if spine:
            flags["degenerative_spine"] = True
            note("degenerative_spine", sentence)
        for flag, pattern in (
            ("sternotomy", _STERNOTOMY),
            ("surgical_clips", _CLIPS),
            ("hyperinflation", _HYPERINFLATION),
        ):
            if positive_mentions(pattern, sentence):
                flags[flag] = True
                note(flag, sentence)

    order = {"left": 0, "right": 1, "upper": 0, "middle": 1, "lower": 2}
    return ReportFindings(
        heart=heart,  # type: ignore[arg-type]
        effusions=[Effusion(side=s, size=effusions[s]) for s in sorted(effusions, key=order.get)],  # type: ignore[arg-type]
        opacities=[
            LungLesion(side=s, zone=z)
            for s, z in sorted(opacities, key=lambda t: (order[t[0]], order[t[1]]))
        ],  # type: ignore[arg-type]
        nodules=[
            LungLesion(side=s, zone=z)
            for s, z in sorted(nodules, key=lambda t: (order[t[0]], order[t[1]]))
        ],  # type: ignore[arg-type]
        pneumothorax=sorted(pneumothorax, key=order.get),  # type: ignore[arg-type]
        fractures=sorted(fractures, key=order.get),  # type: ignore[arg-type]
        evidence=evidence,
        **flags,
    )
