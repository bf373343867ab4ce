"""Tiny twins: deterministic offline builds, image tokens, forward, LoRA scope, adapters, generation."""

from __future__ import annotations

import hashlib
import math
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from rrg.generation import generate_reports
from rrg.models import get_family
from rrg.models.base import VisionLanguageFamily


def _file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _inputs(
    family: VisionLanguageFamily, processor, make_images, questions: list[str], n_images: int = 2
):
    prompts = [family.prompt_text(processor, q, n_images) for q in questions]
    images = [make_images(n_images, seed=i) for i in range(len(questions))]
    return family.processor_inputs(processor, prompts, images)


def _image_token_id(model) -> int:
    config = model.config
    return config.image_token_id if hasattr(config, "image_token_id") else config.image_token_index


def test_tiny_build_is_deterministic_offline_and_silent(
    family_name: str, tmp_path: Path, monkeypatch, capfd
) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("a tiny build tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    family = get_family(family_name)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    family.build_tiny(first)
    family.build_tiny(second)
    hashes = _file_hashes(first)
    assert {"model.safetensors", "tokenizer.json", "config.json", "chat_template.jinja"} <= set(
        hashes
    )
    assert hashes == _file_hashes(second)
    # built on first use inside `rrg plan` / `rrg run`: transformers' shard-writing bar stays off
    printed = capfd.readouterr()
    assert "Writing model shards" not in printed.err + printed.out


def test_tiny_path_builds_once_and_survives_a_concurrent_build(tmp_path: Path, monkeypatch) -> None:
    family = get_family("qwen3_vl")
    target = tmp_path / "tiny" / f"qwen3_vl-v{family.builder_version}"
    real_build = family.build_tiny

    def build_while_another_process_finishes_first(folder: Path) -> None:
        real_build(folder)
        real_build(target.parent / "elsewhere")
        (target.parent / "elsewhere").rename(target)  # the other process wins the rename

    monkeypatch.setattr(family, "build_tiny", build_while_another_process_finishes_first)
    assert family.tiny_path(tmp_path) == target
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # staging removed
    monkeypatch.setattr(family, "build_tiny", lambda folder: pytest.fail("rebuilt a cached twin"))
    assert family.tiny_path(tmp_path) == target


def test_model_id_tiny_uses_the_rrg_cache(
    xdg_cache: Path, tiny_dir: Callable[[str], Path], monkeypatch
) -> None:
    tiny_dir("qwen2_5_vl")
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg_cache))
    family = get_family("qwen2_5_vl")
    model, processor = family.load("tiny")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert len(processor.tokenizer) == model.config.text_config.vocab_size


def test_image_tokens_match_the_pixel_inputs(family_name: str, tiny_dir, make_images) -> None:
    family = get_family(family_name)
    model, processor = family.load(str(tiny_dir(family_name)))
    inputs = _inputs(
        family,
        processor,
        make_images,
        ["Write the part of the report about the heart."],
        n_images=2,
    )
    n_tokens = int((inputs["input_ids"] == _image_token_id(model)).sum())
    config = model.config
    if "image_grid_thw" in inputs:  # Qwen: one token per merged 2×2 patch group
        merge = config.vision_config.spatial_merge_size
        expected = int(inputs["image_grid_thw"].prod(-1).sum()) // merge**2
        assert inputs["image_grid_thw"].shape[0] == 2
    elif family_name == "medgemma":  # a fixed number of pooled tokens per image
        assert inputs["pixel_values"].shape[0] == 2
        expected = 2 * config.mm_tokens_per_image
    elif family_name == "deepseek_ocr":  # rows of tokens, a newline each, one view separator
        side = config.tokens_per_side(processor.image_processor.base_size)
        assert inputs["pixel_values"].shape[0] == 2
        expected = 2 * (side * (side + 1) + 1)
    else:  # DeepSeek-OCR-2: 144 queries + one view separator per global view
        assert inputs["pixel_values"].shape[0] == 2
        expected = 2 * (144 + 1)
    assert n_tokens == expected > 0
    with torch.no_grad():
        model(**inputs)  # the model checks features against placeholders itself


def test_forward_loss_and_gradients_reach_lora_only(
    family_name: str, tiny_dir, make_images
) -> None:
    from peft import LoraConfig, get_peft_model

    family = get_family(family_name)
    model, processor = family.load(str(tiny_dir(family_name)))
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=4, lora_alpha=8, target_modules=family.lora_target_modules("auto", vision=False)
        ),
    )
    inputs = _inputs(
        family, processor, make_images, ["Describe the lungs.", "Is there a pleural effusion?"]
    )
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    loss = peft_model(**inputs, labels=labels).loss
    assert math.isfinite(loss.item()) and loss.item() > 0
    loss.backward()
    grads = {n: p.grad for n, p in peft_model.named_parameters() if p.requires_grad}
    assert grads and all("lora_" in n for n in grads)
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    counts = family.count_parameters(peft_model)
    assert 0 < counts["trainable"] < counts["total"]


@pytest.mark.parametrize("vision", [False, True])
def test_lora_pattern_wraps_language_model_unless_vision(
    family_name: str, tiny_dir, vision: bool
) -> None:
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer

    family = get_family(family_name)
    model, _ = family.load(str(tiny_dir(family_name)))
    peft_model = get_peft_model(
        model, LoraConfig(r=2, target_modules=family.lora_target_modules("auto", vision=vision))
    )
    wrapped = [
        name.removeprefix("base_model.model.")
        for name, module in peft_model.named_modules()
        if isinstance(module, LoraLayer)
    ]
    lm_layers = family.lm_prefix.replace("\\.", ".") + ".layers."
    in_lm = [n for n in wrapped if n.startswith(lm_layers)]
    outside = [n for n in wrapped if n not in in_lm]
    # two decoder layers × (q, k, v, o, gate, up, down); DeepSeek-OCR-2's second layer reaches only its
    # shared expert (fused routed experts), DeepSeek-OCR's reaches its 4 routed experts too (+12)
    assert len(in_lm) == (26 if family_name == "deepseek_ocr" else 14)
    if vision:
        assert outside and all(
            n.startswith(
                (
                    "model.visual.",
                    "model.vision_tower.",
                    "model.multi_modal_projector",
                    "model.sam_model.",
                    "model.vision_model.",
                    "model.projector.",
                )
            )
            for n in outside
        )
    else:
        assert outside == []


def test_adapter_round_trip_gives_identical_logits(
    family_name: str, tiny_dir, make_images, tmp_path: Path
) -> None:
    from peft import LoraConfig, get_peft_model

    family = get_family(family_name)
    path = str(tiny_dir(family_name))
    model, processor = family.load(path)
    inputs = _inputs(family, processor, make_images, ["Describe the mediastinum."], n_images=1)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=family.lora_target_modules("auto", vision=True),
        init_lora_weights=False,
    )
    peft_model = get_peft_model(model, config).eval()
    with torch.no_grad():
        expected = peft_model(**inputs).logits
    peft_model.save_pretrained(tmp_path / "adapter")

    base, _ = family.load(path)
    with torch.no_grad():
        base_logits = base(**inputs).logits
    reloaded = family.load_adapter(base, tmp_path / "adapter").eval()
    with torch.no_grad():
        actual = reloaded(**inputs).logits
    assert not torch.allclose(base_logits, expected)  # the adapter does change the output
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def test_batched_generation_matches_one_by_one(family_name: str, tiny_dir, make_images) -> None:
    family = get_family(family_name)
    model, processor = family.load(str(tiny_dir(family_name)))
    model.train()
    questions = ["Describe the heart.", "Write the findings section of the report.", "Lungs?"]
    samples = [
        {"question": q, "images": make_images(1 + i % 2, seed=i)} for i, q in enumerate(questions)
    ]
    seen: list[int] = []
    batched = generate_reports(
        model, processor, family, samples, max_new_tokens=8, batch_size=3, progress=seen.append
    )
    single = generate_reports(model, processor, family, samples, max_new_tokens=8, batch_size=1)
    assert len(batched) == 3 and all(isinstance(text, str) and text for text in batched)
    assert batched == single
    assert seen == [3]
    assert model.training  # the caller's mode is restored
