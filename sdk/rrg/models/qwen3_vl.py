"""Qwen3-VL: a ViT with DeepStack feature injection feeding a Qwen3 decoder with interleaved MRoPE.

It shares Qwen2.5-VL's special tokens and image placeholders; its instruct template has no default
system prompt, and its vision patches are 16 px (32 px per merged image token).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rrg.models.base import tiny_text_config
from rrg.models.qwen2_5_vl import (
    Qwen25VLFamily,
    qwen_vision_token_ids,
    tiny_qwen_vision,
    without_video_processor,
)

QWEN3_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
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
"""The real Qwen3-VL-Instruct template, without video, tool and reasoning branches."""


class Qwen3VLFamily(Qwen25VLFamily):
    """Qwen3-VL (``Qwen3VLForConditionalGeneration``): Qwen2.5-VL's tokens, image processor and
    LoRA scoping, with its own template, vision blocks and 16 px patches."""

    name = "qwen3_vl"
    display_name = "Qwen3-VL"
    model_class_name = "Qwen3VLForConditionalGeneration"
    reference_ids = ("Qwen/Qwen3-VL-4B-Instruct", "Qwen/Qwen3-VL-8B-Instruct")
    chat_template = QWEN3_VL_CHAT_TEMPLATE
    tiny_image_size = 64  # 4×4 patches of 16 px → 4 image tokens after the 2×2 merge
    vision_target_names: ClassVar[tuple[str, ...]] = (
        "attn.qkv",
        "attn.proj",
        "linear_fc1",
        "linear_fc2",
    )

    def _model_class(self) -> type:
        from transformers import Qwen3VLForConditionalGeneration

        return Qwen3VLForConditionalGeneration

    def _processor_class(self) -> type:
        from transformers import Qwen3VLProcessor

        return without_video_processor(Qwen3VLProcessor)

    def _tiny_image_processor(self) -> Any:
        pixels = self.tiny_image_size**2
        return self._image_processor_class()(
            size={"shortest_edge": pixels, "longest_edge": pixels},
            patch_size=16,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        )

    def _tiny_config(self, tokenizer: Any) -> Any:
        from transformers import Qwen3VLConfig

        rope = {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [4, 2, 2],
            "mrope_interleaved": True,
        }
        return Qwen3VLConfig(
            text_config=tiny_text_config(tokenizer, head_dim=16, rope_parameters=rope),
            vision_config={
                **tiny_qwen_vision(),
                "num_position_embeddings": 16,
                "deepstack_visual_indexes": [1],
            },
            tie_word_embeddings=False,
            **qwen_vision_token_ids(tokenizer),
        )
