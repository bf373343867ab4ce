"""BLEU-4, two ways: the FLARE 2025 baselines' per-sample variant and standard corpus BLEU.

``bleu4_flare`` is what the FLARE baselines and the study report as "BLEU-4". It is not corpus
BLEU: modified n-gram precisions are computed per sample (lower-cased whitespace tokens,
punctuation attached), averaged arithmetically over samples for each order 1-4, combined by a
geometric mean and multiplied by a brevity penalty from corpus token totals; no smoothing, and
0.0 as soon as one order averages 0.

``bleu4`` is standard corpus BLEU-4 computed by sacreBLEU with its defaults (13a tokenisation,
case-sensitive, exponential smoothing), divided by 100 so that it is on the same 0-1 scale as
everything else rrg reports.

>>> bleu4_flare(["the heart is normal"], ["the heart is normal"])
1.0
>>> bleu4_flare(["heart normal"], ["the heart is normal"])  # no 3-gram: the 3-gram average is 0
0.0
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

__all__ = ["bleu4", "bleu4_flare", "bleu4_with_signature"]

MAX_ORDER = 4


class _NgramCounts:
    """Lower-cased whitespace tokens of one text and their n-gram counts for n = 1..4."""

    __slots__ = ("counts", "length")

    def __init__(self, text: str, max_order: int) -> None:
        tokens = text.lower().split()
        self.length = len(tokens)
        self.counts = [
            Counter(zip(*(tokens[i:] for i in range(n)))) if n > 1 else Counter(tokens)
            for n in range(1, max_order + 1)
        ]


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )


def bleu4_flare(
    predictions: Sequence[str], references: Sequence[str], max_order: int = MAX_ORDER
) -> float:
    """The FLARE baselines' BLEU (``calculate_bleu_score``), reproduced exactly.

    For each order n: the mean over pairs of (clipped n-gram matches / prediction n-grams), 0.0
    for a prediction shorter than n tokens; 0.0 overall if any order's mean is 0. Result:
    brevity penalty x geometric mean of the per-order means, with the penalty 1 when the
    predictions have more tokens in total than the references, 0 when they have none, else
    ``exp(1 - ref_tokens / pred_tokens)``.
    """
    import numpy as np

    _check_lengths(predictions, references)
    order = min(max_order, MAX_ORDER)
    cache: dict[str, _NgramCounts] = {}

    def counts(text: str) -> _NgramCounts:
        found = cache.get(text)
        if found is None:
            found = cache[text] = _NgramCounts(text, order)
        return found

    pairs = [(counts(p), counts(r)) for p, r in zip(predictions, references)]
    pred_total = sum(p.length for p, _ in pairs)
    ref_total = sum(r.length for _, r in pairs)
    if pred_total > ref_total:
        brevity_penalty = 1.0
    elif pred_total == 0:
        brevity_penalty = 0.0
    else:
        brevity_penalty = math.exp(1 - ref_total / pred_total)

    log_precisions = []
    for n in range(order):
        per_sample = []
        for pred, ref in pairs:
            pred_ngrams = pred.counts[n]
            if not pred_ngrams:
                per_sample.append(0.0)
                continue
            ref_ngrams = ref.counts[n]
            overlap = sum(
                min(pred_ngrams[g], ref_ngrams[g]) for g in pred_ngrams.keys() & ref_ngrams.keys()
            )
            per_sample.append(overlap / (pred.length - n))
        mean = float(np.mean(np.array(per_sample, dtype=np.float64))) if per_sample else 0.0
        if mean > 0:
            log_precisions.append(math.log(mean))
        else:
            return 0.0
    if not log_precisions:
        return 0.0
    return brevity_penalty * math.exp(sum(log_precisions) / len(log_precisions))


def bleu4_with_signature(
    predictions: Sequence[str], references: Sequence[str]
) -> tuple[float, str]:
    """:func:`bleu4` and sacreBLEU's signature string (version, tokeniser, smoothing, case)."""
    from sacrebleu.metrics import BLEU

    _check_lengths(predictions, references)
    metric = BLEU()
    if not predictions:
        return 0.0, ""
    score = metric.corpus_score(list(predictions), [list(references)]).score / 100.0
    return score, str(metric.get_signature())


def bleu4(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Standard corpus BLEU-4 (sacreBLEU defaults), on a 0-1 scale (sacreBLEU's score / 100)."""
    return bleu4_with_signature(predictions, references)[0]
