"""Response-only loss through the engine's own path: ``rrg.train.datasets.sft_dataset`` on demo
samples, collated by the collator TRL's ``SFTTrainer`` builds from the plan's ``SFTConfig``."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import FAST_FAMILY, load_recipe


@pytest.mark.parametrize("family_name", [FAST_FAMILY, "deepseek_ocr"])
def test_only_the_answer_carries_labels(family_name: str, rrg_cache_env: Path, demo_root: Path, registry, tmp_path: Path) -> None:
    from rrg.data.flare import load_flare
    from rrg.models import get_family
    from rrg.train.adapter import lora_config
    from rrg.train.datasets import sft_dataset
    from trl import SFTTrainer

    plan = load_recipe("sft", registry, family=family_name).plan()
    family = get_family(family_name)
    split = load_flare(demo_root, split="training", limit=2)
    dataset = sft_dataset(split.dataset, family)
    assert dataset.column_names == ["sample_id", "prompt", "completion", "images"]
    model, processor = family.load("tiny")
    trainer = SFTTrainer(
        model=model, args=plan.trl_config(tmp_path), train_dataset=dataset, eval_dataset=dataset,
        processing_class=processor, peft_config=lora_config(plan),
    )
    batch = trainer.data_collator([dataset[0], dataset[1]])
    input_ids, labels, attention = batch["input_ids"], batch["labels"], batch["attention_mask"]
    tokenizer = processor.tokenizer
    image_token = trainer.model.config.image_token_id
    for row in range(2):
        sample = split.dataset[row]
        is_image = input_ids[row] == image_token
        assert is_image.sum() > 0 and (labels[row][is_image] == -100).all()
        supervised = labels[row] != -100
        assert (labels[row][supervised] == input_ids[row][supervised]).all()
        assert (attention[row][supervised] == 1).all()
        answer_part = tokenizer.decode(input_ids[row][supervised])
        assert answer_part.strip().startswith(sample["answer"].strip()) and family.stop_tokens[0] in answer_part
        prompt_part = tokenizer.decode(input_ids[row][~supervised & (attention[row] == 1) & ~is_image])
        assert sample["question"] in prompt_part and sample["answer"] not in prompt_part
        if family_name == "deepseek_ocr":  # the published plain format: <bos><image…>\n{question}{answer}<eos>
            text = tokenizer.decode(input_ids[row][attention[row] == 1])
            image_run = tokenizer.decode(input_ids[row][is_image])
            assert text == f"{tokenizer.bos_token}{image_run}\n{sample['question'].strip()}{sample['answer'].strip()}{tokenizer.eos_token}"
