"""Several processes for real, on the CPU (torchrun, gloo, one thread each): ``rrg run`` of a
recipe with ``hardware.processes: 2`` launches itself under torchrun and records one run.

SFT: 2 processes × per-device batch 2 give the same loss and validation-loss curves (rtol 1e-5,
fp32) as 1 process × per-device batch 2 × gradient accumulation 2: the same samples in each
optimizer step (the two processes take alternate batches of the same seeded shuffle, which the
one process takes in turn), gradients averaged over the same tokens; and the same predictions.

GRPO: each process samples its completions with its own seed (TRL seeds every process
differently, so that the completions of one prompt differ), so the policy a 2-process run trains
is not the 1-process one. What holds, and is tested: one run, every training metric recorded
once per step, the checkpoints recorded once, the policy scored along the way (``eval/<metric>``)
once, and its predictions the ones a single process generates with the adapter it hands on
(evaluation is sharded over the processes and gathered in sample order).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import STAGE_RECIPES, load_recipe, stage_overrides
from rrg.cli import cli

ONE_THREAD = ("hardware.num_threads=1", "evaluation.batch_size=2", "evaluation.before_training=false")
RTOL = 1e-5


def launched_run(registry, stage: str, tmp_path: Path, *extra: str) -> str:
    """``rrg run`` with two CPU processes through the command line; returns the run id."""
    args = ["run", str(STAGE_RECIPES[stage]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"), "--json"]
    for override in (*stage_overrides(stage), *ONE_THREAD, "hardware.processes=2", *extra):
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = [r for r in registry.search_runs() if r.recipe.startswith(f"demo-{stage.replace('_', '-')}@") and r.id not in _seen]
    _seen.add(run.id)
    return run.id


_seen: set[str] = set()


def history(registry, run_id: str) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for metric in registry.get_run(run_id).metric_history:
        out.setdefault(metric.name, []).append((metric.step, metric.value))
    return {name: sorted(values) for name, values in out.items()}


def predictions(registry, run_id: str) -> list[tuple[str, str]]:
    return [(p.sample_id, p.prediction) for p in registry.predictions(run_id, "validation-public")]


def assert_recorded_once(registry, run_id: str) -> None:
    detail = registry.get_run(run_id)
    assert detail.run.status.value == "succeeded"
    rows = Counter((m.name, m.step) for m in detail.metric_history if m.step is not None)
    assert rows and max(rows.values()) == 1, [key for key, n in rows.items() if n > 1]
    steps = [c.step for c in detail.checkpoints]
    assert len(steps) == len(set(steps))


@pytest.fixture(autouse=True)
def _fresh_seen() -> None:
    _seen.clear()


def test_sft_in_two_processes_matches_one_with_doubled_accumulation(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    two = launched_run(registry, "sft", tmp_path, "version=20")
    one = load_recipe("sft", registry, extra=(*ONE_THREAD, "training.gradient_accumulation_steps=2", "version=21")).run(
        registry=registry, output_dir=tmp_path / "runs"
    ).id
    assert len(registry.search_runs()) == 2  # one run each, the launched one created once
    assert_recorded_once(registry, two)

    curves_two, curves_one = history(registry, two), history(registry, one)
    for name in ("train/loss", "train/eval_loss", "train/grad_norm"):
        steps_two, values_two = zip(*curves_two[name])
        steps_one, values_one = zip(*curves_one[name])
        assert steps_two == steps_one, name
        assert values_two == pytest.approx(values_one, rel=RTOL), name
    assert [s for s, _ in curves_two["train/loss"]] == [1, 2, 3, 4]

    assert predictions(registry, two) == predictions(registry, one)
    assert len(predictions(registry, two)) == 4
    plan = registry.get_run(two).run.plan
    assert plan["launch"]["world_size"] == 2 and plan["launch"]["backend"] == "gloo"
    best = [c for c in registry.get_run(two).checkpoints if c.best]
    assert len(best) == 1 and (Path(best[0].path) / "adapter_config.json").is_file()


def test_grpo_in_two_processes_records_one_run_whose_predictions_one_process_reproduces(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    sft = load_recipe("sft", registry, extra=ONE_THREAD).run(registry=registry, output_dir=tmp_path / "runs").id
    _seen.add(sft)
    grpo = launched_run(registry, "grpo", tmp_path, f"stage.init_from={sft}")
    assert_recorded_once(registry, grpo)
    curves = history(registry, grpo)
    assert [s for s, _ in curves["train/loss"]] == [1, 2, 3]
    assert [s for s, _ in curves["train/reward"]] == [1, 2, 3]
    assert [s for s, _ in curves["eval/green_flare"]] == [2]
    assert [c.step for c in registry.get_run(grpo).checkpoints] == [2, 3]

    again = load_recipe("zero_shot", registry, extra=(*ONE_THREAD[:2], f"model.adapter=run:{grpo}")).run(
        registry=registry, output_dir=tmp_path / "runs"
    ).id
    assert predictions(registry, grpo) == predictions(registry, again)
    assert registry.get_run(grpo).metrics["green_flare"] == registry.get_run(again).metrics["green_flare"]
