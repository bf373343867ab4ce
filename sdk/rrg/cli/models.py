"""``rrg models``: register adapters as named, numbered versions, alias them, browse them and
follow a version's lineage. See :mod:`rrg.registered_models` and docs/registry.md.

Browsing commands print rich tables, ``--json`` or ``--csv`` through :mod:`rrg.cli.output`, like
``rrg runs``.
"""

from __future__ import annotations

from typing import Any

import click

from rrg.cli.output import emit_mapping, emit_rows, output_options
from rrg.cli.registry_option import existing_registry_option, registry_option
from rrg.cli.runs import short_time


def _dataset_ref(registry, dataset_version_id: int | None) -> str | None:
    from rrg.registered_models import dataset_version_by_id

    dataset = dataset_version_by_id(registry, dataset_version_id)
    if dataset is None:
        return None if dataset_version_id is None else f"id {dataset_version_id}"
    return dataset.ref


def _version_summary(registry, version) -> dict[str, Any]:
    """One version as a flat record (``register`` and ``show NAME@V`` print it)."""
    return {
        "ref": version.ref,
        "name": version.name,
        "version": version.version,
        "aliases": " ".join(version.aliases),
        "source": version.source,
        "run": version.run_id,
        "base_model": version.base_model,
        "base_revision": version.base_revision,
        "dataset_version": _dataset_ref(registry, version.dataset_version_id),
        "adapter_path": version.adapter_path,
        "files": len(version.files),
        "green_flare": version.results.get("green_flare"),
        "description": version.description,
        "created": version.created_at.isoformat(),
    }


def _version_json(registry, version) -> dict[str, Any]:
    data = version.model_dump(mode="json")
    data["ref"] = version.ref
    data["dataset_version"] = _dataset_ref(registry, version.dataset_version_id)
    return data


def _event_rows(events) -> list[dict[str, Any]]:
    return [
        {
            "alias": e.alias,
            "from": e.old_version,
            "to": e.new_version,
            "set_by": e.set_by,
            "set_at": short_time(e.set_at),
        }
        for e in events
    ]


@click.group()
def models() -> None:
    """Registered models: named adapter versions with aliases, used in recipes as model:NAME@VERSION.

    \b
    Examples:
      rrg models register iu-report --run 3fa2
      rrg models alias iu-report@1 paper
      rrg models show iu-report@paper
      rrg models lineage iu-report@paper
    """


@models.command("register")
@click.argument("name")
@click.option("--run", "run_id", default=None, metavar="RUN", help="A succeeded sft or grpo run (id or unique prefix): its adapter.")
@click.option("--hub", default=None, metavar="ORG/NAME[@REV]", help="An adapter on the Hub (pulled with rrg pull, or pulled now).")
@click.option("--description", default=None, help="What this version is, in a few words.")
@output_options
@registry_option
def register(name: str, run_id: str | None, hub: str | None, description: str | None, output_format: str, registry) -> None:
    """Register the next version of model NAME from a run's adapter or a pulled Hub adapter.

    The version records the base model and revision, every adapter file with its sha256, the run,
    its recipe, the dataset version it read and its latest evaluation metrics.

    \b
    Examples:
      rrg models register iu-report --run 3fa2
      rrg models register iu-report --hub my-org/qwen3-vl-4b-iu-xray-sft@v1
    """
    from rrg.registered_models import register_hub, register_run

    if (run_id is None) == (hub is None):
        raise click.UsageError("give exactly one of --run RUN and --hub ORG/NAME[@REV]")
    if run_id is not None:
        version = register_run(registry, name, run_id, description=description)
    else:
        version = register_hub(registry, name, hub, description=description)
    if output_format == "json":
        emit_mapping(_version_json(registry, version), "json")
        return
    emit_mapping(_version_summary(registry, version), output_format, title=f"registered {version.ref}")


@models.command("alias")
@click.argument("ref", metavar="NAME@VERSION")
@click.argument("alias")
@click.option("--delete", is_flag=True, help="Remove the alias instead (NAME or NAME@VERSION).")
@output_options
@registry_option
def alias(ref: str, alias: str, delete: bool, output_format: str, registry) -> None:
    """Point ALIAS at a version of a registered model (creating or moving it), or remove it.

    Who made the change ($USER) and when are recorded in the alias history (rrg models show NAME).

    \b
    Examples:
      rrg models alias iu-report@3 paper
      rrg models alias iu-report paper --delete
    """
    from rrg.registered_models import delete_alias, set_alias

    if delete:
        event = delete_alias(registry, ref, alias)
        emit_mapping(
            {"model": event.name, "alias": event.alias, "was": event.old_version, "deleted_by": event.set_by,
             "at": event.set_at.isoformat()},
            output_format,
        )
        return
    if "@" not in ref.removeprefix("model:"):
        raise click.UsageError(f"name the version the alias points at: {ref}@VERSION")
    made = set_alias(registry, ref, alias)
    emit_mapping(
        {"model": made.name, "alias": made.alias, "version": made.version, "ref": f"{made.name}@{made.version}",
         "set_by": made.set_by, "at": made.set_at.isoformat()},
        output_format,
    )


@models.command("list")
@output_options
@existing_registry_option
def list_models(output_format: str, registry) -> None:
    """List the registered models with their latest version and aliases.

    JSON output is a list of objects with keys name, description, created_at, latest_version and
    aliases (alias -> version).

    \b
    Example:
      rrg models list
    """
    found = registry.list_registered_models()
    if output_format == "json":
        emit_rows([m.model_dump(mode="json") for m in found], "json")
        return
    rows = [
        {
            "name": m.name,
            "latest": m.latest_version,
            "aliases": " ".join(f"{a}={v}" for a, v in sorted(m.aliases.items())),
            "description": m.description,
            "created": short_time(m.created_at) if output_format == "table" else m.created_at.isoformat(),
        }
        for m in found
    ]
    emit_rows(rows, output_format, columns=("name", "latest", "aliases", "description", "created"),
              title=None if rows else "no registered models (rrg models register NAME --run RUN)")


@models.command("show")
@click.argument("ref", metavar="NAME[@VERSION|@ALIAS]")
@output_options
@existing_registry_option
def show(ref: str, output_format: str, registry) -> None:
    """Show a registered model (its versions, aliases and alias history) or one version of it
    (source, base model, dataset version, files with sha256, results, alias history).

    \b
    Examples:
      rrg models show iu-report
      rrg models show iu-report@paper --json
    """
    from rrg.adapters import parse_model_ref

    name, selector = parse_model_ref(ref, what="rrg models show")
    if "@" not in ref.removeprefix("model:"):
        versions = registry.list_model_versions(name)
        if not versions:  # the registry's one-line "not found" listing what is registered
            registry.get_model_version(name)
        history = registry.alias_history(name)
        if output_format == "json":
            emit_mapping(
                {"name": name, "versions": [_version_json(registry, v) for v in versions],
                 "alias_history": [e.model_dump(mode="json") for e in history]},
                "json",
            )
            return
        rows = [
            {
                "version": v.version,
                "aliases": " ".join(v.aliases),
                "source": v.source,
                "base_model": v.base_model,
                "dataset_version": _dataset_ref(registry, v.dataset_version_id),
                "green_flare": v.results.get("green_flare"),
                "created": short_time(v.created_at) if output_format == "table" else v.created_at.isoformat(),
            }
            for v in versions
        ]
        emit_rows(rows, output_format, title=f"model {name}")
        if output_format == "table" and history:
            emit_rows(_event_rows(history), "table", title="alias history")
        return
    version = registry.get_model_version(name, selector)
    events = [e for e in registry.alias_history(name) if version.version in (e.old_version, e.new_version)]
    if output_format == "json":
        data = _version_json(registry, version)
        data["alias_history"] = [e.model_dump(mode="json") for e in events]
        emit_mapping(data, "json")
        return
    summary = _version_summary(registry, version)
    if output_format == "csv":
        flat = dict(summary)
        flat.update({f"results.{k}": v for k, v in version.results.items()})
        flat.update({f"files.{k}": v for k, v in version.files.items()})
        emit_mapping(flat, "csv")
        return
    emit_mapping(summary, "table", title=f"model {version.ref}")
    emit_rows([{"file": k, "sha256": v} for k, v in sorted(version.files.items())], "table", title="files")
    if version.results:
        emit_rows([{"metric": k, "value": v} for k, v in version.results.items()], "table", title="results")
    if events:
        emit_rows(_event_rows(events), "table", title="alias history")


@models.command("lineage")
@click.argument("ref", metavar="NAME@VERSION")
@output_options
@existing_registry_option
def lineage(ref: str, output_format: str, registry) -> None:
    """Where a version comes from: base model → dataset version → zero-shot → SFT → GRPO → the
    version → its Hub publications.

    The zero-shot step is the latest succeeded zero-shot run of the same base model on the same
    evaluation samples (else the first run's score before training); the runs are the version's
    run and the runs it started from (GRPO's init_from, model.adapter).

    \b
    Example:
      rrg models lineage iu-report@paper
    """
    from rrg.registered_models import lineage_of

    found = lineage_of(registry, ref)
    if output_format == "json":
        emit_mapping(found.to_json(), "json")
        return
    emit_rows([s.to_row() for s in found.steps()], output_format,
              columns=("step", "ref", "recipe", "status", "green_flare", "detail"),
              title=f"lineage of {found.version.ref}")
