"""The native DeepSeek-OCR on its tiny twin: the published prompt and decoding, the Base and tiled
image protocols, both attention variants, and what the plan refuses for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rrg.models import get_family
from rrg.models.deepseek_ocr_native.processing import best_tile_grid

FAMILY = "deepseek_ocr"


@pytest.fixture(scope="module")
def twin(tiny_dir):
    family = get_family(FAMILY)
    model, processor = family.load(str(tiny_dir(FAMILY)))
    return family, model.eval(), processor


def test_prompt_and_decoding_are_the_published_infer_s(twin) -> None:
    family, model, processor = twin
    prompt = family.prompt_text(processor, "  Describe the heart.  ", 1)
    assert prompt == "<｜begin▁of▁sentence｜><image>\nDescribe the heart."
    config = model.generation_config
    assert config.no_repeat_ngram_size == 20 and not config.do_sample
    assert processor.tokenizer.eos_token_id in (config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id])


def test_base_mode_pads_to_a_square_as_the_published_code(make_images) -> None:
    from rrg.models.deepseek_ocr_native.processing import DeepseekOcrImageProcessor

    (image,) = make_images(1, size=(300, 120))
    pixels = DeepseekOcrImageProcessor(base_size=1024)([image])["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 1024, 1024)
    grey = torch.tensor(127 / 255 * 2 - 1).to(torch.bfloat16).float()
    # the 300x120 film becomes 1024x410, centred between grey (127) bands of 307 rows each
    assert torch.all(pixels[0, :, :307] == grey) and torch.all(pixels[0, :, -307:] == grey)
    assert not torch.all(pixels[0, :, 307:717] == grey)
    # views of at most 640 px are resized straight to the square (the published Tiny/Small modes)
    small = DeepseekOcrImageProcessor(base_size=128)([image])["pixel_values"]
    assert not torch.any(small[0, :, 0] == grey)


def test_global_view_rows_end_with_newlines_then_the_separator(twin, make_images) -> None:
    family, model, processor = twin
    (image,) = make_images(1, size=(300, 120))
    inputs = family.processor_inputs(processor, [family.prompt_text(processor, "Heart?", 1)], [[image]])
    side = model.config.tokens_per_side(processor.image_processor.base_size)
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == side * (side + 1) + 1
    assert tuple(inputs["pixel_values"].shape) == (1, 3, 128, 128) and "pixel_values_crops" not in inputs
    grid = model.model.image_embeddings(inputs["pixel_values"], None, inputs["images_spatial_crop"])
    assert grid.shape[0] == side * (side + 1) + 1
    rows = grid[:-1].view(side, side + 1, -1)
    assert torch.equal(rows[:, -1], model.model.image_newline.expand(side, -1))
    assert torch.equal(grid[-1], model.model.view_seperator)


def test_tiled_mode_adds_the_tiles_grid_before_the_global_view(twin, make_images) -> None:
    family, model, processor = twin
    family.set_image_mode(processor, "tiled")
    try:
        wide, small = make_images(1, size=(400, 160))[0], make_images(1, size=(70, 60))[0]
        prompts = [family.prompt_text(processor, "Lungs?", 1)] * 2
        inputs = family.processor_inputs(processor, prompts, [[wide], [small]])
    finally:
        family.set_image_mode(processor, "base")
    columns, rows = best_tile_grid(400, 160, 80, 2, 9)
    assert inputs["images_spatial_crop"].tolist() == [[columns, rows], [1, 1]]  # the small film gets no tiles
    assert inputs["pixel_values_crops"].shape[0] == columns * rows
    n, m = model.config.tokens_per_side(128), model.config.tokens_per_side(80)
    counts = (inputs["input_ids"] == model.config.image_token_id).sum(-1).tolist()
    assert counts == [n * (n + 1) + 1 + (m * columns + 1) * (m * rows), n * (n + 1) + 1]
    with torch.no_grad():
        batched = model(**inputs).logits
        alone = model(**{k: v[:1] if k != "pixel_values_crops" else v for k, v in inputs.items()}).logits
    width = int(inputs["attention_mask"][0].sum())
    torch.testing.assert_close(batched[0, -width:], alone[0, -width:], rtol=1e-4, atol=1e-4)


def test_tile_grid_follows_the_aspect_ratio() -> None:
    assert best_tile_grid(1280, 640, 640, 2, 9) == (2, 1)
    assert best_tile_grid(640, 1920, 640, 2, 9) == (1, 3)
    assert best_tile_grid(2000, 2000, 640, 2, 9) == (3, 3)  # ties go to the larger grid for big images


def test_mla_attention_variant_runs_and_generates(tiny_dir, tmp_path: Path, make_images) -> None:
    folder = tmp_path / "mla"
    source = tiny_dir(FAMILY)
    for item in source.iterdir():
        if item.name != "model.safetensors":
            (folder / item.name).parent.mkdir(exist_ok=True)
            (folder / item.name).write_bytes(item.read_bytes())
    config = json.loads((source / "config.json").read_text())
    config.update(use_mla=True, kv_lora_rank=16, q_lora_rank=None, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16)
    (folder / "config.json").write_text(json.dumps(config))
    family = get_family(FAMILY)
    from rrg.models.deepseek_ocr_native.configuration import DeepseekOcrConfig
    from rrg.models.deepseek_ocr_native.modeling import DeepseekOcrForCausalLM

    torch.manual_seed(0)
    DeepseekOcrForCausalLM(DeepseekOcrConfig.from_pretrained(str(folder))).save_pretrained(folder)
    model, processor = family.load(str(folder))
    assert type(model.model.layers[0].self_attn).__name__ == "DeepseekV2Attention"
    from rrg.generation import generate_reports

    samples = [{"question": q, "images": make_images(1, seed=i)} for i, q in enumerate(["Heart?", "Describe the lungs."])]
    batched = generate_reports(model, processor, family, samples, max_new_tokens=6, batch_size=2)
    single = generate_reports(model, processor, family, samples, max_new_tokens=6, batch_size=1)
    assert batched == single and all(isinstance(text, str) for text in batched)
