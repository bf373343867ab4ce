"""Settings that reach the trainer or the run: GRPO scoring along the way, live training logs
(TensorBoard event files), reward scaling, and the settings a stage refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from engine_helpers import load_recipe

from rrg.errors import RrgError


def _history(registry, run_id: str, prefix: str) -> list[tuple[str, int, float, str]]:
    engine = registry._store.engine
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT name, step, value, split FROM metrics WHERE run_id = :run AND name LIKE :prefix ORDER BY step, name"),
            {"run": run_id, "prefix": f"{prefix}%"},
        ).all()
    return [tuple(row) for row in rows]


def test_grpo_scores_the_policy_every_eval_steps(demo_chain) -> None:
    """The chain's GRPO run (3 steps, eval_steps 2) logged eval/<metric> at step 2 on the
    evaluation split, with the evaluation's sample count, besides its final evaluation."""
    grpo = demo_chain.grpo
    rows = _history(demo_chain.registry, grpo.id, "eval/")
    names = {name for name, *_ in rows}
    assert {"eval/green_flare", "eval/bleu4_flare", "eval/ce", "eval/rouge_l"} <= names
    assert {step for _, step, _, _ in rows} == {2}
    assert {split for *_, split in rows} == {"validation-public"}
    green = next(value for name, _, value, _ in rows if name == "eval/green_flare")
    assert 0.0 <= green <= 1.0
    assert demo_chain.registry.get_run(grpo.id).run.plan["training"]["score_every"] == 2


def test_sft_reports_to_tensorboard_and_records_where(rrg_cache_env: Path, registry) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = load_recipe("sft", registry, extra=["logging.report_to=[tensorboard]", "training.max_steps=2"])
    run = recipe.run(registry=registry, output_dir=rrg_cache_env.parent / "out")
    assert run.status == "succeeded"
    recorded_plan = registry.get_run(run.id).run.plan
    assert recorded_plan["trainer"]["report_to"] == ["tensorboard"]
    recorded = recorded_plan["logs"]
    folder = Path(recorded["tensorboard"])
    assert folder == (rrg_cache_env.parent / "out" / run.id / "logs" / "tensorboard").resolve()
    events = list(folder.rglob("events.out.tfevents.*"))
    assert events, f"no TensorBoard event file under {folder}"
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    assert "train/loss" in accumulator.Tags()["scalars"]
    losses = [event.value for event in accumulator.Scalars("train/loss")]
    logged = [value for name, _, value, _ in _history(registry, run.id, "train/loss") if name == "train/loss"]
    assert losses == pytest.approx(logged, rel=1e-6)


def test_scale_rewards_reaches_grpo_config(rrg_cache_env: Path, registry) -> None:
    for value in ("group", "batch", "none"):
        plan = load_recipe("grpo", registry, extra=[f"grpo.scale_rewards={value}"]).plan(device="cpu")
        assert plan.trl_config("unused").scale_rewards == value


def test_unused_settings_are_refused(rrg_cache_env: Path, registry) -> None:
    from rrg.recipe.errors import RecipeError

    cases = {
        ("zero_shot", "data.max_train_samples=3"): "data.max_train_samples",
        ("zero_shot", "data.train_split=other"): "data.train_split",
        ("zero_shot", "evaluation.before_training=true"): "evaluation.before_training",
        ("zero_shot", "logging.report_to=[tensorboard]"): "logging.report_to",
        ("grpo", "training.early_stopping_patience=3"): "training.early_stopping_patience",
        ("sft", "logging.project=x"): "logging.project",
    }
    for (stage, override), key in cases.items():
        with pytest.raises(RecipeError) as caught:
            load_recipe(stage, registry, extra=[override])
        assert key in str(caught.value), (override, str(caught.value))


def test_gpus_are_checked_by_the_plan(rrg_cache_env: Path, registry) -> None:
    from rrg.hardware import cpu_only
    from rrg.plan import resolve_plan

    recipe = load_recipe("sft", registry, extra=["hardware.accelerator=auto", "hardware.gpus=1"])
    with pytest.raises(RrgError, match="hardware.gpus: 1 needs a CUDA GPU"):
        resolve_plan(recipe, hardware=cpu_only())
    forced = resolve_plan(recipe, device="cpu")
    assert forced.gpus is None and any("hardware.gpus" in note for note in forced.notes)


def test_grpo_prompts_must_leave_room_for_the_completion(rrg_cache_env: Path, registry) -> None:
    """GRPO truncates nothing: a prompt (image tokens included, measured by the family's
    processor) plus grpo.max_completion_length over training.max_length stops the run, naming the
    sample and both keys, before anything is recorded."""
    from rrg.engine import prepare_run

    recipe = load_recipe("grpo", registry, extra=["training.max_length=40", "grpo.max_completion_length=16"])
    with pytest.raises(RrgError) as caught:
        prepare_run(recipe, registry=registry, device="cpu")
    message = caught.value.message
    assert "IU_XRay/training/" in message and "training.max_length 40 less grpo.max_completion_length 16" in message
    assert registry.search_runs() == []
