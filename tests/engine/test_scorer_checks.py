"""A recipe whose scorers cannot run here (the radgraph extra missing, RadGraph's weights not on
disk) stops ``rrg run`` and ``rrg run --dry-run`` with one line and exit 2 before anything is
recorded, loaded or trained: the evaluation metrics and the GRPO reward are checked with the
other pre-run checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import STAGE_RECIPES, assert_one_line_error, snapshot, stage_overrides
from rrg.cli import cli

RADGRAPH_REWARD = ("reward.clinical_scorer=radgraph_f1", "stage.init_from=base")
"""The demo GRPO recipe with the study's clinical scorer; from the base model, so that nothing
but the scorer stands in the way (the demo's own starting point, demo-sft@2, is not recorded)."""
RADGRAPH_METRIC = ("evaluation.metrics=[green_flare, radgraph_f1]",)


def rrg_run(registry, stage: str, extra: tuple[str, ...], *flags: str):
    args = ["run", str(STAGE_RECIPES[stage]), "--registry", registry.url, *flags]
    for override in stage_overrides(stage, extra=extra):
        args += ["--set", override]
    return CliRunner().invoke(cli, args)


@pytest.fixture
def no_radgraph_weights(rrg_cache_env: Path) -> Path:
    """The session's user cache (``XDG_CACHE_HOME``) holds rrg's demo set and tiny twins but no
    RadGraph model, and the Hub is offline: the folder radgraph would keep its model in."""
    from importlib.metadata import version

    folder = rrg_cache_env.parent / "radgraph" / version("radgraph")
    assert not folder.exists()
    return folder


@pytest.mark.parametrize(
    ("stage", "extra", "key"),
    [
        ("grpo", RADGRAPH_REWARD, "reward.clinical_scorer radgraph_f1"),
        ("zero_shot", RADGRAPH_METRIC, "evaluation.metrics radgraph_f1"),
    ],
    ids=["grpo-reward", "evaluation-metric"],
)
@pytest.mark.parametrize("flags", [("--dry-run",), ()], ids=["dry-run", "run"])
def test_missing_radgraph_weights_stop_the_run_before_it_is_recorded(
    no_radgraph_weights: Path, registry, tmp_path: Path, stage: str, extra: tuple[str, ...], key: str, flags: tuple[str, ...]
) -> None:
    before = snapshot(registry)
    result = rrg_run(registry, stage, extra, *flags)
    assert_one_line_error(
        result,
        f"{STAGE_RECIPES[stage]}: {key}: radgraph_f1 needs the radgraph-xl weights",
        "StanfordAIMI/RRG_scorers",
        str(no_radgraph_weights),
    )
    assert snapshot(registry) == before == ([], [])
    assert not (tmp_path / "rrg_runs").exists()


@pytest.mark.parametrize("flags", [("--dry-run",), ()], ids=["dry-run", "run"])
def test_radgraph_not_installed_stops_the_run_with_the_install_hint(
    rrg_cache_env: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...]
) -> None:
    monkeypatch.setitem(sys.modules, "radgraph", None)  # as if the radgraph extra were not installed
    before = snapshot(registry)
    result = rrg_run(registry, "grpo", RADGRAPH_REWARD, *flags)
    assert_one_line_error(
        result,
        "reward.clinical_scorer radgraph_f1: radgraph_f1 needs the 'radgraph' package, which is not installed",
        "pip install 'rrg-sdk[radgraph]'",
    )
    assert snapshot(registry) == before == ([], [])
    assert not (tmp_path / "rrg_runs").exists()


def test_an_unknown_radgraph_model_is_one_line(rrg_cache_env: Path, registry) -> None:
    result = rrg_run(registry, "grpo", (*RADGRAPH_REWARD, "reward.radgraph_model=radgraph-xxl"), "--dry-run")
    assert_one_line_error(result, "reward.radgraph_model: unknown RadGraph model 'radgraph-xxl'", "radgraph-xl")
    assert snapshot(registry) == ([], [])


def test_the_offline_scorer_passes_the_checks(rrg_cache_env: Path, registry) -> None:
    """green_flare_entity needs nothing: the demo GRPO recipe from the base model plans and checks."""
    result = rrg_run(registry, "grpo", ("stage.init_from=base",), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was recorded" in result.output
