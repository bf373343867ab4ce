"""Find the adapter a recipe starts from: a registry run's, a GRPO parent's, or one pulled from the Hub."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrg.errors import RrgError

HUB_REF = re.compile(r"^hub:(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
RUN_REF = re.compile(r"^run:(?P<run>[0-9a-fA-F]+)(?:@checkpoint-(?P<step>\d+))?$")
RECIPE_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*)@(?P<version>\d+)$")


@dataclass(frozen=True)
class AdapterSource:
    """A resolved adapter: where its files are and where it came from."""

    path: Path
    run_id: str | None = None
    external_model_id: int | None = None
    label: str = ""


def run_adapter(registry: Any, run_id: str, *, what: str) -> AdapterSource:
    """The adapter a recorded run handed on (its best checkpoint)."""
    detail = registry.get_run(run_id)
    run = detail.run
    if run.status.value != "succeeded":
        hint = "start from a succeeded run (rrg runs list --status succeeded)"
        if detail.checkpoints:
            hint += f", or name one of its recorded checkpoints, e.g. run:{run.id}@checkpoint-{detail.checkpoints[-1].step}"
        raise RrgError(f"{what}: run {run.id} ({run.recipe}) is {run.status.value}, not succeeded", hint=hint)
    best = [c for c in detail.checkpoints if c.best]
    if not best:
        raise RrgError(f"{what}: run {run.id} ({run.recipe}, {run.stage}) recorded no adapter", hint="start from an sft or grpo run")
    path = Path(best[-1].path)
    if not (path / "adapter_config.json").is_file():
        raise RrgError(f"{what}: the adapter of run {run.id} is gone from {path}", hint="rerun that recipe, or restore its output folder")
    return AdapterSource(path=path, run_id=run.id, label=f"run:{run.id}")


def run_checkpoint(registry: Any, run_id: str, step: int, *, what: str) -> AdapterSource:
    """A recorded checkpoint of a run, whatever the run's status (asked for explicitly, as
    ``run:<id>@checkpoint-<step>``), if its weights are still the ones recorded."""
    from rrg.provenance import file_sha256
    from rrg.train.callbacks import weights_file

    detail = registry.get_run(run_id)
    run = detail.run
    found = [c for c in detail.checkpoints if c.step == step]
    if not found:
        recorded = ", ".join(f"checkpoint-{c.step}" for c in detail.checkpoints) or "none"
        raise RrgError(f"{what}: run {run.id} ({run.recipe}) recorded no checkpoint-{step} (recorded: {recorded})", hint="name a recorded checkpoint")
    path = Path(found[-1].path)
    weights = weights_file(path) if path.is_dir() else None
    if weights is None or not (path / "adapter_config.json").is_file():
        raise RrgError(f"{what}: checkpoint-{step} of run {run.id} is gone from {path}", hint="restore that run's output folder")
    if file_sha256(weights) != found[-1].sha256:
        raise RrgError(f"{what}: {weights} changed since checkpoint-{step} of run {run.id} was recorded (sha256 differs)", hint="restore the file, or name another checkpoint")
    return AdapterSource(path=path, run_id=run.id, label=f"run:{run.id}@checkpoint-{step}")


def resolve_init_from(registry: Any, init_from: str) -> AdapterSource | None:
    """``stage.init_from`` of a GRPO recipe: ``base`` (None), ``name@version`` (its latest
    succeeded run) or a run id / unique prefix."""
    if init_from == "base":
        return None
    ref = RECIPE_REF.match(init_from)
    if ref is not None:
        run = registry.latest_successful_run(ref["name"], int(ref["version"]))
        if run is None:
            raise RrgError(
                f"stage.init_from: no succeeded run of {init_from} in the registry ({registry.url})",
                hint=f"run the recipe {init_from} first, or give a run id",
            )
        return run_adapter(registry, run.id, what="stage.init_from")
    return run_adapter(registry, registry.resolve_run_id(init_from), what="stage.init_from")


def resolve_model_adapter(registry: Any, ref: str) -> AdapterSource:
    """``model.adapter``: ``run:<id>``, ``hub:org/name[@rev]`` or a local folder."""
    match = RUN_REF.match(ref)
    if match is not None:
        run_id = registry.resolve_run_id(match["run"])
        if match["step"] is not None:
            return run_checkpoint(registry, run_id, int(match["step"]), what="model.adapter")
        return run_adapter(registry, run_id, what="model.adapter")
    match = HUB_REF.match(ref)
    if match is not None:
        from rrg.hub.pull import pull_adapter

        pulled = pull_adapter(match["repo"], revision=match["revision"], registry=registry)
        return AdapterSource(path=pulled.path, external_model_id=pulled.external_model_id, label=ref)
    path = Path(ref).expanduser()
    if (path / "adapter_config.json").is_file():
        return AdapterSource(path=path.resolve(), label=str(path))
    raise RrgError(
        f"model.adapter: {ref!r} is not run:<id>[@checkpoint-<step>], hub:org/name[@revision] or a folder with adapter_config.json",
        hint="e.g. model.adapter: hub:my-org/qwen3-vl-4b-iu-xray-sft",
    )
