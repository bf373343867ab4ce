"""DeepSeek-OCR and DeepSeek-OCR-2: a SAM encoder and 16× convolutional compressor feeding a
DeepSeek MoE decoder.

Two family names live here:

- ``deepseek_ocr2`` — DeepSeek-OCR-2, which transformers implements natively
  (``DeepseekOcr2ForConditionalGeneration``): SAM ViT → 4× conv downsampling → a Qwen2-style
  encoder that reads learnable queries (144 for a view up to 768 px, 256 for 1024 px) → a linear
  projector → a DeepSeek-V2-style MoE decoder. Each image is ``<image>`` in the prompt; the
  processor repeats it once per query plus one view separator (145 tokens per global view).
- ``deepseek_ocr`` — the original DeepSeek-OCR the study fine-tuned, available only as remote code
  on the Hub (``trust_remote_code``, at a revision the recipe pins). Its tiny twin uses the native
  DeepSeek-OCR-2 architecture: the same SAM + compressor + MoE decoder design and chat format,
  without executing Hub code.

The decoder's routed experts are *fused* (``mlp.experts.gate_up_proj`` / ``down_proj`` are 3-D
parameters, not ``nn.Linear``), so LoRA cannot reach them; the default targets are the attention
projections, the dense MLP of the first layer and the shared experts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from rrg.errors import RrgError
from rrg.models.base import (
    DECODER_LINEAR_NAMES,
    TINY_MODEL_ID,
    TINY_VISION,
    VisionLanguageFamily,
    tiny_text_config,
)
from rrg.models.tokenizer import SpecialTokens

DEEPSEEK_SPECIAL_TOKENS = SpecialTokens(
    tokens=(
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
        "<｜▁pad▁｜>",
        "<image>",
        "<|User|>",
        "<|Assistant|>",
    ),
    named={
        "bos_token": "<｜begin▁of▁sentence｜>",
        "eos_token": "<｜end▁of▁sentence｜>",
        "pad_token": "<｜▁pad▁｜>",
    },
    model_specific={"image_token": "<image>"},
)
"""DeepSeek's special tokens plus the conversation role markers."""

DEEPSEEK_OCR_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ message['content'] if message['content'] is string else message['content'][0]['text'] }}{{ '\\n\\n' }}"
    "{% elif message['role'] == 'user' %}<|User|>: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '\\n\\n' }}"
    "{% else %}<|Assistant|>: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}{% if content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ eos_token }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)
"""DeepSeek's conversation format: ``<|User|>: <image>\\n…question\\n\\n<|Assistant|>: answer<eos>``."""

_NATIVE_MODEL_TYPE = "deepseek_ocr2"


class DeepseekOcr2Family(VisionLanguageFamily):
    """DeepSeek-OCR-2 (``DeepseekOcr2ForConditionalGeneration``, native in transformers)."""

    name = "deepseek_ocr2"
    display_name = "DeepSeek-OCR-2"
    reference_ids = ("deepseek-community/DeepSeek-OCR-2",)
    builder_version = 1
    special_tokens = DEEPSEEK_SPECIAL_TOKENS
    chat_template = DEEPSEEK_OCR_CHAT_TEMPLATE
    stop_tokens = ("<｜end▁of▁sentence｜>",)
    # transformers' deepseek_ocr2 key conversion rewrites "(^|model.)layers." to
    # "language_model.layers.", which also matches inside "language_model.layers." — PEFT applies
    # it to adapter keys on load and every language-model LoRA weight is silently dropped.
    adapter_keys_renamed_on_load = True
    tiny_image_size = (
        64  # one 64 px global view: 4×4 SAM patches, compressed 4× to 1×1, 144 queries
    )
    vision_prefix = r"model\.(?:vision_tower|multi_modal_projector)"
    vision_target_names: ClassVar[tuple[str, ...]] = (
        *DECODER_LINEAR_NAMES,  # the Qwen2-style encoder that reads the SAM features
        "attn.qkv",
        "attn.proj",
        "lin1",
        "lin2",
    )

    def lora_target_modules(self, target: Any = "auto", vision: bool = False) -> str | list[str]:
        pattern = super().lora_target_modules(target, vision)
        if vision and target != "all-linear":
            # the projector is a single Linear with no leaf name below its prefix
            pattern = rf"(?:{pattern}|model\.multi_modal_projector)"
        return pattern

    def _model_class(self) -> type:
        from transformers import DeepseekOcr2ForConditionalGeneration

        return DeepseekOcr2ForConditionalGeneration

    def _processor_class(self) -> type:
        from transformers import DeepseekOcr2Processor

        return DeepseekOcr2Processor

    def _image_processor_class(self) -> type:
        from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import (
            DeepseekOcr2ImageProcessorPil,
        )

        return DeepseekOcr2ImageProcessorPil

    def _tiny_image_processor(self) -> Any:
        # Without local crops the global view is resized to ``tile_size``; the processor counts
        # that view's tokens from ``size`` (ceil(768 / 16 / 4)² = 144), which equals the 144
        # queries the model emits for any view of at most 768 px.
        return self._image_processor_class()(
            size={"height": 768, "width": 768},
            tile_size=self.tiny_image_size,
            crop_to_patches=False,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        )

    def _configure_processor(self, processor: Any) -> None:
        # The processor class defaults to local crops whatever its image processor says; make
        # the image processor's own crop settings the processor's defaults.
        image_processor = processor.image_processor
        processor.images_kwargs = {
            "crop_to_patches": image_processor.crop_to_patches,
            "min_patches": image_processor.min_patches,
            "max_patches": image_processor.max_patches,
        }

    def _set_image_size(self, processor: Any, image_size: int) -> None:
        image_processor = processor.image_processor
        if image_processor.crop_to_patches:
            image_processor.size = {"height": image_size, "width": image_size}
        elif image_size > 768:
            raise RrgError(
                f"model.image_size {image_size} exceeds the 768 px global view this processor uses",
                hint="use at most 768, or a processor with crop_to_patches on",
            )
        else:
            image_processor.tile_size = image_size
        self._configure_processor(processor)

    def _tiny_config(self, tokenizer: Any) -> Any:
        from transformers import DeepseekOcr2Config

        return DeepseekOcr2Config(
            vision_config={
                "sam_config": {
                    "hidden_size": 32,
                    "output_channels": 16,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 4,
                    "image_size": self.tiny_image_size,
                    "patch_size": 16,
                    "window_size": 2,
                    "global_attn_indexes": [1],
                    "downsample_channels": [32, 32],
                },
                "encoder_config": {
                    "vocab_size": len(tokenizer),
                    **TINY_VISION,
                    "num_hidden_layers": 2,
                    "num_key_value_heads": 2,
                    "max_position_embeddings": 1024,
                },
            },
            text_config=tiny_text_config(
                tokenizer,
                num_key_value_heads=4,
                # a dense first layer, then a MoE layer (as DeepSeek's first_k_dense_replace = 1)
                mlp_layer_types=["dense", "sparse"],
                n_routed_experts=4,
                num_experts_per_tok=2,
                n_shared_experts=1,
                moe_intermediate_size=32,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
            ),
            image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
            tie_word_embeddings=False,
        )


class DeepseekOcrFamily(DeepseekOcr2Family):
    """DeepSeek-OCR, the model the study fine-tuned (Hub remote code; native OCR-2 tiny twin)."""

    name = "deepseek_ocr"
    display_name = "DeepSeek-OCR"
    reference_ids = ("deepseek-ai/DeepSeek-OCR",)
    builder_version = 1

    def requires_trust_remote_code(self, model_id: str) -> bool:
        return model_id != TINY_MODEL_ID and not _is_native_folder(model_id)

    def pinned_revision(self, model_id: str) -> str | None:
        return None

    def load(self, model_id: str, **kwargs: Any) -> tuple[Any, Any]:
        """Load the tiny twin or a native DeepSeek-OCR-2 folder; refuse remote-code checkpoints.

        The remote-code DeepSeek-OCR takes its images through its own ``infer``/forward
        arguments (``images``, ``images_seq_mask``, ``images_spatial_crop``), which rrg's batched
        processor interface does not produce yet; loading one raises an :class:`RrgError`
        before anything is downloaded.
        """
        if self.requires_trust_remote_code(model_id):
            if not kwargs.get("trust_remote_code"):
                raise RrgError(
                    f"{model_id} runs code from its Hub repository and trust_remote_code is off",
                    hint="set model.trust_remote_code: true and pin model.revision to a reviewed commit",
                )
            if not kwargs.get("revision") or not re.fullmatch(r"[0-9a-f]{40}", kwargs["revision"]):
                raise RrgError(
                    f"{model_id} runs remote code, so its revision must be pinned to a commit",
                    hint="set model.revision to the 40-character commit hash you reviewed",
                )
            raise RrgError(
                f"rrg cannot yet prepare inputs for the remote-code DeepSeek-OCR ({model_id})",
                hint="use family deepseek_ocr2 (native in transformers) or model id 'tiny' on CPU",
            )
        return super().load(model_id, **kwargs)


def _is_native_folder(model_id: str) -> bool:
    config = Path(model_id).expanduser() / "config.json"
    if not config.is_file():
        return False
    import json

    return json.loads(config.read_text(encoding="utf-8")).get("model_type") == _NATIVE_MODEL_TYPE
