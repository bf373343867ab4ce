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
        f"Error: model.adapter: run {run_id} (demo-sft@1) is interrupted, not succeeded (hint: start from a "
        f"succeeded run (rrg runs list --status succeeded), or name one of its recorded checkpoints, e.g. "
        f"run:{run_id}@checkpoint-2)"
    ]
    missing = zero_shot_from(registry, f"run:{run_id}@checkpoint-9")
    assert missing.exit_code == 2 and f"run {run_id} (demo-sft@1) recorded no checkpoint-9 (recorded: checkpoint-2)" in missing.output

    used = zero_shot_from(registry, f"run:{run_id}@checkpoint-2")
    assert used.exit_code == 0, used.output
    runs = {r.stage: r for r in registry.search_runs()}
    assert runs["zero_shot"].status.value == "succeeded"
    assert registry.get_run(runs["zero_shot"].id).run.plan["model"]["init_adapter"] == f"run:{run_id}@checkpoint-2"
