"""Qwen2.5-VL: a dynamic-resolution ViT feeding a Qwen2.5 decoder with multimodal RoPE.

Images become ``<|vision_start|><|image_pad|>…<|vision_end|>``; the processor repeats
``<|image_pad|>`` once per merged 2×2 patch group. The chat format is ChatML (``<|im_start|>`` …
``<|im_end|>``) with the default system prompt the real template inserts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rrg.models.base import TINY_VISION, VisionLanguageFamily, tiny_text_config
from rrg.models.tokenizer import SpecialTokens

QWEN_SPECIAL_TOKENS = SpecialTokens(
    tokens=(
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ),
    named={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    model_specific={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
)
"""Qwen's special tokens (the tiny tokenizer numbers them 0..6)."""

QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""The real Qwen2.5-VL-Instruct template, without video and tool branches."""


def qwen_vision_token_ids(tokenizer: Any) -> dict[str, int]:
    """The config token ids of a Qwen-style tokenizer."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


def tiny_qwen_vision() -> dict[str, int]:
    """The tiny Qwen ViT (both generations): two blocks of :data:`TINY_VISION`, 64-wide output."""
    return {
        "depth": 2,
        "hidden_size": TINY_VISION["hidden_size"],
        "intermediate_size": TINY_VISION["intermediate_size"],
        "num_heads": TINY_VISION["num_attention_heads"],
        "out_hidden_size": 64,
    }


def without_video_processor(processor_class: type) -> type:
    """A subclass of a Qwen processor class that has no video processor.

    Qwen processors expect a video processor, and every video processor needs torchvision, which
    rrg does not depend on (its wheels do not import beside the CPU torch). rrg feeds images only,
    so the subclass drops that component; it keeps the parent's name so the saved
    ``processor_config.json`` still names the real class.
    """

    def __init__(
        self: Any,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: Any = None,
        **kwargs: Any,
    ) -> None:
        processor_class.__init__(
            self,
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )

    return type(
        processor_class.__name__, (processor_class,), {"__init__": __init__, "__module__": __name__}
    )


def set_qwen_image_size(processor: Any, image_size: int) -> None:
    """Fix a Qwen image processor's pixel budget to ``image_size``² (rounded to its patch grid)."""
    pixels = image_size * image_size
    processor.image_processor.size = {"shortest_edge": pixels, "longest_edge": pixels}


class Qwen25VLFamily(VisionLanguageFamily):
    """Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``)."""

    name = "qwen2_5_vl"
    display_name = "Qwen2.5-VL"
    model_class_name = "Qwen2_5_VLForConditionalGeneration"
    reference_ids = ("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct")
    builder_version = 1
    special_tokens = QWEN_SPECIAL_TOKENS
    chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    stop_tokens = ("<|im_end|>", "<|endoftext|>")
    tiny_image_size = 56  # 4×4 patches of 14 px → 4 image tokens after the 2×2 merge
    vision_prefix = r"model\.visual"
    vision_target_names: ClassVar[tuple[str, ...]] = (
        "attn.qkv",
        "attn.proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
        "merger.mlp.0",
        "merger.mlp.2",
    )

    def _model_class(self) -> type:
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration

    def _processor_class(self) -> type:
        from transformers import Qwen2_5_VLProcessor

        return without_video_processor(Qwen2_5_VLProcessor)

    def _image_processor_class(self) -> type:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil,
        )

        return Qwen2VLImageProcessorPil

    def _tiny_image_processor(self) -> Any:
        pixels = self.tiny_image_size**2
        return self._image_processor_class()(size={"shortest_edge": pixels, "longest_edge": pixels})

    def _set_image_size(self, processor: Any, image_size: int) -> None:
        set_qwen_image_size(processor, image_size)

    def _tiny_config(self, tokenizer: Any) -> Any:
        from transformers import Qwen2_5_VLConfig

        rope = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}
        return Qwen2_5_VLConfig(
            text_config=tiny_text_config(
                tokenizer, rope_parameters=rope, bos_token_id=None, eos_token_id=tokenizer.eos_token_id
            ),
            vision_config={
                **tiny_qwen_vision(),
                "fullatt_block_indexes": [1],
                "window_size": 56,
            },
            tie_word_embeddings=False,
            **qwen_vision_token_ids(tokenizer),
        )

    def default_modules_to_save(self) -> list[str]:
        """The study saved the output head and the token embeddings of Qwen models."""
        return ["lm_head", "embed_tokens"]
