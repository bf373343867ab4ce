"""``rrg run`` through its click entry point: --json, --dry-run, the summary table, and the run
as ``rrg runs list`` / ``rrg runs show`` see it afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import COMPONENTS, REPORT_METRICS, STAGE_RECIPES, stage_overrides
from rrg.cli import cli


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables unwrapped


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def run_args(registry, stage: str, tmp_path: Path, *extra: str) -> list[str]:
    args = ["run", str(STAGE_RECIPES[stage]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs")]
    for override in stage_overrides(stage):
        args += ["--set", override]
    return args + list(extra)


def test_run_json_then_runs_list_and_show(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    result = invoke(*run_args(registry, "sft", tmp_path, "--json"))
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert set(run) == {"id", "recipe", "stage", "model", "status", "metrics", "green_flare_components", "adapter"}
    assert (run["recipe"], run["stage"], run["model"], run["status"]) == ("demo-sft@2", "sft", "qwen2_5_vl", "succeeded")
    for name in (*REPORT_METRICS, *(f"before/{m}" for m in REPORT_METRICS), "wall_seconds", "peak_rss_gib", "train/loss", "train/eval_loss"):
        assert isinstance(run["metrics"][name], float), name
    assert list(run["green_flare_components"]) == [*COMPONENTS, "severity_correlation", "overall"]
    assert run["green_flare_components"]["overall"] == run["metrics"]["green_flare"]
    adapter = Path(run["adapter"])
    assert adapter.parent.parent == tmp_path / "runs" / run["id"] and (adapter / "adapter_config.json").is_file()

    listed = json.loads(invoke("runs", "list", "--json", "--registry", registry.url).stdout)
    assert [(r["id"], r["status"], r["stage"]) for r in listed] == [(run["id"], "succeeded", "sft")]
    assert listed[0]["metrics"]["green_flare"] == run["metrics"]["green_flare"]

    shown = json.loads(invoke("runs", "show", run["id"][:5], "--json", "--registry", registry.url).stdout)
    assert shown["run"]["id"] == run["id"] and shown["prediction_counts"] == {"validation-public": 4}
    (components,) = shown["components"]
    assert {name: components[name] for name in run["green_flare_components"]} == run["green_flare_components"]
    assert [c["best"] for c in shown["checkpoints"]] == [c["path"] == run["adapter"] for c in shown["checkpoints"]]


def test_run_prints_before_and_after_training(rrg_cache_env: Path, registry, tmp_path: Path, wide_terminal: None) -> None:
    result = invoke(*run_args(registry, "sft", tmp_path))
    assert result.exit_code == 0, result.output
    (summary,) = registry.search_runs()
    detail = registry.get_run(summary.id)
    out = result.stdout
    assert f"run {summary.id}: demo-sft@2 (sft, qwen2_5_vl) succeeded" in out
    header = next(line for line in out.splitlines() if "metric" in line)
    assert [h.strip() for h in header.strip("┃ ").split("┃")] == ["metric", "before training", "after training", "change"]
    row = next(line for line in out.splitlines() if " green_flare " in line)
    before, after = detail.metrics["before/green_flare"], detail.metrics["green_flare"]
    assert [c.strip() for c in row.strip("│ ").split("│")] == ["green_flare", f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}"]
    for name in COMPONENTS:
        assert f"  {name} " in out
    assert f"browse: rrg runs show {summary.id}" in out and "adapter: " in out

    table = invoke("runs", "show", summary.id, "--registry", registry.url).stdout
    assert "entity_matching" in table and "checkpoints" in table


def test_dry_run_records_nothing(rrg_cache_env: Path, registry, tmp_path: Path, wide_terminal: None) -> None:
    result = invoke(*run_args(registry, "sft", tmp_path, "--dry-run"))
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("dry run: nothing was recorded")
    assert "plan: demo-sft@2 (sft)" in result.stdout
    assert registry.search_runs() == [] and registry.list_recipe_versions() == []
    assert not (tmp_path / "runs").exists()


def test_dry_run_of_grpo_names_its_parent(demo_chain, rrg_cache_env: Path, tmp_path: Path, wide_terminal: None) -> None:
    registry = demo_chain.registry
    before = [r.id for r in registry.search_runs()]
    result = invoke(*run_args(registry, "grpo", tmp_path, "--dry-run"))
    assert result.exit_code == 0, result.output
    assert f"starts from: run:{demo_chain.sft.id} ({demo_chain.sft.adapter_path})" in result.stdout
    assert [r.id for r in registry.search_runs()] == before


def test_grpo_summary_shows_the_reward_terms(rrg_cache_env: Path, registry, tmp_path: Path, wide_terminal: None) -> None:
    assert invoke(*run_args(registry, "sft", tmp_path, "--json")).exit_code == 0
    result = invoke(*run_args(registry, "grpo", tmp_path))
    assert result.exit_code == 0, result.output
    (grpo,) = registry.search_runs(stage="grpo")
    history = {(m.name, m.step): m.value for m in registry.get_run(grpo.id).metric_history}
    line = next(line for line in result.stdout.splitlines() if line.startswith("reward terms"))
    expected = ", ".join(
        f"{term} {history[(f'train/reward_terms/{term}', 1)]:.3f} → {history[(f'train/reward_terms/{term}', 3)]:.3f}"
        for term in ("clinical", "format", "rouge")
    )
    assert line == f"reward terms, first → last logged step: {expected}"
