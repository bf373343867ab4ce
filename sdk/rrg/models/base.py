"""The interface every model family implements, and what all families share.

A *family* knows one vision-language architecture: which transformers classes build it, how its
processor is assembled (always with the PIL image processors, so torchvision is never needed),
its chat format, where its image placeholders go, which modules LoRA targets by default, and how
to build its *tiny twin* — a random-weight model of the same architecture with a locally trained
tokenizer, used on CPU and in tests.

Nothing here imports torch, transformers or PEFT at module level; those imports happen inside the
methods that need them, so ``rrg.models.get_family`` stays cheap.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rrg.errors import MissingDependencyError, RrgError
from rrg.models.tokenizer import SpecialTokens, train_bpe_tokenizer
from rrg.paths import cache_dir as default_cache_dir

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL.Image import Image
    from transformers import BatchFeature, PretrainedConfig, PreTrainedModel, ProcessorMixin

TINY_MODEL_ID = "tiny"
"""The model id that selects a family's tiny twin (``model: {family: ..., id: tiny}``)."""

TINY_SEED = 0
"""Seed used for every tiny twin's random weights."""

TINY_TEXT: dict[str, int] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
}
"""The language model every tiny twin shares: 64 wide, 2 layers, 4 query and 2 key/value heads."""

TINY_VISION: dict[str, int] = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4}
"""The vision encoder width every tiny twin shares (each family names its own depth key)."""

DECODER_LINEAR_NAMES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
"""Leaf names of a Llama-style decoder block's linear layers (attention and gated MLP)."""


def tiny_text_config(tokenizer: Any, **settings: Any) -> dict[str, Any]:
    """A tiny twin's ``text_config``: :data:`TINY_TEXT` sized to ``tokenizer``, plus ``settings``."""
    return {"vocab_size": len(tokenizer), **TINY_TEXT, "pad_token_id": tokenizer.pad_token_id, **settings}


LoraTarget = Literal["auto", "all-linear"] | list[str]

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class VisionLanguageFamily(ABC):
    """One vision-language architecture as rrg uses it.

    Subclasses set the class attributes below and implement the few ``_tiny_*`` and ``_*_class``
    hooks; everything else (loading, tiny builds, LoRA targets, chat messages, batching inputs) is
    shared.
    """

    name: ClassVar[str]
    """Family name used in recipes (``model.family``)."""
    display_name: ClassVar[str]
    """Human-readable name."""
    model_class_name: ClassVar[str]
    """Name of the class :meth:`_model_class` returns, known without importing it (plans show it)."""
    reference_ids: ClassVar[tuple[str, ...]]
    """Real Hub checkpoints of this family; the first is the one the study used."""
    builder_version: ClassVar[int] = 1
    """Bumped whenever the tiny twin changes; part of its cache folder name."""

    special_tokens: ClassVar[SpecialTokens]
    """The family's special tokens (also those of the tiny tokenizer)."""
    chat_template: ClassVar[str]
    """Jinja chat template with the real family's structure."""
    images_before_text: ClassVar[bool] = True
    """Whether image placeholders precede the question in the user turn."""
    stop_tokens: ClassVar[tuple[str, ...]] = ()
    """Tokens that end a reply (generation stops at any of them)."""

    tiny_image_size: ClassVar[int]
    """Side in pixels of the images the tiny twin's processor produces."""

    lm_prefix: ClassVar[str] = r"model\.language_model"
    """Regex for the language model's module path inside the ``ForConditionalGeneration`` class."""
    lm_target_names: ClassVar[tuple[str, ...]] = DECODER_LINEAR_NAMES
    """Leaf names of the language-model linear layers LoRA targets by default (``"auto"``)."""
    vision_prefix: ClassVar[str]
    """Regex for the vision side (encoder and projector) module paths."""
    vision_target_names: ClassVar[tuple[str, ...]]
    """Trailing module-path parts (``attn.qkv``) of the vision-side linear layers LoRA targets
    when vision LoRA is on."""

    adapter_keys_renamed_on_load: ClassVar[bool] = False
    """Whether PEFT's transformers-v5 key conversion mangles this family's adapter keys on load
    (then :meth:`load_adapter` copies the saved LoRA tensors in directly)."""

    trust_remote_code_ids: ClassVar[dict[str, str]] = {}
    """Hub ids that need ``trust_remote_code``, mapped to the revision rrg pins for them."""

    generation_defaults: ClassVar[dict[str, Any]] = {}
    """Decoding settings of the family's own inference code, set on every loaded model's
    ``generation_config`` (greedy decoding and the stop tokens are always set)."""

    # ------------------------------------------------------------------ hooks

    @abstractmethod
    def _model_class(self) -> type[PreTrainedModel]:
        """The transformers ``...ForConditionalGeneration`` class."""

    @abstractmethod
    def _processor_class(self) -> type[ProcessorMixin]:
        """The transformers processor class."""

    @abstractmethod
    def _image_processor_class(self) -> type:
        """The PIL-backed image processor class (``*ImageProcessorPil``)."""

    @abstractmethod
    def _tiny_config(self, tokenizer: Any) -> PretrainedConfig:
        """A tiny config of the real architecture whose token ids match ``tokenizer``."""

    @abstractmethod
    def _tiny_image_processor(self) -> Any:
        """The tiny twin's image processor (producing ``tiny_image_size`` images)."""

    def _processor_kwargs(self, config: PretrainedConfig | None) -> dict[str, Any]:
        """Extra keyword arguments of the processor constructor (e.g. image sequence length)."""
        return {}

    def _configure_processor(self, processor: Any) -> None:
        """Adjust a freshly assembled processor (called after building and after loading)."""

    def _set_image_size(self, processor: Any, image_size: int) -> None:
        """Make ``processor`` produce images of ``image_size`` pixels (a side)."""
        raise RrgError(
            f"model family {self.name} does not support changing the image size",
            hint="remove model.image_size from the recipe",
        )

    # ------------------------------------------------------------ identity

    def __repr__(self) -> str:
        return f"<model family {self.name} ({self.display_name})>"

    def requires_trust_remote_code(self, model_id: str) -> bool:
        """Whether loading ``model_id`` executes code from its Hub repository."""
        return model_id in self.trust_remote_code_ids

    def pinned_revision(self, model_id: str) -> str | None:
        """The revision rrg pins for a remote-code checkpoint, or ``None``."""
        return self.trust_remote_code_ids.get(model_id)

    def implementation(self, model_id: str, trust_remote_code: bool) -> str:
        """Which code builds the model, as the plan shows it (nothing is imported)."""
        if trust_remote_code:
            return f"remote code of {model_id}"
        return f"transformers {self.model_class_name}"

    def model_code_version(self) -> str:
        """What builds this family's model besides its config: the transformers release. Part of
        the key under which a plan's parameter counts are cached (:mod:`rrg.models.inventory`)."""
        from importlib.metadata import version

        return f"transformers {version('transformers')}"

    def set_image_mode(self, processor: Any, mode: str) -> None:
        """Switch the processor between image protocols (``model.image_mode``)."""
        raise RrgError(
            f"model family {self.name} has no image modes (model.image_mode is {mode!r})",
            hint="remove model.image_mode; it applies to deepseek_ocr",
        )

    @property
    def has_image_modes(self) -> bool:
        return type(self).set_image_mode is not VisionLanguageFamily.set_image_mode

    def load_config(self, source: str, *, revision: str | None = None, local_files_only: bool = False) -> Any:
        """The model's config (no weights read)."""
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(source, revision=revision, local_files_only=local_files_only)

    def prompt_lengths(self, processor: Any, samples: list[tuple[str, list[Any]]]) -> list[int] | None:
        """Prompt tokens, image tokens included, of ``(question, images)`` samples; ``None`` where
        the family cannot count them before its processor runs."""
        return None

    # ------------------------------------------------------------ tiny twin

    def tiny_path(self, cache_dir: Path | None = None) -> Path:
        """The folder of the tiny twin (model + processor), built on first use.

        The folder is ``<cache_dir>/tiny/<family>-v<builder_version>``. Builds are deterministic
        (fixed seed, deterministic tokenizer training) and need no network. Two processes may
        build at once: each builds in its own temporary folder and renames it into place; the
        loser discards its copy.
        """
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        target = root / "tiny" / f"{self.name}-v{self.builder_version}"
        if (target / "config.json").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            self.build_tiny(staging)
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / "config.json").is_file():
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return target

    def build_tiny(self, folder: Path) -> None:
        """Write the tiny twin (weights, config, generation config, processor) into ``folder``."""
        import torch
        from transformers import GenerationConfig

        from rrg.logs import no_transformers_progress_bars

        tokenizer = train_bpe_tokenizer(self.special_tokens, self.chat_template)
        config = self._tiny_config(tokenizer)
        processor = self._processor_class()(
            image_processor=self._tiny_image_processor(),
            tokenizer=tokenizer,
            chat_template=self.chat_template,
            **self._processor_kwargs(config),
        )
        self._configure_processor(processor)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(TINY_SEED)
            model = self._model_class()(config)
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=self._stop_token_ids(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            do_sample=False,
        )
        with no_transformers_progress_bars():  # a cache entry built on first use, not the user's output
            model.save_pretrained(folder)
        processor.save_pretrained(folder)

    def _stop_token_ids(self, tokenizer: Any) -> list[int]:
        ids = [tokenizer.convert_tokens_to_ids(token) for token in self.stop_tokens]
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
            ids.append(tokenizer.eos_token_id)
        return ids

    # ------------------------------------------------------------ loading

    def load(
        self,
        model_id: str,
        *,
        revision: str | None = None,
        dtype: torch.dtype | str = "float32",
        device: str = "cpu",
        trust_remote_code: bool = False,
        image_size: int | None = None,
        image_mode: str | None = None,
        quantization_config: Any = None,
    ) -> tuple[PreTrainedModel, ProcessorMixin]:
        """Load a model and its processor.

        ``model_id`` is ``"tiny"`` (the tiny twin, built on first use), a local folder, or a Hub
        id (downloaded with ``from_pretrained`` at ``revision``; offline it must be cached).
        """
        source, revision = self._source(model_id, revision, trust_remote_code)
        with _hub_errors(source, revision):
            processor = self._load_processor(
                source, revision=revision, trust_remote_code=trust_remote_code
            )
            model = self._load_model(
                source,
                revision=revision,
                dtype=dtype,
                trust_remote_code=trust_remote_code,
                quantization_config=quantization_config,
            )
        if image_size is not None:
            self._set_image_size(processor, image_size)
        if image_mode is not None:
            self.set_image_mode(processor, image_mode)
        if quantization_config is None:
            model.to(device)
        for key, value in self.generation_defaults.items():
            setattr(model.generation_config, key, value)
        return model, processor

    def load_processor(
        self,
        model_id: str,
        *,
        revision: str | None = None,
        trust_remote_code: bool = False,
        image_size: int | None = None,
        image_mode: str | None = None,
    ) -> ProcessorMixin:
        """The processor alone, as :meth:`load` assembles it: for a generator that loads the
        weights itself (vLLM) and needs rrg's prompts."""
        source, revision = self._source(model_id, revision, trust_remote_code)
        with _hub_errors(source, revision):
            processor = self._load_processor(source, revision=revision, trust_remote_code=trust_remote_code)
        if image_size is not None:
            self._set_image_size(processor, image_size)
        if image_mode is not None:
            self.set_image_mode(processor, image_mode)
        return processor

    def _source(self, model_id: str, revision: str | None, trust_remote_code: bool) -> tuple[str, str | None]:
        """What ``model_id`` loads from (the tiny twin's folder, a local folder or a Hub id) and at
        which revision (a remote-code checkpoint's pinned one unless given)."""
        if model_id == TINY_MODEL_ID:
            return str(self.tiny_path()), revision
        if Path(model_id).expanduser().is_dir():
            return str(Path(model_id).expanduser()), revision
        if self.requires_trust_remote_code(model_id) and not trust_remote_code:
            raise RrgError(
                f"{model_id} runs code from its Hub repository and trust_remote_code is off",
                hint="set model.trust_remote_code: true in the recipe after reviewing that code",
            )
        return model_id, revision or self.pinned_revision(model_id)

    def _load_model(
        self,
        source: str,
        *,
        revision: str | None,
        dtype: Any,
        trust_remote_code: bool,
        quantization_config: Any,
    ) -> PreTrainedModel:
        import torch

        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        kwargs: dict[str, Any] = {"revision": revision, "dtype": dtype}
        if quantization_config is not None:
            kwargs["quantization_config"] = quantization_config
        return self._model_class().from_pretrained(source, **kwargs)

    def _load_processor(
        self, source: str, *, revision: str | None, trust_remote_code: bool
    ) -> ProcessorMixin:
        """Assemble the processor from its tokenizer and PIL image processor (no torchvision)."""
        from transformers import AutoConfig, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        image_processor = self._image_processor_class().from_pretrained(source, revision=revision)
        config = AutoConfig.from_pretrained(source, revision=revision)
        processor = self._processor_class()(
            image_processor=image_processor,
            tokenizer=tokenizer,
            chat_template=tokenizer.chat_template or self.chat_template,
            **self._processor_kwargs(config),
        )
        self._configure_processor(processor)
        return processor

    # ------------------------------------------------------------ LoRA

    def lora_target_modules(
        self, target: LoraTarget = "auto", vision: bool = False
    ) -> str | list[str]:
        """``target_modules`` for PEFT's ``LoraConfig``.

        A regex (PEFT full-matches it against module paths) scoped to the language model's
        decoder layers unless ``vision`` is true, in which case the vision encoder and projector
        are included too. ``"auto"`` is the study's default (q, k, v, o, gate, up, down of the
        language model); ``"all-linear"`` is every linear layer of the language model (PEFT's own
        ``"all-linear"`` when ``vision`` is true); a list names leaf modules.
        """
        if target == "all-linear" and vision:
            return "all-linear"
        if target in ("auto", "all-linear"):
            lm_names, vision_names = self.lm_target_names, self.vision_target_names
        elif isinstance(target, (list, tuple)) and target:
            bad = [n for n in target if not isinstance(n, str) or not _MODULE_NAME.match(n)]
            if bad:
                raise RrgError(
                    f"LoRA target modules {bad!r} are not module names",
                    hint="list leaf module names such as q_proj, or use 'auto' or 'all-linear'",
                )
            lm_names = vision_names = tuple(target)
        else:
            raise RrgError(
                f"LoRA target {target!r} is not 'auto', 'all-linear' or a list of module names",
                hint="set adapter.target_modules to auto, all-linear or a list such as [q_proj, v_proj]",
            )
        pattern = rf"{self.lm_prefix}\.layers\.\d+\.(?:.*\.)?{_alternation(lm_names)}"
        if vision:
            pattern = rf"(?:{pattern}|{self.vision_prefix}\.(?:.*\.)?{_alternation(vision_names)})"
        return pattern

    def load_adapter(
        self, model: PreTrainedModel, adapter_path: str | Path, *, is_trainable: bool = False
    ) -> Any:
        """Wrap ``model`` with the PEFT adapter saved in ``adapter_path`` (``PeftModel.from_pretrained``).

        For families whose keys PEFT renames wrongly on load (``adapter_keys_renamed_on_load``),
        the saved LoRA tensors are then copied in by name, and every one must find its parameter.
        """
        from peft import PeftModel

        if not self.adapter_keys_renamed_on_load:
            return PeftModel.from_pretrained(model, str(adapter_path), is_trainable=is_trainable)
        with warnings.catch_warnings():
            # PEFT reports the keys it mangled as missing; they are restored right below
            warnings.filterwarnings("ignore", message="Found missing adapter keys")
            peft_model = PeftModel.from_pretrained(
                model, str(adapter_path), is_trainable=is_trainable
            )
        _copy_saved_lora_weights(peft_model, Path(adapter_path))
        return peft_model

    def default_modules_to_save(self) -> list[str]:
        """Modules the study trains fully and saves beside the adapter (used only on request)."""
        return []

    # ------------------------------------------------------------ chat format

    def user_message(self, question: str, n_images: int) -> dict[str, Any]:
        """The user turn: ``n_images`` image placeholders and the question, in the family's order."""
        images: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
        text = [{"type": "text", "text": question}]
        return {
            "role": "user",
            "content": images + text if self.images_before_text else text + images,
        }

    def assistant_message(self, answer: str) -> dict[str, Any]:
        """The assistant turn holding the reference answer."""
        return {"role": "assistant", "content": [{"type": "text", "text": answer}]}

    def prompt_text(self, processor: Any, question: str, n_images: int) -> str:
        """The rendered chat prompt, ending with the generation prompt."""
        return processor.apply_chat_template(
            [self.user_message(question, n_images)], tokenize=False, add_generation_prompt=True
        )

    def processor_inputs(
        self,
        processor: Any,
        prompts: list[str],
        images: list[list[Image]],
        padding_side: Literal["left", "right"] = "left",
    ) -> BatchFeature:
        """Tokenize rendered prompts and process their images into one padded batch.

        ``images[i]`` are the images of ``prompts[i]``, in placeholder order. Special tokens are
        not added: the chat template already writes them.
        """
        if len(prompts) != len(images):
            raise ValueError(f"{len(prompts)} prompts but {len(images)} image lists")
        has_images = any(len(group) for group in images)
        return processor(
            text=list(prompts),
            images=[list(group) for group in images] if has_images else None,
            padding=True,
            padding_side=padding_side,
            return_tensors="pt",
            add_special_tokens=False,
        )

    # ------------------------------------------------------------ reporting

    @staticmethod
    def count_parameters(model: Any) -> dict[str, int]:
        """Total and trainable parameter counts."""
        total = trainable = 0
        for parameter in model.parameters():
            total += parameter.numel()
            if parameter.requires_grad:
                trainable += parameter.numel()
        return {"total": total, "trainable": trainable}


def _copy_saved_lora_weights(
    peft_model: Any, adapter_path: Path, adapter_name: str = "default"
) -> None:
    """Load ``adapter_model.safetensors`` into ``peft_model`` by exact parameter name.

    PEFT saves LoRA keys as model keys with ``.<adapter_name>`` removed, and the trained copies of
    ``modules_to_save`` (``<module>.modules_to_save.<adapter_name>.weight``) as the module's own
    key; this inverts that and nothing else, so no architecture key conversion can interfere.
    """
    from safetensors.torch import load_file

    saved = load_file(str(adapter_path / "adapter_model.safetensors"))
    marker = f".{adapter_name}."
    saved_copy = f".modules_to_save.{adapter_name}."
    by_saved_key = {}
    for key in peft_model.state_dict():
        if saved_copy in key:
            by_saved_key[key.replace(saved_copy, ".", 1)] = key
        elif marker in key:
            by_saved_key[key.replace(marker, ".", 1)] = key
    unmatched = [key for key in saved if key not in by_saved_key]
    if unmatched:
        raise RrgError(
            f"adapter {adapter_path} has {len(unmatched)} weights this model lacks (e.g. {unmatched[0]})",
            hint="load it on the base model and family it was trained with",
        )
    peft_model.load_state_dict(
        {by_saved_key[key]: value for key, value in saved.items()}, strict=False
    )


def _alternation(names: Sequence[str]) -> str:
    return "(?:" + "|".join(re.escape(n) for n in names) + ")"


@contextmanager
def _hub_errors(source: str, revision: str | None) -> Iterator[None]:
    """Turn Hub failures a user can fix (not cached offline, gated, bad id or revision) into
    :class:`RrgError` errors with a hint; those about a local folder propagate unchanged."""
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f"@{revision}" if revision else ""
    try:
        yield
    except GatedRepoError as error:
        raise MissingDependencyError(
            f"{source} is gated on the Hugging Face Hub",
            hint="accept its licence on the Hub and log in (hf auth login or HF_TOKEN)",
        ) from error
    except RevisionNotFoundError as error:
        raise RrgError(
            f"revision {revision!r} of {source} does not exist",
            hint="fix model.revision in the recipe",
        ) from error
    except RepositoryNotFoundError as error:
        raise RrgError(
            f"{source} is neither a local folder nor a Hub model",
            hint="check model.id in the recipe (or log in if the repository is private)",
        ) from error
    except (LocalEntryNotFoundError, OSError) as error:
        if Path(source).is_dir():
            raise
        if isinstance(error, LocalEntryNotFoundError) or "offline" in str(error).lower():
            raise MissingDependencyError(
                f"{source}{at} is not in the Hugging Face cache and the Hub cannot be reached",
                hint=f"download it once with network access (hf download {source}), "
                "or use model id 'tiny' for the CPU twin",
            ) from error
        raise MissingDependencyError(
            f"cannot load {source}{at}: {str(error).splitlines()[0]}",
            hint="check the model id and network access, or download it into the Hugging Face cache",
        ) from error
