"""Supervised fine-tuning: TRL ``SFTTrainer`` with a PEFT LoRA/QLoRA adapter, loss on the answer only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.train.adapter import lora_config
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
    peft_config: Any = "from-plan",
) -> TrainingResult:
    """Train ``model`` on ``train`` with validation loss on ``evaluation``; export the best adapter.

    The prompt (user turn and image tokens) carries label -100 through TRL's vision collator
    (``completion_only_loss``); checkpoints every ``save_steps``, the best by validation loss is
    kept and early stopping ends training after ``early_stopping_patience`` evaluations without
    improvement. ``peft_config=None`` trains a model that is already wrapped (Unsloth).
    """
    from transformers import EarlyStoppingCallback
    from trl import SFTTrainer

    config = plan.trl_config(run_dir / "checkpoints")
    all_callbacks = list(callbacks)
    if early_stopping_patience is not None:
        all_callbacks.append(EarlyStoppingCallback(early_stopping_patience=early_stopping_patience))
    if peft_config == "from-plan":
        peft_config = lora_config(plan) if plan.adapter is not None else None
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
    trainer.train()
    folder, step = export_weights(trainer, processor, run_dir / "checkpoints", use_best=True)
    state = trainer.state
    stopped_early = state.max_steps > 0 and state.global_step < state.max_steps
    return TrainingResult(
        adapter_dir=folder,
        step=step,
        best_eval_loss=state.best_metric,
        log_history=list(state.log_history),
        stopped_early=stopped_early,
    )
