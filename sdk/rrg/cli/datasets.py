"""``rrg datasets``: register FLARE data under a name and version, list and show registered versions.

``register`` reads and fingerprints the data (:mod:`rrg.datasets`) and writes through
:class:`rrg_registry.Registry`; ``list`` and ``show`` only read, through
:class:`rrg_registry.read.RegistryReader` (plain dicts, no database layer to import on a SQLite
registry; a registry that does not exist is an error, never created). Rows are rendered by
:mod:`rrg.cli.output`.
"""

from __future__ import annotations

from typing import Any

import click

from rrg.cli.output import emit_mapping, emit_rows, output_options
from rrg.cli.registry_option import registry_option, registry_reader_option

LIST_COLUMNS = ("ref", "flare_datasets", "splits", "samples", "license", "credentialed", "root", "created")


def _short_time(value: Any) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d %H:%M")


def version_row(version: dict[str, Any]) -> dict[str, Any]:
    """A dataset version as :meth:`rrg_registry.read.RegistryReader.get_dataset_version` gives it, as the
    row :meth:`rrg_registry.entities.DatasetVersion.to_row` makes of it (what ``--json`` prints)."""
    splits = version["splits"]
    return {
        "ref": f"{version['name']}@{version['version']}",
        "name": version["name"],
        "version": version["version"],
        "root": version["root"],
        "flare_datasets": sorted({s["flare_dataset"] for s in splits}),
        "splits": [{**s, "task_types": list(s["task_types"])} for s in splits],
        "samples": sum(s["count"] for s in splits),
        "license": version["license"],
        "credentialed": version["credentialed"],
        "description": version["description"],
        "content_hash": version["content_hash"],
        "created": version["created_at"],
    }


@click.group()
def datasets() -> None:
    """Register datasets under a name and version, and browse them.

    \b
    Examples:
      rrg datasets register flare-iu-xray /data/organized_dataset --dataset IU_XRay --license "CC BY-NC-ND 4.0"
      rrg datasets list
      rrg datasets show flare-iu-xray@2 --json
    A recipe then reads `data: {dataset: flare-iu-xray@2}` (or @latest) instead of a root.
    """


@datasets.command("register")
@click.argument("name")
@click.argument("root")
@click.option("--dataset", "flare_datasets", multiple=True, metavar="FLARE_FOLDER",
              help="FLARE data set folder to include (repeatable; default: every one under ROOT).")
@click.option("--splits", "splits", multiple=True, metavar="SPLIT",
              help="Split folder to include, e.g. validation-public (repeatable, or comma-separated; default: all).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY",
              help="FLARE modality folder to include, e.g. Xray (repeatable; default: all).")
@click.option("--description", default=None, help="What the data are.")
@click.option("--license", "license_", default=None, help="Licence of the data.")
@click.option("--credentialed", is_flag=True, help="The data are under a credentialed licence (e.g. PhysioNet).")
@registry_option
def register(
    registry: Any, name: str, root: str, flare_datasets: tuple[str, ...], splits: tuple[str, ...],
    categories: tuple[str, ...], description: str | None, license_: str | None, credentialed: bool,
) -> None:
    """Register the FLARE data under ROOT (a folder, file:// URL or `demo`) as NAME.

    Every split of the chosen FLARE data sets is read in full and fingerprinted, as a run reading
    it records it. The same content as a registered version of NAME is that version (nothing is
    written); changed content becomes the next version.
    """
    import rrg.datasets

    wanted = tuple(s.strip() for value in splits for s in value.split(",") if s.strip())
    version, created = rrg.datasets.register(
        name, root, flare_datasets=flare_datasets, splits=wanted, categories=categories,
        description=description, license=license_, credentialed=credentialed, registry=registry,
    )
    samples = sum(s.count for s in version.splits)
    what = f"{len(version.splits)} splits of {', '.join(version.flare_datasets)}, {samples} samples"
    if created:
        click.echo(f"registered {version.ref} ({what})")
    else:
        click.echo(f"unchanged: {version.ref} already holds this content ({what})")


@datasets.command("list")
@click.argument("name", required=False)
@output_options
@registry_reader_option
def list_(reader: Any, name: str | None, output_format: str) -> None:
    """List the registered dataset versions (those of NAME).

    \b
    Examples:
      rrg datasets list
      rrg datasets list flare-iu-xray --json
    """
    versions = [version_row(v) for v in reader.list_dataset_versions(name)]
    rows = [
        {**v, "flare_datasets": " ".join(v["flare_datasets"]), "splits": len(v["splits"]),
         "created": _short_time(v["created"])}
        for v in versions
    ]
    if output_format == "table" and not rows:
        click.echo("no registered datasets" + (f" named {name}" if name else "") + " (register one: rrg datasets register NAME ROOT)")
        return
    emit_rows(rows, output_format, columns=LIST_COLUMNS, json_data=versions)


@datasets.command("show")
@click.argument("ref", metavar="NAME[@VERSION]")
@output_options
@registry_reader_option
def show(reader: Any, ref: str, output_format: str) -> None:
    """Show a registered dataset version: its splits (counts, task types, fingerprints), the runs
    that read it and the best green_flare per model and stage on it.

    \b
    Examples:
      rrg datasets show flare-iu-xray
      rrg datasets show flare-iu-xray@2 --json
    """
    from rrg.datasets import parse_version_ref
    from rrg.results.names import model_name, stage_name

    parsed = parse_version_ref(ref)
    found = reader.get_dataset_version(parsed.name, parsed.version)
    version = version_row(found)
    runs = reader.runs_of_dataset_version(found["id"])
    families = {r["model_id"]: r["model"] for r in runs}
    best = [
        {"model": model_name(families.get(model_id, ""), model_id), "model_id": model_id, "stage": stage_name(stage),
         "green_flare": value, "run": run_id}
        for model_id, stage, value, run_id in reader.best_by_model_on_dataset_version(found["id"])
    ]
    if output_format == "json":
        emit_mapping({**version, "runs": runs, "best": best}, "json")
        return
    head = {k: v for k, v in version.items() if k not in ("splits", "flare_datasets")}
    head["created"] = _short_time(version["created"])
    emit_mapping(head, output_format, title=f"dataset {version['ref']}")
    if output_format != "table":
        return
    emit_rows(
        [{**s, "task_types": ", ".join(s["task_types"]), "fingerprint": s["fingerprint"][:12]} for s in version["splits"]],
        "table", columns=("flare_dataset", "category", "split", "count", "task_types", "fingerprint"), title="splits",
    )
    if best:
        emit_rows(best, "table", columns=("model", "stage", "green_flare", "run"), title="best green_flare per model")
    if runs:
        emit_rows(
            [{"id": r["id"], "recipe": r["recipe"], "stage": r["stage"], "model": r["model_id"], "status": r["status"],
              "green_flare": r["metrics"].get("green_flare"), "created": _short_time(r["created"])} for r in runs],
            "table", columns=("id", "recipe", "stage", "model", "status", "green_flare", "created"), title="runs",
        )
    else:
        click.echo("no run has read this version yet")
