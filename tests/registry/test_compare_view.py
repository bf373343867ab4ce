"""``rrg compare`` leads with what was evaluated: the evaluation metrics, the seven green_flare
components (each beside its value before training, where recorded), what the run cost, then the
paired test; training logs (``train/*``) only with ``--all`` (issue 14)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rrg_registry import GREEN_FLARE_COMPONENTS

from .conftest import COMPONENTS
from .test_cli import rrg

TRAINING_LOGS = {f"train/{name}": 0.5 for name in (
    "loss", "grad_norm", "learning_rate", "epoch", "global_step", "num_tokens", "mean_token_accuracy", "entropy",
    "train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos",
)}


def _trained(registry, factory, green: float, before: bool):
    run = factory.run(recipe="demo-sft@1", stage="sft", model_family="qwen2_5_vl", model_id="tiny", status="running")
    registry.log_metrics(run.id, TRAINING_LOGS, "train", step=10)
    if before:
        registry.log_metrics(run.id, {"before/green_flare": 0.2, "before/bleu4_flare": 0.0, "before/ce": 0.3,
                                      **{f"before/{c}": 0.1 for c in GREEN_FLARE_COMPONENTS},
                                      "before/severity_correlation": 0.0}, "validation")
    registry.log_metrics(run.id, {"wall_seconds": 2261.0, "peak_rss_gib": 3.5}, "run")
    predictions = [{"sample_id": f"s{i}", "prediction": "x", "green_flare": green + 0.01 * (i % 5)} for i in range(20)]
    registry.record_evaluation(run.id, "validation", {"green_flare": green, "bleu4_flare": 0.05, "ce": 0.9, "rouge_l": 0.3},
                               components={**COMPONENTS, "entity_matching": green}, predictions=predictions,
                               status="succeeded")
    return run


@pytest.fixture
def pair(registry, factory, registry_url):
    return registry_url, _trained(registry, factory, 0.6, before=True), _trained(registry, factory, 0.7, before=False)


def test_compare_leads_with_evaluation_and_components_and_hides_training_logs(pair):
    url, a, b = pair
    data = json.loads(rrg(url, "compare", a.id, b.id, "--json", "--resamples", "200").output)
    names = [row["metric"] for row in data["metrics"]]
    assert names == ["green_flare", "bleu4_flare", "ce", "rouge_l", *GREEN_FLARE_COMPONENTS, "wall_seconds", "peak_rss_gib"]
    rows = {row["metric"]: row for row in data["metrics"]}
    assert rows["location_accuracy"][a.id] == COMPONENTS["location_accuracy"]  # from the components table
    assert rows["entity_matching"][f"{b.id}-{a.id}"] == pytest.approx(0.1)
    assert rows["green_flare"][f"{a.id} before"] == 0.2 and rows["entity_matching"][f"{a.id} before"] == 0.1
    assert f"{b.id} before" not in rows["green_flare"]  # b measured nothing before training
    assert rows["green_flare"]["section"] == "evaluation" and rows["entity_matching"]["section"] == "component"
    assert data["runs"][0]["metrics"]["train/loss"] == 0.5  # every metric is still in runs[]

    table = rrg(url, "compare", a.id, b.id, "--resamples", "200").output
    assert "train/loss" not in table and "learning_rate" not in table
    assert table.index("structure_completeness") < table.index("paired bootstrap")
    assert table.rstrip().endswith("14 training log values (train/*, unpaired before/*) not shown; --all shows them")
    header = rrg(url, "compare", a.id, b.id, "--csv").output.splitlines()[0]
    assert header == f"metric,{a.id} before,{a.id},{b.id},{b.id}-{a.id}"


def test_compare_all_adds_the_training_logs_after(pair):
    url, a, b = pair
    rows = list(csv.DictReader(io.StringIO(rrg(url, "compare", a.id, b.id, "--all", "--csv").output)))
    names = [row["metric"] for row in rows]
    assert names[:4] == ["green_flare", "bleu4_flare", "ce", "rouge_l"]
    assert set(names[13:]) == set(TRAINING_LOGS) | {"before/severity_correlation"}
    assert len(names) == 13 + len(TRAINING_LOGS) + 1
    assert "not shown" not in rrg(url, "compare", a.id, b.id, "--all", "--resamples", "200").output
