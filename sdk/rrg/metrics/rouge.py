"""rouge_l: ROUGE-L F1 from Google's ``rouge-score`` package.

Sentence-level ROUGE-L (longest common subsequence over the package's tokens: lower-cased,
non-alphanumeric characters replaced by spaces, no stemming by default), F-measure. The corpus
value is the mean of the per-pair F1 values.

>>> rouge_l_pairs(["no pleural effusion"], ["No pleural effusion."])
[1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["rouge_l", "rouge_l_pairs"]


def rouge_l_pairs(
    predictions: Sequence[str], references: Sequence[str], use_stemmer: bool = False
) -> list[float]:
    """ROUGE-L F1 of each prediction against its reference."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    cache: dict[tuple[str, str], float] = {}
    values = []
    for p, r in zip(predictions, references):
        key = (p, r)
        value = cache.get(key)
        if value is None:
            value = cache[key] = scorer.score(r, p)["rougeL"].fmeasure
        values.append(value)
    return values


def rouge_l(
    predictions: Sequence[str], references: Sequence[str], use_stemmer: bool = False
) -> float:
    """Mean ROUGE-L F1 over pairs (0.0 for no pairs)."""
    values = rouge_l_pairs(predictions, references, use_stemmer=use_stemmer)
    return sum(values) / len(values) if values else 0.0
