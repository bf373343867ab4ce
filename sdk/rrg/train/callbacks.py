"""``TrainerCallback``s that tie a TRL trainer to the registry and the terminal."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from transformers import TrainerCallback

from rrg.provenance import file_sha256

WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors")


class Recorder(Protocol):
    """What the callbacks need from a run being recorded (see :class:`rrg.engine.RunRecorder`)."""

    def log_training_metrics(self, step: int, metrics: dict[str, float]) -> None: ...

    def record_checkpoint(self, step: int, path: Path, sha256: str, size: int, eval_loss: float | None, best: bool) -> None: ...

    def heartbeat(self) -> None: ...


def weights_file(folder: Path) -> Path | None:
    """The adapter (or full model) weights file of a saved checkpoint."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def numeric_logs(logs: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a trainer log entry, under TRL's own names."""
    out: dict[str, float] = {}
    for key, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if key in ("epoch", "step", "total_flos"):
            continue
        out[key] = float(value)
    return out


def quiet(trainer: Any) -> None:
    """Drop the trainer's own log printing: with ``disable_tqdm`` transformers prints every log
    dict to stdout, through rrg's progress display. The logs are recorded in the registry and
    reach the display through :class:`ProgressCallback`."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


class RegistryCallback(TrainerCallback):
    """Records logged metrics, every checkpoint as it is saved (with its eval loss and whether it
    is the best so far), and a heartbeat so a dead process is detected.

    A checkpoint's sha256 and size are those of its weights file, which stays as saved (the
    folder itself gains the processor files when the run hands it on). In a launched run only
    the main process (global rank 0) records: the trainer logs metrics already gathered over the
    processes, and only the main process saves checkpoints."""

    def __init__(self, recorder: Recorder, heartbeat_seconds: float = 30.0) -> None:
        self.recorder = recorder
        self.heartbeat_seconds = heartbeat_seconds
        self._last_beat = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        metrics = numeric_logs(logs or {})
        if metrics:
            self.recorder.log_training_metrics(state.global_step, metrics)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        weights = weights_file(folder)
        if weights is None:
            return
        eval_loss = next(
            (e["eval_loss"] for e in reversed(state.log_history) if "eval_loss" in e and e.get("step") == state.global_step),
            None,
        )
        best = state.best_model_checkpoint is not None and Path(state.best_model_checkpoint) == folder
        self.recorder.record_checkpoint(state.global_step, folder, file_sha256(weights), weights.stat().st_size, eval_loss, best)

    def on_step_end(self, args, state, control, **kwargs):
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat_seconds:
            self.recorder.heartbeat()
            self._last_beat = now


class ProgressCallback(TrainerCallback):
    """Reports ``(step, max_steps, last logs)`` to a display function after every step and log."""

    def __init__(self, report: Callable[[int, int, dict[str, float]], None]) -> None:
        self.report = report
        self._last: dict[str, float] = {}

    def on_step_end(self, args, state, control, **kwargs):
        self.report(state.global_step, state.max_steps, self._last)

    def on_log(self, args, state, control, logs=None, **kwargs):
        shown = ("loss", "eval_loss", "reward")
        self._last.update({k: v for k, v in numeric_logs(logs or {}).items() if k in shown})
        self.report(state.global_step, state.max_steps, self._last)


class ScoreEveryCallback(TrainerCallback):
    """Scores the policy every ``every`` optimizer steps (GRPO's ``training.eval_steps``).

    ``score(model)`` generates on the evaluation samples and returns the metrics; they are logged
    as ``eval/<metric>`` at that step, so the run shows a curve of the policy being trained, not
    only the final one. The model is put in eval mode while it generates and back afterwards.
    """

    def __init__(self, every: int, score: Callable[[Any], dict[str, float]], log: Callable[[int, dict[str, float]], None]) -> None:
        self.every = every
        self.score = score
        self.log = log

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        if model is None or step == 0 or step % self.every:
            return
        was_training = model.training
        model.eval()
        try:
            values = self.score(model)
        finally:
            if was_training:
                model.train()
        self.log(step, {f"eval/{name}": value for name, value in values.items()})
