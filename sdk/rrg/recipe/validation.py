"""Pydantic errors turned into recipe problems with file, line, key path and a hint.

Each pydantic error's ``loc`` is mapped back onto the YAML data (discriminator tags such as
``qlora`` in ``('adapter', 'qlora', 'bits')`` are dropped), then onto the position of that key or
of its nearest ancestor when the key is missing. Unknown keys get the closest valid key as a
suggestion (difflib); broken cross-field rules (:class:`RuleViolation`) point at the key the rule
names.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from rrg.recipe.errors import RecipeProblem, RuleViolation
from rrg.recipe.schema import SCHEMA_VERSION, RecipeSpec
from rrg.recipe.yaml_source import KeyPath, SourceTree


def validate_tree(tree: SourceTree) -> tuple[RecipeSpec | None, list[RecipeProblem]]:
    """Validate resolved recipe data; return the spec, or every problem pydantic found."""
    try:
        return RecipeSpec.model_validate(tree.data), []
    except ValidationError as exc:
        problems: list[RecipeProblem] = []
        for error in exc.errors():
            problems.extend(_problems_for(error, tree))
        return None, _unique(problems)


def _unique(problems: list[RecipeProblem]) -> list[RecipeProblem]:
    seen: dict[RecipeProblem, None] = {}
    for problem in problems:
        seen.setdefault(problem, None)
    return list(seen)


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path)


def data_path(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """The key path in ``data`` that a pydantic ``loc`` refers to (union tags removed)."""
    path: list[Any] = []
    node: Any = data
    for item in loc:
        if isinstance(node, dict):
            if item in node:
                path.append(item)
                node = node[item]
                continue
            if isinstance(item, str) and node.get("kind") == item:
                continue  # the discriminator tag pydantic adds for a tagged union member
            path.append(item)
            node = None
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            path.append(item)
            node = node[item]
        else:
            path.append(item)
            node = None
    return tuple(path)


def _unwrap(annotation: Any) -> list[type[BaseModel]]:
    """The model classes an annotation can hold (through Optional, Annotated and unions)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    if origin is list:
        return _unwrap(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def models_at(loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The schema models that the mapping at ``loc`` may be (several for a tagged union whose
    tag the loc does not name)."""
    candidates: list[type[BaseModel]] = [RecipeSpec]
    for item in loc:
        if isinstance(item, int):  # an entry of a list of sections (data.train)
            continue
        by_tag = {_kind_of(m): m for m in candidates if _kind_of(m) is not None}
        if len(candidates) > 1 and item in by_tag:
            candidates = [by_tag[item]]
            continue
        next_candidates: list[type[BaseModel]] = []
        for model in candidates:
            name = _field_name(model, item)
            if name is not None:
                next_candidates.extend(_unwrap(model.model_fields[name].annotation))
        if not next_candidates:
            return []
        candidates = next_candidates
    return candidates


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if len(args) == 1 else None


def _field_name(model: type[BaseModel], key: Any) -> str | None:
    for name, info in model.model_fields.items():
        if key == (info.alias or name):
            return name
    return None


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts, as written in YAML (aliases included)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _description(models: list[type[BaseModel]], key: str) -> str | None:
    for model in models:
        name = _field_name(model, key)
        if name is not None:
            return model.model_fields[name].description
    return None


def _first_sentence(text: str | None) -> str:
    if not text:
        return ""
    return re.split(r"(?<=\.)\s", text.strip(), maxsplit=1)[0]


def _suggest(word: Any, choices: list[str]) -> str | None:
    if not isinstance(word, str):
        return None
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _problems_for(error: dict[str, Any], tree: SourceTree) -> list[RecipeProblem]:
    loc = tuple(error["loc"])
    kind = error["type"]
    path = data_path(loc, tree.data)
    if kind == "value_error" and isinstance(error.get("ctx", {}).get("error"), RuleViolation):
        problems = []
        for rule in error["ctx"]["error"].rules:
            rule_path = (*path, *rule.key.split("."))
            where = tree.position_of(rule_path)
            problems.append(RecipeProblem(where.file, where.line, _dotted(rule_path), rule.message, rule.hint))
        return problems
    message, hint, path = _explain(error, loc, path, tree)
    where = tree.position_of(path)
    return [RecipeProblem(where.file, where.line, _dotted(path), message, hint)]


def _explain(error: dict[str, Any], loc: tuple[Any, ...], path: KeyPath, tree: SourceTree) -> tuple[str, str | None, KeyPath]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if path == ("schema",) and kind in ("literal_error", "missing"):
        if kind == "missing":
            return "missing the recipe format version", f"add `schema: {SCHEMA_VERSION}` at the top", path
        return (
            f"recipe format version {value!r} is not supported (this rrg reads schema {SCHEMA_VERSION})",
            "upgrade rrg to read newer recipes" if isinstance(value, int) and value > SCHEMA_VERSION else f"set schema: {SCHEMA_VERSION}",
            path,
        )
    if kind == "missing":
        key = loc[-1]
        description = _first_sentence(_description(models_at(loc[:-1]), key))
        hint = f"add `{key}`" + (f": {description}" if description else "")
        return "required key missing", hint, path
    if kind == "extra_forbidden":
        key = loc[-1]
        models = models_at(loc[:-1])
        valid = sorted({k for m in models for k in keys_of(m)})
        suggestion = _suggest(key, valid)
        if suggestion:
            return f"unknown key {key!r}", f"did you mean {suggestion!r}?", path
        section = _dotted(path[:-1])
        variants = _variants_accepting(section, key)
        if variants:
            kinds = " or ".join(variants)
            return f"unknown key {key!r} for {section}.kind {_kind_of(models[0])}" if models else f"unknown key {key!r}", f"{key!r} only applies to kind {kinds}", path
        where = f"in {section}" if section else "at the top level"
        return f"unknown key {key!r}", f"valid keys {where}: {', '.join(valid)}", path
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = [tag for model in models_at(loc) if (tag := _kind_of(model)) is not None]
        kind_path = (*path, "kind")
        if kind == "union_tag_not_found":
            return "required key missing", f"add `kind`: one of {', '.join(tags)}", kind_path
        tag = ctx.get("tag")
        suggestion = _suggest(tag, tags)
        hint = f"did you mean {suggestion!r}?" if suggestion else f"use one of {', '.join(tags)}"
        return f"unknown kind {tag!r} (expected one of {', '.join(tags)})", hint, kind_path
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = re.findall(r"'([^']*)'", expected)
        suggestion = _suggest(value, choices)
        hint = f"did you mean {suggestion!r}?" if suggestion else None
        return f"invalid value {value!r}: expected {expected}", hint, path
    message = error["msg"]
    if kind == "model_type" or kind == "dict_type":
        return f"expected a mapping of keys, got {_describe(value)}", "indent the keys of this section under it", path
    if kind == "string_pattern_mismatch":
        return f"invalid value {value!r}", _pattern_hint(path, ctx.get("pattern", "")), path
    if not isinstance(value, (dict, list)):
        message = f"{message} (got {value!r})"
    return message, None, path


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _pattern_hint(path: KeyPath, pattern: str) -> str:
    last = path[-1] if path else ""
    if last == "name":
        return "use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit"
    if last == "adapter":
        return "use hub:org/name@revision, run:<run id> or model:NAME@VERSION"
    if last == "repo":
        return "use org/name"
    return f"must match {pattern}"


def _variants_accepting(section: str, key: str) -> list[str]:
    from rrg.recipe.schema import SECTION_MODELS

    variants = SECTION_MODELS.get(section)
    if not isinstance(variants, tuple):
        return []
    return [k for m in variants if (k := _kind_of(m)) and key in keys_of(m)]
