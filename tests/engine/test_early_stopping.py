"""Early stopping on validation loss, and the best flag following the lowest validation loss."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import load_recipe

EVERY_STEP = ("training.eval_steps=1", "training.save_steps=1", "training.max_steps=8")


def test_patience_one_stops_when_the_loss_stops_improving(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    # a learning rate too small to move the fp32 weights: the second evaluation is no better
    recipe = load_recipe("sft", registry, extra=(*EVERY_STEP, "training.learning_rate=1e-30", "training.early_stopping_patience=1"))
    run = recipe.run(registry=registry, output_dir=tmp_path / "runs")
    assert run.status == "succeeded", run.error
    checkpoints = sorted(run.checkpoints, key=lambda c: c.step)
    assert [c.step for c in checkpoints] == [1, 2]  # stopped at step 2 of 8
    assert checkpoints[0].eval_loss == checkpoints[1].eval_loss
    assert [c.best for c in checkpoints] == [True, False]  # no improvement: the first stays best
    assert run.adapter_path == Path(checkpoints[0].path)
    assert run.metrics["train/eval_loss"] == checkpoints[1].eval_loss


def test_the_best_checkpoint_has_the_lowest_validation_loss(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    # a learning rate high enough to overshoot: the validation loss goes down, then up
    recipe = load_recipe("sft", registry, extra=(*EVERY_STEP, "training.learning_rate=0.05", "training.early_stopping_patience=2"))
    run = recipe.run(registry=registry, output_dir=tmp_path / "runs")
    assert run.status == "succeeded", run.error
    checkpoints = sorted(run.checkpoints, key=lambda c: c.step)
    losses = [c.eval_loss for c in checkpoints]
    lowest = losses.index(min(losses))
    assert [c.best for c in checkpoints] == [i == lowest for i in range(len(checkpoints))]
    assert run.adapter_path == Path(checkpoints[lowest].path)
    # patience 2: training ends two evaluations after the best one, or at max_steps
    assert checkpoints[-1].step == min(checkpoints[lowest].step + 2, 8)
