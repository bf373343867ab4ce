"""GRPO: TRL ``GRPOTrainer`` with the study's composite clinical reward."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.train.callbacks import quiet
from rrg.train.datasets import grpo_dataset
from rrg.train.export import TrainingResult, export_weights

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from rrg.models.base import VisionLanguageFamily
    from rrg.plan import Plan


def reward_functions(plan: Plan) -> Any:
    """The plan's reward as TRL reward functions: one clipped weighted sum that logs its terms.

    Building checks the clinical scorer (package installed, weights on disk) and raises its
    one-line error when it cannot run; the engine builds the reward before a run is recorded."""
    from rrg.rewards import RewardWeights, build_reward_functions

    reward = plan.reward or {}
    return build_reward_functions(
        RewardWeights(clinical=reward["clinical"], format=reward["format"], rouge=reward["rouge"]),
        clinical_scorer=reward["clinical_scorer"],
        clip=tuple(reward["clip"]) if reward.get("clip") is not None else None,
        max_chars=reward["max_chars"],
        think_tags=reward["forbid_thinking_tags"],
        code_fences=reward["forbid_code_fences"],
        radgraph_model=reward.get("radgraph_model", "radgraph-xl"),
        radgraph_reward_level=reward.get("radgraph_reward_level", "partial"),
    )


def run_grpo(
    plan: Plan,
    model: Any,
    processor: Any,
    family: VisionLanguageFamily,
    train: datasets.Dataset,
    run_dir: Path,
    callbacks: list[Any],
    peft_config: Any = None,
    resume_from: Path | None = None,
) -> TrainingResult:
    """Optimise ``model`` (usually a trainable PEFT model holding the SFT adapter) with GRPO.

    Each prompt gets ``num_generations`` sampled answers scored by the composite reward
    (clinical, format and ROUGE terms, clipped); the per-term means are logged every step as
    ``reward_terms/<term>``. The study's DR-GRPO loss and sequence-level importance sampling
    come from the plan.
    """
    from trl import GRPOTrainer

    rewards = reward_functions(plan)
    config = plan.trl_config(run_dir / "checkpoints")
    config.reward_weights = rewards.weights
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=rewards.functions,
        args=config,
        train_dataset=grpo_dataset(train, family),
        processing_class=processor,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    quiet(trainer)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    # GRPO has no validation loss: the final policy is the one handed on.
    folder, step = export_weights(trainer, processor, run_dir / "checkpoints", use_best=False)
    return TrainingResult(adapter_dir=folder, step=step, best_eval_loss=None)
