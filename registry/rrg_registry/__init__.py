"""rrg_registry: the results registry of rrg (runs, checkpoints, metrics, predictions, publications).

It knows nothing of torch, transformers or the rrg SDK. ``import rrg_registry`` is cheap: the
public names below are imported on first access, and the database layer (SQLAlchemy, SQLModel,
Alembic) only when a registry is opened. :class:`RegistryReader` reads what the browsing commands
print without it (see :mod:`rrg_registry.read`).

    from rrg_registry import Registry
    registry = Registry.from_url("sqlite:///rrg.db")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "Registry": "rrg_registry.registry",
    "resolve_url": "rrg_registry.registry",
    "DEFAULT_URL": "rrg_registry.registry",
    "ENV_VAR": "rrg_registry.registry",
    "RegistryReader": "rrg_registry.read",
    "RunStatus": "rrg_registry.status",
    "MetricFilter": "rrg_registry.filters",
    **{
        name: "rrg_registry.entities"
        for name in (
            "RecipeVersion", "Dataset", "Run", "RunSummary", "RunDetail", "RunLink", "Checkpoint",
            "Metric", "GreenFlareComponents", "Prediction", "Publication", "ExternalModel",
            "Comparison", "PairedTest", "GREEN_FLARE_COMPONENTS",
            "DatasetSplit", "DatasetVersion", "ModelVersion", "ModelAlias", "AliasEvent", "RegisteredModel",
        )
    },
    **{
        name: "rrg_registry.errors"
        for name in (
            "UserError", "RegistryError", "RecipeVersionConflict", "RunNotFound", "AmbiguousRunId",
            "InvalidTransition", "StaleSchema", "UnknownRevision", "NotARegistry", "SchemaLocked",
            "RegistryLocked", "RegistryReadOnly",
            "InvalidQuery", "UnsupportedUrl", "NotFound", "DuplicateRecord", "InvalidName", "CopyConflict",
        )
    },
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry.entities import *
    from rrg_registry.errors import *
    from rrg_registry.read import RegistryReader
    from rrg_registry.registry import DEFAULT_URL, ENV_VAR, Registry, resolve_url
    from rrg_registry.status import RunStatus


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rrg_registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
