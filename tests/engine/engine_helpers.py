"""The demo recipes with small overrides, and the zero-shot → SFT → GRPO chain the engine tests run.

Every run here goes through the real engine (``Recipe.load(...).run(registry=..., output_dir=...)``)
on a tiny random-weight twin and the bundled demo set: a few optimizer steps, a few samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cli_assertions import assert_one_line_error  # noqa: F401 - the engine tests take it from here
from rrg_registry import GREEN_FLARE_COMPONENTS

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"
DEMO = RECIPES / "demo"

FAST_FAMILY = "qwen2_5_vl"
"""The family of the chain in the default suite (the demo's own); the others run under -m slow."""

SMALL_EVAL: tuple[str, ...] = (
    "data.max_eval_samples=4",
    "evaluation.batch_size=4",
    "evaluation.max_new_tokens=16",
)
SMALL_SFT: tuple[str, ...] = (
    *SMALL_EVAL,
    "data.max_train_samples=8",
    "training.max_steps=4",
    "training.per_device_batch_size=2",
    "training.eval_steps=2",
    "training.save_steps=2",
    "training.logging_steps=1",
    "training.warmup_steps=0",
    "training.save_total_limit=null",
)
SMALL_GRPO: tuple[str, ...] = (
    *SMALL_EVAL,
    "data.max_train_samples=8",
    "training.max_steps=3",
    "training.per_device_batch_size=4",  # two prompts x two generations per step
    "training.save_steps=2",  # a checkpoint at step 2 from the trainer, the last step exported after
    "training.eval_steps=2",  # the policy scored on the evaluation samples at step 2 (eval/<metric>)
    "training.logging_steps=1",
    "training.weight_decay=0",  # any change in the adapter comes from the reward's gradient
    "grpo.max_completion_length=16",
)
SMALL = {"zero_shot": SMALL_EVAL, "sft": SMALL_SFT, "grpo": SMALL_GRPO}
STAGE_RECIPES = {"zero_shot": DEMO / "zero-shot.yaml", "sft": DEMO / "sft.yaml", "grpo": DEMO / "grpo.yaml"}


def stage_overrides(stage: str, family: str = FAST_FAMILY, extra: Sequence[str] = ()) -> list[str]:
    return [f"model.family={family}", *SMALL[stage], *extra]


def load_recipe(stage: str, registry: object, family: str = FAST_FAMILY, extra: Sequence[str] = ()):
    """A demo recipe of ``stage`` with the small overrides (and ``extra`` ones)."""
    from rrg.recipe import Recipe

    return Recipe.load(STAGE_RECIPES[stage], overrides=stage_overrides(stage, family, extra), registry=registry)


@dataclass(frozen=True)
class Chain:
    """Zero-shot, SFT and GRPO (from that SFT run) of one family, recorded in one registry."""

    family: str
    registry: object
    output_dir: Path
    zero_shot: object
    sft: object
    grpo: object


def run_chain(family: str, registry: object, output_dir: Path) -> Chain:
    runs = {stage: load_recipe(stage, registry, family).run(registry=registry, output_dir=output_dir) for stage in ("zero_shot", "sft", "grpo")}
    return Chain(family=family, registry=registry, output_dir=output_dir, **runs)


# ---------------------------------------------------------------- what every recorded run must hold

REPORT_METRICS = ("green_flare", "bleu4_flare", "ce", "rouge_l")
COMPONENTS = GREEN_FLARE_COMPONENTS
EVAL_SAMPLES = 4


def load_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "adapter_model.safetensors"))


def check_evaluation(run) -> None:
    """Succeeded, the report metrics and seven components recorded, one prediction per sample."""
    import math

    assert run.status == "succeeded", run.error
    metrics = run.metrics
    for name in REPORT_METRICS:
        assert 0.0 <= metrics[name] <= 1.0, name
    components = run.components
    for name in COMPONENTS:
        assert components[name] is not None and 0.0 <= components[name] <= 1.0, name
    assert math.isclose(components["overall"], metrics["green_flare"])
    predictions = run.predictions()
    assert len(predictions) == EVAL_SAMPLES == run.detail.prediction_counts["validation-public"]
    assert all(p.reference and p.question for p in predictions)
    assert len({p.sample_id for p in predictions}) == EVAL_SAMPLES


def check_checkpoints(run, *, expect_steps: Sequence[int], eval_loss: bool) -> object:
    """Each checkpoint recorded as saved: step, folder on disk, sha256 and size of its weights
    file as they are on disk, eval loss for SFT; exactly one best, the one the run hands on. Returns the best."""
    import hashlib

    checkpoints = sorted(run.checkpoints, key=lambda c: c.step)
    assert [c.step for c in checkpoints] == list(expect_steps)
    for checkpoint in checkpoints:
        folder = Path(checkpoint.path)
        weights = folder / "adapter_model.safetensors"
        assert folder.name == f"checkpoint-{checkpoint.step}" and weights.is_file()
        assert checkpoint.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
        assert checkpoint.size == weights.stat().st_size
        assert (checkpoint.eval_loss is not None) == eval_loss
    best = [c for c in checkpoints if c.best]
    assert len(best) == 1
    assert run.adapter_path == Path(best[0].path)
    if eval_loss:
        assert best[0].eval_loss == min(c.eval_loss for c in checkpoints)
    return best[0]


def check_loads_back(family_name: str, adapter_path: Path, saved: dict) -> None:
    """The handed-on adapter loads onto the tiny base with every saved tensor in place (LoRA
    matrices and the trained copies of modules_to_save), as the engine loads it to evaluate."""
    import torch
    from rrg.models import get_family

    family = get_family(family_name)
    model, _ = family.load("tiny")
    loaded = family.load_adapter(model, adapter_path).state_dict()
    by_saved_name = {}
    for key, value in loaded.items():
        name = key.replace(".modules_to_save.default.", ".").replace(".default.", ".")
        if name in saved:
            by_saved_name[name] = value
    assert by_saved_name.keys() == saved.keys()
    assert all(torch.equal(by_saved_name[k], saved[k]) for k in saved)


def check_chain(chain: Chain) -> None:
    """Everything the issue asks of a family's zero-shot → SFT → GRPO chain."""
    import torch

    check_evaluation(chain.zero_shot)
    assert chain.zero_shot.checkpoints == [] and chain.zero_shot.parent_id is None
    assert chain.zero_shot.detail.run.model_family == chain.family

    # SFT: validation loss at steps 2 and 4, the adapter learned (PEFT starts every lora_B at zero)
    sft = chain.sft
    check_evaluation(sft)
    check_checkpoints(sft, expect_steps=[2, 4], eval_loss=True)
    for name in ("before/green_flare", "train/loss", "train/eval_loss"):
        assert name in sft.metrics, name
    sft_weights = load_tensors(sft.adapter_path)
    lora_b = {k: v for k, v in sft_weights.items() if "lora_B" in k}
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b.values())
    check_loads_back(chain.family, sft.adapter_path, sft_weights)
    train_losses = [m for m in sft.detail.metric_history if m.name == "train/loss"]
    assert sorted(m.step for m in train_losses) == [1, 2, 3, 4]

    # GRPO: from the SFT run's adapter, reward terms every step, the adapter moved
    grpo = chain.grpo
    check_evaluation(grpo)
    assert grpo.parent_id == sft.id and grpo.detail.run.adapter == f"run:{sft.id}"
    check_checkpoints(grpo, expect_steps=[2, 3], eval_loss=False)
    history = grpo.detail.metric_history
    for term in ("clinical", "format", "rouge"):
        steps = sorted(m.step for m in history if m.name == f"train/reward_terms/{term}")
        assert steps == [1, 2, 3], term
    assert any(m.name == "train/reward_std" and m.value > 0 for m in history)  # something to learn from
    grpo_weights = load_tensors(grpo.adapter_path)
    assert grpo_weights.keys() == sft_weights.keys()
    moved = [k for k in sft_weights if not torch.equal(sft_weights[k], grpo_weights[k])]
    assert any("lora_" in k for k in moved)
    assert grpo.metrics["before/green_flare"] == sft.metrics["green_flare"]  # the parent, re-scored


def snapshot(registry) -> tuple:
    """What a refused start must not change: the runs and the recipe versions recorded."""
    return (
        [r.id for r in registry.search_runs()],
        [(v.name, v.version, v.hash) for v in registry.list_recipe_versions()],
    )
