"""The family index, identity, chat messages and LoRA target rules (no weights loaded)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from rrg.errors import MissingDependencyError, RrgError
from rrg.models import FAMILY_NAMES, get_family


def test_every_family_is_listed_and_named_after_itself() -> None:
    assert set(FAMILY_NAMES) == {
        "deepseek_ocr",
        "deepseek_ocr2",
        "qwen2_5_vl",
        "qwen3_vl",
        "medgemma",
    }
    for name in FAMILY_NAMES:
        family = get_family(name)
        assert family.name == name
        assert family.display_name
        assert family.reference_ids and all("/" in ref for ref in family.reference_ids)


def test_unknown_family_lists_the_valid_names() -> None:
    with pytest.raises(RrgError) as caught:
        get_family("llava")
    assert "llava" in str(caught.value)
    for name in FAMILY_NAMES:
        assert name in caught.value.hint


def test_family_index_does_not_import_torch() -> None:
    code = (
        "import sys; from rrg.models import FAMILY_NAMES, get_family\n"
        "for n in FAMILY_NAMES:\n"
        "    f = get_family(n); f.lora_target_modules('auto', True); f.user_message('q', 2)\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_family_needs_remote_code() -> None:
    for name in ("deepseek_ocr", "deepseek_ocr2", "qwen2_5_vl", "qwen3_vl", "medgemma"):
        family = get_family(name)
        assert not family.requires_trust_remote_code(family.reference_ids[0])
    assert "native" in get_family("deepseek_ocr").implementation("deepseek-ai/DeepSeek-OCR", False)


def test_deepseek_ocr_remote_code_is_refused_with_its_reason_before_any_download() -> None:
    family = get_family("deepseek_ocr")
    with pytest.raises(RrgError, match="needs transformers 4.46") as caught:
        family.load("deepseek-ai/DeepSeek-OCR", trust_remote_code=True, revision="0" * 40)
    assert "remove model.trust_remote_code" in caught.value.hint


def test_uncached_hub_model_offline_is_a_user_error(tmp_path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    code = (
        "from rrg.models import get_family\n"
        "from rrg.errors import MissingDependencyError\n"
        "try:\n"
        "    get_family('qwen2_5_vl').load('Qwen/Qwen2.5-VL-7B-Instruct')\n"
        "except MissingDependencyError as e:\n"
        "    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "Qwen/Qwen2.5-VL-7B-Instruct is not in the Hugging Face cache" in result.stdout
    assert "tiny" in result.stdout
    assert issubclass(MissingDependencyError, RrgError)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_language_model_pattern_matches_decoder_projections_only(name: str) -> None:
    family = get_family(name)
    pattern = family.lora_target_modules("auto", vision=False)
    assert isinstance(pattern, str)
    lm = family.lm_prefix.replace("\\.", ".")
    for leaf in (
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.down_proj",
    ):
        assert re.fullmatch(pattern, f"{lm}.layers.3.{leaf}")
    assert not re.fullmatch(pattern, "lm_head")
    assert not re.fullmatch(pattern, f"{lm}.embed_tokens")
    assert not re.fullmatch(pattern, "model.vision_model.transformer.layers.0.self_attn.out_proj")
    assert family.lora_target_modules("all-linear", vision=True) == "all-linear"


def test_explicit_target_lists_are_scoped_and_validated() -> None:
    family = get_family("qwen3_vl")
    pattern = family.lora_target_modules(["q_proj", "v_proj"], vision=False)
    assert re.fullmatch(pattern, "model.language_model.layers.0.self_attn.v_proj")
    assert not re.fullmatch(pattern, "model.language_model.layers.0.self_attn.k_proj")
    with pytest.raises(RrgError, match="not module names"):
        family.lora_target_modules(["q_proj|.*"], vision=False)
    with pytest.raises(RrgError, match="is not 'auto'"):
        family.lora_target_modules("everything", vision=False)  # type: ignore[arg-type]


def test_messages_put_images_before_the_question() -> None:
    family = get_family("medgemma")
    message = family.user_message("Describe the heart.", 2)
    assert message == {
        "role": "user",
        "content": [
            {"type": "image"},
            {"type": "image"},
            {"type": "text", "text": "Describe the heart."},
        ],
    }
    assert family.assistant_message("Normal.") == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Normal."}],
    }


def test_modules_to_save_follow_the_study() -> None:
    assert get_family("qwen2_5_vl").default_modules_to_save() == ["lm_head", "embed_tokens"]
    assert get_family("qwen3_vl").default_modules_to_save() == ["lm_head", "embed_tokens"]
    assert get_family("medgemma").default_modules_to_save() == []
