"""Supervised fine-tuning: TRL ``SFTTrainer`` with a PEFT LoRA/QLoRA adapter, loss on the answer only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError
from rrg.train.callbacks import quiet
from rrg.train.datasets import sft_dataset
from rrg.train.export import TrainingResult, export_weights

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from rrg.models.base import VisionLanguageFamily
    from rrg.plan import Plan


def run_sft(
    plan: Plan,
    model: Any,
    processor: Any,
    family: VisionLanguageFamily,
    train: datasets.Dataset,
    evaluation: datasets.Dataset,
    run_dir: Path,
    callbacks: list[Any],
    early_stopping_patience: int | None,
    peft_config: Any = None,
    resume_from: Path | None = None,
) -> TrainingResult:
    """Train ``model`` on ``train`` with validation loss on ``evaluation``; export the best adapter.

    The prompt (user turn and image tokens) carries label -100 through TRL's vision collator
    (``completion_only_loss``); checkpoints every ``save_steps``, the best by validation loss is
    kept and early stopping ends training after ``early_stopping_patience`` evaluations without
    improvement. ``peft_config`` is the ``LoraConfig`` TRL wraps ``model`` with; ``None`` trains
    ``model`` as it is (already a PEFT model, or full fine-tuning).
    """
    from transformers import EarlyStoppingCallback
    from trl import SFTTrainer

    config = plan.trl_config(run_dir / "checkpoints")
    all_callbacks = list(callbacks)
    if early_stopping_patience is not None:
        all_callbacks.append(EarlyStoppingCallback(early_stopping_patience=early_stopping_patience))
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=sft_dataset(train, family),
        eval_dataset=sft_dataset(evaluation, family),
        processing_class=processor,
        peft_config=peft_config,
        callbacks=all_callbacks,
    )
    quiet(trainer)
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    except ValueError as exc:
        if _truncates_image_tokens(exc):
            raise RrgError(
                f"training.max_length ({config.max_length}) cuts image tokens off the training samples",
                hint="raise training.max_length: it must hold the prompt, every image token and the answer",
            ) from exc
        raise
    folder, step = export_weights(trainer, processor, run_dir / "checkpoints", use_best=True)
    return TrainingResult(adapter_dir=folder, step=step, best_eval_loss=trainer.state.best_metric)


def _truncates_image_tokens(exc: ValueError) -> bool:
    """TRL's ``SFTTrainer.compute_loss`` refuses a batch whose ``max_length`` truncation dropped
    image placeholder tokens (its message names ``max_length`` and the image placeholder tokens)."""
    message = str(exc)
    return "`max_length`" in message and "image placeholder tokens" in message
