"""An interrupted run's recorded checkpoints stay usable: ``model.adapter: run:ID@checkpoint-N``
starts from one explicitly, and ``rrg resume RUN`` continues the run from its last valid one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import STAGE_RECIPES, load_recipe, stage_overrides
from rrg.cli import cli


def interrupt_at(step: int):
    def on_train_step(done: int, total: int, logs: dict) -> None:
        if done >= step:
            raise KeyboardInterrupt

    return on_train_step


@pytest.fixture
def interrupted_sft(rrg_cache_env: Path, registry, tmp_path: Path):
    """An SFT run of 4 steps (checkpoints every 2) stopped by Ctrl-C after step 3."""
    from rrg.engine import RunEvents, run_recipe

    recipe = load_recipe("sft", registry, extra=("evaluation.before_training=false",))
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, registry=registry, output_dir=tmp_path / "runs", events=RunEvents(on_train_step=interrupt_at(3)))
    (summary,) = registry.search_runs()
    return registry.get_run(summary.id)


def zero_shot_from(registry, adapter: str):
    args = ["run", str(STAGE_RECIPES["zero_shot"]), "--registry", registry.url, "--json"]
    for override in stage_overrides("zero_shot", extra=(f"model.adapter={adapter}",)):
        args += ["--set", override]
    return CliRunner().invoke(cli, args)


def test_an_interrupted_runs_checkpoint_is_used_only_when_named(interrupted_sft, registry) -> None:
    run_id = interrupted_sft.run.id
    assert interrupted_sft.run.status.value == "interrupted"
    assert [c.step for c in interrupted_sft.checkpoints] == [2]

    refused = zero_shot_from(registry, f"run:{run_id}")
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"Error: model.adapter: run {run_id} (demo-sft@2) is interrupted, not succeeded (hint: start from a "
        f"succeeded run (rrg runs list --status succeeded), or name one of its recorded checkpoints, e.g. "
        f"run:{run_id}@checkpoint-2)"
    ]
    missing = zero_shot_from(registry, f"run:{run_id}@checkpoint-9")
    assert missing.exit_code == 2 and f"run {run_id} (demo-sft@2) recorded no checkpoint-9 (recorded: checkpoint-2)" in missing.output

    used = zero_shot_from(registry, f"run:{run_id}@checkpoint-2")
    assert used.exit_code == 0, used.output
    runs = {r.stage: r for r in registry.search_runs()}
    assert runs["zero_shot"].status.value == "succeeded"
    assert registry.get_run(runs["zero_shot"].id).run.plan["model"]["init_adapter"] == f"run:{run_id}@checkpoint-2"


def _adapter_tensors(detail) -> dict:
    from safetensors.torch import load_file

    (best,) = [c for c in detail.checkpoints if c.best]
    return load_file(str(Path(best.path) / "adapter_model.safetensors"))


def _losses(detail) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in detail.metric_history if m.name == "train/loss"]


def test_resume_continues_the_same_run_to_the_uninterrupted_result(
    interrupted_sft, rrg_cache_env: Path, tmp_path: Path
) -> None:
    import torch
    from rrg.engine import resume_run, run_recipe
    from rrg_registry import Registry

    interrupted_id = interrupted_sft.run.id
    registry_url = f"sqlite:///{tmp_path / 'rrg.db'}"
    with Registry.from_url(registry_url) as registry:
        assert [c.step for c in registry.get_run(interrupted_id).checkpoints] == [2]
        resumed = resume_run(interrupted_id[:6], registry=registry)
        assert resumed.id == interrupted_id and [r.id for r in registry.search_runs()] == [interrupted_id]
        detail = registry.get_run(interrupted_id)
    assert detail.run.status.value == "succeeded" and detail.run.error is None
    assert [c.step for c in detail.checkpoints] == [2, 4]
    assert [step for step, _ in _losses(detail)] == [1, 2, 3, 4]  # step 3 logged once, not twice

    with Registry.from_url(f"sqlite:///{tmp_path / 'straight.db'}") as straight_registry:
        recipe = load_recipe("sft", straight_registry, extra=("evaluation.before_training=false",))
        straight = run_recipe(recipe, registry=straight_registry, output_dir=tmp_path / "straight").detail
    # tolerance: CPU float32 with the same seeds, data order and optimizer state -> identical here
    expected, actual = _adapter_tensors(straight), _adapter_tensors(detail)
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=1e-6)
    for (step_a, loss_a), (step_b, loss_b) in zip(_losses(detail), _losses(straight), strict=True):
        assert step_a == step_b and abs(loss_a - loss_b) <= 1e-5
    assert detail.metrics["green_flare"] == straight.metrics["green_flare"]


def rrg_resume(registry, run_id: str):
    return CliRunner().invoke(cli, ["resume", run_id, "--registry", registry.url, "--json"])


def test_resume_refuses_what_it_cannot_continue(interrupted_sft, registry) -> None:
    run_id = interrupted_sft.run.id
    (checkpoint,) = interrupted_sft.checkpoints
    weights = Path(checkpoint.path) / "adapter_model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-8] + b"tampered")
    result = rrg_resume(registry, run_id)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: run {run_id} (demo-sft@2) has no recorded checkpoint left intact to resume from "
        "(hint: run its recipe again: rrg run demo-sft@2)"
    ]
    assert registry.get_run(run_id).run.status.value == "interrupted"  # nothing changed
    weights.write_bytes(original)

    done = rrg_resume(registry, run_id)
    assert done.exit_code == 0, done.output
    again = rrg_resume(registry, run_id)
    assert again.exit_code == 2 and f"run {run_id} (demo-sft@2) is succeeded; only an interrupted or failed run resumes" in again.output


def test_a_run_reaped_while_alive_records_its_real_outcome(rrg_cache_env: Path, registry, tmp_path: Path, capsys) -> None:
    from datetime import timedelta

    from rrg.engine import RunEvents, run_recipe
    from rrg_registry import Registry

    reaped: list[str] = []

    def reap_at_step_2(done: int, total: int, logs: dict) -> None:
        if done == 2 and not reaped:  # a teammate's `rrg runs list` sees it silent (a long stall) and reaps it
            with Registry.from_url(registry.url) as other:
                reaped.extend(other.reap_stale_runs(older_than=timedelta(0)))

    recipe = load_recipe("sft", registry, extra=("evaluation.before_training=false",))
    finished = run_recipe(recipe, registry=registry, output_dir=tmp_path / "runs", events=RunEvents(on_train_step=reap_at_step_2))
    detail = finished.detail
    assert reaped == [detail.run.id]
    assert detail.run.status.value == "succeeded" and detail.run.error is None
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"Warning: run {detail.run.id} was marked interrupted by another process (no heartbeat for more than 0:00:00;")
    assert warnings[0].endswith("while it was alive; it is running again")


def test_resume_continues_an_interrupted_grpo_run(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    from rrg.engine import RunEvents, resume_run, run_recipe

    sft = load_recipe("sft", registry, extra=("evaluation.before_training=false",))
    run_recipe(sft, registry=registry, output_dir=tmp_path / "runs")
    grpo = load_recipe("grpo", registry)  # 3 steps, a checkpoint at step 2
    with pytest.raises(KeyboardInterrupt):
        run_recipe(grpo, registry=registry, output_dir=tmp_path / "runs", events=RunEvents(on_train_step=interrupt_at(3)))
    (stopped,) = [r for r in registry.search_runs() if r.stage == "grpo"]
    assert stopped.status.value == "interrupted"
    resumed = resume_run(stopped.id, registry=registry)
    detail = registry.get_run(resumed.id)
    assert detail.run.status.value == "succeeded" and detail.run.parent_run_id is not None
    assert [c.step for c in detail.checkpoints][0] == 2 and max(c.step for c in detail.checkpoints) == 3
    steps = [m.step for m in detail.metric_history if m.name == "train/reward"]
    assert steps == sorted(set(steps)) and steps[-1] == 3  # no step recorded twice
