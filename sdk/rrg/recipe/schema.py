"""The recipe schema: one pydantic model per section, all strict and frozen.

Every section forbids unknown keys, every field documents itself (``docs/recipes.md`` is generated
from these descriptions by :func:`rrg.recipe.reference.render_reference`), closed sets are
``Literal``s, and the adapter and stage sections are discriminated unions on ``kind``. Cross-field
rules live in one ``model_validator(mode="after")`` per model and raise
:class:`~rrg.recipe.errors.RuleViolation` naming the key, the values and the fix.

Defaults that differ from TRL's (``SFTConfig`` / ``GRPOConfig``) say so in their description.
This module is pure data: it imports neither torch nor any trainer library.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

from rrg.recipe.errors import Rule, raise_broken

SCHEMA_VERSION = 1
"""The recipe format version this rrg reads and writes (the top-level ``schema`` key)."""

COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
HUB_REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"
ADAPTER_REF_PATTERN = r"^(hub:[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?|run:[A-Za-z0-9._-]+(@checkpoint-[0-9]+)?|model:[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._-]*)$"

MODEL_REF = re.compile(r"^model:[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._-]*$")

ModelFamily = Literal["deepseek_ocr", "deepseek_ocr2", "qwen2_5_vl", "qwen3_vl", "medgemma"]
MetricName = Literal["green_flare", "bleu4_flare", "bleu4", "ce", "rouge_l", "radgraph_f1"]


def _target_modules_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One clear error for the ``target_modules`` union instead of one per member."""
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "target_modules",
            "expected auto, all-linear or a non-empty list of module names",
        ) from None


TargetModules = Annotated[
    Literal["auto", "all-linear"] | Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)],
    WrapValidator(_target_modules_error),
]


class Section(BaseModel):
    """Base of every recipe model: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ModelSection(Section):
    """Which vision-language model to start from."""

    family: ModelFamily = Field(
        description="Model family: decides the architecture, chat format, processor and default LoRA "
        "targets. `deepseek_ocr` (DeepSeek-OCR), `deepseek_ocr2`, `qwen2_5_vl` (Qwen2.5-VL), "
        "`qwen3_vl` (Qwen3-VL), `medgemma` (MedGemma, Gemma 3)."
    )
    id: str = Field(
        min_length=1,
        description="`tiny` for the family's local random-weight twin (CPU, no download), a Hub id such "
        "as `Qwen/Qwen2.5-VL-7B-Instruct`, or a local folder.",
    )
    revision: str | None = Field(
        default=None,
        min_length=1,
        description="Hub revision to pin: a commit sha (40 hex characters) or a tag. Null: the Hub's "
        "default branch at download time. Required (as a commit sha) with `trust_remote_code`.",
    )
    trust_remote_code: bool = Field(
        default=False,
        description="Run Python code shipped in the model repository instead of rrg's implementation "
        "(DeepSeek-OCR runs natively without it; its published code needs transformers 4.46). Only "
        "allowed with `revision` pinned to a 40-character commit sha, so the code that runs is the "
        "code that was reviewed.",
    )
    image_size: int | None = Field(
        default=None,
        ge=32,
        description="Longest image side (pixels) the processor resizes to. Null: the family's default "
        "(DeepSeek-OCR 1024, global view only). For DeepSeek-OCR, the side of its global view.",
    )
    image_mode: Literal["base", "tiled"] | None = Field(
        default=None,
        description="DeepSeek-OCR only: `base` (the study's protocol and the default: one global view "
        "padded to a square, 273 image tokens at 1024 px) or `tiled` (the global view plus 640 px tiles, "
        "zero-shot and SFT). Null: the family's default. Refused for other families.",
    )
    adapter: str | None = Field(
        default=None,
        pattern=ADAPTER_REF_PATTERN,
        description="An existing adapter loaded on top of the base model, e.g. to evaluate a published "
        "one: `hub:org/name@revision` (revision optional), `run:<run id>` from the registry (its adapter), "
        "`run:<run id>@checkpoint-<step>` (a recorded checkpoint of any run, an interrupted one too), or "
        "`model:NAME@VERSION` / `model:NAME@ALIAS` (a registered model version, see `rrg models list`; every file is "
        "checked against its registered sha256 and the run records the version it started from).",
    )

    @model_validator(mode="after")
    def _rules(self) -> ModelSection:
        """`trust_remote_code: true` needs `revision` pinned to a 40-character commit sha; `id: tiny` takes no `revision`."""
        rules: list[Rule] = []
        if self.trust_remote_code and not (self.revision and COMMIT_SHA.match(self.revision)):
            rules.append(
                Rule(
                    "trust_remote_code",
                    f"trust_remote_code=true needs revision pinned to a commit sha "
                    f"(revision is {self.revision!r})",
                    "set model.revision to the 40-character commit sha whose code you reviewed",
                )
            )
        if self.id == "tiny" and self.revision is not None:
            rules.append(
                Rule(
                    "revision",
                    f"id=tiny is built locally and has no revision (revision is {self.revision!r})",
                    "remove model.revision",
                )
            )
        raise_broken(rules)
        return self


class LoraFields(Section):
    """Fields shared by the LoRA and QLoRA adapters."""

    r: int = Field(default=16, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(default=16, gt=0, description="LoRA scaling numerator (`lora_alpha`); the update is scaled by alpha/r.")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input (`lora_dropout`).")
    target_modules: TargetModules = Field(
        default="auto",
        description="Modules that get LoRA weights: `auto` (the family's default set), `all-linear` "
        "(PEFT's every linear layer except the output head) or an explicit list of module names.",
    )
    vision: bool = Field(
        default=False,
        description="Also put LoRA on the vision tower (with `auto` or `all-linear`; an explicit "
        "`target_modules` list already says where LoRA goes).",
    )
    modules_to_save: list[str] = Field(
        default_factory=list,
        description="Modules trained in full and saved with the adapter, e.g. `[lm_head, embed_tokens]`.",
    )

    def _lora_rules(self) -> list[Rule]:
        rules: list[Rule] = []
        if self.vision and isinstance(self.target_modules, list):
            rules.append(
                Rule(
                    "vision",
                    f"vision=true only applies to target_modules auto or all-linear "
                    f"(target_modules is the list {self.target_modules})",
                    "add the vision modules to target_modules and remove adapter.vision",
                )
            )
        if len(set(self.modules_to_save)) != len(self.modules_to_save):
            rules.append(Rule("modules_to_save", f"modules_to_save lists a module twice: {self.modules_to_save}", "remove the duplicate"))
        return rules


class NoAdapter(Section):
    """No adapter: zero-shot evaluation, or full fine-tuning for a trained stage."""

    kind: Literal["none"] = Field(description="`none`: no adapter (zero-shot, or full fine-tuning when the stage trains).")


class LoraAdapter(LoraFields):
    """LoRA on a full-precision base model."""

    kind: Literal["lora"] = Field(description="`lora`: LoRA adapter on a bf16/fp16/fp32 base model.")

    @model_validator(mode="after")
    def _rules(self) -> LoraAdapter:
        """`vision: true` only with `target_modules` auto or all-linear; `modules_to_save` lists each module once."""
        raise_broken(self._lora_rules())
        return self


class QLoraAdapter(LoraFields):
    """LoRA on a base model quantised with bitsandbytes (CUDA only)."""

    kind: Literal["qlora"] = Field(description="`qlora`: LoRA adapter on a 4- or 8-bit quantised base model (needs CUDA).")
    bits: Literal[4, 8] = Field(description="Quantisation of the frozen base model: 4 or 8 bits. Required for qlora.")
    quant_type: Literal["nf4", "fp4"] = Field(default="nf4", description="4-bit data type (`bnb_4bit_quant_type`); 4-bit only.")
    double_quant: bool = Field(default=True, description="Quantise the quantisation constants too (`bnb_4bit_use_double_quant`); 4-bit only.")

    @model_validator(mode="after")
    def _rules(self) -> QLoraAdapter:
        """As lora; `quant_type` and `double_quant` only with `bits: 4`."""
        rules = self._lora_rules()
        if self.bits == 8:
            for key in ("quant_type", "double_quant"):
                if key in self.model_fields_set:
                    rules.append(Rule(key, f"{key} only applies to 4-bit quantisation (bits is 8)", f"remove adapter.{key} or set bits: 4"))
        raise_broken(rules)
        return self


Adapter = Annotated[NoAdapter | LoraAdapter | QLoraAdapter, Field(discriminator="kind")]


class TrainDataset(Section):
    """One training data set of `data.train`."""

    dataset: str = Field(min_length=1, description="FLARE data set folder in the training split, such as `chestdr`.")
    category: str | None = Field(
        default=None,
        min_length=1,
        description="FLARE modality folder of the data set, e.g. `Xray` or `Microscopy`. Left out: `data.category`.",
    )
    task_types: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = Field(
        default=None,
        description="Task types to train on, compared loosely (`Multi-label Classification` = "
        "`multi_label_classification`, `Counting` = `Cell Counting`). Null: every task type in the data set's question file.",
    )
    max_samples: int | None = Field(
        default=None,
        ge=1,
        description="Use at most this many of its samples: the first N in file order, after the task filter. "
        "With `data.max_train_samples` too, the smaller cap applies. Null: all.",
    )
    weight: float = Field(
        default=1.0,
        gt=0,
        description="Oversampling factor in the training mix: the data set's samples appear `weight` times per "
        "epoch, whole copies for the integer part and, for the fraction, that share of its samples drawn with "
        "the recipe `seed` (2: every sample twice; 0.5: half of them, the same half on every run).",
    )

    @model_validator(mode="after")
    def _rules(self) -> TrainDataset:
        """`task_types` lists each task type once."""
        from rrg.data.tasks import task_type_key

        keys = [task_type_key(t) for t in self.task_types or []]
        twice = sorted({t for t, k in zip(self.task_types or [], keys) if keys.count(k) > 1})
        if twice:
            raise_broken([Rule("task_types", f"task_types lists {', '.join(twice)} more than once (task types are compared loosely)", "list each task type once")])
        return self


def _all_or_datasets(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """`all`, or a list of data sets whose errors point into the list (not one error per union member)."""
    if isinstance(value, str):
        if value == "all":
            return value
        raise PydanticCustomError("train", "expected `all` or a list of data sets")
    if not isinstance(value, list):
        raise PydanticCustomError("train", "expected `all` or a list of data sets (each with `dataset:`)")
    try:
        return handler(value)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = error["loc"]
            if loc and isinstance(loc[0], str) and loc[0].startswith("list["):
                errors.append({**error, "loc": loc[1:]})
        raise ValidationError.from_exception_data(exc.title, errors) from None  # type: ignore[arg-type]


TrainDatasets = Annotated[Literal["all"] | list[TrainDataset], WrapValidator(_all_or_datasets)]


class DataSection(Section):
    """Where the FLARE 2025 Task 5 data lives and how much of it to use. A recipe trains on `dataset`
    (of `category`), or, with `train`, on several data sets at once: then `dataset` and `category`
    name the data set evaluated on (its report generation questions) and every training data set's
    fingerprint is recorded with the run. `expect` pins the number of samples the run reads from a
    split, checked by `rrg plan` on the question files and again once the images are read."""

    root: str | None = Field(
        default=None,
        min_length=1,
        description="Path to a FLARE 2025 Task 5 `organized_dataset` folder (relative paths resolve "
        "against the working directory at run time), or `demo` for the bundled demo set, built on "
        "first use. Required, unless `dataset` names a registered dataset (`NAME@VERSION`): its "
        "registered root is read then, or, when `root` is given too, the same content from that copy "
        "(another machine's mount), its fingerprints checked against the registered ones all the same.",
    )
    category: str = Field(default="Xray", min_length=1, description="FLARE modality folder under each split (with `train`: of the evaluation data set).")
    dataset: str = Field(
        default="IU_XRay",
        min_length=1,
        description="FLARE data set folder under the category: trained and evaluated on, or, with `train`, "
        "evaluated on. Or a registered dataset (`rrg datasets register`): `NAME@VERSION` or `NAME@latest`, "
        "optionally `/FLARE_FOLDER` when the version holds several FLARE data sets with report questions; "
        "the run reads the registered root and refuses data that no longer has the registered fingerprints.",
    )
    train_split: str = Field(default="training", min_length=1, description="Split folder used for training.")
    eval_split: str = Field(default="validation-public", min_length=1, description="Split folder used for evaluation (and validation loss during training).")
    max_train_samples: int | None = Field(
        default=None,
        ge=1,
        description="Use at most this many training samples (first N, in file order). With `train`, the cap of "
        "each training data set (an entry's own `max_samples`, when smaller, wins). Null: all.",
    )
    max_eval_samples: int | None = Field(default=None, ge=1, description="Evaluate on at most this many samples (first N). Null: all.")
    image_policy: Literal["fail", "skip"] = Field(
        default="fail",
        description="What a missing, unreadable or too large image does: `fail` stops with the sample named, `skip` drops the sample and counts it.",
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=1,
        le=178_956_970,
        description="Largest image accepted, in pixels (width × height); a larger one is an image problem "
        "under `image_policy`, found before its pixels are decoded (decompression bombs included). "
        "The default leaves a fourfold margin over FLARE's largest chest films; at most PIL's own hard limit.",
    )
    credentialed: bool = Field(
        default=False,
        description="The data are under a credentialed licence (e.g. PhysioNet): no per-sample text is "
        "published and Hub repositories must stay private.",
    )
    license: str | None = Field(default=None, description="Licence of the data, recorded with runs and model cards.")
    train: TrainDatasets | None = Field(
        default=None,
        description="Train on several FLARE data sets at once (sft and grpo). `all`: every data set folder under "
        "`<root>/<train_split>/<category>/` that has a question file. Or a list of entries, each `dataset` "
        "(required), `category` (default `data.category`), `task_types` (default all), `max_samples` and "
        "`weight` (an oversampling factor, default 1). Null: train on `dataset` alone.",
    )
    expect: dict[Annotated[str, Field(min_length=1)], Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        description="Split name → the number of samples the run reads from it (after task filters and caps; "
        "for the training split, the total over the training data sets, before weighting), e.g. "
        "`{validation-public: 1945}`. Checked against the question files when the run is planned and again "
        "once the images are read (`image_policy: skip` may drop samples): a mismatch stops the run before "
        "anything is recorded. Null: not checked.",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_categories(cls, data: Any) -> Any:
        """A `train` entry without `category` takes `data.category`."""
        if not isinstance(data, dict) or not isinstance(data.get("train"), list):
            return data
        category = data.get("category", cls.model_fields["category"].default)
        entries = [
            {**entry, "category": category} if isinstance(entry, dict) and entry.get("category") is None else entry
            for entry in data["train"]
        ]
        return {**data, "train": entries}

    @model_validator(mode="after")
    def _rules(self) -> DataSection:
        """`train` lists each data set once (the registry keeps a run's data sets by name and split);
        `root` is given when `dataset` is a FLARE folder, not a registered `NAME@VERSION`."""
        from rrg.datasets import DATASET_REF_HINT, parse_dataset_ref

        rules: list[Rule] = []
        if "@" in self.dataset:
            try:
                parse_dataset_ref(self.dataset)
            except ValueError as exc:
                rules.append(Rule("dataset", str(exc), DATASET_REF_HINT))
        elif self.root is None:
            rules.append(
                Rule(
                    "root",
                    "root is required when dataset names a FLARE folder",
                    "set data.root to an organized_dataset folder or `demo`, or name a registered dataset: "
                    "dataset: NAME@VERSION",
                )
            )
        if isinstance(self.train, list):
            first: dict[str, int] = {}
            for index, entry in enumerate(self.train):
                if entry.dataset in first:
                    rules.append(
                        Rule(
                            f"train.{index}.dataset",
                            f"train lists {entry.dataset} twice (entries {first[entry.dataset]} and {index})",
                            "list each data set once; give one entry several task_types",
                        )
                    )
                first.setdefault(entry.dataset, index)
        raise_broken(rules)
        return self


def _data_rules(spec: RecipeSpec) -> list[Rule]:
    """The data rules that depend on the stage and the evaluation split (see `RecipeSpec._rules`)."""
    from rrg.data.layout import SPLIT_ALIASES

    data = spec.data
    rules: list[Rule] = []
    trains = spec.stage.kind != "zero_shot"
    if data.train is not None and not trains:
        rules.append(Rule("data.train", "stage zero_shot trains nothing, so it takes no data.train", "remove data.train or set stage.kind to sft or grpo"))
    if data.expect:
        read = ([data.train_split] if trains else []) + [spec.evaluation.split or data.eval_split]
        known = {SPLIT_ALIASES.get(split, split) for split in read}
        for key in data.expect:
            if SPLIT_ALIASES.get(key, key) not in known:
                rules.append(
                    Rule(
                        f"data.expect.{key}",
                        f"the run reads no split {key} (it reads {' and '.join(dict.fromkeys(read))})",
                        f"name a split the run reads, or remove data.expect.{key}",
                    )
                )
    return rules


class ZeroShotStage(Section):
    """Evaluate the model as it is."""

    kind: Literal["zero_shot"] = Field(description="`zero_shot`: generate and score, no training.")


class SftStage(Section):
    """Supervised fine-tuning with response-only loss."""

    kind: Literal["sft"] = Field(description="`sft`: supervised fine-tuning (TRL `SFTTrainer`), then evaluation.")


class GrpoStage(Section):
    """Reinforcement learning with GRPO and clinical rewards."""

    kind: Literal["grpo"] = Field(description="`grpo`: GRPO (TRL `GRPOTrainer`) with the `reward` terms, then evaluation.")
    init_from: str | None = Field(
        default=None,
        min_length=1,
        description="Where GRPO starts: a run id, `recipe-name@version` (the adapter of that recipe's "
        "latest successful run), `model:NAME@VERSION` / `model:NAME@ALIAS` (a registered model version, its "
        "files checked against their registered sha256), or `base` for the base model (plus `model.adapter` "
        "if set). Required unless `model.adapter` is set.",
    )

    @model_validator(mode="after")
    def _rules(self) -> GrpoStage:
        """`init_from: model:...` names a registered model version as `model:NAME@VERSION` or `model:NAME@ALIAS`."""
        if self.init_from and self.init_from.startswith("model:") and not MODEL_REF.match(self.init_from):
            raise_broken([Rule("init_from", f"init_from {self.init_from!r} is not model:NAME@VERSION or model:NAME@ALIAS", "e.g. init_from: model:iu-report@paper (rrg models list shows what is registered)")])
        return self


Stage = Annotated[ZeroShotStage | SftStage | GrpoStage, Field(discriminator="kind")]


class TrainingSection(Section):
    """Optimisation settings shared by the SFT and GRPO stages (mapped onto TRL's configs)."""

    epochs: float = Field(default=1.0, gt=0, description="Passes over the training set when max_steps is -1 (TRL default: 3).")
    max_steps: int = Field(default=-1, description="Optimizer steps to run; -1 trains for `epochs`.")
    learning_rate: float = Field(default=2e-4, gt=0, lt=1, description="Peak learning rate (TRL SFT default: 2e-5; GRPO: 1e-6; 2e-4 suits LoRA).")
    per_device_batch_size: int = Field(default=1, ge=1, description="Samples per device per step (TRL default: 8).")
    gradient_accumulation_steps: int = Field(default=4, ge=1, description="Steps accumulated per optimizer update (TRL default: 1).")
    warmup_steps: int = Field(default=5, ge=0, description="Linear warm-up steps (TRL default: 0).")
    lr_scheduler: Literal["linear", "cosine", "constant"] = Field(default="linear", description="Learning-rate schedule after warm-up.")
    optimizer: Literal["adamw_torch", "adamw_8bit"] = Field(
        default="adamw_torch",
        description="`adamw_torch`, or `adamw_8bit` (bitsandbytes, CUDA only). TRL default: adamw_torch_fused.",
    )
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm.")
    max_length: int = Field(
        default=1024,
        ge=16,
        description="Longest tokenised sample (prompt, image tokens and answer). SFT: longer ones are truncated. "
        "GRPO: every prompt (with its image tokens) plus `grpo.max_completion_length` must fit, checked before "
        "the run where the family can count image tokens.",
    )
    eval_steps: int = Field(
        default=50,
        ge=1,
        description="SFT: validation loss every this many steps (TRL default: none). GRPO: the policy is scored "
        "every this many steps on the evaluation samples with the evaluation metrics (greedy, as the final "
        "evaluation), logged as `eval/<metric>` at that step: a curve, not only the final policy.",
    )
    save_steps: int = Field(default=50, ge=1, description="Checkpoint every this many steps (TRL default: 500).")
    logging_steps: int = Field(default=10, ge=1, description="Log loss and learning rate every this many steps.")
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        description="Stop after this many evaluation rounds without a lower validation loss, keeping the best checkpoint. Null: off.",
    )
    gradient_checkpointing: bool = Field(default=False, description="Recompute activations to save memory (TRL default: true).")
    save_total_limit: int | None = Field(default=2, ge=1, description="Checkpoints kept on disk (the best is always kept). Null: all. TRL default: null.")

    @model_validator(mode="after")
    def _rules(self) -> TrainingSection:
        """`max_steps` is -1 (train by epochs) or at least 1."""
        rules: list[Rule] = []
        if self.max_steps == 0 or self.max_steps < -1:
            rules.append(Rule("max_steps", f"max_steps must be -1 (train by epochs) or at least 1 (max_steps is {self.max_steps})", "set max_steps: -1 or a positive step count"))
        raise_broken(rules)
        return self


class GrpoSection(Section):
    """GRPO settings (TRL `GRPOConfig`); the number of steps is `training.max_steps`."""

    num_generations: int = Field(default=2, ge=2, description="Completions sampled per prompt to compare (TRL default: 8).")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(default="dr_grpo", description="Loss normalisation (TRL default: dapo).")
    importance_sampling_level: Literal["token", "sequence"] = Field(
        default="sequence", description="Importance ratios per token or per sequence (GSPO) (TRL default: token)."
    )
    max_completion_length: int = Field(default=256, ge=1, description="Longest generated completion in tokens (TRL default: 512).")
    temperature: float = Field(default=1.0, gt=0, description="Sampling temperature for the generations.")
    beta: float = Field(default=0.0, ge=0, description="KL coefficient against the reference model; 0 loads no reference model.")
    epsilon: float = Field(default=0.2, gt=0, lt=1, description="Clipping range of the importance ratio.")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        default="group",
        description="How rewards are scaled into advantages: by the standard deviation of each prompt's group "
        "(`group`), of the whole batch (`batch`), or not at all (`none`, what the Dr. GRPO authors recommend, "
        "since dividing by a group's spread favours questions that are too easy or too hard). Default `group`: "
        "TRL's default, which the study's setup used (it changes the loss, not the scaling) and rrg ran before "
        "this key existed.",
    )


class RewardSection(Section):
    """The GRPO reward R = clinical·R_clin + format·R_fmt + rouge·R_rouge, clipped."""

    clinical: float = Field(default=0.7, ge=0, description="Weight of the clinical term (the `clinical_scorer` F1).")
    format: float = Field(default=0.2, ge=0, description="Weight of the format term: 1 − number of violations (thinking tags, code fences, excessive length).")
    rouge: float = Field(default=0.1, ge=0, description="Weight of the ROUGE-L F1 term.")
    clinical_scorer: Literal["radgraph_f1", "green_flare_entity"] = Field(
        default="radgraph_f1",
        description="Clinical term: RadGraph F1 between generated and reference graphs, or the entity-matching component of GREEN (FLARE).",
    )
    radgraph_model: str = Field(default="radgraph-xl", min_length=1, description="RadGraph model for `radgraph_f1`.")
    radgraph_reward_level: Literal["simple", "partial", "complete"] = Field(
        default="partial", description="RadGraph F1 level: entities only (simple), entities + relations (partial, complete)."
    )
    clip: tuple[float, float] = Field(default=(-2.0, 2.0), description="Total reward clipped to [low, high].")
    max_chars: int = Field(default=1000, ge=1, description="A completion longer than this many characters counts as a format violation.")
    forbid_thinking_tags: bool = Field(default=True, description="`<think>` tags count as a format violation.")
    forbid_code_fences: bool = Field(default=True, description="Code fences (```) count as a format violation.")

    @model_validator(mode="after")
    def _rules(self) -> RewardSection:
        """At least one weight is positive; `clip` is [low, high] with low < high."""
        rules: list[Rule] = []
        if self.clinical + self.format + self.rouge <= 0:
            rules.append(Rule("clinical", "reward weights clinical, format and rouge are all 0", "give at least one term a positive weight"))
        low, high = self.clip
        if low >= high:
            rules.append(Rule("clip", f"clip must be [low, high] with low < high (got [{low}, {high}])", "e.g. clip: [-2, 2]"))
        raise_broken(rules)
        return self


class EvaluationSection(Section):
    """Generation and scoring on the evaluation split."""

    metrics: Annotated[list[MetricName], Field(min_length=1)] = Field(
        default_factory=lambda: ["green_flare", "bleu4_flare", "ce"],
        description="Metrics to compute: `green_flare` (FLARE's lexical seven-component GREEN, not the "
        "LLM-judged GREEN), `bleu4_flare` (FLARE's per-sample BLEU-4), `bleu4` (corpus BLEU-4), `ce` "
        "(clinical efficacy), `rouge_l`, `radgraph_f1`.",
    )
    max_new_tokens: int = Field(default=256, ge=1, description="Generation budget per answer.")
    truncate_chars: int | None = Field(default=500, ge=1, description="Outputs cut to this many characters before scoring, as in the study. Null: no truncation.")
    batch_size: int = Field(default=8, ge=1, description="Samples generated together.")
    split: str | None = Field(default=None, min_length=1, description="Split to evaluate on. Null: `data.eval_split`.")
    num_beams: int = Field(default=1, ge=1, description="Beam search width; 1 is greedy decoding, as in the study.")
    save_predictions: bool = Field(default=True, description="Record every prediction in the registry (never published for credentialed data).")
    before_training: bool = Field(
        default=False,
        description="sft/grpo: also score the starting model on the same samples before training, recorded as "
        "`before/<metric>`, so one run shows the gain. Costs one extra generation pass.",
    )

    @model_validator(mode="after")
    def _rules(self) -> EvaluationSection:
        """Each metric is listed once."""
        duplicates = sorted({m for m in self.metrics if self.metrics.count(m) > 1})
        if duplicates:
            raise_broken([Rule("metrics", f"metrics lists {', '.join(duplicates)} more than once", "list each metric once")])
        return self


class HardwareSection(Section):
    """What the recipe expects to run on, and over how many processes and machines."""

    accelerator: Literal["auto", "cpu", "cuda", "a100", "h100", "h200"] = Field(
        default="auto",
        description="`auto` (CUDA when present, else CPU), `cpu`, `cuda` (any NVIDIA GPU) or a GPU model the settings were sized for.",
    )
    gpus: int | None = Field(
        default=None,
        ge=1,
        description="GPUs per machine, one process each. Null: 1 on a GPU machine, none on CPU. More than one: "
        "`rrg run` launches that many processes with torchrun (data parallel, or sharded by `strategy`), each "
        "with `training.per_device_batch_size` samples per micro-batch.",
    )
    processes: int | None = Field(
        default=None,
        ge=1,
        description="CPU runs only: processes per machine, data parallel over gloo (`rrg run` launches them with "
        "torchrun). Null: 1. On GPUs the process count is `gpus`.",
    )
    nodes: int = Field(
        default=1,
        ge=1,
        description="Machines the run spans, each running `gpus` (or `processes`) processes. More than one: start "
        "it with `rrg launch RECIPE --slurm`, or run the command of `rrg run RECIPE --print-launch` on every machine.",
    )
    strategy: Literal["ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"] = Field(
        default="ddp",
        description="How several GPU processes share the training: `ddp` (every process holds the whole model, "
        "gradients averaged; the only one on CPU), `fsdp` (PyTorch FSDP, parameters sharded), `deepspeed_zero2` "
        "(optimizer states and gradients sharded) or `deepspeed_zero3` (parameters too; needs the `deepspeed` "
        "package). Only with more than one process.",
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto", description="Compute precision. `auto`: bf16 where supported, else fp16 on GPU, fp32 on CPU."
    )
    backend: Literal["auto", "transformers", "unsloth"] = Field(
        default="auto",
        description="`auto`: Unsloth on CUDA when installed (one process only), else transformers + PEFT.",
    )
    num_threads: int | None = Field(default=None, ge=1, description="CPU threads for torch (per process). Null: torch's default.")
    generation: Literal["transformers", "vllm"] = Field(
        default="transformers",
        description="What generates text: `transformers` (`model.generate`) or `vllm` (needs a CUDA GPU and the "
        "`vllm` extra): GRPO's sampled answers through TRL's vLLM integration (colocated on the training GPU), "
        "and the zero-shot and after-training evaluations through `vllm.LLM` with the adapter as a LoRA request "
        "(greedy). Not for DeepSeek-OCR and DeepSeek-OCR-2, the Unsloth backend, beam search, `model.image_size`, "
        "8-bit QLoRA, adapters with `modules_to_save` or runs of more than one process.",
    )

    @model_validator(mode="after")
    def _rules(self) -> HardwareSection:
        """With `accelerator: cpu`: no `gpus`, no `backend: unsloth`, no `precision: fp16`, no `generation: vllm`,
        `strategy: ddp` only. With a GPU accelerator: no `processes` (set `gpus`). Not `gpus` and `processes` together."""
        rules: list[Rule] = []
        if self.gpus is not None and self.processes is not None:
            rules.append(Rule("processes", f"gpus ({self.gpus}) and processes ({self.processes}) both set the process count", "set gpus on GPUs, processes on the CPU"))
        if self.accelerator == "cpu":
            if self.gpus is not None:
                rules.append(Rule("gpus", f"accelerator=cpu uses no GPU (gpus is {self.gpus})", "remove hardware.gpus (hardware.processes sets CPU processes) or pick a GPU accelerator"))
            if self.backend == "unsloth":
                rules.append(Rule("backend", "backend=unsloth needs CUDA (accelerator is cpu)", "set backend: transformers or auto"))
            if self.generation == "vllm":
                rules.append(Rule("generation", "generation=vllm needs CUDA (accelerator is cpu)", "set generation: transformers"))
            if self.precision == "fp16":
                rules.append(Rule("precision", "precision=fp16 is not supported on CPU (accelerator is cpu)", "set precision: fp32 or bf16"))
            if self.strategy != "ddp":
                rules.append(Rule("strategy", f"strategy={self.strategy} needs CUDA GPUs (accelerator is cpu)", "set strategy: ddp"))
        elif self.accelerator != "auto" and self.processes is not None:
            rules.append(Rule("processes", f"on GPUs ({self.accelerator}) each process drives one GPU (processes is {self.processes})", "set hardware.gpus instead"))
        raise_broken(rules)
        return self


class LoggingSection(Section):
    """Where training logs go besides the registry (which always records every logged value)."""

    report_to: list[Literal["tensorboard", "trackio", "wandb"]] = Field(
        default_factory=list,
        description="Trackers that receive the trainer's logs live, handed to TRL's `report_to` unchanged: "
        "`tensorboard` (event files under the run's folder, `logs/tensorboard`), `trackio` (local, under "
        "`logs/trackio`), `wandb` (needs `wandb login`). Empty: the registry only. The run records where its logs went.",
    )
    project: str | None = Field(
        default=None,
        min_length=1,
        description="Project name for trackio and wandb. Null: the recipe name.",
    )

    @model_validator(mode="after")
    def _rules(self) -> LoggingSection:
        """Each tracker is listed once; `project` only with trackio or wandb."""
        rules: list[Rule] = []
        if len(set(self.report_to)) != len(self.report_to):
            rules.append(Rule("report_to", f"report_to lists a tracker twice: {self.report_to}", "list each tracker once"))
        if self.project is not None and not {"trackio", "wandb"} & set(self.report_to):
            rules.append(Rule("project", "project names a trackio or wandb project, and report_to has neither", "add trackio or wandb to logging.report_to, or remove logging.project"))
        raise_broken(rules)
        return self


class PublishSection(Section):
    """Where `rrg publish` puts the adapter and model card."""

    repo: str = Field(pattern=HUB_REPO_PATTERN, description="Hub model repository, `org/name`.")
    private: bool = Field(default=True, description="Create the repository private.")
    license: str | None = Field(default=None, description="Licence of the published adapter. Null: the base model's licence.")


class RecipeSpec(Section):
    """A complete, resolved recipe: one experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, populate_by_name=True)

    schema_version: Literal[1] = Field(alias="schema", description="Recipe format version. This rrg reads version 1.")
    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="Recipe name: lower-case letters, digits, `.`, `_`, `-`. With `version` it names the experiment in the registry.")
    version: int = Field(ge=1, description="Recipe version, an integer from 1. Change it whenever the content changes: the registry refuses a name+version already recorded with another hash.")
    description: str = Field(default="", description="What the experiment is for.")
    tags: list[str] = Field(default_factory=list, description="Free labels for browsing (`rrg runs list --tag`).")
    seed: int = Field(default=42, ge=0, description="Seed for sampling, initialisation and data order.")
    extends: str | None = Field(
        default=None,
        description="Base recipe this file builds on: a path relative to this file, or `name@version` "
        "from the registry. Mappings merge deeply (this file wins), lists are replaced. Consumed at "
        "load time: always null in a resolved recipe.",
    )
    model: ModelSection = Field(description="The base model.")
    adapter: Adapter = Field(default_factory=lambda: NoAdapter(kind="none"), description="The adapter trained (or none).")
    data: DataSection = Field(description="Training and evaluation data.")
    stage: Stage = Field(description="What the recipe does: zero_shot, sft or grpo.")
    training: TrainingSection | None = Field(default=None, description="Optimisation settings; filled with defaults for sft and grpo, absent for zero_shot.")
    grpo: GrpoSection | None = Field(default=None, description="GRPO settings; filled with defaults for grpo, absent otherwise.")
    reward: RewardSection | None = Field(default=None, description="GRPO reward terms; required for grpo, absent otherwise.")
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection, description="Evaluation after the stage.")
    hardware: HardwareSection = Field(default_factory=HardwareSection, description="Where it runs.")
    logging: LoggingSection | None = Field(default=None, description="Live training logs (TensorBoard, trackio, wandb); null: the registry only.")
    publish: PublishSection | None = Field(default=None, description="Hub publishing; null: not published.")

    @model_validator(mode="before")
    @classmethod
    def _fill_stage_sections(cls, data: Any) -> Any:
        """Trained stages get a default ``training`` (and ``grpo``) section when the recipe has none."""
        if not isinstance(data, dict) or not isinstance(data.get("stage"), dict):
            return data
        kind = data["stage"].get("kind")
        filled = dict(data)
        if kind in ("sft", "grpo") and filled.get("training") is None:
            filled["training"] = {}
        if kind == "grpo" and filled.get("grpo") is None:
            filled["grpo"] = {}
        return filled

    @model_validator(mode="after")
    def _rules(self) -> RecipeSpec:
        """Across sections:

        - `zero_shot` takes no `training`, `grpo` or `reward` section and `adapter.kind: none`
          (evaluate a trained adapter with `model.adapter`).
        - `sft` takes no `grpo` or `reward` section.
        - `grpo` needs `stage.init_from` (or `model.adapter`) and a `reward` section.
        - `adapter.kind: qlora` and `training.optimizer: adamw_8bit` need CUDA, not `accelerator: cpu`.
        - `data.credentialed: true` forbids `publish.private: false`.
        - `model.id: tiny` takes no `trust_remote_code`.
        - `data.train` needs a trained stage (sft or grpo); each `data.expect` key names a split the run
          reads (`data.train_split` when it trains, and the evaluation split).
        - A setting a stage does not use is refused when it differs from its default: on `zero_shot`,
          `data.train_split`, `data.max_train_samples`, `evaluation.before_training` and `logging`; on
          `grpo`, `training.early_stopping_patience` (GRPO has no validation loss).
        """
        rules: list[Rule] = []
        kind = self.stage.kind
        adapter = self.adapter
        if kind == "zero_shot":
            for section in ("training", "grpo", "reward"):
                if getattr(self, section) is not None:
                    rules.append(Rule(section, f"stage zero_shot trains nothing, so it takes no {section} section", f"remove {section} or set stage.kind to sft or grpo"))
            if adapter.kind != "none":
                rules.append(Rule("adapter.kind", f"stage zero_shot trains no adapter (adapter.kind is {adapter.kind})", "set adapter.kind: none; to evaluate a trained adapter set model.adapter"))
        if kind == "sft":
            for section in ("grpo", "reward"):
                if getattr(self, section) is not None:
                    rules.append(Rule(section, f"the {section} section only applies to stage grpo (stage.kind is sft)", f"remove {section} or set stage.kind: grpo"))
        if kind == "grpo":
            if self.stage.init_from is None and self.model.adapter is None:  # type: ignore[union-attr]
                rules.append(Rule("stage.init_from", "stage grpo needs a starting point: stage.init_from and model.adapter are both unset", "set stage.init_from to an SFT recipe `name@version`, a run id, or `base`"))
            if self.reward is None:
                rules.append(Rule("reward", "stage grpo needs a reward section with its weights", "add `reward: {clinical: 0.7, format: 0.2, rouge: 0.1}`"))
        if kind == "zero_shot":
            defaults = DataSection.model_fields
            for key in ("train_split", "max_train_samples"):
                if getattr(self.data, key) != defaults[key].default:
                    rules.append(Rule(f"data.{key}", f"stage zero_shot trains nothing, so data.{key} has no effect (it is {getattr(self.data, key)!r})", f"remove data.{key} or set stage.kind to sft or grpo"))
            if self.evaluation.before_training:
                rules.append(Rule("evaluation.before_training", "stage zero_shot has no training to score the model before", "remove evaluation.before_training"))
            if self.logging is not None and self.logging.report_to:
                rules.append(Rule("logging.report_to", "stage zero_shot has no training logs to report", "remove the logging section"))
        if kind == "grpo" and self.training is not None and self.training.early_stopping_patience is not None:
            rules.append(Rule("training.early_stopping_patience", f"GRPO has no validation loss to stop on (early_stopping_patience is {self.training.early_stopping_patience})", "set training.early_stopping_patience: null; training.eval_steps scores checkpoints along the way instead"))
        rules += _data_rules(self)
        if adapter.kind == "qlora" and self.hardware.accelerator == "cpu":
            rules.append(Rule("adapter.kind", "adapter.kind=qlora needs CUDA (bitsandbytes) but hardware.accelerator is cpu", "use adapter.kind: lora on CPU"))
        if self.training is not None and self.training.optimizer == "adamw_8bit" and self.hardware.accelerator == "cpu":
            rules.append(Rule("training.optimizer", "optimizer=adamw_8bit needs CUDA (bitsandbytes) but hardware.accelerator is cpu", "set training.optimizer: adamw_torch"))
        if self.publish is not None and self.data.credentialed and not self.publish.private:
            rules.append(Rule("publish.private", "data.credentialed=true forbids public repositories (publish.private is false)", "set publish.private: true"))
        if self.model.id == "tiny" and self.model.trust_remote_code:
            rules.append(Rule("model.trust_remote_code", "id=tiny runs no remote code (trust_remote_code is true)", "remove model.trust_remote_code"))
        raise_broken(rules)
        return self


SECTION_MODELS: dict[str, type[BaseModel] | tuple[type[BaseModel], ...]] = {
    "model": ModelSection,
    "adapter": (NoAdapter, LoraAdapter, QLoraAdapter),
    "data": DataSection,
    "stage": (ZeroShotStage, SftStage, GrpoStage),
    "training": TrainingSection,
    "grpo": GrpoSection,
    "reward": RewardSection,
    "evaluation": EvaluationSection,
    "hardware": HardwareSection,
    "logging": LoggingSection,
    "publish": PublishSection,
}
"""The recipe's sections in document order, with the variants of the discriminated ones."""


def recipe_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a recipe file, for editors (e.g. the YAML language server)."""
    schema = RecipeSpec.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://rrg.dev/schemas/recipe-v{SCHEMA_VERSION}.json",
        **schema,
        "title": f"rrg recipe (schema {SCHEMA_VERSION})",
    }
