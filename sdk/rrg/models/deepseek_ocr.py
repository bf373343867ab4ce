"""DeepSeek-OCR and DeepSeek-OCR-2: a SAM encoder and 16× convolutional compressor feeding a
DeepSeek MoE decoder.

Two family names live here:

- ``deepseek_ocr2`` — DeepSeek-OCR-2, which transformers implements natively
  (``DeepseekOcr2ForConditionalGeneration``): SAM ViT → 4× conv downsampling → a Qwen2-style
  encoder that reads learnable queries (144 for a view up to 768 px, 256 for 1024 px) → a linear
  projector → a DeepSeek-V2-style MoE decoder. Each image is ``<image>`` in the prompt; the
  processor repeats it once per query plus one view separator (145 tokens per global view).
- ``deepseek_ocr`` — the original DeepSeek-OCR (v1) the study fine-tuned, published only as remote
  code for transformers 4.46. rrg carries a native implementation
  (:mod:`rrg.models.deepseek_ocr_native`): SAM ViT-B → 16× compressor → CLIP-L reading SAM's
  features → linear projector → DeepSeek-V2 MoE decoder, under the official weight names. Its
  experts are one ``nn.Linear`` triple each (as in the checkpoint), so LoRA reaches them; its
  prompt is the published ``infer()``'s plain format and its images follow the study's Base mode.

In DeepSeek-OCR-2 the decoder's routed experts are *fused* (``mlp.experts.gate_up_proj`` /
``down_proj`` are 3-D parameters, not ``nn.Linear``), so LoRA cannot reach them; its default targets
are the attention projections, the dense MLP of the first layer and the shared experts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rrg.errors import RrgError
from rrg.models.base import (
    DECODER_LINEAR_NAMES,
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

class DeepseekOcr2Family(VisionLanguageFamily):
    """DeepSeek-OCR-2 (``DeepseekOcr2ForConditionalGeneration``, native in transformers)."""

    name = "deepseek_ocr2"
    display_name = "DeepSeek-OCR-2"
    model_class_name = "DeepseekOcr2ForConditionalGeneration"
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


DEEPSEEK_OCR_PLAIN_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% set ns = namespace(images=0) %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<image>"
    "{% set ns.images = ns.images + 1 %}{% endif %}{% endfor %}"
    "{% if ns.images %}{{ '\\n' }}{% endif %}"
    "{% for content in message['content'] %}{% if content['type'] == 'text' %}{{ content['text'] | trim }}"
    "{% endif %}{% endfor %}{% endif %}"
    "{% elif message['role'] == 'assistant' %}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for content in message['content'] %}{% if content['type'] == 'text' %}"
    "{{ content['text'] | trim }}{% endif %}{% endfor %}{% endif %}"
    "{{ eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)
"""DeepSeek-OCR's ``plain`` format, the one its ``infer()`` uses: ``<bos><image>\\n{question}``, the
answer following directly and ending with ``<eos>`` (messages are stripped, no role markers)."""

REMOTE_CODE_TRANSFORMERS = "4.46"
"""The transformers release the published DeepSeek-OCR remote code was written for."""


class DeepseekOcrFamily(VisionLanguageFamily):
    """DeepSeek-OCR (v1), the model the study fine-tuned: rrg's native implementation
    (:mod:`rrg.models.deepseek_ocr_native`), which loads the official checkpoint as published."""

    name = "deepseek_ocr"
    display_name = "DeepSeek-OCR"
    model_class_name = "DeepseekOcrForCausalLM"
    reference_ids = ("deepseek-ai/DeepSeek-OCR",)
    builder_version = 2
    special_tokens = DEEPSEEK_SPECIAL_TOKENS
    chat_template = DEEPSEEK_OCR_PLAIN_TEMPLATE
    stop_tokens = ("<｜end▁of▁sentence｜>",)
    tiny_image_size = 128  # 8×8 SAM patches → 2×2 tokens: 2 rows × (2 + newline) + separator = 7
    tiny_tile_size = 80  # tiled mode on the twin: 5×5 patches → 2×2 tokens per tile
    lm_prefix = r"model"
    vision_prefix = r"model\.(?:sam_model|vision_model)"
    vision_target_names: ClassVar[tuple[str, ...]] = ("attn.qkv", "attn.proj", "lin1", "lin2", "qkv_proj", "out_proj", "fc1", "fc2")
    generation_defaults: ClassVar[dict[str, Any]] = {"no_repeat_ngram_size": 20}
    """The published ``infer()``'s decoding: greedy, ``no_repeat_ngram_size=20``, stop at EOS (id 1)."""

    def lora_target_modules(self, target: Any = "auto", vision: bool = False) -> str | list[str]:
        pattern = super().lora_target_modules(target, vision)
        if vision and target != "all-linear":
            pattern = rf"(?:{pattern}|model\.projector\.layers)"
        return pattern

    def implementation(self, model_id: str, trust_remote_code: bool) -> str:
        if trust_remote_code:
            return f"published remote code of {model_id} (needs transformers {REMOTE_CODE_TRANSFORMERS})"
        return "rrg native DeepSeek-OCR (rrg.models.deepseek_ocr_native), official weight names"

    def model_code_version(self) -> str:
        """The transformers release and the sha256 of rrg's native sources, which build this model."""
        import hashlib

        native = Path(__file__).parent / "deepseek_ocr_native"
        digest = hashlib.sha256()
        for source in sorted(native.glob("*.py")):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
        return f"{super().model_code_version()}, rrg native {digest.hexdigest()[:16]}"

    # ------------------------------------------------------------ classes

    def _model_class(self) -> type:
        from rrg.models.deepseek_ocr_native.modeling import DeepseekOcrForCausalLM

        return DeepseekOcrForCausalLM

    def _processor_class(self) -> type:
        from rrg.models.deepseek_ocr_native.processing import DeepseekOcrProcessor

        return DeepseekOcrProcessor

    def _image_processor_class(self) -> type:
        from rrg.models.deepseek_ocr_native.processing import DeepseekOcrImageProcessor

        return DeepseekOcrImageProcessor

    def _tiny_image_processor(self) -> Any:
        return self._image_processor_class()(base_size=self.tiny_image_size, tile_size=self.tiny_tile_size)

    def _tiny_config(self, tokenizer: Any) -> Any:
        from rrg.models.deepseek_ocr_native.configuration import DeepseekOcrConfig

        width, heads = TINY_VISION["hidden_size"], TINY_VISION["num_attention_heads"]
        text = tiny_text_config(tokenizer)
        return DeepseekOcrConfig(
            vocab_size=text["vocab_size"],
            hidden_size=text["hidden_size"],
            intermediate_size=text["intermediate_size"],
            num_hidden_layers=text["num_hidden_layers"],
            num_attention_heads=text["num_attention_heads"],
            num_key_value_heads=text["num_attention_heads"],
            max_position_embeddings=text["max_position_embeddings"],
            # a dense first layer, then a MoE layer (first_k_dense_replace = 1, as published)
            moe_intermediate_size=32,
            n_routed_experts=4,
            num_experts_per_tok=2,
            n_shared_experts=1,
            vision_config={
                "image_size": self.tiny_image_size,
                "width": {
                    "sam_vit_b": {
                        "width": width,
                        "layers": 2,
                        "heads": heads,
                        "global_attn_indexes": [1],
                        "downsample_channels": [width, width],
                        "window_size": 4,
                        "out_channels": 16,
                    },
                    "clip-l-14-224": {
                        "width": width,
                        "layers": 2,
                        "heads": heads,
                        "image_size": 28,
                        "patch_size": 14,
                        "ffn_size": TINY_VISION["intermediate_size"],
                    },
                },
            },
            projector_config={"projector_type": "linear", "input_dim": 2 * width, "n_embed": text["hidden_size"]},
            image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )

    # ------------------------------------------------------------ loading

    def load_config(self, source: str, *, revision: str | None = None, local_files_only: bool = False) -> Any:
        """The checkpoint's config, checked to be DeepSeek-OCR's and buildable natively."""
        from rrg.models.deepseek_ocr_native.configuration import (
            ARCHITECTURES,
            MODEL_TYPE,
            DeepseekOcrConfig,
        )

        where = f"{source}/config.json" if Path(source).is_dir() else f"{source}: config.json"
        try:
            raw, _ = DeepseekOcrConfig.get_config_dict(source, revision=revision, local_files_only=local_files_only)
        except (OSError, ValueError) as exc:
            if not Path(source).is_dir():
                raise  # a Hub id: not cached, offline, gated... (the loader's Hub errors say which)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RrgError(f"{where}: cannot be read ({first})", hint="restore the model folder's config.json") from None
        architectures = raw.get("architectures") or []
        if raw.get("model_type") != MODEL_TYPE or not set(architectures) & set(ARCHITECTURES):
            raise RrgError(
                f"{where}: not a DeepSeek-OCR checkpoint (model_type {raw.get('model_type')!r}, "
                f"architectures {architectures})",
                hint="point model.id at deepseek-ai/DeepSeek-OCR or a folder in its layout, or change model.family",
            )
        config = DeepseekOcrConfig.from_dict(raw)
        problems = config.problems()
        if problems:
            raise RrgError(f"{where}: {problems[0]}", hint="use the published DeepSeek-OCR config values for this key")
        return config

    def load(self, model_id: str, *, trust_remote_code: bool = False, **kwargs: Any) -> tuple[Any, Any]:
        """Load the native model and processor from ``tiny``, a folder in the official layout or the
        Hub. ``trust_remote_code`` asks for the published code instead, which needs transformers
        4.46 (it imports classes transformers 5 removed); it is refused here with that reason."""
        if trust_remote_code:
            import transformers

            if not transformers.__version__.startswith(REMOTE_CODE_TRANSFORMERS):
                raise RrgError(
                    f"{model_id}: the published DeepSeek-OCR remote code needs transformers "
                    f"{REMOTE_CODE_TRANSFORMERS} (it imports LlamaFlashAttention2, removed since), "
                    f"and this environment has {transformers.__version__}",
                    hint="remove model.trust_remote_code to run rrg's native DeepSeek-OCR, which loads the same weights",
                )
        return super().load(model_id, **kwargs)

    def _load_model(self, source: str, **kwargs: Any) -> Any:
        """The checkpoint's config is checked (DeepSeek-OCR's, buildable natively) before any weight is read."""
        self.load_config(source, revision=kwargs.get("revision"))
        return super()._load_model(source, **kwargs)

    def _load_processor(self, source: str, *, revision: str | None, trust_remote_code: bool) -> Any:
        """Tokenizer (``tokenizer.json``, no remote code) and image processor: the saved
        ``preprocessor_config.json``, else the published ``processor_config.json``'s mean and std."""
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast.from_pretrained(source, revision=revision)
        image_class = self._image_processor_class()
        try:
            image_processor = image_class.from_pretrained(source, revision=revision)
        except OSError:
            published = _published_processor_config(source, revision)
            image_processor = image_class(
                image_mean=published.get("image_mean", (0.5, 0.5, 0.5)),
                image_std=published.get("image_std", (0.5, 0.5, 0.5)),
            )
        return self._processor_class()(
            image_processor=image_processor, tokenizer=tokenizer, chat_template=self.chat_template
        )

    def _set_image_size(self, processor: Any, image_size: int) -> None:
        processor.image_processor.base_size = image_size

    def set_image_mode(self, processor: Any, mode: str) -> None:
        """``base`` (one global view) or ``tiled`` (global view plus tiles)."""
        from rrg.models.deepseek_ocr_native.processing import IMAGE_MODES

        if mode not in IMAGE_MODES:
            raise RrgError(f"model.image_mode {mode!r} is not one of {', '.join(IMAGE_MODES)}", hint="use base or tiled")
        processor.image_processor.mode = mode

    def prompt_lengths(self, processor: Any, samples: list[tuple[str, list[Any]]]) -> list[int]:
        """Prompt tokens (image tokens included) of ``(question, images)`` samples."""
        counts = []
        for question, images in samples:
            text = self.prompt_text(processor, question, len(images))
            tokens = len(processor.tokenizer(text, add_special_tokens=False)["input_ids"])
            image_tokens = sum(
                processor.image_token_count(processor.image_processor.tile_grid(image)) - 1 for image in images
            )
            counts.append(tokens + image_tokens)
        return counts


def _published_processor_config(source: str, revision: str | None) -> dict[str, Any]:
    """The checkpoint's ``processor_config.json`` (DeepSeek-VL2 style), or ``{}`` where it has none."""
    import json

    from transformers.utils import cached_file

    path = cached_file(source, "processor_config.json", revision=revision, _raise_exceptions_for_missing_entries=False)
    return json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
