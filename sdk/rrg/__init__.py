"""rrg: declarative chest X-ray report-generation experiments with a results registry.

``import rrg`` is cheap: the public names are resolved on first access, and nothing here imports
torch, transformers or the database layer until it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Recipe": "rrg.recipe:Recipe",
    "Registry": "rrg_registry:Registry",
}

__all__ = ["RrgError", "__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from rrg.recipe import Recipe
    from rrg_registry import Registry


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'rrg' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
