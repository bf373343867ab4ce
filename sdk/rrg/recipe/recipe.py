"""``Recipe``: a validated, resolved experiment with its identity (name, version, content hash)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from rrg.recipe.errors import RecipeError, RecipeProblem
from rrg.recipe.identity import canonical_json, content_hash
from rrg.recipe.loading import (
    RECIPE_REF,
    RecipeRegistry,
    RecipeText,
    overrides_from_mapping,
    read_recipe_file,
    read_registry_recipe,
    resolve_recipe,
)
from rrg.recipe.schema import RecipeSpec

Overrides = Sequence[str] | Mapping[str, Any]
"""``["training.learning_rate=2e-4", ...]`` (values read as YAML) or ``{"training.learning_rate": 2e-4}``."""

_LATER_KEYS: dict[tuple[str, str], Any] = {
    ("model", "image_mode"): None,
    ("data", "max_image_pixels"): 40_000_000,
    ("data", "train"): None,
    ("data", "expect"): None,
    ("grpo", "scale_rewards"): "group",
    ("hardware", "generation"): "transformers",
    ("hardware", "processes"): None,
    ("hardware", "nodes"): 1,
    ("hardware", "strategy"): "ddp",
}
"""Keys added to schema 1 after its release, with their defaults: left out while at the default, so
the hash (and the registry's record) of every recipe that does not set them stays what it was."""

_OPTIONAL_SECTIONS = ("training", "grpo", "reward", "logging", "publish")


@dataclass(frozen=True, eq=False)
class Recipe:
    """A validated recipe with everything resolved (``extends:`` merged, overrides applied).

    ``spec`` is the pydantic :class:`~rrg.recipe.schema.RecipeSpec`; ``source_path`` the file it
    was loaded from (``None`` for text or a registry entry); ``sources`` the labels of every file
    read, the recipe first then its bases; ``overrides`` the ``key=value`` strings applied.
    Two recipes are equal when their content hashes are.
    """

    spec: RecipeSpec
    source_path: Path | None = None
    sources: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()

    @classmethod
    def load(cls, path_or_ref: str | Path, overrides: Overrides = (), registry: RecipeRegistry | None = None) -> Recipe:
        """Load a recipe from a YAML file, a built-in recipe name (``demo/sft``, see
        ``rrg recipes ls``) or ``name@version`` from ``registry``.

        ``overrides`` replace values after ``extends:`` is merged: ``"training.learning_rate=2e-4"``
        strings (the value is read as YAML) or a mapping of key paths to values. ``registry`` is
        anything with ``get_recipe_version(name, version)`` returning an object with ``yaml_text``
        (or ``None``); it is needed only for ``name@version`` references.

        Raises :class:`~rrg.recipe.errors.RecipeError` listing every problem (file, line, key).
        """
        entry = _entry_text(path_or_ref, registry)
        return cls._from_entry(entry, overrides, registry)

    @classmethod
    def from_yaml(cls, text: str, *, path: str | Path | None = None, overrides: Overrides = (), registry: RecipeRegistry | None = None) -> Recipe:
        """Load a recipe from YAML text. ``path`` (if given) names it in messages and anchors a
        relative ``extends:``; it need not exist."""
        label = str(path) if path is not None else "<string>"
        entry = RecipeText(label, text, Path(path).absolute() if path is not None else None)
        return cls._from_entry(entry, overrides, registry)

    @classmethod
    def from_spec(cls, spec: RecipeSpec) -> Recipe:
        """Wrap an already validated spec (e.g. one built in code)."""
        return cls(spec=spec)

    @classmethod
    def _from_entry(cls, entry: RecipeText, overrides: Overrides, registry: RecipeRegistry | None) -> Recipe:
        strings = overrides_from_mapping(overrides) if isinstance(overrides, Mapping) else tuple(overrides)
        resolved = resolve_recipe(entry, strings, registry)
        return cls(spec=resolved.spec, source_path=entry.path, sources=resolved.sources, overrides=strings)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def ref(self) -> str:
        """``name@version``, how the registry and ``extends:`` / ``init_from`` name this recipe."""
        return f"{self.spec.name}@{self.spec.version}"

    @property
    def stage(self) -> str:
        """``zero_shot``, ``sft`` or ``grpo``."""
        return self.spec.stage.kind

    @cached_property
    def hash(self) -> str:
        """sha256 (64 hex characters) of the canonical JSON of the resolved recipe."""
        return content_hash(self.to_dict())

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain JSON-compatible data, every default filled in; sections
        that are not used (null) are left out, and so is ``extends`` (already merged)."""
        data = self.spec.model_dump(mode="json", by_alias=True, exclude={"extends"})
        for section in ("adapter", "stage"):  # the discriminator reads best first
            data[section] = {"kind": data[section]["kind"], **data[section]}
        for (section, key), default in _LATER_KEYS.items():
            if key in (data.get(section) or {}) and data[section][key] == default:
                del data[section][key]
        return {k: v for k, v in data.items() if not (k in _OPTIONAL_SECTIONS and v is None)}

    def run(
        self,
        registry: Any = None,
        *,
        device: str | None = None,
        output_dir: str | Path = "rrg_runs",
        verbose: bool = False,
    ) -> Any:
        """Run the recipe (plan, train, evaluate) and record it; returns a :class:`~rrg.run.Run`.

        ``registry`` defaults to ``$RRG_REGISTRY_URL`` or ``./rrg.db``; ``device="cpu"`` runs a GPU
        recipe on the CPU anyway (tiny models); outputs go to ``output_dir/<run id>/``. Quiet by
        default: ``verbose=True`` lets the libraries print their own progress bars and warnings.
        """
        from rrg.engine import run_recipe

        return run_recipe(self, registry=registry, device=device, output_dir=output_dir, verbose=verbose)

    def plan(self, *, device: str | None = None) -> Any:
        """What :meth:`run` would do on this machine (:class:`~rrg.plan.Plan`), without loading weights."""
        from rrg.plan import resolve_plan

        return resolve_plan(self, device=device)

    def canonical_json(self) -> str:
        """The text the hash is computed from."""
        return canonical_json(self.to_dict())

    def to_yaml(self) -> str:
        """The resolved recipe as YAML; ``Recipe.from_yaml(r.to_yaml())`` equals ``r`` (same hash)."""
        return yaml.dump(self.to_dict(), Dumper=_RecipeDumper, sort_keys=False, allow_unicode=True, width=100)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recipe):
            return NotImplemented
        return self.hash == other.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return f"Recipe({self.ref}, stage={self.stage}, hash={self.short_hash})"


class _RecipeDumper(yaml.SafeDumper):
    """Block mappings; lists of plain values on one line (``metrics: [green_flare, ce]``)."""


def _represent_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, (dict, list)) for item in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)


_RecipeDumper.add_representer(list, _represent_list)


def _entry_text(path_or_ref: str | Path, registry: RecipeRegistry | None) -> RecipeText:
    if isinstance(path_or_ref, Path):
        return read_recipe_file(path_or_ref)
    candidate = Path(path_or_ref)
    if candidate.exists():
        return read_recipe_file(candidate)
    from rrg.builtin import builtin_recipe

    shipped = builtin_recipe(path_or_ref)
    if shipped is not None:
        return read_recipe_file(shipped.path, label=f"{shipped.name} ({shipped.path})")
    ref = RECIPE_REF.match(path_or_ref)
    if ref is not None:
        return read_registry_recipe(ref["name"], int(ref["version"]), registry, path_or_ref)
    raise RecipeError(
        [RecipeProblem(path_or_ref, None, "", "no such recipe file, built-in recipe or name@version", "give a .yaml path, a name from `rrg recipes ls`, or name@version with a registry")]
    )
