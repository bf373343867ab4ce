"""The weights a training stage hands on, as one self-contained folder (weights + processor)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainingResult:
    """What a training stage produced. ``adapter_dir`` is the checkpoint folder the run hands on."""

    adapter_dir: Path
    step: int
    best_eval_loss: float | None


def export_weights(trainer: Any, processor: Any, checkpoints_dir: Path, use_best: bool) -> tuple[Path, int]:
    """The folder the run hands on and its step.

    With ``use_best``, the checkpoint with the best validation loss as the trainer saved it (read
    back from disk later, never from the model in memory); otherwise the checkpoint of the last
    step, saved now if the trainer did not. The processor is saved beside the weights so the
    folder loads on its own.

    In a launched run every process calls this: they wait for one another so all see the same
    saved checkpoints, ``save_model`` runs in each (FSDP and DeepSpeed gather the weights there;
    the main process writes), the main process alone writes the processor, and none returns
    before the folder is complete, so each can load it next.
    """
    state = trainer.state
    accelerator = trainer.accelerator
    accelerator.wait_for_everyone()
    best = state.best_model_checkpoint
    if use_best and best and Path(best).is_dir():
        folder = Path(best)
    else:
        folder = checkpoints_dir / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            trainer.save_model(str(folder))
    if trainer.is_world_process_zero():
        processor.save_pretrained(str(folder))
    accelerator.wait_for_everyone()
    return folder, int(folder.name.rsplit("-", 1)[-1])
