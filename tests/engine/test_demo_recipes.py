"""The demo recipes as shipped (the README's main job): minutes on two cores, so -m slow."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import STAGE_RECIPES


@pytest.mark.slow
def test_the_shipped_demo_trains_clearly_above_zero_shot(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    from rrg.recipe import Recipe

    runs = {stage: Recipe.load(STAGE_RECIPES[stage], registry=registry).run(registry=registry, output_dir=tmp_path / "runs") for stage in ("zero_shot", "sft", "grpo")}
    assert all(run.status == "succeeded" for run in runs.values())
    zero_shot, sft, grpo = runs["zero_shot"].metrics, runs["sft"].metrics, runs["grpo"].metrics
    assert sft["before/green_flare"] == zero_shot["green_flare"]  # the same untrained twin, same samples
    assert sft["green_flare"] >= zero_shot["green_flare"] + 0.15
    assert sft["bleu4_flare"] > zero_shot["bleu4_flare"] and sft["rouge_l"] > zero_shot["rouge_l"]
    assert len(runs["sft"].predictions()) == 200
    # GRPO: its reward terms every logging step, and no collapse from the SFT adapter
    history = runs["grpo"].detail.metric_history
    assert len([m for m in history if m.name == "train/reward_terms/clinical"]) == 15
    assert grpo["green_flare"] >= sft["green_flare"] - 0.05
    assert sft["wall_seconds"] < 600
