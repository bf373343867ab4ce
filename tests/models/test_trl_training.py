"""The tiny twins under TRL: prompt/completion SFT with masked prompts, and DR-GRPO.

The datasets use TRL's conversational prompt/completion format with images, built from the
family's own messages, so TRL's vision collator renders, tokenizes and masks them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rrg.models import get_family
from rrg.models.base import VisionLanguageFamily

ANSWERS = [
    "Heart size within normal limits.",
    "No focal consolidation. No pleural effusion. No pneumothorax.",
    "Normal cardiomediastinal silhouette.",
]


def _sft_dataset(family: VisionLanguageFamily, make_images: Callable[..., list], n: int = 12):
    from datasets import Dataset

    rows = [
        {
            "prompt": [family.user_message(f"Write the part of the report about region {i}.", 2)],
            "completion": [family.assistant_message(ANSWERS[i % len(ANSWERS)])],
            "images": make_images(2, seed=i),
        }
        for i in range(n)
    ]
    return Dataset.from_list(rows)


def _cpu_args() -> dict[str, Any]:
    # TRL defaults to bf16 and gradient checkpointing even on CPU; the twins want neither.
    return {
        "bf16": False,
        "gradient_checkpointing": False,
        "use_cpu": True,
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "dataloader_num_workers": 0,
        "seed": 0,
    }


def _sft_trainer(
    family: VisionLanguageFamily, model_dir: Path, dataset, output_dir: Path, max_steps: int
):
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    model, processor = family.load(str(model_dir))
    args = SFTConfig(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=2,
        learning_rate=5e-3,
        **_cpu_args(),
    )
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=family.lora_target_modules("auto", vision=False)
    )
    return SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=processor, peft_config=lora
    )


def test_prompt_and_image_tokens_are_masked(
    family_name: str, tiny_dir, make_images, tmp_path: Path
) -> None:
    family = get_family(family_name)
    dataset = _sft_dataset(family, make_images, n=2)
    trainer = _sft_trainer(family, tiny_dir(family_name), dataset, tmp_path, max_steps=1)
    batch = trainer.data_collator([dataset[0], dataset[1]])
    input_ids, labels, attention = batch["input_ids"], batch["labels"], batch["attention_mask"]
    config = trainer.model.config
    image_token = (
        config.image_token_id if hasattr(config, "image_token_id") else config.image_token_index
    )
    tokenizer = trainer.processing_class.tokenizer
    stop = tokenizer.decode(tokenizer.convert_tokens_to_ids(family.stop_tokens[0]))
    for row in range(2):
        is_image = input_ids[row] == image_token
        assert is_image.sum() > 0 and (labels[row][is_image] == -100).all()
        supervised = labels[row] != -100
        assert (attention[row][supervised] == 1).all()
        text = tokenizer.decode(input_ids[row][supervised])
        assert text.strip().startswith(
            ANSWERS[row % len(ANSWERS)]
        )  # the answer, then the end of turn
        assert stop in text
        prompt_text = tokenizer.decode(
            input_ids[row][~supervised & (attention[row] == 1) & ~is_image]
        )
        assert "report about region" in prompt_text  # the question is in the input, never a label


def test_lora_sft_steps_lower_the_loss(
    family_name: str, tiny_dir, make_images, tmp_path: Path
) -> None:
    family = get_family(family_name)
    dataset = _sft_dataset(family, make_images)
    trainer = _sft_trainer(family, tiny_dir(family_name), dataset, tmp_path, max_steps=6)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 6 and torch.isfinite(torch.tensor(losses)).all()
    assert losses[-1] < losses[0]
    changed = [
        n
        for n, p in trainer.model.named_parameters()
        if n in before and not torch.equal(p, before[n])
    ]
    assert changed and all("lora_" in n for n in changed)


def length_reward(completions: list, **kwargs: Any) -> list[float]:
    """Reward completions of about 30 characters (a stand-in for the clinical rewards)."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [-abs(len(text) - 30) / 30 for text in texts]


def test_dr_grpo_steps_with_sequence_importance_sampling(
    family_name: str, tiny_dir, make_images, tmp_path: Path
) -> None:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    family = get_family(family_name)
    model, processor = family.load(str(tiny_dir(family_name)))
    dataset = Dataset.from_list(
        [
            {
                "prompt": [family.user_message(f"Describe the lungs ({i}).", 1)],
                "images": make_images(1, seed=i),
            }
            for i in range(4)
        ]
    )
    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        loss_type="dr_grpo",
        importance_sampling_level="sequence",
        learning_rate=1e-3,
        **_cpu_args(),
    )
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=family.lora_target_modules("auto", vision=False)
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=length_reward,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=lora,
    )
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2
    assert all(
        torch.isfinite(torch.tensor([entry["loss"], entry["reward"]])).all() for entry in logged
    )
    assert trainer.state.global_step == 2
