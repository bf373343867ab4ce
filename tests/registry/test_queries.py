"""search_runs filters and sorting, compare with the paired bootstrap, and the study tables."""

from __future__ import annotations

import pytest

from rrg_registry import InvalidQuery, MetricFilter
from rrg_registry.stats import paired_bootstrap

from .conftest import COMPONENTS, hours_ago


@pytest.fixture
def population(factory, clock):
    """Five runs created an hour apart (oldest first), with metrics and tags."""
    specs = [
        dict(recipe="zs@1", stage="zero_shot", model_family="qwen3_vl", status="succeeded",
             metrics={"green_flare": 0.695, "ce": 0.327}, tags=["paper"]),
        dict(recipe="sft@1", stage="sft", model_family="qwen3_vl", status="succeeded",
             metrics={"green_flare": 0.769, "ce": 0.843}, tags=["paper"]),
        dict(recipe="sft@2", stage="sft", model_family="deepseek_ocr", model_id="deepseek-ai/DeepSeek-OCR",
             status="succeeded", metrics={"green_flare": 0.846, "ce": 0.957}, tags=["paper", "best"]),
        dict(recipe="sft@2", stage="sft", model_family="medgemma", status="failed", metrics={"ce": 0.2}),
        dict(recipe="grpo@1", stage="grpo", model_family="qwen3_vl", status="running",
             metrics={"green_flare": 0.793, "ce": 0.836}),
    ]
    runs = []
    for i, spec in enumerate(specs):
        clock(hours_ago(0.1 * (len(specs) - i)))
        runs.append(factory.run(**spec))
    clock(None)
    return runs


def ids(summaries):
    return [s.id for s in summaries]


def test_default_order_is_newest_first(registry, population):
    assert ids(registry.search_runs()) == [r.id for r in reversed(population)]
    assert ids(registry.search_runs(sort="created", ascending=True)) == [r.id for r in population]


def test_filters(registry, population):
    zs, sft1, sft2, failed, grpo = population
    assert ids(registry.search_runs(stage="sft")) == [failed.id, sft2.id, sft1.id]
    assert ids(registry.search_runs(recipe="sft")) == [failed.id, sft2.id, sft1.id]
    assert ids(registry.search_runs(recipe="sft@2")) == [failed.id, sft2.id]
    assert ids(registry.search_runs(model="qwen3_vl", status="succeeded")) == [sft1.id, zs.id]
    assert ids(registry.search_runs(model="deepseek-ai/DeepSeek-OCR")) == [sft2.id]
    assert ids(registry.search_runs(status=["running", "failed"])) == [grpo.id, failed.id]
    assert ids(registry.search_runs(tag="paper")) == [sft2.id, sft1.id, zs.id]
    assert ids(registry.search_runs(tag=["paper", "best"])) == [sft2.id]
    assert registry.search_runs(tag="nope") == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (["green_flare>0.8"], [2]),
        (["green_flare>=0.769"], [4, 2, 1]),
        (["green_flare<0.7"], [0]),
        (["green_flare<=0.695"], [0]),
        (["green_flare=0.769"], [1]),
        (["green_flare==0.769"], [1]),
        (["green_flare!=0.769"], [4, 2, 0]),
        (["green_flare>0.7", "ce>0.84"], [2, 1]),
        (["ce<0.5"], [3, 0]),
        (["bleu4_flare>0"], []),
    ],
)
def test_metric_thresholds(registry, population, where, expected):
    assert ids(registry.search_runs(where=where)) == [population[i].id for i in expected]


def test_sort_by_metric(registry, population):
    zs, sft1, sft2, failed, grpo = population
    # descending by default; runs without the metric come last
    assert ids(registry.search_runs(sort="green_flare")) == [sft2.id, grpo.id, sft1.id, zs.id, failed.id]
    assert ids(registry.search_runs(sort="green_flare", ascending=True)) == [zs.id, sft1.id, grpo.id, sft2.id, failed.id]
    assert ids(registry.search_runs(sort="green_flare", limit=2)) == [sft2.id, grpo.id]
    assert ids(registry.search_runs(sort="bleu4_flare", limit=2)) == [grpo.id, failed.id]
    assert ids(registry.search_runs(sort="stage")) == [grpo.id, failed.id, sft2.id, sft1.id, zs.id]
    assert ids(registry.search_runs(sort="recipe", limit=1)) == [grpo.id]


def test_summary_fields(registry, population):
    summary = registry.search_runs(recipe="sft@2", status="succeeded")[0]
    row = summary.to_row()
    assert list(row) == ["id", "recipe", "stage", "model", "model_id", "adapter", "status", "tags", "parent",
                         "created", "started", "ended", "metrics"]
    assert row["recipe"] == "sft@2" and row["model"] == "deepseek_ocr" and row["status"] == "succeeded"
    assert row["tags"] == ["best", "paper"] and row["metrics"] == {"ce": 0.957, "green_flare": 0.846}


@pytest.mark.parametrize("bad", ["green_flare>>1", "green_flare", "green_flare>high", ">0.5", "green flare>1", "x>nan"])
def test_malformed_filters_are_refused(registry, bad):
    with pytest.raises(InvalidQuery):
        registry.search_runs(where=[bad])


def test_other_bad_queries(registry):
    with pytest.raises(InvalidQuery, match="cannot sort by"):
        registry.search_runs(sort="green_flare; drop table runs")
    with pytest.raises(InvalidQuery):
        registry.search_runs(recipe="sft@two")
    with pytest.raises(InvalidQuery):
        registry.search_runs(limit=0)
    assert MetricFilter.parse(" ce >= 0.5 ") == MetricFilter("ce", ">=", 0.5)


# -- compare and the paired bootstrap --------------------------------------------------------

def _scored(registry, factory, scores, split="validation", **kwargs):
    run = factory.run(status="running", **kwargs)
    preds = [{"sample_id": f"s{i}", "prediction": "x", "green_flare": s} for i, s in enumerate(scores)]
    registry.record_evaluation(run.id, split, {"green_flare": sum(scores) / len(scores)}, predictions=preds,
                               status="succeeded")
    return run


BASE = [0.2, 0.35, 0.5, 0.41, 0.62, 0.3, 0.55, 0.47, 0.38, 0.6] * 5


def test_compare_better_everywhere_gives_a_tiny_p_value(registry, factory):
    a = _scored(registry, factory, BASE)
    better = [s + 0.05 + 0.01 * (i % 3) for i, s in enumerate(BASE)]
    b = _scored(registry, factory, better)
    expected = sum(y - x for x, y in zip(BASE, better)) / len(BASE)
    comparison = registry.compare([a.id, b.id[:5]])
    assert [r.id for r in comparison.runs] == [a.id, b.id]
    test = comparison.paired_tests[0]
    assert (test.baseline_run_id, test.run_id, test.split, test.n) == (a.id, b.id, "validation", 50)
    assert test.mean_difference == pytest.approx(expected)
    assert test.p_value == pytest.approx(1 / 10_001)
    assert 0.05 < test.ci_low <= test.mean_difference <= test.ci_high < 0.07
    row = comparison.rows()[0]
    assert row["metric"] == "green_flare" and row[f"{b.id}-{a.id}"] == pytest.approx(expected)


def test_compare_identical_runs_gives_p_one(registry, factory):
    a = _scored(registry, factory, BASE)
    b = _scored(registry, factory, BASE)
    test = registry.compare([a.id, b.id]).paired_tests[0]
    assert test.p_value == 1.0 and test.mean_difference == 0.0 and test.ci_low == test.ci_high == 0.0


def test_compare_without_common_samples_explains_why(registry, factory):
    a = _scored(registry, factory, BASE, split="validation")
    b = _scored(registry, factory, BASE, split="test")
    c = factory.run(status="succeeded", metrics={"green_flare": 0.5})
    comparison = registry.compare([a.id, b.id, c.id])
    assert comparison.paired_tests == ()
    assert comparison.skipped_tests == (
        f"{b.id} vs {a.id}: no per-sample predictions of both runs on a common split",
        f"{c.id} vs {a.id}: no per-sample predictions of both runs on a common split",
    )
    with pytest.raises(InvalidQuery):
        registry.compare([a.id])


def test_paired_bootstrap_is_deterministic_and_checks_input():
    a, b = [0.1, 0.4, 0.3, 0.9], [0.2, 0.3, 0.5, 0.9]
    assert paired_bootstrap(a, b, resamples=500, seed=3) == paired_bootstrap(a, b, resamples=500, seed=3)
    noisy = paired_bootstrap([0.5, 0.4, 0.6, 0.5] * 5, [0.6, 0.3, 0.5, 0.6] * 5, resamples=2000)
    assert 0.2 < noisy.p_value <= 1.0
    with pytest.raises(ValueError):
        paired_bootstrap([0.1], [0.2])
    with pytest.raises(ValueError):
        paired_bootstrap([0.1, 0.2], [0.2])


# -- study tables ----------------------------------------------------------------------------

def test_study_tables(registry, factory, clock):
    clock(hours_ago(5))
    old = factory.run(recipe="q-sft@1", stage="sft", model_family="qwen3_vl", status="succeeded",
                      metrics={"green_flare": 0.1})
    clock(None)
    runs = {}
    ids = {"qwen3_vl": "Qwen/Qwen3-VL-4B-Instruct", "deepseek_ocr": "deepseek-ai/DeepSeek-OCR"}
    for stage, family, green in [("grpo", "qwen3_vl", 0.793), ("sft", "qwen3_vl", 0.769),
                                 ("zero_shot", "deepseek_ocr", 0.498), ("sft", "deepseek_ocr", 0.846)]:
        run = factory.run(recipe=f"{family}-{stage}@1", stage=stage, model_family=family, model_id=ids[family],
                          status="running")
        registry.record_evaluation(run.id, "validation", {"green_flare": green, "bleu4_flare": 0.05, "ce": 0.9},
                                   components={**COMPONENTS, "entity_matching": green}, n=1945, status="succeeded")
        runs[(stage, family)] = run
    factory.run(recipe="m@1", stage="sft", model_family="medgemma", status="failed", metrics={"green_flare": 0.99})

    table = registry.study_table()  # no naming function: models by their recorded id
    assert [(r["stage"], r["model"], r["run"], r["green_flare"]) for r in table] == [
        ("zero_shot", "deepseek-ai/DeepSeek-OCR", runs[("zero_shot", "deepseek_ocr")].id, 0.498),
        ("sft", "deepseek-ai/DeepSeek-OCR", runs[("sft", "deepseek_ocr")].id, 0.846),
        ("sft", "Qwen/Qwen3-VL-4B-Instruct", runs[("sft", "qwen3_vl")].id, 0.769),
        ("grpo", "Qwen/Qwen3-VL-4B-Instruct", runs[("grpo", "qwen3_vl")].id, 0.793),
    ]
    named = registry.study_table(model_name=lambda family, model_id: f"{family}:{model_id.rsplit('/')[-1]}")
    assert [r["model"] for r in named] == ["deepseek_ocr:DeepSeek-OCR", "deepseek_ocr:DeepSeek-OCR",
                                           "qwen3_vl:Qwen3-VL-4B-Instruct", "qwen3_vl:Qwen3-VL-4B-Instruct"]
    assert old.id not in {r["run"] for r in table}
    assert set(table[0]) == {"stage", "model", "run", "green_flare", "bleu4_flare", "ce", "recipe", "passed_over"}
    assert table[2]["passed_over"] == [{"run": old.id, "recipe": "q-sft@1", "reason": "earlier"}]

    columns, rows = registry.components_table(model_name=lambda family, model_id: family)
    assert columns == ["deepseek_ocr/zero_shot", "deepseek_ocr/sft", "qwen3_vl/sft", "qwen3_vl/grpo"]
    assert [r["component"] for r in rows] == list(COMPONENTS)
    assert rows[0]["qwen3_vl/grpo"] == 0.793 and rows[1]["deepseek_ocr/sft"] == COMPONENTS["location_accuracy"]
    assert registry.study_table(tags=["nothing"]) == []
