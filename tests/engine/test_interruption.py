"""A run that stops part-way ends ``interrupted`` (Ctrl-C, SIGTERM) or ``failed`` (anything else),
with its error text, and the checkpoints saved before it stay recorded."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from engine_helpers import load_recipe


def raise_at_step(step: int, exc: BaseException):
    """A progress hook (called from a TrainerCallback after every step) that raises at ``step``."""

    def on_train_step(done: int, total: int, logs: dict) -> None:
        if done >= step:
            raise exc

    return on_train_step


def stopped_run(registry):
    (summary,) = registry.search_runs()
    return registry.get_run(summary.id)


def assert_checkpoint_two_kept(detail) -> None:
    (checkpoint,) = detail.checkpoints
    weights = Path(checkpoint.path) / "adapter_model.safetensors"
    assert checkpoint.step == 2 and checkpoint.eval_loss is not None
    assert checkpoint.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert "green_flare" not in detail.metrics and detail.components == ()
    assert detail.prediction_counts == {}
    assert detail.run.ended_at is not None


@pytest.mark.parametrize(
    ("exc", "status", "error"),
    [
        (KeyboardInterrupt(), "interrupted", "interrupted (Ctrl-C)"),
        (RuntimeError("disk full"), "failed", "RuntimeError: disk full"),
    ],
    ids=["ctrl-c", "exception"],
)
def test_a_run_stopped_mid_training(exc: BaseException, status: str, error: str, rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    from rrg.engine import RunEvents, run_recipe

    recipe = load_recipe("sft", registry)
    with pytest.raises(type(exc)):
        run_recipe(recipe, registry=registry, output_dir=tmp_path / "runs", events=RunEvents(on_train_step=raise_at_step(3, exc)))
    detail = stopped_run(registry)
    assert detail.run.status.value == status and detail.run.error == error
    assert_checkpoint_two_kept(detail)
    # the hook runs at the end of step 3, before that step's log
    assert [m.step for m in detail.metric_history if m.name == "train/loss"] == [1, 2]


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path[:0] = [{helpers!r}, {tests!r}]  # engine_helpers, and the cli_assertions it imports
    from engine_helpers import load_recipe
    from rrg.engine import RunEvents, run_recipe
    from rrg_registry import Registry

    marker = Path({marker!r})

    def on_train_step(done, total, logs):
        if done >= 3:  # checkpoint-2 is saved and recorded: tell the test, then wait to be stopped
            marker.write_text(str(done))
            time.sleep(120)

    with Registry.from_url({url!r}) as registry:
        run_recipe(load_recipe("sft", registry), registry=registry, output_dir={out!r},
                   events=RunEvents(on_train_step=on_train_step))
    """
)


def test_sigterm_ends_a_run_interrupted(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    marker = tmp_path / "at-step-3"
    script = SIGTERM_SCRIPT.format(helpers=str(Path(__file__).parent), tests=str(Path(__file__).parents[1]), marker=str(marker), url=registry.url, out=str(tmp_path / "runs"))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, child.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the child never reached step 3"
            time.sleep(0.2)
        child.send_signal(signal.SIGTERM)
        output = child.communicate(timeout=60)[0].decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0
    assert "KeyboardInterrupt" in output
    detail = stopped_run(registry)
    assert detail.run.status.value == "interrupted"
    assert detail.run.error == f"interrupted (signal {int(signal.SIGTERM)})"
    assert_checkpoint_two_kept(detail)


def test_the_sigterm_handler_is_restored(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    from rrg.interrupts import sigterm_as_interrupt

    previous = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not previous
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises as soon as the signal is delivered
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_long_evaluation_keeps_the_heartbeat_going(rrg_cache_env: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a zero-shot run only generates: without heartbeats from generation, a browsing command
    # would take a long evaluation for a dead run and mark it interrupted
    monkeypatch.setattr("rrg.engine.HEARTBEAT_SECONDS", 0.0)
    run = load_recipe("zero_shot", registry, extra=("evaluation.batch_size=1",)).run(registry=registry, output_dir=tmp_path / "runs")
    detail = run.detail.run
    assert run.status == "succeeded"
    assert detail.started_at < detail.heartbeat_at <= detail.ended_at
