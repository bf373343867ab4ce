"""What a run prints: plain timed lines when the output is a log (not a terminal), a live display
that ends each phase done in a terminal, nothing from the libraries through the Python API unless
verbose, answered upstream warnings dropped by message, and an interruption that names the run
and how to continue it."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import STAGE_RECIPES, load_recipe, stage_overrides
from rrg.cli import cli

LINE = re.compile(r"^\[\d+:\d\d:\d\d\] ")


def rrg_run(registry, stage: str, tmp_path: Path, *extra: str):
    args = ["run", str(STAGE_RECIPES[stage]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs")]
    for override in stage_overrides(stage, extra=extra):
        args += ["--set", override]
    return CliRunner().invoke(cli, args)


def test_a_run_writes_plain_timed_lines_to_a_log(rrg_cache_env: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rrg.cli.run as run_cli

    monkeypatch.setattr(run_cli, "PLAIN_PROGRESS_SECONDS", 0.0)  # every step, for the test
    result = rrg_run(registry, "sft", tmp_path, "evaluation.before_training=false")
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if LINE.match(line)]
    phases = [LINE.sub("", line) for line in progress if ":" not in LINE.sub("", line)]
    assert phases[:2] == ["loading model", "training"] and phases[-1] == "done"
    steps = [LINE.sub("", line) for line in progress if LINE.sub("", line).startswith("training: step ")]
    assert {s.split(",")[0] for s in steps} == {f"training: step {n}/4" for n in (1, 2, 3, 4)}
    assert "steps/s" in steps[0] and "eta " in steps[0] and "loss " in " ".join(steps)
    assert any(LINE.sub("", line).startswith("evaluating: sample 4/4") for line in progress)
    assert "\r" not in result.stderr and "━" not in result.stderr  # no live bars in a log


def test_the_terminal_display_ends_each_phase_done() -> None:
    from rich.console import Console
    from rrg.cli.run import _Progress

    out = io.StringIO()
    with _Progress(Console(file=out, force_terminal=True, width=160)) as progress:
        progress.on_phase("loading model")
        progress.on_phase("training")
        progress.on_train_step(2, 4, {"loss": 1.25, "learning_rate": 5e-06})
        progress.on_phase("evaluating")
        progress.on_generate(3, 3)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    final = text.rsplit("loading model", 1)[-1]
    assert "0/?" not in final
    assert re.search(r"loading model\s.*1/1", text) and re.search(r"training\s.*2/2", text)
    assert "learning_rate 5e-06" in text and "eta" in text


def test_the_python_api_is_quiet_unless_verbose(rrg_cache_env: Path, registry, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.enable_progress_bar()  # a fresh Python process's default (a CLI test may have turned it off)
    recipe = load_recipe("zero_shot", registry)
    recipe.run(registry=registry, output_dir=tmp_path / "quiet")
    quiet = capfd.readouterr()
    assert "it/s]" not in quiet.err and "FutureWarning" not in quiet.err and "Loading weights" not in quiet.err
    loud = load_recipe("zero_shot", registry, extra=("version=2",))
    loud.run(registry=registry, output_dir=tmp_path / "loud", verbose=True)
    assert "Loading weights" in capfd.readouterr().err  # transformers' own bars, when asked for


def test_answered_upstream_warnings_are_dropped_by_message(caplog: pytest.LogCaptureFixture) -> None:
    from rrg.logs import install_answered_filters

    install_answered_filters()
    logger = logging.getLogger("trl.trainer.grpo_trainer")
    with caplog.at_level(logging.WARNING):
        logger.warning("When using `importance_sampling_level='sequence'`, the `'dr_grpo'` loss sums per-token ...")
        logger.warning("Something else TRL wants the user to know")
    assert [r.getMessage() for r in caplog.records] == ["Something else TRL wants the user to know"]


def test_an_interrupted_run_names_itself_and_how_to_continue(rrg_cache_env: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rrg.engine as engine

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "_run_stage", stop)
    result = rrg_run(registry, "sft", tmp_path)
    assert result.exit_code == 130
    (run,) = registry.search_runs()
    assert run.status.value == "interrupted"
    assert result.output.strip().splitlines()[-1] == (
        f"Interrupted: stopped by Ctrl-C; run {run.id} (demo-sft@2) is recorded as interrupted (continue it: rrg resume {run.id})"
    )
