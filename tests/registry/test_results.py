"""Checkpoints, metrics, green_flare components, predictions, evaluations, publications, external models."""

from __future__ import annotations

import math

import pytest

from rrg_registry import DuplicateRecord, NotFound, RunNotFound, RunStatus

from .conftest import COMPONENTS


def test_checkpoints_and_the_best_flag(registry, factory):
    run = factory.run(status="running")
    first = registry.record_checkpoint(run.id, 100, "/ckpt/100", "a" * 64, 1_000_000, eval_loss=1.2, best=True)
    second = registry.record_checkpoint(run.id, 200, "/ckpt/200", "b" * 64, 5_000_000_000, eval_loss=0.9, best=True)
    third = registry.record_checkpoint(run.id, 300, "/ckpt/300", "c" * 64, 1, eval_loss=1.0)
    best = [c.step for c in registry.get_run(run.id).checkpoints if c.best]
    assert best == [200]
    assert second.size == 5_000_000_000 and first.eval_loss == 1.2 and not third.best
    registry.mark_best_checkpoint(first.id)
    assert [c.step for c in registry.get_run(run.id).checkpoints if c.best] == [100]
    assert [c.step for c in registry.get_run(run.id).checkpoints] == [100, 200, 300]


def test_checkpoint_step_is_recorded_once(registry, factory):
    run = factory.run(status="running")
    registry.record_checkpoint(run.id, 100, "/a", "a" * 64, 1, best=True)
    with pytest.raises(DuplicateRecord, match="already has a checkpoint at step 100"):
        registry.record_checkpoint(run.id, 100, "/b", "b" * 64, 1, best=True)
    checkpoints = registry.get_run(run.id).checkpoints
    assert [(c.path, c.best) for c in checkpoints] == [("/a", True)]
    with pytest.raises(NotFound):
        registry.mark_best_checkpoint(424242)


def test_log_metrics_keeps_history_and_the_latest_value(registry, factory):
    run = factory.run(status="running")
    ckpt = registry.record_checkpoint(run.id, 10, "/c", "a" * 64, 1)
    logged = registry.log_metrics(run.id, {"eval_loss": 2.0}, "validation", step=10, checkpoint_id=ckpt.id)
    assert logged[0].step == 10 and logged[0].checkpoint_id == ckpt.id
    registry.log_metrics(run.id, {"eval_loss": 1.5}, "validation", step=20)
    registry.log_metrics(run.id, {"green_flare": 0.7, "ce": 0.9}, "validation", n=1945)
    detail = registry.get_run(run.id)
    assert detail.metrics == {"ce": 0.9, "eval_loss": 1.5, "green_flare": 0.7}
    assert [(m.name, m.value, m.step) for m in detail.metric_history] == [
        ("eval_loss", 2.0, 10), ("eval_loss", 1.5, 20), ("green_flare", 0.7, None), ("ce", 0.9, None)]
    assert detail.metric_history[2].n == 1945
    assert registry.search_runs()[0].metrics == detail.metrics


def test_log_metrics_refuses_bad_values_and_foreign_checkpoints(registry, factory):
    run = factory.run(status="running")
    other = factory.run(status="running")
    ckpt = registry.record_checkpoint(other.id, 1, "/c", "a" * 64, 1)
    with pytest.raises(ValueError, match="finite"):
        registry.log_metrics(run.id, {"green_flare": 0.5, "bleu4_flare": math.nan}, "validation")
    with pytest.raises(NotFound, match=f"run {run.id} has no checkpoint"):
        registry.log_metrics(run.id, {"green_flare": 0.5}, "validation", checkpoint_id=ckpt.id)
    with pytest.raises(RunNotFound):
        registry.log_metrics("0000ffff", {"green_flare": 0.5}, "validation")
    assert registry.get_run(run.id).metric_history == ()


def test_green_flare_components(registry, factory):
    run = factory.run(status="running")
    logged = registry.log_green_flare_components(
        run.id, {**COMPONENTS, "severity_correlation": 0.5, "overall": 0.81}, "validation", n=1945)
    assert logged.n == 1945 and logged.entity_matching == 0.8 and logged.overall == 0.81
    stored = registry.get_run(run.id).components
    assert len(stored) == 1 and stored[0].values()["severity_correlation"] == 0.5
    with pytest.raises(ValueError, match="unknown green_flare components"):
        registry.log_green_flare_components(run.id, {**COMPONENTS, "GREEN": 0.1}, "validation", n=1)
    with pytest.raises(ValueError, match="missing"):
        registry.log_green_flare_components(run.id, {"entity_matching": 0.1}, "validation", n=1)
    assert len(registry.get_run(run.id).components) == 1


def _predictions(count: int, score=lambda i: i / 1000):
    return [
        {"sample_id": f"s{i:05d}", "question": "Describe the heart.", "prediction": f"p{i}",
         "reference": f"r{i}", "scores": {"green_flare": score(i), "bleu4_flare": 0.1}}
        for i in range(count)
    ]


def test_log_predictions_bulk_and_replace(registry, factory):
    run = factory.run(status="running")
    assert registry.log_predictions(run.id, "validation", _predictions(2000)) == 2000
    stored = registry.predictions(run.id, "validation")
    assert len(stored) == 2000
    first = stored[0]
    assert (first.sample_id, first.question, first.prediction, first.reference, first.green_flare) == (
        "s00000", "Describe the heart.", "p0", "r0", 0.0)
    assert first.scores == {"green_flare": 0.0, "bleu4_flare": 0.1}
    assert stored[1999].green_flare == pytest.approx(1.999)
    # logging the split again replaces the set
    registry.log_predictions(run.id, "validation", _predictions(3))
    assert [p.sample_id for p in registry.predictions(run.id, "validation")] == ["s00000", "s00001", "s00002"]
    assert registry.predictions(run.id, "test") == []
    assert registry.get_run(run.id).prediction_counts == {"validation": 3}


def test_duplicate_sample_ids_leave_the_previous_predictions(registry, factory):
    run = factory.run(status="running")
    registry.log_predictions(run.id, "validation", _predictions(2))
    rows = _predictions(3) + [_predictions(3)[1]]
    with pytest.raises(ValueError, match=r"sample ids repeat .*\['s00001'\]"):
        registry.log_predictions(run.id, "validation", rows)
    assert len(registry.predictions(run.id, "validation")) == 2


def test_record_evaluation_writes_everything_in_one_transaction(registry, factory):
    run = factory.run(status="running")
    done = registry.record_evaluation(
        run.id, "validation", {"green_flare": 0.8, "bleu4_flare": 0.1, "ce": 0.95},
        components=COMPONENTS, predictions=_predictions(10), status="succeeded",
    )
    assert done.status is RunStatus.SUCCEEDED and done.ended_at is not None
    detail = registry.get_run(run.id)
    assert detail.metrics == {"green_flare": 0.8, "bleu4_flare": 0.1, "ce": 0.95}
    assert detail.components[0].n == 10 and all(m.n == 10 for m in detail.metric_history)
    assert detail.prediction_counts == {"validation": 10}


@pytest.mark.parametrize("failure", ["bad prediction", "bad transition", "bad component"])
def test_failed_evaluation_leaves_nothing(registry, factory, failure):
    run = factory.run(status="running")
    predictions = _predictions(5)
    components = dict(COMPONENTS)
    status = "succeeded"
    if failure == "bad prediction":
        predictions.append({"sample_id": "no-text"})
    elif failure == "bad transition":
        status = "pending"
    else:
        components["entity_matching"] = math.inf
    with pytest.raises(Exception):
        registry.record_evaluation(run.id, "validation", {"green_flare": 0.8}, components=components,
                                   predictions=predictions, status=status)
    detail = registry.get_run(run.id)
    assert detail.run.status is RunStatus.RUNNING
    assert detail.metrics == {} and detail.metric_history == () and detail.components == ()
    assert detail.prediction_counts == {}


def test_publications(registry, factory):
    run = factory.run(status="succeeded")
    pub = registry.record_publication(run.id, "org/qwen3-vl-sft", "0123abcd" * 5, "https://huggingface.co/org/qwen3-vl-sft")
    assert pub.run_id == run.id and pub.published_at is not None
    assert [p.repo for p in registry.get_run(run.id).publications] == ["org/qwen3-vl-sft"]
    with pytest.raises(RunNotFound):
        registry.record_publication("ffffffff", "org/x", "abc", "https://x")


def test_external_models(registry, factory):
    assert registry.get_external_model("org/adapter") is None
    model = registry.record_external_model("org/adapter", "rev1", "/cache/a", recipe_yaml="name: x\n")
    again = registry.record_external_model("org/adapter", "rev1", "/cache/b")
    assert again.id == model.id and again.local_path == "/cache/b" and again.recipe_yaml == "name: x\n"
    registry.record_external_model("org/adapter", "rev2", "/cache/c")
    assert registry.get_external_model("org/adapter", "rev1").local_path == "/cache/b"
    assert [m.revision for m in registry.list_external_models()] == ["rev1", "rev2"]
    run = factory.run(stage="zero_shot", external_model_id=model.id)
    assert run.external_model_id == model.id
