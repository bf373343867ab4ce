"""green_flare (fast) against a literal transcription of the specification on random texts.

The literal version (benchmarks/green_flare_literal.py) compiles a pattern per term, cuts a
context string per mention and re-checks negation per comparison; the fast one shares none of
that code. Texts are vector texts with random insertions, deletions, case changes and the
constructs the specification singles out.
"""

from __future__ import annotations

import random

import pytest
from rrg.metrics import bleu4_flare, ce, green_flare

SPECIAL = [
    "3.5 cm", "12 mmhg", "1.2.3 cm", "\uff13 cm", "\u0663mm", "\u00a0", "\u0130", "no", "not", "cannot",
    "mild", "severe", "possible", "unlikely", "pleural fluid", "pulmonary edema", "left-sided", "cp angle",
    "no change", "findings", "impression", "2 x 3 cm", "12.5cm", "\u200b", "casino", "enlarged heart",
    "effusions", "No", "acute", "x" * 45,
]  # fmt: skip


def _mutate(rng: random.Random, text: str, words: list[str]) -> str:
    tokens = text.split(" ")
    for _ in range(rng.randint(0, 6)):
        op = rng.random()
        if op < 0.3 and tokens:
            del tokens[rng.randrange(len(tokens))]
        elif op < 0.6:
            tokens.insert(rng.randint(0, len(tokens)), rng.choice(words))
        elif op < 0.8 and tokens:
            i = rng.randrange(len(tokens))
            tokens[i] = tokens[i].upper() if rng.random() < 0.5 else tokens[i][::-1]
        else:
            tokens.insert(rng.randint(0, len(tokens)), rng.choice(SPECIAL))
    return " ".join(tokens)


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_equals_literal_on_mutated_texts(vectors, literal_green_flare, seed):
    rng = random.Random(seed)
    texts = [r["prediction"] for r in vectors] + [r["reference"] for r in vectors]
    words = " ".join(texts).split() + SPECIAL
    scorer = green_flare.GreenFlareScorer()
    for _ in range(600):
        prediction = _mutate(rng, rng.choice(texts), words)
        reference = _mutate(rng, rng.choice(texts), words) if rng.random() < 0.7 else prediction
        if rng.random() < 0.1:
            prediction *= rng.randint(2, 4)
        expected = literal_green_flare.score_pair(prediction, reference)
        got = scorer.score(prediction, reference)
        for key in green_flare.SCORE_KEYS:
            assert getattr(got, key) == expected[key], (key, prediction, reference)
        assert got.entity_details.as_dict() == expected["entity_details"]


def test_bleu_and_ce_equal_literal_on_mutated_texts(vectors, literal_green_flare):
    rng = random.Random(7)
    texts = [r["prediction"] for r in vectors] + [r["reference"] for r in vectors]
    words = " ".join(texts).split() + SPECIAL
    for _ in range(20):
        n = rng.randint(1, 40)
        preds = [_mutate(rng, rng.choice(texts), words) for _ in range(n)]
        refs = [_mutate(rng, rng.choice(texts), words) for _ in range(n)]
        assert bleu4_flare(preds, refs) == literal_green_flare.bleu(preds, refs)
        assert ce(preds, refs) == literal_green_flare.clinical_efficacy(preds, refs)
