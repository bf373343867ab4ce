"""Model cards: typed metadata (``huggingface_hub.ModelCardData``) plus a Jinja2 body from ``cards/``.

:func:`render_card` builds the metadata in Python (base model, licence, tags, ``model-index`` from
``EvalResult`` objects), renders the body template with ``StrictUndefined`` so a missing value
fails instead of printing a placeholder, and :func:`validate_card` parses the text back with
``huggingface_hub.ModelCard`` and checks that the metadata survives the round trip unchanged.
Everything comes from the run record; nothing reads the clock, so a run renders to the same card
every time (which keeps re-publishing free of empty commits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError
from rrg.hub.licenses import LicenseDecision, data_license, decide_license
from rrg.results.names import COMPONENT_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from huggingface_hub import ModelCard, ModelCardData

    from rrg.hub.run_record import PublishableRun

DEFAULT_TEMPLATE = "adapter"
PIPELINE_TAG = "image-text-to-text"
TOPIC_TAGS = ("radiology", "chest-x-ray", "report-generation", "rrg")
TASK_NAME = "Chest X-ray report generation"
DATASET_HUB_IDS: dict[str, str] = {"IU_XRay": "FLARE-MedFM/FLARE-Task5-MLLM-2D"}
"""FLARE data set folder → the Hub data set of the FLARE 2025 Task 5 benchmark it belongs to."""
METRIC_LABELS: dict[str, str] = {
    "green_flare": "green_flare (FLARE 2025 lexical GREEN)",
    "bleu4_flare": "BLEU-4 (FLARE per-sample)",
    "bleu4": "BLEU-4 (corpus)",
    "ce": "Clinical efficacy",
    "rouge_l": "ROUGE-L F1",
    "radgraph_f1": "RadGraph F1",
}
STAGE_TITLES = {
    "sft": "supervised fine-tuning (SFT)",
    "grpo": "GRPO reinforcement learning",
    "zero_shot": "zero-shot evaluation",
}
ROUND = 4
"""Decimals of the metric values in the card (full precision is in rrg_results.json)."""
EXAMPLE_CHARS = 300


class CardError(RrgError):
    """A rendered card does not pass validation."""


@dataclass(frozen=True)
class RenderedCard:
    """A card's text, the metadata it was rendered from and the licence decision behind it."""

    text: str
    metadata: ModelCardData
    license: LicenseDecision
    template: str


def render_card(
    record: PublishableRun,
    repo: str,
    *,
    template: str = DEFAULT_TEMPLATE,
    license: str | None = None,
    data_license_id: str | None = None,
) -> RenderedCard:
    """Render and validate the card of ``record`` for Hub repo ``repo``.

    ``license`` overrides the recipe's ``publish.license``; ``data_license_id`` the recipe's
    ``data.license`` (see :mod:`rrg.hub.licenses` for the rule).
    """
    import jinja2

    from rrg.builtin import card_template

    shipped = card_template(template)
    if shipped is None:
        from rrg.builtin import CARD_TEMPLATES

        raise RrgError(
            f"no card template called {template!r}",
            hint="use one of " + ", ".join(t.name for t in CARD_TEMPLATES),
        )
    spec = record.spec
    data = data_license(record.dataset, record.data_license, data_license_id)
    requested = license or (spec.publish.license if spec.publish is not None else None)
    decision = decide_license(record.base_model, data, requested)
    metadata = card_metadata(record, repo, decision)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(shipped.path.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["num"] = _number
    environment.filters["clip"] = _clip
    try:
        text = environment.get_template(shipped.path.name).render(
            card_data=metadata.to_yaml(), card=card_context(record, repo, decision)
        )
    except jinja2.UndefinedError as exc:
        raise CardError(
            f"card template {shipped.path}: {exc.message}",
            hint="every value a template uses must come from the run record",
        ) from exc
    validate_card(text, metadata)
    return RenderedCard(text=text, metadata=metadata, license=decision, template=template)


def card_metadata(record: PublishableRun, repo: str, decision: LicenseDecision) -> ModelCardData:
    """The card's YAML header as ``ModelCardData``, with ``model-index`` built from ``EvalResult``s."""
    from huggingface_hub import EvalResult, ModelCardData

    dataset = record.dataset
    hub_dataset = None if record.demo_data else DATASET_HUB_IDS.get(dataset)
    if hub_dataset is not None:
        dataset_type, dataset_name = hub_dataset, f"FLARE 2025 Task 5 {dataset}"
    else:
        dataset_type, dataset_name = (
            f"rrg-demo-{dataset}".lower().replace("_", "-"),
            f"rrg demo set ({dataset} report text, synthetic images)",
        )
    values: list[tuple[str, str, float | None]] = [
        ("green_flare", METRIC_LABELS["green_flare"], record.metrics.get("green_flare")),
        *(
            (f"green_flare_{name}", f"green_flare: {label}", record.components.get(name))
            for name, label in COMPONENT_LABELS.items()
        ),
        ("bleu4_flare", METRIC_LABELS["bleu4_flare"], record.metrics.get("bleu4_flare")),
        ("ce", METRIC_LABELS["ce"], record.metrics.get("ce")),
    ]
    eval_results = [
        EvalResult(
            task_type=PIPELINE_TAG,
            task_name=TASK_NAME,
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_config=dataset,
            dataset_split=record.split,
            metric_type=metric,
            metric_name=label,
            metric_value=round(value, ROUND),
        )
        for metric, label, value in values
        if value is not None and math.isfinite(value)
    ]
    tags = [*TOPIC_TAGS, record.stage.replace("_", "-"), "lora", record.family.replace("_", "-")]
    if decision.non_commercial:
        tags.append("non-commercial")
    if record.tiny:
        tags.append("tiny-random-twin")
    license_ = decision.adapter
    return ModelCardData(
        base_model=record.base_model,
        base_model_relation="adapter",
        library_name="peft",
        pipeline_tag=PIPELINE_TAG,
        license=license_.id,
        license_name=license_.name,
        license_link=license_.link,
        language=["en"],
        datasets=[hub_dataset] if hub_dataset else None,
        tags=tags,
        model_name=repo.split("/", 1)[1],
        eval_results=eval_results,
    )


def validate_card(text: str, expected: ModelCardData | None = None) -> ModelCard:
    """Parse ``text`` with ``huggingface_hub.ModelCard`` and check what the Hub needs of an adapter card.

    With ``expected``, the parsed metadata must equal it (nothing lost or mangled in the YAML).
    """
    from huggingface_hub import ModelCard

    from rrg.hub.run_record import is_hub_id

    try:
        card = ModelCard(text)
    except ValueError as exc:
        raise CardError(
            f"model card metadata does not parse: {str(exc).splitlines()[0]}",
            hint="check the YAML header of the card",
        ) from exc
    data = card.data
    problems: list[str] = []
    base = data.get("base_model")
    if not isinstance(base, str) or not is_hub_id(base):
        problems.append(f"base_model must be a Hub id (org/name), got {base!r}")
    for key, wanted in (
        ("base_model_relation", "adapter"),
        ("library_name", "peft"),
        ("pipeline_tag", PIPELINE_TAG),
    ):
        if data.get(key) != wanted:
            problems.append(f"{key} must be {wanted!r}, got {data.get(key)!r}")
    if not data.get("license"):
        problems.append("license is missing")
    elif data.get("license") == "other" and not (
        data.get("license_name") and data.get("license_link")
    ):
        problems.append("license other needs license_name and license_link")
    missing_tags = [t for t in TOPIC_TAGS if t not in (data.get("tags") or [])]
    if missing_tags:
        problems.append("tags lack " + ", ".join(missing_tags))
    metrics = {r.metric_type for r in (data.eval_results or [])}
    if "green_flare" not in metrics:
        problems.append("model-index has no green_flare result")
    if "[More Information Needed]" in card.text:
        problems.append("the body has unfilled placeholders")
    if expected is not None and data.to_dict() != expected.to_dict():
        problems.append("the parsed metadata differs from the metadata rendered")
    if problems:
        raise CardError(
            "model card is not valid: " + "; ".join(problems),
            hint="fix the card template under cards/",
        )
    return card


def card_context(record: PublishableRun, repo: str, decision: LicenseDecision) -> dict[str, Any]:
    """Every value the body template uses, from the run record (the template adds only prose)."""
    from rrg.metrics.green_flare import COMPONENT_WEIGHTS

    spec = record.spec
    adapter = spec.adapter
    metric_names = [
        m for m in ("green_flare", "bleu4_flare", "ce", "rouge_l") if m in record.metrics
    ]
    metric_names += [m for m in record.metrics if m not in metric_names]
    revision_arg = f', revision="{record.base_revision}"' if record.base_revision else ""
    remote_arg = ", trust_remote_code=True" if record.trust_remote_code else ""
    return {
        "repo": repo,
        "title": f"{record.family_display} {STAGE_TITLES.get(record.stage, record.stage)} adapter for chest X-ray report generation",
        "tiny": record.tiny,
        "family": record.family,
        "family_display": record.family_display,
        "base_model": record.base_model,
        "base_revision": record.base_revision,
        "base_load_args": f'"{record.base_model}"{revision_arg}{remote_arg}',
        "remote_code_arg": remote_arg,
        "stage": record.stage,
        "stage_title": STAGE_TITLES.get(record.stage, record.stage),
        "run_id": record.run_id,
        "recipe_ref": record.recipe_ref,
        "recipe_hash": record.detail.recipe.hash,
        "recipe_yaml": record.recipe_yaml.rstrip("\n"),
        "registered_model": (
            None
            if record.registered_model is None
            else {
                "name": record.registered_model.name,
                "version": record.registered_model.version,
                "ref": record.registered_model.ref,
            }
        ),
        "adapter": {
            "kind": adapter.kind,
            "r": getattr(adapter, "r", None),
            "alpha": getattr(adapter, "alpha", None),
            "dropout": getattr(adapter, "dropout", None),
            "vision": getattr(adapter, "vision", False),
            "modules_to_save": list(getattr(adapter, "modules_to_save", None) or []),
        },
        "data": {
            "dataset": record.dataset,
            "demo": record.demo_data,
            "hub_id": None if record.demo_data else DATASET_HUB_IDS.get(record.dataset),
            "datasets": [
                {
                    "name": d.name,
                    "split": d.split,
                    "size": d.size,
                    "fingerprint": d.fingerprint[:12],
                }
                for d in record.detail.datasets
            ],
            "license": decision.data.describe(),
            "license_id": decision.data.id,
            "non_commercial": decision.data.non_commercial,
            "credentialed": record.credentialed,
            "version": (
                None
                if record.dataset_version is None
                else {
                    "ref": record.dataset_version.ref,
                    "content_hash": record.dataset_version.content_hash[:12],
                }
            ),
        },
        "license": {
            "id": decision.adapter.id,
            "title": decision.adapter.describe(),
            "link": decision.adapter.link,
            "reason": decision.reason,
            "non_commercial": decision.non_commercial,
            "base": decision.base.describe() if decision.base else "not known to rrg",
        },
        "split": record.split,
        "n": record.n,
        "metrics": [
            {
                "name": name,
                "label": METRIC_LABELS.get(name, name),
                "value": record.metrics[name],
                "before": record.before.get(name),
            }
            for name in metric_names
        ],
        "has_before": bool(record.before),
        "components": [
            {
                "name": name,
                "label": label,
                "weight": COMPONENT_WEIGHTS[name],
                "value": record.components.get(name),
                "before": record.before.get(name),
            }
            for name, label in COMPONENT_LABELS.items()
        ],
        "severity_correlation": record.components.get("severity_correlation"),
        "lineage": [
            {
                "run_id": step.run_id,
                "recipe": step.recipe,
                "stage": step.stage,
                "model_id": step.model_id,
                "green_flare": step.green_flare,
                "split": step.split,
                "n": step.n,
                "before_green_flare": step.before_green_flare,
                "started_from": step.started_from,
                "published": step.published,
            }
            for step in record.lineage
        ],
        "examples": [
            {
                "sample_id": e.sample_id,
                "question": e.question,
                "prediction": e.prediction,
                "reference": e.reference,
            }
            for e in record.examples
        ],
        "final_eval_loss": record.training.get("eval_loss"),
        "packages": dict(sorted(record.detail.run.package_versions.items())),
    }


def _number(value: Any, digits: int = ROUND) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _clip(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """One line of at most ``limit`` characters (example outputs of undertrained models run on)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
