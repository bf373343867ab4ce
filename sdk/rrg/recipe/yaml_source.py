"""YAML with line marks: the plain data of a recipe file plus where every key came from.

:func:`parse_yaml` safe-loads one document and records, for every key path, the file and the line
of the key (of the item, for list entries). :func:`merge_trees` and :func:`apply_override` keep
those positions right when a recipe extends another or a ``--set`` replaces a value, so a problem
found later can always be pointed at the line that caused it.

Floats such as ``2e-4`` are read as numbers (YAML 1.2 style); PyYAML alone would read a string.

A recipe may come from anyone, so the reader refuses hostile YAML before it costs time or memory, as
:class:`RecipeRefused` with one line naming the file and the line: text over ``MAX_RECIPE_BYTES``,
more than ``MAX_VALUES`` values (aliases counted as expanded), aliases that add more than
``MAX_ALIAS_VALUES`` values (a "billion laughs"), an alias inside the value it names (a recursive
alias), nesting deeper than ``MAX_DEPTH`` (aliases counted as expanded) and any tag outside YAML's
core schema (``!!python/...``, ``!foo``), on a scalar, a list or a mapping alike. All of it is
counted while PyYAML composes the document, so nothing is ever expanded.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from rrg.recipe.errors import RecipeProblem, RecipeRefused

KeyPath = tuple[Any, ...]

MAX_RECIPE_BYTES = 1_000_000
"""A recipe file (or registry text) larger than this (1 MB) is refused unread."""

MAX_VALUES = 10_000
"""Values (scalars, lists, mappings, keys included) one document may hold, aliases counted as expanded.
The largest shipped recipe has a few hundred; composing 10,000 takes about 0.2 s."""

MAX_ALIAS_VALUES = 1_000
"""Values that aliases may add to one document, all aliases together."""

MAX_DEPTH = 32
"""Nesting levels (the document's top mapping is level 1), aliases counted as expanded."""

CORE_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map"))
"""The explicit tags a recipe may use: YAML's core schema. ``!`` (plain text) is allowed too."""

_ALIAS_HINT = "write the values out; a recipe shares settings through extends:, not anchors and aliases"


@dataclass(frozen=True)
class Position:
    """Where a value came from: a file (or ``--set ...`` / ``registry:...``) and a 1-based line."""

    file: str
    line: int | None


@dataclass
class SourceTree:
    """Plain YAML data and the position of every key path in it (``()`` is the document)."""

    data: Any
    positions: dict[KeyPath, Position] = field(default_factory=dict)

    def position_of(self, path: KeyPath) -> Position:
        """The position of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found is not None:
                return found
        return Position("<unknown>", None)


class RefusedYAML(yaml.YAMLError):
    """Hostile YAML found while composing: the 1-based line, what is wrong and the fix."""

    def __init__(self, line: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.hint = hint


def shown_tag(tag: str) -> str:
    """A tag as it is usually written (``!!python/name:os.system``), cut to 80 characters."""
    prefix = "tag:yaml.org,2002:"
    text = "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag
    return text if len(text) <= 80 else text[:77] + "..."


class RecipeLoader(yaml.SafeLoader):
    """SafeLoader that reads exponent floats without a dot (``1e-4``) as floats and refuses hostile
    YAML while composing (see the module docstring): every node's expanded size and height are
    recorded when it is complete, and an alias is charged its anchor's size without being expanded."""

    def __init__(self, stream: str, quote: bool = True) -> None:
        super().__init__(stream)
        self.quote = quote  # name a refused tag in the message (not for a base that may be a secret)
        self._depth = 0
        self._values = 0
        self._alias_values = 0
        self._extent: dict[int, tuple[int, int]] = {}  # id(complete node) -> (values, height) expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is None:  # undefined alias: PyYAML's own error
                return super().compose_node(parent, index)
            extent = self._extent.get(id(node))
            if extent is None:  # anchored but not complete: the alias is inside its own value
                raise RefusedYAML(line, "recursive alias (it stands inside the value it names)", _ALIAS_HINT)
            values, height = extent
            self._alias_values += values
            if self._alias_values > MAX_ALIAS_VALUES:
                raise RefusedYAML(line, f"aliases expand to more than {MAX_ALIAS_VALUES:,} values", _ALIAS_HINT)
            self._count(values, line)
            self._check_depth(self._depth + height, line)
            return super().compose_node(parent, index)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in CORE_TAGS:
            what = f"tag {shown_tag(tag)!r}" if self.quote else "a tag outside YAML's core schema"
            raise RefusedYAML(line, f"{what} is not allowed", "a recipe is plain YAML: remove the tag (quote the value if it is text)")
        self._depth += 1
        self._check_depth(self._depth, line)
        self._count(1, line)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._extent[id(node)] = self._measure(node)
        return node

    def _measure(self, node: Node) -> tuple[int, int]:
        if isinstance(node, SequenceNode):
            children = [self._extent[id(child)] for child in node.value]
        elif isinstance(node, MappingNode):
            children = [self._extent[id(child)] for pair in node.value for child in pair]
        else:
            return 1, 1
        return 1 + sum(v for v, _ in children), 1 + max((h for _, h in children), default=0)

    def _count(self, values: int, line: int) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise RefusedYAML(line, f"more than {MAX_VALUES:,} values (aliases counted as expanded)", "a recipe is a few hundred values: split the data out of it")

    @staticmethod
    def _check_depth(depth: int, line: int) -> None:
        if depth > MAX_DEPTH:
            raise RefusedYAML(line, f"nested deeper than {MAX_DEPTH} levels", "a recipe nests a few levels: flatten the value")


RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class _Walker:
    """Builds data and positions from a composed node tree, collecting key problems as it goes."""

    def __init__(self, loader: RecipeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions: dict[KeyPath, Position] = {}
        self.problems: list[RecipeProblem] = []

    def walk(self, node: Node, path: KeyPath) -> Any:
        if isinstance(node, MappingNode):
            self.loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                dotted = ".".join(str(p) for p in (*path, key))
                if not isinstance(key, str):
                    if not isinstance(key, Hashable):
                        key = str(key)
                    self.problems.append(
                        RecipeProblem(self.file, line, dotted, f"keys must be strings (got {type(key).__name__} {key!r})", "quote the key or fix the indentation")
                    )
                if key in result:
                    first = self.positions[(*path, key)].line
                    self.problems.append(
                        RecipeProblem(self.file, line, dotted, f"duplicate key (first set on line {first})", "keep one of the two; YAML would silently use the last")
                    )
                self.positions[(*path, key)] = Position(self.file, line)
                result[key] = self.walk(value_node, (*path, key))
            return result
        if isinstance(node, SequenceNode):
            items = []
            for index, child in enumerate(node.value):
                self.positions[(*path, index)] = Position(self.file, child.start_mark.line + 1)
                items.append(self.walk(child, (*path, index)))
            return items
        if isinstance(node, ScalarNode):
            return self.loader.construct_object(node, deep=True)
        raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover - PyYAML has three kinds


def parse_yaml(text: str, file: str, quote: bool = True) -> tuple[SourceTree | None, list[RecipeProblem]]:
    """Safe-load one YAML document with positions.

    Returns the tree (``None`` when the text cannot be read as YAML at all) and the problems found
    while reading it: a syntax error (then the only problem), duplicate keys, non-string keys.
    Raises :class:`RecipeRefused` for hostile YAML (see the module docstring), quoting a refused tag
    only when ``quote`` is true.
    """
    if len(text) > MAX_RECIPE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_RECIPE_BYTES:
        raise too_large(file)
    loader = RecipeLoader(text, quote=quote)
    try:
        node = loader.get_single_node()
        if node is None:
            return SourceTree(None, {(): Position(file, None)}), []
        walker = _Walker(loader, file)
        data = walker.walk(node, ())
    except RefusedYAML as exc:
        raise RecipeRefused(RecipeProblem(file, exc.line, "", exc.message, exc.hint)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        return None, [RecipeProblem(file, line, "", f"not valid YAML: {detail}", "fix the YAML syntax (indentation, colons, quotes)")]
    except yaml.YAMLError as exc:
        return None, [RecipeProblem(file, None, "", f"not valid YAML: {exc}", "fix the YAML syntax")]
    finally:
        loader.dispose()
    positions = {(): Position(file, node.start_mark.line + 1), **walker.positions}
    return SourceTree(data, positions), walker.problems


def too_large(file: str) -> RecipeRefused:
    """The refusal of a recipe over ``MAX_RECIPE_BYTES``."""
    return RecipeRefused(RecipeProblem(file, None, "", "larger than 1 MB: not read", "a recipe is a few kilobytes: is this the right file?"))


def parse_value(text: str) -> Any:
    """A command-line value read as YAML (``2e-4`` -> 0.0002, ``true`` -> True, ``[a, b]`` -> list).

    Raises :class:`RefusedYAML` for hostile YAML (a tag, an alias bomb), ``yaml.YAMLError`` otherwise."""
    if text == "":
        return ""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader


def _under(path: KeyPath, prefixes: set[KeyPath]) -> bool:
    return any(path[:end] in prefixes for end in range(1, len(path) + 1))


def merge_trees(base: SourceTree, child: SourceTree) -> SourceTree:
    """Deep-merge ``child`` over ``base``: mappings merge key by key, anything else (lists included)
    is replaced by the child's value. Positions follow the value that wins."""
    replaced: set[KeyPath] = set()

    def merge(left: Any, right: Any, path: KeyPath) -> Any:
        if isinstance(left, dict) and isinstance(right, dict):
            result = dict(left)
            for key, value in right.items():
                if key in left and isinstance(left[key], dict) and isinstance(value, dict):
                    result[key] = merge(left[key], value, (*path, key))
                else:
                    if key in left:
                        replaced.add((*path, key))
                    result[key] = value
            return result
        replaced.add(path)
        return right

    data = merge(base.data, child.data, ())
    positions = {p: pos for p, pos in base.positions.items() if not _under(p, replaced)}
    positions.update(child.positions)
    return SourceTree(data, positions)


def apply_override(tree: SourceTree, path: KeyPath, value: Any, source: str) -> RecipeProblem | None:
    """Set ``path`` to ``value`` in ``tree`` (creating mappings on the way); positions under it
    become ``source``. Returns a problem instead when a parent on the path is not a mapping."""
    if not isinstance(tree.data, dict):
        tree.data = {}
    node = tree.data
    for depth, key in enumerate(path[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
            tree.positions[path[: depth + 1]] = Position(source, None)
        if not isinstance(child, dict):
            parent = ".".join(str(p) for p in path[: depth + 1])
            return RecipeProblem(
                source, None, ".".join(str(p) for p in path),
                f"cannot set a key under {parent}: its value {child!r} is a {type(child).__name__}, not a mapping",
                f"set {parent}=... instead",
            )
        node = child
    node[path[-1]] = value
    stale = {p for p in tree.positions if p[: len(path)] == path}
    for p in stale:
        del tree.positions[p]
    _mark(tree.positions, path, value, Position(source, None))
    return None


def _mark(positions: dict[KeyPath, Position], path: KeyPath, value: Any, position: Position) -> None:
    positions[path] = position
    if isinstance(value, dict):
        for key, item in value.items():
            _mark(positions, (*path, key), item, position)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _mark(positions, (*path, index), item, position)
