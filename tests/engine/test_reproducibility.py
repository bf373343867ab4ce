"""What a run records to be reproduced, and whether the same recipe and seed reproduce it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from engine_helpers import FAST_FAMILY, load_recipe, run_chain


def test_a_run_records_its_fingerprint(demo_chain, demo_root: Path) -> None:
    from rrg.data.flare import load_flare

    detail = demo_chain.sft.detail
    run = detail.run
    recipe = load_recipe("sft", demo_chain.registry)
    assert detail.recipe.hash == recipe.hash == run.plan["recipe_hash"]
    assert detail.recipe.yaml_text == recipe.to_yaml()
    assert (run.model_family, run.model_id, run.model_revision) == (FAST_FAMILY, "tiny", None)
    assert run.plan["model"]["source"].endswith(f"/tiny/{FAST_FAMILY}-v1")
    assert run.seed == 42 == run.plan["seed"] == run.plan["trainer"]["seed"] == run.plan["trainer"]["data_seed"]
    assert run.plan["device"] == "cpu" and run.plan["hardware"].startswith("CPU (")
    assert run.host
    for package in ("rrg-sdk", "torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        assert run.package_versions[package] == metadata.version(package), package
    recorded = {d.split: d for d in detail.datasets}
    for split, limit in (("training", 8), ("validation-public", 4)):
        expected = load_flare(demo_root, split=split, limit=limit)
        assert (recorded[split].name, recorded[split].fingerprint, recorded[split].size) == ("IU_XRay", expected.fingerprint, limit)
    # the zero-shot run used only the evaluation split
    assert [d.split for d in demo_chain.zero_shot.detail.datasets] == ["validation-public"]


def test_the_same_recipe_and_seed_give_the_same_run(demo_chain, rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    again = run_chain(FAST_FAMILY, registry, tmp_path / "runs")
    for stage in ("zero_shot", "sft", "grpo"):
        first, second = getattr(demo_chain, stage), getattr(again, stage)
        assert first.id != second.id
        assert [(p.sample_id, p.prediction) for p in first.predictions()] == [(p.sample_id, p.prediction) for p in second.predictions()], stage
        assert first.components == second.components, stage
    for stage in ("sft", "grpo"):
        first, second = getattr(demo_chain, stage), getattr(again, stage)
        assert [(c.step, c.sha256, c.eval_loss) for c in first.checkpoints] == [(c.step, c.sha256, c.eval_loss) for c in second.checkpoints], stage

        def losses(run):
            return [(m.step, m.value) for m in run.detail.metric_history if m.name in ("train/loss", "train/reward")]

        assert losses(first) == losses(second) and losses(first), stage
