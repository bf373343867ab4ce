"""The GRPO reward of the study, as TRL reward functions.

``R = w_clin * R_clin + w_fmt * R_fmt + w_rouge * R_rouge`` (default weights 0.7 / 0.2 / 0.1),
clipped to [-2, 2], where

* ``R_clin`` is a clinical score between completion and reference: ``radgraph_f1`` (RadGraph-XL
  F1, what the study uses; needs the model weights) or ``green_flare_entity`` (the
  ``entity_matching`` component of green_flare, an offline stand-in that needs nothing);
* ``R_fmt = 1 - (number of format violations)``: thinking tags (``<think>``), code fences
  (```` ``` ````) and excessive length (more than ``max_chars`` characters), each check
  switchable;
* ``R_rouge`` is ROUGE-L F1 against the reference.

Every function follows TRL's reward-function convention: keyword arguments ``completions``
(strings, or conversational lists of message dicts) and dataset columns (the reference text in
``reference`` or ``answer``), plus ``**kwargs``; it returns one float per completion. Use the
three terms separately with ``GRPOConfig(reward_weights=...)``, or the clipped composite from
:func:`build_reward_functions`.

>>> format_reward(completions=["Heart size is normal.", "<think>hmm</think> Normal."])
[1.0, 0.0]
>>> [round(r, 6) for r in composite_reward(["No pneumothorax."], ["No pneumothorax."]).rewards]
[1.0]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CLINICAL_SCORERS",
    "DEFAULT_MAX_CHARS",
    "CompositeReward",
    "FormatChecks",
    "RewardFunctions",
    "RewardWeights",
    "build_reward_functions",
    "check_clinical_scorer",
    "clinical_reward",
    "completion_text",
    "composite_reward",
    "format_reward",
    "format_violations",
    "reference_texts",
    "rouge_reward",
]

RewardFunction = Callable[..., list[float]]
ClinicalScorer = Callable[[Sequence[str], Sequence[str]], list[float]]
ClinicalScorerName = Literal["radgraph_f1", "green_flare_entity"]

DEFAULT_MAX_CHARS = 1000
"""Longest completion (characters) that is not an excessive-length violation."""

_THINK_TAG = re.compile(r"</?\s*think\s*>", re.IGNORECASE)
_CODE_FENCE = "```"


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or a conversational completion (a list of message
    dicts, or one message dict), whose assistant messages' contents are joined. Content may be a
    string or a list of parts (``{"type": "text", "text": ...}``).

    >>> completion_text([{"role": "assistant", "content": "No effusion."}])
    'No effusion.'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        texts = []
        for message in completion:
            if not isinstance(message, dict):
                raise TypeError(
                    f"a conversational completion holds message dicts, got {type(message).__name__}"
                )
            if message.get("role", "assistant") != "assistant":
                continue
            texts.append(_content_text(message.get("content", "")))
        return "\n".join(texts)
    raise TypeError(
        f"a completion is a string or a list of messages, got {type(completion).__name__}"
    )


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part)
            for part in content
            if not isinstance(part, dict) or part.get("type", "text") == "text"
        )
    raise TypeError(f"message content is a string or a list of parts, got {type(content).__name__}")


def reference_texts(
    n: int, reference: Sequence[Any] | None = None, answer: Sequence[Any] | None = None
) -> list[str]:
    """The reference column (``reference``, else ``answer``) as ``n`` strings."""
    column = reference if reference is not None else answer
    if column is None:
        raise ValueError(
            "this reward needs the reference report: give the dataset a 'reference' (or 'answer') column"
        )
    if len(column) != n:
        raise ValueError(f"{n} completions but {len(column)} references")
    return [completion_text(r) for r in column]


# --------------------------------------------------------------------------------------------
# Terms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatChecks:
    """Which format violations count, and the length limit."""

    think_tags: bool = True
    code_fences: bool = True
    max_chars: int | None = DEFAULT_MAX_CHARS

    def count(self) -> int:
        """How many checks are on (so ``R_fmt`` lies in ``[1 - count, 1]``)."""
        return int(self.think_tags) + int(self.code_fences) + int(self.max_chars is not None)


def format_violations(text: str, checks: FormatChecks = FormatChecks()) -> list[str]:
    """The names of the violations present in ``text``: ``think_tags``, ``code_fences``,
    ``too_long``.

    >>> format_violations("```\\n<think>x</think>\\n```")
    ['think_tags', 'code_fences']
    """
    found = []
    if checks.think_tags and _THINK_TAG.search(text):
        found.append("think_tags")
    if checks.code_fences and _CODE_FENCE in text:
        found.append("code_fences")
    if checks.max_chars is not None and len(text) > checks.max_chars:
        found.append("too_long")
    return found


def format_reward(
    completions: Sequence[Any],
    *,
    max_chars: int | None = DEFAULT_MAX_CHARS,
    think_tags: bool = True,
    code_fences: bool = True,
    **kwargs: Any,
) -> list[float]:
    """``R_fmt = 1 - number of format violations`` per completion.

    >>> format_reward(completions=["x" * 20], max_chars=10)
    [0.0]
    """
    checks = FormatChecks(think_tags=think_tags, code_fences=code_fences, max_chars=max_chars)
    return [1.0 - len(format_violations(completion_text(c), checks)) for c in completions]


def rouge_reward(
    completions: Sequence[Any],
    reference: Sequence[Any] | None = None,
    answer: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[float]:
    """``R_rouge``: ROUGE-L F1 of each completion against its reference.

    >>> rouge_reward(completions=["no pleural effusion"], reference=["No pleural effusion."])
    [1.0]
    """
    from rrg.metrics.rouge import rouge_l_pairs

    texts = [completion_text(c) for c in completions]
    return rouge_l_pairs(texts, reference_texts(len(texts), reference, answer))


def _green_flare_entity(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    from rrg.metrics.green_flare import score_pairs

    return [r.entity_matching for r in score_pairs(predictions, references)]


def _radgraph_f1(
    radgraph_model: str = "radgraph-xl", radgraph_reward_level: str = "partial"
) -> ClinicalScorer:
    from rrg.metrics.radgraph_f1 import RadGraphF1

    # The model loads on the first call and stays with this scorer.
    return RadGraphF1(model_type=radgraph_model, reward_level=radgraph_reward_level)  # type: ignore[arg-type]


def _green_flare_entity_scorer(**options: Any) -> ClinicalScorer:
    return _green_flare_entity


CLINICAL_SCORERS: dict[str, Callable[..., ClinicalScorer]] = {
    "radgraph_f1": _radgraph_f1,
    "green_flare_entity": _green_flare_entity_scorer,
}
"""Built-in ``R_clin`` scorers by name, each a factory taking the keyword options
``radgraph_model`` and ``radgraph_reward_level`` (used by ``radgraph_f1`` only):
``radgraph_f1`` (by default the study's RadGraph-XL F1 at the partial level; needs the weights)
and ``green_flare_entity`` (green_flare entity_matching, an offline stand-in)."""


def _resolve_clinical(
    scorer: ClinicalScorerName | ClinicalScorer, **options: Any
) -> ClinicalScorer:
    if callable(scorer):
        return scorer
    try:
        factory = CLINICAL_SCORERS[scorer]
    except KeyError:
        raise ValueError(
            f"unknown clinical scorer {scorer!r}; choose from {', '.join(CLINICAL_SCORERS)} or pass a function"
        ) from None
    return factory(**options)


def check_clinical_scorer(
    scorer: ClinicalScorerName | ClinicalScorer,
    *,
    radgraph_model: str = "radgraph-xl",
    radgraph_reward_level: str = "partial",
) -> ClinicalScorer:
    """Build the clinical scorer and make sure it can run here, without scoring anything.

    A scorer with a ``check()`` method (``radgraph_f1``) is asked: a missing package or missing
    model weights raise its one-line :class:`~rrg.errors.MissingDependencyError` now rather
    than at the first training step. Returns the scorer, ready to hand to
    :func:`build_reward_functions`.

    >>> check_clinical_scorer("green_flare_entity")(["No pneumothorax."], ["Pneumothorax."])
    [0.6]
    """
    built = _resolve_clinical(
        scorer, radgraph_model=radgraph_model, radgraph_reward_level=radgraph_reward_level
    )
    check = getattr(built, "check", None)
    if callable(check):
        check()
    return built


def clinical_reward(
    completions: Sequence[Any],
    reference: Sequence[Any] | None = None,
    answer: Sequence[Any] | None = None,
    *,
    scorer: ClinicalScorerName | ClinicalScorer = "green_flare_entity",
    **kwargs: Any,
) -> list[float]:
    """``R_clin``: the clinical scorer's value for each completion against its reference.

    >>> clinical_reward(completions=["No pneumothorax."], reference=["Pneumothorax."])
    [0.6]
    """
    texts = [completion_text(c) for c in completions]
    return [
        float(v)
        for v in _resolve_clinical(scorer)(texts, reference_texts(len(texts), reference, answer))
    ]


# --------------------------------------------------------------------------------------------
# Composite
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the three terms (the study: 0.7 / 0.2 / 0.1)."""

    clinical: float = 0.7
    format: float = 0.2
    rouge: float = 0.1

    def as_list(self) -> list[float]:
        """In the order of :attr:`RewardFunctions.functions` for terms: clinical, format, rouge."""
        return [self.clinical, self.format, self.rouge]


@dataclass(frozen=True)
class CompositeReward:
    """The clipped weighted sum per completion and each term's values (for logging)."""

    rewards: list[float]
    terms: dict[str, list[float]]


def _clip(value: float, clip: tuple[float, float] | None) -> float:
    if clip is None:
        return value
    low, high = clip
    return min(high, max(low, value))


def composite_reward(
    completions: Sequence[Any],
    reference: Sequence[Any] | None = None,
    *,
    answer: Sequence[Any] | None = None,
    weights: RewardWeights = RewardWeights(),
    clinical_scorer: ClinicalScorerName | ClinicalScorer = "green_flare_entity",
    clip: tuple[float, float] | None = (-2.0, 2.0),
    checks: FormatChecks = FormatChecks(),
) -> CompositeReward:
    """``clip(w_clin R_clin + w_fmt R_fmt + w_rouge R_rouge)`` per completion, with the terms.

    >>> result = composite_reward(["<think>x</think> No effusion."], ["No effusion."])
    >>> result.terms["format"], round(result.rewards[0], 4)
    ([0.0], 0.7571)
    """
    texts = [completion_text(c) for c in completions]
    refs = reference_texts(len(texts), reference, answer)
    terms = {
        "clinical": clinical_reward(texts, refs, scorer=clinical_scorer),
        "format": format_reward(
            texts,
            max_chars=checks.max_chars,
            think_tags=checks.think_tags,
            code_fences=checks.code_fences,
        ),
        "rouge": rouge_reward(texts, refs),
    }
    rewards = [
        _clip(weights.clinical * c + weights.format * f + weights.rouge * r, clip)
        for c, f, r in zip(terms["clinical"], terms["format"], terms["rouge"])
    ]
    return CompositeReward(rewards, terms)


@dataclass(frozen=True)
class RewardFunctions:
    """Reward functions and weights to hand to TRL::

    rf = build_reward_functions()
    GRPOTrainer(..., reward_funcs=rf.functions, args=GRPOConfig(..., reward_weights=rf.weights))
    """

    functions: list[RewardFunction]
    weights: list[float]


def build_reward_functions(
    weights: RewardWeights = RewardWeights(),
    clinical_scorer: ClinicalScorerName | ClinicalScorer = "green_flare_entity",
    clip: tuple[float, float] | None = (-2.0, 2.0),
    max_chars: int | None = DEFAULT_MAX_CHARS,
    *,
    think_tags: bool = True,
    code_fences: bool = True,
    separate_terms: bool = False,
    radgraph_model: str = "radgraph-xl",
    radgraph_reward_level: str = "partial",
) -> RewardFunctions:
    """The study's reward for TRL's ``GRPOTrainer``.

    By default one function, ``grpo_reward``, returning the clipped weighted sum (weight 1.0);
    it reports each term's batch mean through TRL's ``log_metric`` as ``reward_terms/<term>``.
    With ``separate_terms=True``: the three term functions (``clinical_reward``,
    ``format_reward``, ``rouge_reward``) and their weights, which TRL sums itself and logs one
    by one; TRL cannot clip that sum, so this is refused when the clip bounds could be reached.
    ``radgraph_model`` and ``radgraph_reward_level`` configure the ``radgraph_f1`` scorer.

    A named scorer is checked as it is built (:func:`check_clinical_scorer`): a scorer that
    cannot run here (radgraph not installed, its weights not on disk) raises its one-line
    error now, not at the first training step.
    """
    checks = FormatChecks(think_tags=think_tags, code_fences=code_fences, max_chars=max_chars)
    scorer = check_clinical_scorer(
        clinical_scorer, radgraph_model=radgraph_model, radgraph_reward_level=radgraph_reward_level
    )
    name = (
        clinical_scorer
        if isinstance(clinical_scorer, str)
        else getattr(scorer, "__name__", "custom")
    )

    if separate_terms:
        if clip is not None:
            low, high = _reachable_range(weights, checks)
            if low < clip[0] or high > clip[1]:
                raise ValueError(
                    f"with these weights the summed reward ranges over [{low}, {high}], beyond the clip "
                    f"{list(clip)}; TRL cannot clip a sum of separate terms: use separate_terms=False"
                )

        def clinical_term(completions: Sequence[Any], **kwargs: Any) -> list[float]:
            return clinical_reward(completions, scorer=scorer, **_columns(kwargs))

        def format_term(completions: Sequence[Any], **kwargs: Any) -> list[float]:
            return format_reward(
                completions,
                max_chars=checks.max_chars,
                think_tags=checks.think_tags,
                code_fences=checks.code_fences,
            )

        def rouge_term(completions: Sequence[Any], **kwargs: Any) -> list[float]:
            return rouge_reward(completions, **_columns(kwargs))

        clinical_term.__name__ = f"clinical_reward_{name}"
        format_term.__name__ = "format_reward"
        rouge_term.__name__ = "rouge_reward"
        return RewardFunctions([clinical_term, format_term, rouge_term], weights.as_list())

    def grpo_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        result = composite_reward(
            completions,
            weights=weights,
            clinical_scorer=scorer,
            clip=clip,
            checks=checks,
            **_columns(kwargs),
        )
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and result.rewards:
            for term, values in result.terms.items():
                log_metric(f"reward_terms/{term}", sum(values) / len(values))
        return result.rewards

    return RewardFunctions([grpo_reward], [1.0])


def _columns(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs[key] for key in ("reference", "answer") if key in kwargs}


def _reachable_range(weights: RewardWeights, checks: FormatChecks) -> tuple[float, float]:
    """Lowest and highest possible weighted sums (clinical and rouge in [0, 1], format in
    [1 - number of checks, 1])."""
    ranges = [
        (weights.clinical, 0.0, 1.0),
        (weights.format, 1.0 - checks.count(), 1.0),
        (weights.rouge, 0.0, 1.0),
    ]
    low = sum(min(w * a, w * b) for w, a, b in ranges)
    high = sum(max(w * a, w * b) for w, a, b in ranges)
    return low, high
