"""The recipe reference (``docs/recipes.md``), generated from the schema.

Regenerate with ``rrg recipe reference --output docs/recipes.md``; a test fails when the
committed file differs from :func:`render_reference`.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rrg.recipe.schema import SCHEMA_VERSION, SECTION_MODELS, RecipeSpec

REGENERATE_COMMAND = "rrg recipe reference --output docs/recipes.md"

_INTRO = f"""\
# Recipe reference

<!-- Generated from the schema in sdk/rrg/recipe/schema.py by `{REGENERATE_COMMAND}`. Do not edit. -->

A recipe is one YAML file describing one experiment: which model, which adapter, which data, which
stage (zero-shot evaluation, supervised fine-tuning or GRPO), how to train, how to evaluate, where
it runs and where it is published. This page lists every key; unknown keys are errors.

```
rrg check recipes/ --set data.root=demo    # validate files or folders (the paper data elsewhere: demo here)
rrg recipe show demo/sft --set training.max_steps=10   # the resolved recipe and its hash
rrg recipe schema > recipe.schema.json     # JSON Schema for editors
rrg recipes ls                             # shipped recipes; `rrg recipes cp NAME DEST` to edit one
rrg recipe versions --registry rrg.db      # the recipe versions a registry holds, with their runs
```

## Format

- **`schema`** is the format version (this rrg reads `{SCHEMA_VERSION}`), **`name`** and
  **`version`** (an integer from 1) name the experiment. The registry records each name+version
  with its content hash and refuses the same name+version with a different content: bump
  `version` when you change a recipe.
- **`extends:`** builds on a base recipe: a path relative to the extending file, or
  `name@version` of a recipe recorded in the registry. Mappings merge key by key (the extending
  file wins), lists and scalars are replaced, `null` clears a value. A recipe that extends another
  must set its own `name` and `version`.
- **Overrides** `--set key.path=value` (or `Recipe.load(path, overrides=[...])`) apply after
  `extends:`; the value is read as YAML (`2e-4`, `true`, `null`, `[a, b]`). A key path the schema
  does not know is an error that names the `--set` flag.
- **Identity**: name, version and the sha256 of the canonical JSON (sorted keys, every default
  filled in) of the fully resolved recipe. Comments, key order and spelling (`2e-4` vs `0.0002`)
  do not change the hash; any change of value does.
- **Errors** list every problem at once, one per line: `file:line: key.path: message (hint: ...)`.
  A problem inherited through `extends:` points at the base file; a missing key points at the
  line of the section that should hold it.
- Relative paths (`data.root`) resolve against the working directory when the recipe runs.
- Defaults that differ from TRL's `SFTConfig` / `GRPOConfig` say so ("TRL default: ...").
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{json.dumps(a) if not isinstance(a, str) else a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in args if a is not type(None)]
        if len(parts) > 1 and all(isinstance(a, type) and issubclass(a, BaseModel) for a in parts):
            return "section, by `kind`"
        text = " or ".join(_type_name(a) for a in parts)
        return f"{text} or null" if len(parts) < len(args) else text
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is tuple:
        return "[" + ", ".join(_type_name(a) for a in args) + "]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = ((annotated_types.Ge, "ge", "≥"), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "≤"), (annotated_types.Lt, "lt", "<"))


def _constraints(info: FieldInfo) -> str:
    found = []
    for item in info.metadata:
        for kind, attribute, symbol in _BOUNDS:
            if isinstance(item, kind):
                found.append(f"{symbol} {getattr(item, attribute)}")
    return ", ".join(found)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(section defaults)"
    elif info.default is PydanticUndefined:
        return "**required**"
    else:
        value = info.default
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`"


def _field_rows(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "kind")
    for name, info in fields:
        key = info.alias or name
        if key in skip:
            continue
        type_text = _type_name(info.annotation)
        bounds = _constraints(info)
        if bounds:
            type_text += f" ({bounds})"
        description = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{key}` | {type_text} | {_default(info)} | {description} |")
    return rows


def _rules_text(model: type[BaseModel]) -> list[str]:
    validator = model.__dict__.get("_rules")
    function = getattr(validator, "__func__", validator)
    if function is None or not function.__doc__:
        return []
    return ["", "Rules: " + inspect.cleandoc(function.__doc__), ""]


def render_reference() -> str:
    """The Markdown recipe reference, from the schema's field descriptions and rule docstrings."""
    lines = [_INTRO, "## Top level", ""]
    lines += _field_rows(RecipeSpec)
    lines += _rules_text(RecipeSpec)
    for section, models in SECTION_MODELS.items():
        lines += ["", f"## `{section}`", ""]
        if isinstance(models, tuple):
            kinds = ", ".join(f"`{m.model_fields['kind'].annotation.__args__[0]}`" for m in models)  # type: ignore[union-attr]
            lines += [f"Chosen by `kind`: {kinds}.", ""]
            for model in models:
                kind = model.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
                lines += [f"### `{section}.kind: {kind}`", "", (model.__doc__ or "").strip(), ""]
                lines += _field_rows(model)
                lines += _rules_text(model)
                lines.append("")
        else:
            lines += [(models.__doc__ or "").strip(), ""]
            lines += _field_rows(models)
            lines += _rules_text(models)
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"
