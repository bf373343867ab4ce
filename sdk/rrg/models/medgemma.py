"""MedGemma: the Gemma 3 architecture (SigLIP encoder, pooled to a fixed number of image tokens,
feeding a Gemma 3 decoder) with medical pretraining.

The user turn writes ``<start_of_image>`` per image; the processor expands it into
``\\n\\n<start_of_image>`` + ``<image_soft_token>`` × ``mm_tokens_per_image`` +
``<end_of_image>\\n\\n``. Turns are ``<start_of_turn>user`` / ``<start_of_turn>model`` …
``<end_of_turn>``, and the template writes ``<bos>`` itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rrg.errors import RrgError
from rrg.models.base import TINY_VISION, VisionLanguageFamily, tiny_text_config
from rrg.models.tokenizer import SpecialTokens

GEMMA3_SPECIAL_TOKENS = SpecialTokens(
    tokens=(
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",
        "<end_of_image>",
        "<image_soft_token>",
    ),
    named={"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"},
    model_specific={
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    },
)
"""Gemma 3's special tokens, in Gemma's own id order for the first four."""

GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% if messages[0]['content'] is string %}{% set first_user_prefix = messages[0]['content'] + '\n\n' %}"
    "{% else %}{% set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' %}{% endif %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{{ first_user_prefix if loop.first else '' }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
"""The real Gemma 3 / MedGemma instruct template (system text folded into the first user turn)."""


class MedGemmaFamily(VisionLanguageFamily):
    """MedGemma (``Gemma3ForConditionalGeneration``)."""

    name = "medgemma"
    display_name = "MedGemma"
    model_class_name = "Gemma3ForConditionalGeneration"
    reference_ids = ("google/medgemma-4b-it", "google/medgemma-4b-pt")
    builder_version = 1
    special_tokens = GEMMA3_SPECIAL_TOKENS
    chat_template = GEMMA3_CHAT_TEMPLATE
    stop_tokens = ("<end_of_turn>", "<eos>")
    tiny_image_size = 64  # 4×4 SigLIP patches of 16 px, average-pooled to 2×2 = 4 image tokens
    tiny_tokens_per_image = 4
    vision_prefix = r"model\.vision_tower"
    vision_target_names: ClassVar[tuple[str, ...]] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "out_proj",
        "fc1",
        "fc2",
    )

    def _model_class(self) -> type:
        from transformers import Gemma3ForConditionalGeneration

        return Gemma3ForConditionalGeneration

    def _processor_class(self) -> type:
        from transformers import Gemma3Processor

        return Gemma3Processor

    def _image_processor_class(self) -> type:
        from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

        return Gemma3ImageProcessorPil

    def _processor_kwargs(self, config: Any) -> dict[str, Any]:
        if config is None:
            return {}
        return {"image_seq_length": config.mm_tokens_per_image}

    def _tiny_image_processor(self) -> Any:
        side = self.tiny_image_size
        return self._image_processor_class()(
            size={"height": side, "width": side},
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
            do_pan_and_scan=False,
        )

    def _set_image_size(self, processor: Any, image_size: int) -> None:
        native = processor.image_processor.size["height"]
        if image_size != native:
            raise RrgError(
                f"Gemma 3 encodes images at a fixed {native} px; model.image_size {image_size} is not supported",
                hint=f"remove model.image_size or set it to {native}",
            )

    def _tiny_config(self, tokenizer: Any) -> Any:
        from transformers import Gemma3Config

        ids = tokenizer.convert_tokens_to_ids
        return Gemma3Config(
            text_config=tiny_text_config(
                tokenizer,
                head_dim=16,
                query_pre_attn_scalar=16,
                sliding_window=512,
                # one layer of each kind, so both the local and the global RoPE paths run
                layer_types=["sliding_attention", "full_attention"],
                eos_token_id=tokenizer.eos_token_id,
                bos_token_id=tokenizer.bos_token_id,
            ),
            vision_config={
                "model_type": "siglip_vision_model",
                **TINY_VISION,
                "num_hidden_layers": 2,
                "image_size": self.tiny_image_size,
                "patch_size": 16,
                "vision_use_head": False,
            },
            mm_tokens_per_image=self.tiny_tokens_per_image,
            boi_token_index=ids("<start_of_image>"),
            eoi_token_index=ids("<end_of_image>"),
            image_token_index=ids("<image_soft_token>"),
            tie_word_embeddings=True,
        )
