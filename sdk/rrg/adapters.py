"""Find the adapter a recipe starts from: a registry run's, a GRPO parent's, a registered model
version's (``model:NAME@VERSION`` or ``model:NAME@ALIAS``), or one pulled from the Hub."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrg.artifacts import is_url
from rrg.errors import RrgError

HUB_REF = re.compile(r"^hub:(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
RUN_REF = re.compile(r"^run:(?P<run>[0-9a-fA-F]+)(?:@checkpoint-(?P<step>\d+))?$")
RECIPE_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*)@(?P<version>\d+)$")
MODEL_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
"""A registered model's name, and an alias's (refs split on ``:`` and ``@``, so neither holds them)."""
MODEL_REF = re.compile(rf"^model:(?P<name>{MODEL_NAME})(?:@(?P<selector>{MODEL_NAME}))?$")
"""``model:NAME@VERSION``, ``model:NAME@ALIAS``, ``model:NAME@latest`` or ``model:NAME`` (the latest version)."""


@dataclass(frozen=True)
class AdapterSource:
    """A resolved adapter: where its files are and where it came from."""

    path: Path
    run_id: str | None = None
    external_model_id: int | None = None
    label: str = ""
    model_version: str | None = None
    """``NAME@VERSION`` of the registered model version the adapter is, if it was named as one."""


def run_adapter(registry: Any, run_id: str, *, what: str) -> AdapterSource:
    """The adapter a recorded run handed on (its best checkpoint); one on shared storage is
    fetched into the local artefacts cache and verified (:mod:`rrg.artifacts`)."""
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
    if is_url(best[-1].path):
        from rrg.artifacts import fetch_checkpoint

        return AdapterSource(path=fetch_checkpoint(registry, run.id, best[-1], what=what), run_id=run.id, label=f"run:{run.id}")
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
    if is_url(found[-1].path):
        from rrg.artifacts import fetch_checkpoint

        path = fetch_checkpoint(registry, run.id, found[-1], what=what)
        return AdapterSource(path=path, run_id=run.id, label=f"run:{run.id}@checkpoint-{step}")
    path = Path(found[-1].path)
    weights = weights_file(path) if path.is_dir() else None
    if weights is None or not (path / "adapter_config.json").is_file():
        raise RrgError(f"{what}: checkpoint-{step} of run {run.id} is gone from {path}", hint="restore that run's output folder")
    if file_sha256(weights) != found[-1].sha256:
        raise RrgError(f"{what}: {weights} changed since checkpoint-{step} of run {run.id} was recorded (sha256 differs)", hint="restore the file, or name another checkpoint")
    return AdapterSource(path=path, run_id=run.id, label=f"run:{run.id}@checkpoint-{step}")


def parse_model_ref(ref: str, *, what: str | None = None) -> tuple[str, int | str | None]:
    """``NAME``, ``NAME@VERSION``, ``NAME@ALIAS`` or ``NAME@latest`` (``model:`` in front or not) ->
    (name, version number | alias | None for the latest version). ``what`` names the key or
    argument the ref came from, in the error."""
    text = ref if ref.startswith("model:") else f"model:{ref}"
    match = MODEL_REF.match(text)
    if match is None:
        raise RrgError(
            f"{what + ': ' if what else ''}{ref!r} is not a registered model NAME@VERSION or NAME@ALIAS",
            hint="e.g. iu-report@3 or iu-report@paper (names: letters, digits, '.', '_', '-'; list them with rrg models list)",
        )
    selector = match["selector"]
    if selector is None or selector == "latest":
        return match["name"], None
    return match["name"], int(selector) if selector.isdigit() else selector


def adapter_files(folder: Path) -> dict[str, str]:
    """Every file of an adapter folder (top level, sorted) -> its sha256; the trainer's resume state
    (optimizer, scheduler, RNG state, ...) is not part of the adapter and is left out."""
    from rrg.hub.bundle import TRAINER_STATE_FILES
    from rrg.provenance import file_sha256

    return {
        path.name: file_sha256(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name not in TRAINER_STATE_FILES
    }


def verify_model_files(version: Any, *, what: str, folder: Path | None = None) -> Path:
    """The adapter folder of a registered model version (``folder``, else the registered one), after
    checking every registered file against its registered sha256 (a missing or changed file is
    refused, naming it and both hashes)."""
    from rrg.provenance import file_sha256

    folder = Path(version.adapter_path) if folder is None else folder
    ref = f"{version.name}@{version.version}"
    for name, registered in sorted(version.files.items()):
        path = folder / name
        if not path.is_file():
            raise RrgError(
                f"{what}: {path} of registered model {ref} is missing (registered sha256 {registered}, now none)",
                hint=f"restore the file, or register the adapter again as a new version (rrg models register {version.name} ...)",
            )
        now = file_sha256(path)
        if now != registered:
            raise RrgError(
                f"{what}: {path} of registered model {ref} changed since it was registered "
                f"(registered sha256 {registered}, now {now})",
                hint=f"restore the file, or register the adapter again as a new version (rrg models register {version.name} ...)",
            )
    return folder


def model_version_folder(registry: Any, version: Any, *, what: str) -> Path:
    """The local adapter folder of a registered model version, every registered file verified: the
    folder it was registered from, or, when that is on shared storage or not on this machine, the
    adapter of the run behind it (fetched from shared storage and verified, :mod:`rrg.artifacts`)."""
    local = None
    if version.run_id is not None and (is_url(version.adapter_path) or not Path(version.adapter_path).is_dir()):
        local = run_adapter(registry, version.run_id, what=what).path
    return verify_model_files(version, what=what, folder=local)


def model_version_adapter(registry: Any, ref: str, *, what: str) -> AdapterSource:
    """``model:NAME@VERSION`` / ``model:NAME@ALIAS``: the registered version's adapter, its files verified."""
    from rrg_registry.errors import UserError

    name, selector = parse_model_ref(ref, what=what)
    try:
        version = registry.get_model_version(name, selector)
    except UserError as error:  # not registered: say which key named it
        raise RrgError(f"{what}: {error.message}", hint=error.hint) from None
    folder = model_version_folder(registry, version, what=what)
    return AdapterSource(
        path=folder,
        run_id=version.run_id,
        external_model_id=version.external_model_id,
        label=f"model:{version.name}@{version.version}",
        model_version=f"{version.name}@{version.version}",
    )


def resolve_init_from(registry: Any, init_from: str) -> AdapterSource | None:
    """``stage.init_from`` of a GRPO recipe: ``base`` (None), ``name@version`` (its latest
    succeeded run), ``model:NAME@VERSION|ALIAS`` (a registered model version) or a run id / unique
    prefix."""
    if init_from == "base":
        return None
    if init_from.startswith("model:"):
        return model_version_adapter(registry, init_from, what="stage.init_from")
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
    """``model.adapter``: ``run:<id>``, ``hub:org/name[@rev]``, ``model:NAME@VERSION|ALIAS`` or a
    local folder."""
    if ref.startswith("model:"):
        return model_version_adapter(registry, ref, what="model.adapter")
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
        f"model.adapter: {ref!r} is not run:<id>[@checkpoint-<step>], hub:org/name[@revision], "
        "model:NAME@VERSION|ALIAS or a folder with adapter_config.json",
        hint="e.g. model.adapter: hub:my-org/qwen3-vl-4b-iu-xray-sft",
    )
