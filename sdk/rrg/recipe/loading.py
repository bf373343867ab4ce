"""From a recipe file (or a registry entry) to validated data: ``extends:``, ``--set``, validation.

The order is fixed and has one code path: read each file in the ``extends:`` chain with line marks,
merge the chain (the extending file wins, mappings merge deeply, lists are replaced), apply the
``key.path=value`` overrides, then validate the merged tree once against the schema. Every problem
found on the way is collected and raised together in one :class:`RecipeError`.

A base named by ``extends:`` must be a recipe: a ``.yaml``/``.yml`` path (anything else is refused
unread) whose text is a YAML mapping with a ``schema:`` key and only recipe sections at the top.
Anything else is refused as a :class:`RecipeRefused` that names the ``extends:`` line and no part
of the base's text, so ``extends: ../../etc/shadow`` cannot print a secret.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from rrg.recipe.errors import RecipeError, RecipeProblem, RecipeRefused
from rrg.recipe.schema import RecipeSpec
from rrg.recipe.validation import validate_tree
from rrg.recipe.yaml_source import (
    MAX_RECIPE_BYTES,
    RefusedYAML,
    SourceTree,
    apply_override,
    merge_trees,
    parse_value,
    parse_yaml,
    too_large,
)

RECIPE_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*)@(?P<version>[0-9]+)$")
"""``name@version``: a recipe version recorded in the registry."""

MAX_EXTENDS_DEPTH = 16

RECIPE_SUFFIXES = (".yaml", ".yml")
"""What a recipe file's name ends with; ``extends:`` refuses any other local path unread."""

RECIPE_SECTIONS = frozenset(field.alias or name for name, field in RecipeSpec.model_fields.items())
"""The top-level keys of a recipe (``schema``, ``name``, ..., ``publish``)."""


class RecipeVersionRecord(Protocol):
    """What the registry returns for a recorded recipe version."""

    name: str
    version: int
    hash: str
    yaml_text: str


class RecipeRegistry(Protocol):
    """The one registry method recipe loading uses."""

    def get_recipe_version(self, name: str, version: int) -> RecipeVersionRecord | None: ...


@dataclass(frozen=True)
class RecipeText:
    """The text of one recipe in the chain, with the label used in messages and, for a file, its path."""

    label: str
    text: str
    path: Path | None = None


@dataclass(frozen=True)
class ResolvedRecipe:
    """The validated spec and the labels of the sources it was built from (the recipe first)."""

    spec: RecipeSpec
    sources: tuple[str, ...]


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def read_recipe_file(path: Path, label: str | None = None) -> RecipeText:
    """Read a recipe file; a missing, unreadable or non-UTF-8 file is a :class:`RecipeError`.

    At most ``MAX_RECIPE_BYTES`` are read: a larger file (or ``/dev/zero``) is a :class:`RecipeRefused`.
    """
    label = label or display_path(path)
    if path.is_dir():
        raise RecipeError([RecipeProblem(label, None, "", "is a folder, not a recipe file", "give a .yaml file (rrg check accepts folders)")])
    try:
        with path.open(encoding="utf-8") as stream:
            text = stream.read(MAX_RECIPE_BYTES + 1)
    except FileNotFoundError:
        raise RecipeError([RecipeProblem(label, None, "", "no such recipe file", _nearby_hint(path))]) from None
    except UnicodeDecodeError as exc:
        raise RecipeError([RecipeProblem(label, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})", "save the recipe as UTF-8")]) from None
    except OSError as exc:
        raise RecipeError([RecipeProblem(label, None, "", f"cannot be read ({exc.strerror or type(exc).__name__})", "check the file's permissions")]) from None
    if len(text) > MAX_RECIPE_BYTES:
        raise too_large(label)
    return RecipeText(label, text, path.resolve())


def read_registry_recipe(name: str, version: int, registry: RecipeRegistry | None, label: str, line: int | None = None) -> RecipeText:
    """The YAML text of ``name@version`` from the registry."""
    ref = f"{name}@{version}"
    if registry is None:
        raise RecipeError([RecipeProblem(label, line, "extends" if line else "", f"{ref} names a registry recipe, but no registry was given", "pass registry= to Recipe.load, set RRG_REGISTRY_URL, or extend a file by relative path")])
    record = registry.get_recipe_version(name, version)
    if record is None:
        raise RecipeError([RecipeProblem(label, line, "extends" if line else "", f"recipe {ref} is not in the registry", "check the name and version with `rrg recipes ls` or the registry's recipe list")])
    return RecipeText(f"registry:{ref}", record.yaml_text, None)


def _nearby_hint(path: Path) -> str:
    folder = path.parent if str(path.parent) else Path(".")
    if folder.is_dir():
        candidates = [p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml")]
        match = difflib.get_close_matches(path.name, candidates, n=1)
        if match:
            return f"did you mean {display_path(folder / match[0])!r}?"
    return "check the path"


def resolve_recipe(entry: RecipeText, overrides: tuple[str, ...] = (), registry: RecipeRegistry | None = None) -> ResolvedRecipe:
    """Read ``entry`` and its ``extends:`` chain, apply ``overrides`` and validate.

    Raises :class:`RecipeError` with every problem found.
    """
    problems: list[RecipeProblem] = []
    sources: list[str] = []
    tree = _read_chain(entry, registry, problems, sources, chain=())
    if tree is None:
        raise RecipeError(_ordered(problems, sources))
    for override in overrides:
        problem = _apply_override(tree, override)
        if problem is not None:
            problems.append(problem)
    spec, invalid = validate_tree(tree)
    problems.extend(invalid)
    if problems or spec is None:
        raise RecipeError(_ordered(problems, sources, overrides))
    return ResolvedRecipe(spec, tuple(sources))


def _ordered(problems: list[RecipeProblem], sources: list[str], overrides: tuple[str, ...] = ()) -> list[RecipeProblem]:
    """Problems by source (the recipe, its bases, then the overrides in the order given), then line."""
    unique = list(dict.fromkeys(problems))
    order = list(dict.fromkeys([*sources, *(f"--set {o}" for o in overrides), *(p.file for p in unique)]))
    return sorted(unique, key=lambda p: (order.index(p.file), p.line or 0, p.key))


def _read_chain(
    entry: RecipeText,
    registry: RecipeRegistry | None,
    problems: list[RecipeProblem],
    sources: list[str],
    chain: tuple[str, ...],
    parsed: tuple[SourceTree | None, list[RecipeProblem]] | None = None,
) -> SourceTree | None:
    sources.append(entry.label)
    tree, found = parsed if parsed is not None else parse_yaml(entry.text, entry.label)
    problems.extend(found)
    if tree is None:
        return None
    if not isinstance(tree.data, dict):
        what = "an empty file" if tree.data is None else f"a {type(tree.data).__name__}"
        problems.append(RecipeProblem(entry.label, tree.positions[()].line, "", f"a recipe is a mapping of sections, got {what}", "start from `rrg recipes cp demo/sft my-recipe.yaml`"))
        return None
    if "extends" not in tree.data:
        return tree
    extends = tree.data.pop("extends")
    extends_line = tree.positions[("extends",)].line
    for path in [p for p in tree.positions if p[:1] == ("extends",)]:
        del tree.positions[path]
    if extends is None:
        return tree
    for key in ("name", "version"):
        if key not in tree.data:
            problems.append(RecipeProblem(entry.label, tree.positions[()].line, key, f"a recipe that extends another must set its own {key} (it would inherit {key} from {extends})", f"add `{key}:` to this file"))
    if not isinstance(extends, str) or not extends.strip():
        problems.append(RecipeProblem(entry.label, extends_line, "extends", f"expected a relative path or name@version, got {extends!r}", "e.g. extends: base.yaml"))
        return None
    identity = _chain_identity(extends, entry)
    if identity in chain or entry_identity(entry) == identity:
        cycle = " -> ".join(_shown(i) for i in (*chain, entry_identity(entry), identity))
        problems.append(RecipeProblem(entry.label, extends_line, "extends", f"extends cycle: {cycle}", "remove one of the extends"))
        return None
    if len(chain) >= MAX_EXTENDS_DEPTH:
        problems.append(RecipeProblem(entry.label, extends_line, "extends", f"extends chain deeper than {MAX_EXTENDS_DEPTH}", "flatten the chain"))
        return None
    try:
        base_entry = _base_text(extends, entry, registry, extends_line)
    except RecipeRefused:
        raise
    except RecipeError as exc:
        problems.extend(exc.problems)
        return None
    parsed = _parse_base(base_entry, extends, entry.label, extends_line)
    base = _read_chain(base_entry, registry, problems, sources, (*chain, entry_identity(entry)), parsed)
    if base is None:
        return None
    return merge_trees(base, tree)


def _shown(identity: str) -> str:
    return display_path(Path(identity)) if os.path.isabs(identity) else identity


def entry_identity(entry: RecipeText) -> str:
    return str(entry.path) if entry.path is not None else entry.label


def _chain_identity(extends: str, entry: RecipeText) -> str:
    ref = RECIPE_REF.match(extends)
    if ref and not (entry.path is not None and (entry.path.parent / extends).is_file()):
        return f"registry:{extends}"
    if entry.path is None:
        return extends
    return str((entry.path.parent / extends).resolve())


def _base_text(extends: str, entry: RecipeText, registry: RecipeRegistry | None, line: int | None) -> RecipeText:
    ref = RECIPE_REF.match(extends)
    local = entry.path.parent / extends if entry.path is not None else None
    if ref and not (local is not None and local.is_file()):
        return read_registry_recipe(ref["name"], int(ref["version"]), registry, entry.label, line)
    if local is None:
        raise RecipeError([RecipeProblem(entry.label, line, "extends", f"{extends!r} is a relative path, but {entry.label} is not a file to resolve it against", "extend name@version from the registry instead")])
    if local.suffix.lower() not in RECIPE_SUFFIXES:
        raise RecipeRefused(RecipeProblem(entry.label, line, "extends", f"{extends!r} is not a recipe: not a .yaml or .yml file, so it was not read", "extend a recipe file (.yaml) or name@version"))
    if not local.is_file():
        raise RecipeError([RecipeProblem(entry.label, line, "extends", f"base recipe {display_path(local)} not found", _nearby_hint(local))])
    return read_recipe_file(local)


def _parse_base(base: RecipeText, extends: str, label: str, line: int | None) -> tuple[SourceTree | None, list[RecipeProblem]]:
    """Parse the base ``extends`` names and check that it looks like a recipe.

    What is not a recipe is refused at the ``extends:`` line of ``label`` without any of the base's
    text (PyYAML's messages quote it, and so would validation). Hostile YAML in a base is refused
    at its own line, like in any recipe, but without naming the tag.
    """

    def refuse(why: str) -> RecipeRefused:
        hint = "extend a recipe: a .yaml mapping that starts with `schema: 1` (`rrg check` on it shows what is wrong)"
        return RecipeRefused(RecipeProblem(label, line, "extends", f"{extends!r} is not a recipe: {why}", hint))

    tree, found = parse_yaml(base.text, base.label, quote=False)
    if tree is None:
        where = found[0].line if found and found[0].line is not None else None
        raise refuse("not valid YAML" + (f" (line {where})" if where is not None else ""))
    data = tree.data
    if not isinstance(data, dict):
        raise refuse("not a YAML mapping" if data is not None else "an empty file")
    stray = [key for key in data if not isinstance(key, str) or key not in RECIPE_SECTIONS]
    if stray:
        lines = sorted({tree.positions[(key,)].line for key in stray if tree.positions.get((key,)) is not None} - {None})
        at = f" (line {lines[0]})" if lines else ""
        raise refuse(f"a top-level key{at} is not a recipe section")
    if "schema" not in data:
        raise refuse("no `schema:` key")
    return tree, found


def _apply_override(tree: SourceTree, override: str) -> RecipeProblem | None:
    source = f"--set {override}"
    key, sep, raw = override.partition("=")
    path = tuple(key.strip().split("."))
    if not sep or not key.strip() or any(not part for part in path):
        return RecipeProblem(source, None, "", "expected key.path=value", "e.g. --set training.learning_rate=2e-4")
    if path == ("extends",):
        return RecipeProblem(source, None, "extends", "extends cannot be overridden", "write a recipe file that extends the one you want")
    try:
        value = parse_value(raw)
    except RefusedYAML as exc:
        return RecipeProblem(source, None, key, f"value refused: {exc.message}", exc.hint)
    except yaml.YAMLError:
        return RecipeProblem(source, None, key, f"value is not valid YAML: {raw!r}", "quote strings that contain ':' or '#'")
    return apply_override(tree, path, value, source)


def overrides_from_mapping(values: dict[str, Any]) -> tuple[str, ...]:
    """``{"training.learning_rate": 2e-4}`` as ``--set`` strings (values written as YAML)."""
    import json

    return tuple(f"{key}={json.dumps(value)}" for key, value in values.items())
