"""Resolve a recipe into a :class:`Plan`: what it will do on this machine, without loading weights.

The plan decides the backend (Unsloth on CUDA when allowed and installed, transformers + PEFT
otherwise), precision, optimizer, LoRA targets, data sizes, generation settings and a memory
estimate, and builds the real TRL config so TRL's own validation runs before any weights load.
``rrg plan`` prints it; every run records it.

GPU-only requests (4-bit QLoRA, 8-bit AdamW, bf16/fp16, Unsloth, vLLM generation, ``accelerator: h100``) stop here
with one clear line on a machine without CUDA. ``device="cpu"`` (``rrg run --device cpu``) forces
the CPU instead and turns those requests into their CPU equivalents, each listed in ``notes``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rrg.errors import MissingDependencyError, RrgError
from rrg.hardware import Hardware, cpu_only, detect_hardware
from rrg.recipe import Recipe

GPU_ACCELERATORS = ("cuda", "a100", "h100", "h200")
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
UNSLOTH_FAMILIES = ("qwen2_5_vl", "qwen3_vl", "medgemma", "deepseek_ocr2")
"""Families Unsloth trains. DeepSeek-OCR is not among them: Unsloth runs it through the published
remote code, while rrg runs its native implementation with transformers + PEFT."""


class PlanError(RrgError):
    """The recipe cannot run on this machine as written."""


class _PlanPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanModel(_PlanPart):
    family: str = Field(description="Model family.")
    id: str = Field(description="As written in the recipe: tiny, a Hub id or a local path.")
    source: str = Field(description="What is loaded: the tiny twin's folder, a local folder or a Hub id.")
    revision: str | None = Field(description="Pinned Hub revision, if any.")
    trust_remote_code: bool
    implementation: str = Field(description="The code that builds the model: transformers' class, rrg's native one, or remote code.")
    image_size: int | None
    image_mode: str | None = Field(default=None, description="DeepSeek-OCR's image protocol: base or tiled.")
    init_adapter: str | None = Field(description="Adapter loaded on top of the base before the stage (hub:, run:, or the GRPO parent).")


class PlanAdapter(_PlanPart):
    kind: Literal["lora", "qlora"]
    r: int
    alpha: float
    dropout: float
    target_modules: str | list[str] = Field(description="Resolved PEFT target_modules (a regex scoped to the language model unless vision LoRA).")
    vision: bool
    modules_to_save: list[str]
    bits: int | None = None
    quant_type: str | None = None
    double_quant: bool | None = None


class PlanParameters(_PlanPart):
    total: int | None = Field(description="Parameters of the base model (from its config, on the meta device).")
    trainable: int | None = Field(description="Parameters trained: LoRA matrices plus modules_to_save.")
    lora_modules: int | None = Field(description="Linear layers the LoRA targets match.")
    hidden_size: int | None = Field(default=None, description="Hidden size of the language model.")
    num_layers: int | None = Field(default=None, description="Decoder layers of the language model.")
    note: str | None = None


class PlanTrainingDataset(_PlanPart):
    dataset: str
    category: str
    task_filter: list[str] | None = Field(description="Task types kept, as the recipe names them; null: every task type.")
    max_samples: int | None = Field(description="Cap on its samples: the smaller of its max_samples and data.max_train_samples.")
    weight: float = Field(description="Oversampling factor in the training mix.")
    size: int = Field(description="Samples read (question count after the task filter and the cap; images are checked at run time).")
    rows: int = Field(description="Rows it gives the training mix per epoch (size × weight).")
    task_types: dict[str, int] = Field(description="Task type → samples, of the samples read.")


class PlanData(_PlanPart):
    root: str
    dataset: str = Field(description="The data set evaluated on (and trained on, unless data.train names others).")
    dataset_version: str | None = Field(default=None, description="The registered dataset version data.dataset named (name@version); null: data.root.")
    dataset_version_id: int | None = Field(default=None, description="Its id in the registry the plan was resolved against.")
    category: str
    train_split: str | None
    eval_split: str
    train_datasets: list[PlanTrainingDataset] | None = Field(default=None, description="Each training data set (one unless data.train names several); null for zero_shot.")
    train_size: int | None = Field(description="Training samples over all training data sets, before weighting (question count; images are checked at run time).")
    eval_size: int = Field(description="Evaluation samples (report generation questions) after max_eval_samples.")
    expect: dict[str, int] | None = Field(default=None, description="data.expect: split → samples the run must read, checked here and after the images are read.")
    image_policy: str
    max_image_pixels: int = Field(default=40_000_000, description="Largest image accepted (data.max_image_pixels).")
    credentialed: bool
    license: str | None = Field(default=None, description="Licence of the data (data.license), recorded with the run and its model card.")


class PlanMemory(_PlanPart):
    weights_gib: float
    trainable_gib: float = Field(description="Trainable weights, gradients and optimizer states.")
    activations_gib: float
    total_gib: float
    note: str = "rough estimate: weights + (weights, grads, optimizer states) of trainable parameters + activations of one micro-batch"


class PlanTraining(_PlanPart):
    """What rrg itself does around TRL's training loop (TRL's own settings are in ``trainer``)."""

    max_length: int = Field(description="Longest sample in tokens. SFT: longer ones are truncated (by TRL); GRPO: each prompt plus max_completion_length must fit, checked before the run.")
    early_stopping_patience: int | None = Field(default=None, description="SFT: evaluation rounds without a lower validation loss before training stops.")
    score_every: int | None = Field(default=None, description="GRPO: the policy is scored on the evaluation samples every this many steps (eval/<metric>).")


class PlanLaunch(_PlanPart):
    """How a run of more than one process starts: torchrun on every machine, each process running
    the same ``rrg run``; only the main process (global rank 0) writes to the registry."""

    launcher: Literal["torchrun"] = Field(default="torchrun", description="What starts the processes (`python -m torch.distributed.run`).")
    nodes: int = Field(description="Machines (hardware.nodes).")
    processes_per_node: int = Field(description="Processes on each machine: hardware.gpus on GPUs, hardware.processes on the CPU.")
    world_size: int = Field(description="Processes in all: nodes × processes_per_node.")
    strategy: Literal["ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"] = Field(description="How the processes share training (hardware.strategy).")
    backend: Literal["gloo", "nccl"] = Field(description="torch.distributed backend: gloo on the CPU, NCCL on GPUs.")


class PlanLogging(_PlanPart):
    report_to: list[str] = Field(description="Trackers TRL reports to, besides the registry.")
    project: str = Field(description="trackio / wandb project.")
    folder: str = Field(default="logs", description="Where local trackers write, under the run's folder.")


class Plan(_PlanPart):
    """Everything a run will do, decided before any weights load. Pure data; JSON-serialisable."""

    recipe: str = Field(description="name@version")
    recipe_hash: str
    stage: Literal["zero_shot", "sft", "grpo"]
    seed: int
    hardware: str = Field(description="The machine the plan was resolved on.")
    device: Literal["cpu", "cuda"]
    backend: Literal["transformers", "unsloth"]
    precision: Literal["fp32", "bf16", "fp16"]
    dtype: str
    optimizer: str | None
    model: PlanModel
    adapter: PlanAdapter | None
    parameters: PlanParameters | None
    data: PlanData
    init_from: str | None = Field(description="GRPO: the run or recipe whose adapter is the starting point.")
    trainer: dict[str, Any] | None = Field(description="Keyword arguments of the TRL config (SFTConfig / GRPOConfig), output_dir excluded.")
    generation: dict[str, Any]
    reward: dict[str, Any] | None
    memory: PlanMemory | None
    notes: list[str] = Field(default_factory=list, description="Decisions worth knowing: CPU substitutions, ignored settings.")
    accelerator: str = Field(default="auto", description="The accelerator the recipe asked for (hardware.accelerator).")
    gpus: int | None = Field(default=None, description="GPUs the run uses on each machine (hardware.gpus); null on the CPU.")
    launch: PlanLaunch | None = Field(default=None, description="Several processes (hardware.gpus, processes, nodes): how they start; null: one process.")
    num_threads: int | None = Field(default=None, description="CPU threads torch may use (hardware.num_threads); null: torch's default.")
    training: PlanTraining | None = Field(default=None, description="rrg's own training settings (checks, early stopping, GRPO checkpoint scoring).")
    logging: PlanLogging | None = Field(default=None, description="Live training logs besides the registry.")
    publish: dict[str, Any] | None = Field(default=None, description="Where `rrg publish` puts the adapter (the recipe's publish section).")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)

    def trl_config(self, output_dir: str | Path) -> Any:
        """The TRL config object (``SFTConfig`` or ``GRPOConfig``) for this plan."""
        if self.trainer is None:
            raise ValueError(f"a {self.stage} plan has no trainer")
        return build_trl_config(self.stage, self.trainer, output_dir)


def resolve_plan(
    recipe: Recipe,
    *,
    device: Literal["cpu", "cuda"] | None = None,
    hardware: Hardware | None = None,
    count_parameters: bool = True,
    elsewhere: bool = False,
    registry: Any = None,
) -> Plan:
    """Resolve ``recipe`` against this machine (or ``hardware``), without loading any weights.

    ``device="cpu"`` runs a GPU recipe on the CPU anyway (for the tiny twins): CUDA-only choices
    become their CPU equivalents and each substitution is listed in ``Plan.notes``.
    ``elsewhere``: ``hardware`` describes other machines (a SLURM job's, planned on a login
    machine): TRL's checks of precision and sharding, which look at this machine, are left to
    the plan each process makes there; TRL checks every other setting here.
    """
    spec = recipe.spec
    notes: list[str] = []
    forced_cpu = device == "cpu"
    if hardware is None:
        hardware = cpu_only() if forced_cpu else detect_hardware()
    where = recipe.source_path or recipe.ref

    # -- device
    accelerator = spec.hardware.accelerator
    if forced_cpu:
        run_device = "cpu"
        if accelerator not in ("cpu", "auto"):
            notes.append(f"--device cpu: hardware.accelerator {accelerator} ignored")
    elif device == "cuda" or accelerator in GPU_ACCELERATORS:
        if not hardware.cuda:
            asked = "--device cuda" if device == "cuda" else f"hardware.accelerator: {accelerator}"
            raise PlanError(
                f"{where}: {asked} needs a CUDA GPU and this machine has none",
                hint="run it on a GPU machine, or pass --device cpu to run on the CPU (tiny models only)",
            )
        run_device = "cuda"
    elif accelerator == "cpu":
        run_device = "cpu"
    else:
        run_device = hardware.device

    # -- GPUs, processes and machines
    gpus, launch = _plan_launch(spec, run_device, forced_cpu, hardware, where, notes)

    # -- precision
    precision = spec.hardware.precision
    if precision == "auto":
        precision = ("bf16" if hardware.bf16 else "fp16") if run_device == "cuda" else "fp32"
        notes.append(f"hardware.precision auto: {precision}" + (" (bf16 supported)" if precision == "bf16" else " (no bf16 here)" if run_device == "cuda" else " on the CPU"))
    elif precision in ("bf16", "fp16") and run_device == "cpu":
        if not forced_cpu:
            raise PlanError(
                f"{where}: hardware.precision: {precision} needs a CUDA GPU; this run is on the CPU",
                hint="set hardware.precision: fp32 (or auto), or pass --device cpu",
            )
        notes.append(f"--device cpu: precision {precision} → fp32")
        precision = "fp32"
    elif precision == "bf16" and not hardware.bf16:
        raise PlanError(f"{where}: hardware.precision: bf16 is not supported by {hardware.describe()}", hint="use fp16 or auto")

    # -- adapter
    adapter_spec = spec.adapter
    family_name = spec.model.family
    from rrg.models import get_family

    family = get_family(family_name)
    plan_adapter: PlanAdapter | None = None
    if adapter_spec.kind != "none":
        if spec.stage.kind == "zero_shot":
            notes.append(f"adapter.kind {adapter_spec.kind} ignored: a zero_shot stage trains nothing")
        else:
            kind = adapter_spec.kind
            bits = getattr(adapter_spec, "bits", None)
            if kind == "qlora" and run_device == "cpu":
                if not forced_cpu:
                    raise PlanError(
                        f"{where}: adapter.kind: qlora ({bits}-bit base model) needs a CUDA GPU and bitsandbytes",
                        hint="run it on a GPU machine, use adapter.kind: lora, or pass --device cpu",
                    )
                notes.append(f"--device cpu: qlora ({bits}-bit) → lora on an unquantised {precision} base")
                kind, bits = "lora", None
            if kind == "qlora" and not hardware.bitsandbytes:
                raise MissingDependencyError(
                    f"{where}: adapter.kind: qlora needs the bitsandbytes package",
                    hint="pip install 'rrg-sdk[gpu]'",
                )
            modules_to_save = list(adapter_spec.modules_to_save)
            plan_adapter = PlanAdapter(
                kind=kind,
                r=adapter_spec.r,
                alpha=adapter_spec.alpha,
                dropout=adapter_spec.dropout,
                target_modules=family.lora_target_modules(adapter_spec.target_modules, vision=adapter_spec.vision),
                vision=adapter_spec.vision,
                modules_to_save=modules_to_save,
                bits=bits,
                quant_type=getattr(adapter_spec, "quant_type", None) if bits else None,
                double_quant=getattr(adapter_spec, "double_quant", None) if bits else None,
            )
    elif spec.stage.kind != "zero_shot":
        notes.append("adapter.kind none: the whole model is trained")

    # -- image protocol
    image_mode = spec.model.image_mode
    if image_mode is not None and not family.has_image_modes:
        raise PlanError(
            f"{where}: model.image_mode: family {family_name} has no image modes",
            hint="remove model.image_mode; it applies to deepseek_ocr",
        )
    if image_mode == "tiled" and spec.stage.kind == "grpo":
        raise PlanError(
            f"{where}: model.image_mode: tiled is not supported in GRPO (TRL hands the policy one image tensor per prompt)",
            hint="use model.image_mode: base, the study's protocol",
        )

    # -- backend
    backend = spec.hardware.backend
    if backend == "auto":
        backend = "unsloth" if (run_device == "cuda" and hardware.unsloth and family_name in UNSLOTH_FAMILIES) else "transformers"
        if backend == "unsloth" and launch is not None:
            notes.append(f"hardware.backend auto: transformers + PEFT (Unsloth trains in one process; this run has {launch.world_size})")
            backend = "transformers"
        else:
            notes.append(f"hardware.backend auto: {'Unsloth' if backend == 'unsloth' else 'transformers + PEFT'}")
        if backend == "unsloth" and spec.hardware.generation == "vllm":
            notes.append("backend auto → transformers + PEFT: hardware.generation vllm runs through TRL's vLLM integration, not Unsloth's")
            backend = "transformers"
    elif backend == "unsloth":
        if run_device == "cpu":
            if not forced_cpu:
                raise PlanError(
                    f"{where}: hardware.backend: unsloth needs a CUDA GPU (Unsloth cannot run vision models on the CPU)",
                    hint="set hardware.backend: auto, or pass --device cpu to use transformers + PEFT",
                )
            notes.append("--device cpu: backend unsloth → transformers + PEFT")
            backend = "transformers"
        elif family_name not in UNSLOTH_FAMILIES:
            raise PlanError(
                f"{where}: hardware.backend: unsloth does not train the {family.display_name} rrg runs (its native implementation)",
                hint="set hardware.backend: auto (transformers + PEFT)",
            )
        elif launch is not None:
            raise PlanError(
                f"{where}: hardware.backend: unsloth trains in one process, and this run has {launch.world_size} ({_processes_keys(spec)})",
                hint="set hardware.backend: auto or transformers (transformers + PEFT runs distributed), or run one process",
            )
        elif not hardware.unsloth:
            raise MissingDependencyError(f"{where}: hardware.backend: unsloth is not installed", hint="pip install 'rrg-sdk[gpu]'")

    # -- text generation (GRPO's samples, evaluation)
    generation_backend = _generation_backend(spec, family, plan_adapter, backend, run_device, forced_cpu, hardware, where, notes)
    if launch is not None:
        _check_distributed(spec, launch, plan_adapter, generation_backend, where)

    # -- optimizer and trainer config
    optimizer: str | None = None
    trainer: dict[str, Any] | None = None
    training = spec.training
    if spec.stage.kind != "zero_shot" and training is not None:
        optimizer = training.optimizer
        if optimizer == "adamw_8bit" and (run_device == "cpu" or not hardware.bitsandbytes):
            if run_device == "cpu" and forced_cpu:
                notes.append("--device cpu: optimizer adamw_8bit → adamw_torch")
                optimizer = "adamw_torch"
            elif run_device == "cpu":
                raise PlanError(
                    f"{where}: training.optimizer: adamw_8bit needs a CUDA GPU and bitsandbytes",
                    hint="set training.optimizer: adamw_torch, or pass --device cpu",
                )
            else:
                raise MissingDependencyError(f"{where}: training.optimizer: adamw_8bit needs bitsandbytes", hint="pip install 'rrg-sdk[gpu]'")
        trainer = _trainer_kwargs(spec, run_device, precision, optimizer, launch)
        try:
            check_trl_config(spec.stage.kind, _here(trainer) if elsewhere else trainer, hardware)
        except ValueError as exc:
            message = _first_line(exc)
            keys = _recipe_keys(message, trainer)
            raise PlanError(
                f"{where}: TRL rejects the {spec.stage.kind} settings: {message}"
                + (f" (recipe keys: {', '.join(keys)})" if keys else ""),
                hint=f"change {' or '.join(keys)}" if keys else "change the training/grpo values it names",
            ) from None

    # -- live training logs
    if spec.logging is not None:
        _require_trackers(spec.logging.report_to, where)

    # -- model source and init adapter
    model_spec = spec.model
    source = _model_source(family, model_spec.id, where)
    from_hub = source == model_spec.id and not Path(source).is_dir()
    if from_hub and model_spec.revision is None and family.pinned_revision(model_spec.id) is None:
        notes.append(f"model.revision not pinned: {model_spec.id} loads whatever the Hub's default branch holds; pin a commit to reproduce the run")
    init_from = getattr(spec.stage, "init_from", None)

    # -- data
    data = _plan_data(spec, where, registry)

    # -- parameters and memory
    parameters = memory = None
    if count_parameters:
        parameters = _count_parameters(family, source, model_spec, plan_adapter)
        memory = _estimate_memory(spec, parameters, precision, plan_adapter, training)

    generation = {
        "max_new_tokens": spec.evaluation.max_new_tokens,
        "batch_size": spec.evaluation.batch_size,
        "num_beams": spec.evaluation.num_beams,
        "truncate_chars": spec.evaluation.truncate_chars,
        "metrics": list(spec.evaluation.metrics),
        "split": spec.evaluation.split or spec.data.eval_split,
        "save_predictions": spec.evaluation.save_predictions,
        "greedy": spec.evaluation.num_beams == 1,
        "backend": generation_backend,
        "before_training": spec.evaluation.before_training,
    }
    plan_training = None
    if training is not None and spec.stage.kind != "zero_shot":
        plan_training = PlanTraining(
            max_length=training.max_length,
            early_stopping_patience=training.early_stopping_patience if spec.stage.kind == "sft" else None,
            score_every=training.eval_steps if spec.stage.kind == "grpo" else None,
        )
    plan_logging = None
    if spec.logging is not None and spec.logging.report_to:
        plan_logging = PlanLogging(report_to=list(spec.logging.report_to), project=spec.logging.project or spec.name)
    reward = spec.reward.model_dump(mode="json") if (spec.stage.kind == "grpo" and spec.reward is not None) else None
    return Plan(
        recipe=recipe.ref,
        recipe_hash=recipe.hash,
        stage=spec.stage.kind,
        seed=spec.seed,
        hardware=hardware.describe(),
        device=run_device,
        backend=backend,
        precision=precision,
        dtype=DTYPES[precision],
        optimizer=optimizer,
        model=PlanModel(
            family=family_name,
            id=model_spec.id,
            source=source,
            revision=model_spec.revision,
            trust_remote_code=model_spec.trust_remote_code,
            implementation=family.implementation(model_spec.id, model_spec.trust_remote_code),
            image_size=model_spec.image_size,
            image_mode=image_mode,
            init_adapter=model_spec.adapter,
        ),
        adapter=plan_adapter,
        parameters=parameters,
        data=data,
        init_from=init_from,
        trainer=trainer,
        generation=generation,
        reward=reward,
        memory=memory,
        notes=notes,
        accelerator=accelerator,
        gpus=gpus if run_device == "cuda" else None,
        launch=launch,
        num_threads=spec.hardware.num_threads,
        training=plan_training,
        logging=plan_logging,
        publish=spec.publish.model_dump(mode="json") if spec.publish is not None else None,
    )


def _processes_keys(spec: Any) -> str:
    """The recipe keys that set a run's process count, as written (``hardware.gpus 2, hardware.nodes 2``)."""
    hw = spec.hardware
    keys = [f"hardware.{key} {getattr(hw, key)}" for key in ("gpus", "processes") if getattr(hw, key) is not None]
    if hw.nodes != 1:
        keys.append(f"hardware.nodes {hw.nodes}")
    return ", ".join(keys)


def _plan_launch(
    spec: Any, run_device: str, forced_cpu: bool, hardware: Hardware, where: Any, notes: list[str]
) -> tuple[int | None, PlanLaunch | None]:
    """GPUs per machine and, for more than one process, how they start.

    On the CPU the processes are ``hardware.processes`` (``hardware.gpus`` is refused, or ignored
    with ``--device cpu``) and only DDP over gloo shards nothing; on GPUs one process drives each
    of ``hardware.gpus`` (``hardware.processes`` is refused) and ``hardware.strategy`` picks DDP,
    FSDP or DeepSpeed ZeRO. A sharding strategy with one process in all is refused.
    """
    hw = spec.hardware
    gpus = hw.gpus
    strategy = hw.strategy
    if run_device == "cpu":
        if gpus is not None:
            if not forced_cpu:
                raise PlanError(
                    f"{where}: hardware.gpus: {gpus} needs a CUDA GPU; this run is on the CPU",
                    hint="remove hardware.gpus (hardware.processes sets CPU processes), or run it on a GPU machine",
                )
            notes.append(f"--device cpu: hardware.gpus {gpus} ignored")
            gpus = None
        if strategy != "ddp":
            if not forced_cpu:
                raise PlanError(
                    f"{where}: hardware.strategy: {strategy} needs CUDA GPUs; this run is on the CPU",
                    hint="set hardware.strategy: ddp (the CPU's only one), or run it on GPU machines",
                )
            notes.append(f"--device cpu: hardware.strategy {strategy} → ddp")
            strategy = "ddp"
        per_node = hw.processes or 1
    else:
        if hw.processes is not None:
            raise PlanError(
                f"{where}: hardware.processes: {hw.processes} is for CPU runs; on GPUs each process drives one GPU",
                hint=f"set hardware.gpus: {hw.processes} instead",
            )
        per_node = gpus or 1
        if hardware.gpu_count and per_node > hardware.gpu_count:
            raise PlanError(
                f"{where}: hardware.gpus: {per_node} GPUs per machine, and {hardware.describe()} has {hardware.gpu_count}",
                hint=f"set hardware.gpus: {hardware.gpu_count} or less, or run it where the GPUs are (rrg launch --slurm)",
            )
    world = hw.nodes * per_node
    if world == 1:
        if strategy != "ddp":
            raise PlanError(
                f"{where}: hardware.strategy: {strategy} shards training over processes, and this run has one",
                hint="raise hardware.gpus or hardware.nodes, or remove hardware.strategy",
            )
        return gpus, None
    if strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise MissingDependencyError(
            f"{where}: hardware.strategy: {strategy} needs the deepspeed package, which is not installed",
            hint="pip install 'rrg-sdk[deepspeed]', or set hardware.strategy: ddp or fsdp",
        )
    launch = PlanLaunch(
        nodes=hw.nodes,
        processes_per_node=per_node,
        world_size=world,
        strategy=strategy,
        backend="gloo" if run_device == "cpu" else "nccl",
    )
    machines = f"{hw.nodes} machines × {per_node}" if hw.nodes > 1 else "one machine"
    what = "evaluation generation is sharded over them" if spec.stage.kind == "zero_shot" else (
        f"each optimizer step takes {world} × training.per_device_batch_size × training.gradient_accumulation_steps samples; "
        "evaluation generation is sharded over them"
    )
    notes.append(f"{world} processes ({machines}, {strategy} over {launch.backend}, started by torchrun): {what}")
    return gpus, launch


def _check_distributed(spec: Any, launch: PlanLaunch, adapter: PlanAdapter | None, generation: str, where: Any) -> None:
    """What rrg does not run in several processes: vLLM generation (its engine would claim each
    process's GPU as a whole), and 4-bit/8-bit base weights sharded by FSDP or ZeRO-3."""
    if generation == "vllm":
        raise PlanError(
            f"{where}: hardware.generation: vllm runs in one process, and this run has {launch.world_size} ({_processes_keys(spec)})",
            hint="set hardware.generation: transformers, or run one process",
        )
    if adapter is not None and adapter.kind == "qlora" and launch.strategy in ("fsdp", "deepspeed_zero3"):
        raise PlanError(
            f"{where}: adapter.kind: qlora: hardware.strategy {launch.strategy} would shard the {adapter.bits}-bit base weights, which rrg does not support",
            hint="use hardware.strategy: ddp or deepspeed_zero2 with qlora (each process holds the quantised base), or adapter.kind: lora",
        )


def _here(trainer: dict[str, Any]) -> dict[str, Any]:
    """TRL settings that this machine can check for other machines: without precision, device and sharding."""
    left_out = ("fsdp", "fsdp_config", "deepspeed")
    return {**{k: v for k, v in trainer.items() if k not in left_out}, "bf16": False, "fp16": False, "use_cpu": True}


DEEPSPEED_AUTO: dict[str, Any] = {
    "train_micro_batch_size_per_gpu": "auto",
    "train_batch_size": "auto",
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
    "bf16": {"enabled": "auto"},
    "fp16": {"enabled": "auto"},
}
"""The DeepSpeed settings transformers fills in from the TRL config (``auto``), so the recipe's
batch, accumulation, clipping and precision are the ones DeepSpeed runs with."""


def _strategy_kwargs(launch: PlanLaunch, gradient_checkpointing: bool) -> dict[str, Any]:
    """``hardware.strategy`` in transformers' words: FSDP2 through ``fsdp``/``fsdp_config`` (full
    state dicts, so checkpoints are ordinary adapter files; FSDP's own activation checkpointing),
    DeepSpeed ZeRO through a ``deepspeed`` config dict. DDP needs nothing: the Trainer wraps the
    model itself when torchrun's environment says there are several processes."""
    if launch.strategy == "fsdp":
        return {
            "fsdp": True,
            "fsdp_config": {
                "version": 2,
                "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                "state_dict_type": "FULL_STATE_DICT",
                "activation_checkpointing": gradient_checkpointing,
            },
            "activation_checkpointing": False,
        }
    if launch.strategy in ("deepspeed_zero2", "deepspeed_zero3"):
        stage = 2 if launch.strategy == "deepspeed_zero2" else 3
        zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
        if stage == 3:
            zero["stage3_gather_16bit_weights_on_model_save"] = True
        return {"deepspeed": {**DEEPSPEED_AUTO, "zero_optimization": zero}}
    return {}


TRACKER_PACKAGES: dict[str, tuple[str, ...]] = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "trackio": ("trackio",),
    "wandb": ("wandb",),
}
"""The packages transformers' integration of each tracker imports (any one of them will do)."""


def _require_trackers(report_to: list[str], where: Any) -> None:
    import importlib.util

    for tracker in report_to:
        packages = TRACKER_PACKAGES[tracker]
        if not any(importlib.util.find_spec(package) is not None for package in packages):
            raise MissingDependencyError(
                f"{where}: logging.report_to: {tracker} needs the {packages[0]} package, which is not installed",
                hint=f"pip install {packages[0]}, or remove {tracker} from logging.report_to",
            )


def build_trl_config(stage: str, kwargs: dict[str, Any], output_dir: str | Path) -> Any:
    """Instantiate TRL's ``SFTConfig`` or ``GRPOConfig`` (its ``__post_init__`` validates).

    The config modules are imported directly, not through ``trl``'s lazy top-level module."""
    if stage == "sft":
        from trl.trainer.sft_config import SFTConfig as config_class
    elif stage == "grpo":
        from trl.trainer.grpo_config import GRPOConfig as config_class
    else:
        raise ValueError(f"stage {stage!r} has no TRL config")
    return config_class(output_dir=str(output_dir), **kwargs)


TRL_CHECK_PACKAGES = ("trl", "transformers", "accelerate", "torch")
"""The packages whose code decides whether TRL accepts a config (``check_trl_config``)."""


def check_trl_config(stage: str, kwargs: dict[str, Any], hardware: Hardware) -> None:
    """Let TRL validate the settings of a plan, raising its ``ValueError`` when it rejects them.

    Importing TRL's configs takes seconds (they subclass transformers' ``TrainingArguments``, which
    imports PEFT and with it transformers' modelling code). So the settings TRL accepted are
    remembered in rrg's cache, under ``plan/trl-accepted-<key>.json`` where the key is the sha256 of
    the stage, the settings, this machine's accelerator facts and the versions of TRL,
    transformers, accelerate and torch; planning the same settings again skips the import. A
    rejection is never remembered: every error comes from TRL itself.
    """
    import dataclasses
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    from rrg.models.inventory import write_cache_file
    from rrg.paths import cache_dir

    versions = {}
    for package in TRL_CHECK_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    facts = {"stage": stage, "settings": kwargs, "hardware": dataclasses.asdict(hardware), "versions": versions}
    text = json.dumps(facts, sort_keys=True, default=str)
    marker = cache_dir() / "plan" / f"trl-accepted-{hashlib.sha256(text.encode()).hexdigest()}.json"
    if marker.is_file():
        return
    build_trl_config(stage, kwargs, "rrg-plan-check")
    write_cache_file(marker, text)


def _trainer_kwargs(spec: Any, device: str, precision: str, optimizer: str, launch: PlanLaunch | None = None) -> dict[str, Any]:
    """The recipe's training section in TRL's words, with every TRL default that rrg overrides set
    (and, for several processes, the sharding of ``hardware.strategy``)."""
    t = spec.training
    common: dict[str, Any] = {
        "seed": spec.seed,
        "data_seed": spec.seed,
        "learning_rate": t.learning_rate,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": t.per_device_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "warmup_steps": t.warmup_steps,
        "lr_scheduler_type": t.lr_scheduler,
        "optim": optimizer,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "logging_steps": t.logging_steps,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        # TRL turns these on by default, even on the CPU; the recipe decides. (transformers 5
        # renamed gradient_checkpointing to activation_checkpointing; TRL reads the old name,
        # which mirrors the new one.)
        "activation_checkpointing": t.gradient_checkpointing,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": device == "cpu",
        "report_to": list(spec.logging.report_to) if spec.logging is not None and spec.logging.report_to else "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
    }
    if spec.logging is not None and spec.logging.report_to:
        common["project"] = spec.logging.project or spec.name
    if launch is not None:
        common.update(_strategy_kwargs(launch, t.gradient_checkpointing))
    if spec.stage.kind == "sft":
        return {
            **common,
            "per_device_eval_batch_size": t.per_device_batch_size,
            "max_length": t.max_length,
            "completion_only_loss": True,
            "eval_strategy": "steps",
            "eval_steps": t.eval_steps,
            "load_best_model_at_end": True,
            "metric_for_best_model": "eval_loss",
            "greater_is_better": False,
        }
    g = spec.grpo
    return {
        **common,
        "eval_strategy": "no",
        "num_generations": g.num_generations,
        "loss_type": g.loss_type,
        "importance_sampling_level": g.importance_sampling_level,
        "max_completion_length": g.max_completion_length,
        "temperature": g.temperature,
        "beta": g.beta,
        "epsilon": g.epsilon,
        "scale_rewards": g.scale_rewards,
        "log_completions": False,
        **_vllm_grpo_kwargs(spec, device),
    }


VLLM_FAMILIES = ("qwen2_5_vl", "qwen3_vl", "medgemma")
"""Families vLLM generates with, as rrg loads them (transformers' classes and checkpoints). Not
DeepSeek-OCR, which rrg runs through its native implementation, nor DeepSeek-OCR-2 in
transformers' own checkpoint layout."""


def _generation_backend(
    spec: Any, family: Any, adapter: PlanAdapter | None, backend: str, run_device: str, forced_cpu: bool, hardware: Hardware, where: Any, notes: list[str]
) -> Literal["transformers", "vllm"]:
    """What generates text: ``hardware.generation``, checked against this machine and the recipe.

    vLLM needs a CUDA GPU (``--device cpu`` falls back to transformers, with a note), the ``vllm``
    package, a family it runs and the transformers backend (Unsloth has its own vLLM engine); it
    generates greedily (no beam search) with the checkpoint's own processor (no
    ``model.image_size``), and takes the adapter as a LoRA request, which cannot carry
    ``modules_to_save``, over 4-bit or unquantised base weights.
    """
    if spec.hardware.generation != "vllm":
        return "transformers"
    if run_device == "cpu":
        if forced_cpu:
            notes.append("--device cpu: generation vllm → transformers")
            return "transformers"
        raise PlanError(
            f"{where}: hardware.generation: vllm needs a CUDA GPU; this run is on the CPU",
            hint="set hardware.generation: transformers, run it on a GPU machine, or pass --device cpu",
        )
    if spec.model.family not in VLLM_FAMILIES:
        native = " (rrg's native implementation)" if spec.model.family == "deepseek_ocr" else ""
        raise PlanError(
            f"{where}: hardware.generation: vllm does not run the {family.display_name} rrg loads{native}",
            hint="set hardware.generation: transformers",
        )
    if backend == "unsloth":
        raise PlanError(
            f"{where}: hardware.generation: vllm runs with the transformers backend (Unsloth brings its own vLLM engine, which rrg does not drive)",
            hint="set hardware.backend: auto or transformers, or hardware.generation: transformers",
        )
    if not hardware.vllm:
        raise MissingDependencyError(f"{where}: hardware.generation: vllm needs the vllm package, which is not installed", hint="pip install 'rrg-sdk[vllm]'")
    if spec.evaluation.num_beams > 1:
        raise PlanError(
            f"{where}: evaluation.num_beams: {spec.evaluation.num_beams}: with hardware.generation: vllm rrg generates greedily",
            hint="set evaluation.num_beams: 1, or hardware.generation: transformers for beam search",
        )
    if adapter is not None and adapter.modules_to_save:
        raise PlanError(
            f"{where}: adapter.modules_to_save: vLLM loads a LoRA adapter only without modules_to_save ({', '.join(adapter.modules_to_save)})",
            hint="set adapter.modules_to_save: [], or hardware.generation: transformers",
        )
    if spec.model.image_size is not None:
        raise PlanError(
            f"{where}: model.image_size: {spec.model.image_size}: rrg sets it on its own processor, and vLLM runs the checkpoint's",
            hint="remove model.image_size, or set hardware.generation: transformers",
        )
    if adapter is not None and adapter.bits == 8:
        raise PlanError(
            f"{where}: adapter.bits: 8: vLLM does not run 8-bit bitsandbytes base weights",
            hint="set adapter.bits: 4, or hardware.generation: transformers",
        )
    return "vllm"


def _vllm_grpo_kwargs(spec: Any, device: str) -> dict[str, Any]:
    """GRPO's TRL settings for ``hardware.generation: vllm`` (empty otherwise, and on the CPU, where
    the plan has refused vLLM or fallen back to transformers): TRL's vLLM integration, colocated
    on the training GPU, its context as long as ``training.max_length`` (prompt and completion
    must fit in it). Its other settings are TRL's defaults (``vllm_gpu_memory_utilization`` 0.3,
    importance-sampling correction of the vLLM/trainer log-probability mismatch on)."""
    if spec.hardware.generation != "vllm" or device != "cuda":
        return {}
    return {"use_vllm": True, "vllm_mode": "colocate", "vllm_max_model_length": spec.training.max_length}


def _model_source(family: Any, model_id: str, where: Any) -> str:
    """The tiny twin's folder, a local model folder (resolved) or a Hub id. An id written as a
    path (``/``, ``.`` or ``~`` first) must be a folder holding a saved model."""
    if model_id == "tiny":
        return str(family.tiny_path())
    local = Path(model_id).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise PlanError(
                f"{where}: model.id: folder {model_id} holds no model (no config.json)",
                hint="point model.id at a folder written by save_pretrained, or give a Hub id",
            )
        return str(local.resolve())
    if model_id.startswith(("/", ".", "~")):
        raise PlanError(
            f"{where}: model.id: folder {model_id} does not exist",
            hint="check the path, or give a Hub id such as Qwen/Qwen3-VL-4B-Instruct",
        )
    return model_id


def _plan_data(spec: Any, where: Any, registry: Any = None) -> PlanData:
    """The data a run reads: each training data set and the evaluation split, counted from the
    question files; ``data.expect`` checked against the counts. A registered ``data.dataset``
    (``NAME@VERSION``) is resolved through ``registry`` (default: ``Registry.default()``) to its
    root, FLARE data set and category, and every split read must be registered in that version."""
    from rrg.data.flare import REPORT_GENERATION, count_questions
    from rrg.data.layout import resolve_data_root
    from rrg.datasets import is_dataset_ref, require_registered_split, resolve

    data = spec.data
    trains = spec.stage.kind != "zero_shot"
    eval_split = spec.evaluation.split or data.eval_split
    registered = None
    if is_dataset_ref(data.dataset):
        registered = resolve(data.dataset, registry, category=data.category, eval_split=eval_split, where=where)
        # data.root beside a registered name: the same registered content, read from a copy elsewhere
        # (another machine's mount); the fingerprints are checked all the same
        root = data.root if data.root is not None else registered.root
        data = data.model_copy(update={"root": root, "dataset": registered.flare_dataset, "category": registered.category})
        spec = spec.model_copy(update={"data": data})
    try:
        root = resolve_data_root(data.root, data.dataset, data.category)
    except RrgError as exc:  # name the recipe the setting comes from
        raise type(exc)(f"{where}: {exc.message}", hint=exc.hint) from None

    if registered is not None and registered.version is not None:  # before any file is read: the splits read are those registered
        require_registered_split(registered.version, data.dataset, eval_split, data.category, where, "data.eval_split")
        if trains and data.train is None:
            require_registered_split(registered.version, data.dataset, data.train_split, data.category, where, "data.train_split")
    train_datasets = _plan_training_datasets(spec, root, where) if trains else None
    version = registered.version if registered is not None else None
    if version is not None:
        for source in train_datasets or []:
            require_registered_split(registered.version, source.dataset, data.train_split, source.category, where, "data.train_split")
    try:
        evaluated = count_questions(root, data.dataset, eval_split, data.category, limit=data.max_eval_samples, task_types=REPORT_GENERATION)
    except RrgError as exc:
        raise type(exc)(f"{where}: data.dataset {data.dataset}: {exc.message}", hint=exc.hint) from None
    plan_data = PlanData(
        root=str(root),
        dataset=data.dataset,
        category=data.category,
        dataset_version=version.ref if version is not None else None,
        dataset_version_id=version.id if version is not None else None,
        train_split=data.train_split if trains else None,
        eval_split=eval_split,
        train_datasets=train_datasets,
        train_size=sum(d.size for d in train_datasets) if train_datasets is not None else None,
        eval_size=evaluated.size,
        expect=dict(data.expect) if data.expect else None,
        image_policy=data.image_policy,
        max_image_pixels=data.max_image_pixels,
        credentialed=data.credentialed or (version is not None and version.credentialed),
        license=data.license or (version.license if version is not None else None),
    )
    problem = expectation_problem(plan_data, plan_data.train_size, plan_data.eval_size)
    if problem is not None:
        raise PlanError(f"{where}: {problem}", hint=EXPECT_HINT)
    return plan_data


EXPECT_HINT = "check that data.root holds the data the recipe was written for, or correct data.expect (--set data.expect=null drops the check)"


def expectation_problem(data: PlanData, train_size: int | None, eval_size: int, skipped: dict[str, int] | None = None) -> str | None:
    """The first ``data.expect`` entry the sizes break, as ``data.expect.<split>: expected N samples,
    the split has M``; None when every expectation holds. ``skipped`` (split → samples dropped for
    image problems) is named when the sizes are those read at run time."""
    from rrg.data.layout import SPLIT_ALIASES

    def canonical(split: str | None) -> str | None:
        return SPLIT_ALIASES.get(split, split) if split is not None else None

    for key, expected in (data.expect or {}).items():
        split = canonical(key)
        sizes = []
        if train_size is not None and split == canonical(data.train_split):
            sizes.append((train_size, data.train_split))
        if split == canonical(data.eval_split):
            sizes.append((eval_size, data.eval_split))
        for size, name in sizes:
            if size != expected:
                several = name == data.train_split and data.train_datasets is not None and len(data.train_datasets) > 1
                detail = f" in its {len(data.train_datasets)} training data sets" if several else ""  # type: ignore[arg-type]
                dropped = (skipped or {}).get(name, 0)
                after = f" after {dropped} samples were skipped for image problems" if dropped else ""
                return f"data.expect.{key}: expected {expected} samples, the split has {size}{detail}{after}"
    return None


def _plan_training_datasets(spec: Any, root: Path, where: Any) -> list[PlanTrainingDataset]:
    """``data.train`` resolved (``all`` expanded, caps combined), each data set counted; GRPO only
    trains on report generation (its rewards score report text)."""
    from rrg.data.flare import count_questions
    from rrg.data.tasks import task_kind
    from rrg.data.training import TrainingSource, find_training_datasets, weighted_rows

    data = spec.data

    def cap(own: int | None) -> int | None:
        caps = [c for c in (own, data.max_train_samples) if c is not None]
        return min(caps) if caps else None

    if data.train is None:
        sources = [(TrainingSource(data.dataset, data.category, None, cap(None), 1.0), "data.dataset")]
    elif data.train == "all":
        found = find_training_datasets(root, data.train_split)
        if not found:
            raise PlanError(
                f"{where}: data.train: all: no data set with a question file under {root / data.train_split}",
                hint="check data.root and data.train_split, or list the data sets in data.train",
            )
        sources = [(TrainingSource(name, category, None, cap(None), 1.0), f"data.train (all) {name}") for category, name in found]
    else:
        sources = [
            (
                TrainingSource(
                    entry.dataset,
                    entry.category or data.category,
                    tuple(entry.task_types) if entry.task_types else None,
                    cap(entry.max_samples),
                    entry.weight,
                ),
                f"data.train.{index} {entry.dataset}",
            )
            for index, entry in enumerate(data.train)
        ]
    planned = []
    for source, key in sources:
        try:
            counted = count_questions(root, source.dataset, data.train_split, source.category, limit=source.max_samples, task_types=source.task_types)
        except RrgError as exc:
            raise type(exc)(f"{where}: {key}: {exc.message}", hint=exc.hint) from None
        rows = weighted_rows(counted.size, source.weight)
        if counted.size and not rows:
            raise PlanError(
                f"{where}: {key}: weight {source.weight:g} leaves none of its {counted.size} samples in the training mix",
                hint="raise its weight, or leave the data set out of data.train",
            )
        if spec.stage.kind == "grpo":
            other = sorted(t for t in counted.task_types if task_kind(t) != "report_generation")
            if other:
                raise PlanError(
                    f"{where}: {key}: stage grpo rewards report text, and this data set has {', '.join(other)} samples",
                    hint="give it task_types: [Report Generation], or train those task types with stage sft",
                )
        planned.append(
            PlanTrainingDataset(
                dataset=source.dataset,
                category=source.category,
                task_filter=list(source.task_types) if source.task_types else None,
                max_samples=source.max_samples,
                weight=source.weight,
                size=counted.size,
                rows=rows,
                task_types=counted.task_types,
            )
        )
    return planned


def _count_parameters(family: Any, source: str, model_spec: Any, adapter: PlanAdapter | None) -> PlanParameters:
    """Count parameters on the meta device from the model's config: no weights are read. The
    counts of a config are cached (:mod:`rrg.models.inventory`), so a later plan of the same model
    imports neither torch nor transformers."""
    import re

    from rrg.models.inventory import parameter_inventory

    try:
        inventory = parameter_inventory(family, source, revision=model_spec.revision)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return PlanParameters(total=None, trainable=None, lora_modules=None, note=f"config of {source} not available offline ({type(exc).__name__})")
    total = inventory.total
    dims = {"hidden_size": inventory.hidden_size, "num_layers": inventory.num_layers}
    if adapter is None:
        return PlanParameters(total=total, trainable=total, lora_modules=None, **dims)
    targets = adapter.target_modules
    matched = trainable = 0
    for name, in_features, out_features in inventory.linears:
        if isinstance(targets, str):
            hit = targets == "all-linear" or re.fullmatch(targets, name) is not None
        else:
            hit = name.rsplit(".", 1)[-1] in targets
        if hit and not name.endswith("lm_head"):
            matched += 1
            trainable += adapter.r * (in_features + out_features)
    trainable += sum(inventory.params_by_leaf.get(leaf, 0) for leaf in set(adapter.modules_to_save))
    return PlanParameters(total=total, trainable=trainable, lora_modules=matched, **dims)


def _estimate_memory(spec: Any, parameters: PlanParameters, precision: str, adapter: PlanAdapter | None, training: Any) -> PlanMemory | None:
    if parameters.total is None:
        return None
    gib = 2.0**30
    weight_bytes = BYTES_PER_PARAM[precision]
    if adapter is not None and adapter.bits:
        weight_bytes = adapter.bits / 8 + 0.05  # quantised blocks plus their constants
    weights = parameters.total * weight_bytes
    trainable = 0.0
    activations = 0.0
    if spec.stage.kind != "zero_shot" and training is not None:
        optimizer_bytes = 2.0 if training.optimizer == "adamw_8bit" else 8.0
        trainable = (parameters.trainable or 0) * (4.0 + 4.0 + optimizer_bytes)
        hidden, layers = _text_dims(spec, parameters)
        tokens = training.per_device_batch_size * training.max_length
        activations = tokens * hidden * layers * 16 * BYTES_PER_PARAM[precision]
        if training.gradient_checkpointing:
            activations /= max(layers, 1) ** 0.5
    else:
        tokens = spec.evaluation.batch_size * (spec.evaluation.max_new_tokens + 512)
        hidden, layers = _text_dims(spec, parameters)
        activations = tokens * hidden * layers * 4 * BYTES_PER_PARAM[precision]
    total = weights + trainable + activations
    return PlanMemory(
        weights_gib=round(weights / gib, 3),
        trainable_gib=round(trainable / gib, 3),
        activations_gib=round(activations / gib, 3),
        total_gib=round(total / gib, 3),
    )


def _text_dims(spec: Any, parameters: PlanParameters) -> tuple[int, int]:
    """Hidden size and depth of the language model (from its config)."""
    return parameters.hidden_size or 4096, parameters.num_layers or 32


TRL_TO_RECIPE_KEYS: dict[str, tuple[str, ...]] = {
    "generation_batch_size": ("training.per_device_batch_size", "training.gradient_accumulation_steps"),
    "per_device_train_batch_size": ("training.per_device_batch_size",),
    "per_device_eval_batch_size": ("training.per_device_batch_size",),
    "gradient_accumulation_steps": ("training.gradient_accumulation_steps",),
    "steps_per_generation": ("training.gradient_accumulation_steps",),
    "num_generations": ("grpo.num_generations",),
    "max_completion_length": ("grpo.max_completion_length",),
    "loss_type": ("grpo.loss_type",),
    "importance_sampling_level": ("grpo.importance_sampling_level",),
    "temperature": ("grpo.temperature",),
    "beta": ("grpo.beta",),
    "epsilon": ("grpo.epsilon",),
    "scale_rewards": ("grpo.scale_rewards",),
    "use_vllm": ("hardware.generation",),
    "vllm_max_model_length": ("training.max_length",),
    "report_to": ("logging.report_to",),
    "learning_rate": ("training.learning_rate",),
    "max_steps": ("training.max_steps",),
    "num_train_epochs": ("training.epochs",),
    "warmup_steps": ("training.warmup_steps",),
    "eval_steps": ("training.eval_steps",),
    "save_steps": ("training.save_steps",),
    "logging_steps": ("training.logging_steps",),
    "save_total_limit": ("training.save_total_limit",),
    "max_length": ("training.max_length",),
    "optim": ("training.optimizer",),
    "bf16": ("hardware.precision",),
    "fsdp": ("hardware.strategy",),
    "fsdp_config": ("hardware.strategy",),
    "deepspeed": ("hardware.strategy",),
    "fp16": ("hardware.precision",),
}
"""The recipe keys behind the TRL config fields rrg sets, to name them when TRL rejects a value."""


def _recipe_keys(message: str, trainer: dict[str, Any]) -> list[str]:
    """The recipe keys behind the TRL fields a TRL error message names, in the order named."""
    import re

    named = sorted(
        (match.start(), field)
        for field in TRL_TO_RECIPE_KEYS
        if field in trainer or field in ("generation_batch_size", "steps_per_generation")
        for match in [re.search(rf"(?<![\w.]){re.escape(field)}(?!\w)", message)]
        if match is not None
    )
    keys: list[str] = []
    for _, field in named:
        keys += [k for k in TRL_TO_RECIPE_KEYS[field] if k not in keys]
    return keys


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
