"""Recipe commands: ``rrg check``, ``rrg recipe show|versions|schema|reference``, ``rrg recipes ls|cp``.

None of them loads a model, imports torch or needs a GPU or the network, and none creates a
registry: one is opened (``--registry``, else ``$RRG_REGISTRY_URL``, else ``./rrg.db``) only for a
``name@version`` recipe reference and for ``rrg recipe versions``, and must exist.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path
from typing import Any

import click
import yaml

from rrg.cli.output import dumps_json, emit_rows, output_options
from rrg.cli.registry_option import existing_registry_option, registry_url_option
from rrg.errors import RrgError

RECIPE_SUFFIXES = (".yaml", ".yml")


class _RegistryOnDemand:
    """The registry at ``url`` (``None``: ``$RRG_REGISTRY_URL``, else ``./rrg.db``), opened only when
    a recipe names ``name@version``; a SQLite registry that does not exist is an error, not created."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._registry: Any = None

    def _open(self) -> Any:
        if self._registry is None:
            from rrg_registry import Registry
            from rrg_registry.registry import resolve_url

            self._registry = Registry.from_url(resolve_url(self.url, environ={}), create=False)
        return self._registry

    def get_recipe_version(self, name: str, version: int) -> Any:
        return self._open().get_recipe_version(name, version)

    def get_dataset_version(self, name: str, version: int | None = None) -> Any:
        """The registered dataset a recipe's ``data.dataset: NAME@VERSION`` names."""
        return self._open().get_dataset_version(name, version)


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a value after extends: is merged (repeatable); the value is read as YAML.",
)


def _recipe_files(paths: tuple[Path, ...]) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    missing: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in RECIPE_SUFFIXES and p.is_file())
            if not found:
                missing.append(f"{path}: no .yaml recipe files in this folder")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            missing.append(f"{path}: no such file or folder")
    return files, missing


def _data_root_problems(recipe: Any, file: Path) -> list[str]:
    """One line per data problem of the recipe in ``file``: a ``data.root`` that is not a FLARE
    data folder here (relative paths resolve against the working directory, as at run time), and
    each ``data.train`` data set missing from its training split, named by the line of its entry.
    None for ``demo``, the bundled demo set (built on first use, not here), or no root (a
    registered dataset's own root, resolved when it is planned). A root beside a registered dataset
    (a copy of its content) must be a folder; which FLARE data sets it holds is the version's to say."""
    data = recipe.spec.data
    if data.root is None or data.root == "demo":
        return []
    from rrg.data.layout import resolve_data_root

    if "@" in data.dataset:
        folder = Path(data.root).expanduser().absolute()
        return [] if folder.is_dir() else [f"{file}: data.root {data.root}: no such folder (hint: mount or copy the registered data there)"]
    try:
        root = resolve_data_root(Path(data.root).expanduser().absolute(), data.dataset, data.category)
    except RrgError as exc:
        return [f"{file}: {exc.format_message()}"]
    return _training_set_problems(data, root, file)


def _training_set_problems(data: Any, root: Path, file: Path) -> list[str]:
    """``data.train``'s data sets that ``root``'s training split lacks (a folder with a question
    file), each as ``file:line: data.train.N.dataset: ...`` with what the split does hold."""
    if data.train is None:
        return []
    from rrg.data.training import find_training_datasets

    found = find_training_datasets(root, data.train_split)
    held = ", ".join(f"{category}/{name}" for category, name in found) or "nothing"
    hint = f"{data.train_split} holds {held}"
    if data.train == "all":
        return [] if found else [f"{file}: data.train: all: no data set with a question file under {root / data.train_split} (hint: {hint})"]
    missing = [(index, entry) for index, entry in enumerate(data.train) if (entry.category, entry.dataset) not in found]
    lines = _key_lines(file) if missing else {}  # the file is parsed again only to point at a problem
    problems = []
    for index, entry in missing:
        where = f"{file}:{lines[index]}" if index in lines else str(file)
        folder = f"{data.train_split}/{entry.category}/{entry.dataset}"
        problems.append(f"{where}: data.train.{index}.dataset: no {folder} data set with a question file under {root} (hint: {hint})")
    return problems


def _key_lines(file: Path) -> dict[int, int]:
    """Entry index → line of ``data.train``'s entries in ``file`` itself (an entry inherited
    from a base recipe has none)."""
    from rrg.recipe.yaml_source import parse_yaml

    try:
        tree, _ = parse_yaml(file.read_text(encoding="utf-8"), str(file))
    except (OSError, UnicodeDecodeError):
        return {}
    if tree is None:
        return {}
    lines = {}
    for path, position in tree.positions.items():
        if len(path) == 4 and path[:2] == ("data", "train") and path[3] == "dataset" and position.line is not None:
            lines[path[2]] = position.line
    return lines


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@set_option
@registry_url_option
def check(paths: tuple[Path, ...], overrides: tuple[str, ...], registry_url: str) -> None:
    """Validate recipe files, or every .yaml file under folders, and that their data.root (and each
    data.train data set in its training split) exists.

    Prints one line per valid recipe and one line per problem
    (``file:line: key.path: message (hint: ...)``); exits with status 2 if any recipe is invalid.
    ``--set`` applies to every recipe checked. A registry is read only for ``name@version``
    references.

    \b
    Examples:
      rrg check recipes/
      rrg check my-sft.yaml
      rrg check recipes/paper/ --set data.root=demo
    """
    from rrg.recipe import Recipe, RecipeError

    files, missing = _recipe_files(paths)
    for line in missing:
        click.echo(line)
    invalid = len(missing)
    registry = _RegistryOnDemand(registry_url)
    for file in files:
        try:
            recipe = Recipe.load(file, overrides=overrides, registry=registry)
        except RecipeError as exc:
            invalid += 1
            for problem in exc.problems:
                click.echo(problem.format())
            continue
        data_problems = _data_root_problems(recipe, file)
        if data_problems:
            invalid += 1
            for line in data_problems:
                click.echo(line)
            continue
        click.echo(f"{file}: ok ({recipe.ref}, {recipe.stage}, sha256:{recipe.short_hash})")
    checked = len(files) + len(missing)
    if invalid:
        click.echo(f"{invalid} of {checked} recipes invalid", err=True)
        raise SystemExit(2)
    click.echo(f"{checked} recipes valid", err=True)


@click.group("recipe")
def recipe() -> None:
    """Inspect one recipe, list the versions a registry holds, export the JSON Schema and the reference."""


@recipe.command("show")
@click.argument("recipe_ref", metavar="RECIPE")
@set_option
@click.option("--format", "output_format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@registry_url_option
def show(recipe_ref: str, overrides: tuple[str, ...], output_format: str, registry_url: str) -> None:
    """Print the resolved recipe (extends: merged, overrides applied) with its hash.

    RECIPE is a file, a built-in name (``rrg recipes ls``) or ``name@version`` from the registry.

    \b
    Examples:
      rrg recipe show demo/sft
      rrg recipe show recipes/demo/grpo.yaml --set training.learning_rate=1e-4 --format json
      rrg recipe show demo-sft@1 --registry sqlite:////data/rrg.db
    """
    from rrg.recipe import Recipe

    loaded = Recipe.load(recipe_ref, overrides=overrides, registry=_RegistryOnDemand(registry_url))
    if output_format == "json":
        click.echo(
            dumps_json(
                {
                    "name": loaded.name,
                    "version": loaded.version,
                    "hash": loaded.hash,
                    "sources": list(loaded.sources),
                    "overrides": list(loaded.overrides),
                    "recipe": loaded.to_dict(),
                }
            )
        )
        return
    click.echo(f"# {loaded.ref} sha256:{loaded.hash}")
    click.echo(f"# from: {', '.join(loaded.sources)}")
    for override in loaded.overrides:
        click.echo(f"# --set {override}")
    click.echo(loaded.to_yaml(), nl=False)


@recipe.command("versions")
@click.argument("name", required=False)
@output_options
@existing_registry_option
def versions(registry: Any, name: str | None, output_format: str) -> None:
    """List the recipe versions recorded in the registry (those of NAME), with their runs.

    JSON output is a list of objects with keys recipe (name@version), name, version, hash (the
    first 12 hex digits of the sha256), recorded (ISO 8601, UTC) and runs (how many runs used it).
    Show one with ``rrg recipe show NAME@VERSION``.

    \b
    Examples:
      rrg recipe versions
      rrg recipe versions demo-sft --registry sqlite:////data/rrg.db --json
    """
    from collections import Counter

    recorded = registry.list_recipe_versions(name)
    runs = Counter(summary.recipe for summary in registry.search_runs(recipe=name)) if recorded else Counter()
    rows = [
        {
            "recipe": version.ref,
            "name": version.name,
            "version": version.version,
            "hash": version.hash[:12],
            "recorded": version.created_at.isoformat() if output_format != "table" else version.created_at.strftime("%Y-%m-%d %H:%M"),
            "runs": runs[version.ref],
        }
        for version in recorded
    ]
    empty = f"no recorded versions of {name}" if name else "no recorded recipe versions"
    columns = ("name", "version", "hash", "recorded", "runs") if output_format == "table" else None
    emit_rows(rows, output_format, columns=columns, title="Recorded recipe versions" if rows else empty)


@recipe.command("schema")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of standard output.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of recipe files, for editor validation.

    \b
    Example (YAML language server):
      rrg recipe schema -o recipe.schema.json
      # then, first line of a recipe:  # yaml-language-server: $schema=recipe.schema.json
    """
    from rrg.recipe.schema import recipe_json_schema

    text = dumps_json(recipe_json_schema()) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@recipe.command("reference")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of standard output.")
def reference(output: Path | None) -> None:
    """Print the recipe reference (Markdown) generated from the schema.

    \b
    Example:
      rrg recipe reference --output docs/recipes.md
    """
    from rrg.recipe.reference import render_reference

    text = render_reference()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@click.group("recipes")
def recipes() -> None:
    """The recipes shipped with rrg: list them, copy one to edit."""


@recipes.command("ls")
@output_options
def ls(output_format: str) -> None:
    """List the shipped recipes.

    \b
    Example:
      rrg recipes ls --json
    """
    from rrg.builtin import BUILTIN_RECIPES
    from rrg.recipe import Recipe

    rows = []
    for shipped in BUILTIN_RECIPES:
        loaded = Recipe.load(shipped.path)
        rows.append(
            {
                "name": shipped.name,
                "recipe": loaded.ref,
                "stage": loaded.stage,
                "model": loaded.spec.model.id,
                "hash": loaded.short_hash,
                "summary": shipped.summary,
            }
        )
    emit_rows(rows, output_format, title="Shipped recipes")


def _extends_chain(path: Path) -> list[Path]:
    """``path`` and the files it extends by relative path, the recipe first."""
    chain = [path]
    while True:
        data = yaml.safe_load(chain[-1].read_text(encoding="utf-8"))
        extends = data.get("extends") if isinstance(data, dict) else None
        if not isinstance(extends, str):
            return chain
        base = (chain[-1].parent / extends).resolve()
        if not base.is_file() or base in chain:
            return chain
        chain.append(base)


@recipes.command("cp")
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--flatten", is_flag=True, help="Write the resolved recipe as one file (no extends:, no comments).")
def cp(name: str, dest: Path, force: bool, flatten: bool) -> None:
    """Copy the shipped recipe NAME to DEST (a file or a folder) to edit it.

    The files it extends are copied beside it, keeping their relative paths; --flatten writes one
    self-contained file instead. Existing files are never overwritten without --force.

    \b
    Examples:
      rrg recipes cp demo/sft my-sft.yaml
      rrg recipes cp paper/qwen3-vl-4b/grpo experiments/ --flatten
    """
    from rrg.builtin import BUILTIN_RECIPES, builtin_recipe
    from rrg.recipe import Recipe

    shipped = builtin_recipe(name)
    if shipped is None:
        names = [r.name for r in BUILTIN_RECIPES]
        match = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {match[0]!r}?" if match else "see `rrg recipes ls`"
        raise RrgError(f"no shipped recipe named {name!r}", hint=hint)
    target = dest / shipped.path.name if dest.is_dir() or str(dest).endswith(os.sep) else dest
    plan: dict[Path, Path | None]
    if flatten:
        plan = {target: None}
    else:
        chain = _extends_chain(shipped.path)
        plan = {target: chain[0]}
        for base in chain[1:]:
            plan[target.parent / os.path.relpath(base, shipped.path.parent)] = base
    existing = [str(p) for p in plan if p.exists()]
    if existing and not force:
        raise RrgError(f"not overwriting {', '.join(existing)}", hint="pass --force to overwrite, or pick another destination")
    for destination, source in plan.items():
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source is None:
            loaded = Recipe.load(shipped.path)
            header = f"# {loaded.ref}, copied from the shipped recipe {shipped.name} with extends: resolved\n"
            destination.write_text(header + loaded.to_yaml(), encoding="utf-8")
        else:
            shutil.copyfile(source, destination)
        what = shipped.name if destination == target else f"its base {source.name}"  # type: ignore[union-attr]
        click.echo(f"copied {what} -> {destination}")
