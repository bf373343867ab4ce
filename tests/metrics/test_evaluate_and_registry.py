"""evaluate(), the metric registry (green_llm extension point) and the bundled sample."""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys

import pytest
from rrg.errors import MissingDependencyError, RrgError
from rrg.metrics import (
    DEFAULT_METRICS,
    METRIC_NAMES,
    METRICS,
    MetricSpec,
    MetricValues,
    bleu4,
    ce_category,
    evaluate,
    green_flare,
    rouge_l,
)
from rrg.metrics.sample_pairs import SAMPLE_PAIRS, build_sample_pairs, render

PREDS = ["No pneumothorax. Heart size normal.", "Possible left lower lobe pneumonia.", ""]
REFS = ["No pneumothorax or effusion.", "Left lower lobe consolidation.", "Normal chest."]


def test_metric_names_and_defaults():
    assert METRIC_NAMES == (
        "green_flare",
        "bleu4_flare",
        "bleu4",
        "ce",
        "rouge_l",
        "radgraph_f1",
        "green_llm",
    )
    assert DEFAULT_METRICS == ("green_flare", "bleu4_flare", "bleu4", "ce", "rouge_l")
    assert all(METRICS[name].description for name in METRIC_NAMES)


def test_evaluate_summary_and_per_sample():
    result = evaluate(PREDS, REFS)
    assert result.n == 3
    corpus = green_flare.score_corpus(PREDS, REFS)
    assert result.summary["green_flare"] == corpus["overall_mean"]
    for key in (*green_flare.COMPONENTS, "severity_correlation"):
        assert result.summary[key] == corpus[f"{key}_mean"]
    assert result.summary["bleu4"] == bleu4(PREDS, REFS)
    assert result.summary["rouge_l"] == rouge_l(PREDS, REFS)
    assert result.details["green_flare"] == corpus
    assert "tok:13a" in result.details["bleu4"]["signature"]
    assert len(result.per_sample) == 3
    row = result.per_sample[1]
    assert row["ce_prediction"] == ce_category(PREDS[1]) == "uncertain"
    assert row["green_flare"] == green_flare.score_pair(PREDS[1], REFS[1]).overall


def test_truncation_applies_to_predictions_only():
    long = ["Small effusion. " * 60]
    ref = ["Small effusion. " * 60]
    assert evaluate(long, ref, ["green_flare"], truncate_chars=500).per_sample[0][
        "green_flare"
    ] == (green_flare.score_pair(long[0][:500], ref[0]).overall)


def test_unknown_metric_and_green_llm():
    with pytest.raises(RrgError, match="unknown metric 'GREEN'"):
        evaluate(PREDS, REFS, ["GREEN"])
    with pytest.raises(MissingDependencyError, match="Ostmeier"):
        evaluate(PREDS, REFS, ["green_llm"])


def test_a_green_llm_scorer_can_be_registered_on_a_copy():
    def fake_judge(preds, refs):
        values = [1.0 if p == r else 0.0 for p, r in zip(preds, refs)]
        return MetricValues(
            {"green_llm": sum(values) / len(values)}, [{"green_llm": v} for v in values]
        )

    registry = METRICS.copy()
    registry.register(MetricSpec("green_llm", "test judge", fake_judge), replace=True)
    result = evaluate(["a", "b"], ["a", "c"], ["green_llm"], registry=registry)
    assert result.summary["green_llm"] == 0.5
    assert result.to_json() == {"n": 2, "green_llm": 0.5, "truncate_chars": None}
    with pytest.raises(TypeError, match="read-only"):
        METRICS.register(MetricSpec("x", "x", fake_judge))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(MetricSpec("green_llm", "again", fake_judge))


def test_bundled_sample_is_what_the_builder_produces():
    assert SAMPLE_PAIRS.read_text(encoding="utf-8") == render(build_sample_pairs())
    rows = [json.loads(line) for line in SAMPLE_PAIRS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 200
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(
            green_flare.score_pair(row["prediction"], row["reference"]).overall
        )
    mean = {k: sum(v) / len(v) for k, v in by_kind.items()}
    assert mean["identical"] > mean["near_findings"] > mean["random_impression"]


@pytest.mark.parametrize(
    "module",
    ["rrg.metrics.green_flare", "rrg.metrics.bleu", "rrg.metrics.clinical_efficacy", "rrg.metrics.rouge",
     "rrg.metrics.evaluation", "rrg.rewards"],
)  # fmt: skip
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_importing_the_metrics_is_light():
    code = "import sys, rrg.metrics, rrg.rewards; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out.replace("'", '"')))
    assert not loaded & {"numpy", "torch", "sacrebleu", "rouge_score", "radgraph", "transformers"}
