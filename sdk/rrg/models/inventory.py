"""What a model is made of, counted on the meta device from its config: no weights are read.

``rrg plan`` reports parameter counts and the linear layers LoRA targets from a
:class:`ParameterInventory`. Building a model on the meta device costs no memory, but it needs
transformers' modelling code, whose import alone takes seconds (torch.distributed, dynamo, sympy).
So an inventory, once counted, is kept in rrg's cache under ``plan/inventory-<key>.json``, where
the key is the sha256 of the family, the code that builds its model (the transformers release,
or rrg's own sources for a native implementation) and the bytes of the config file: a later plan
of the same model reads the numbers back without importing torch or transformers, and any change
to the config or to that code counts afresh. Like everything in rrg's cache, the files can be
deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.paths import cache_dir as default_cache_dir

if TYPE_CHECKING:  # pragma: no cover
    from rrg.models.base import VisionLanguageFamily

INVENTORY_FORMAT = 1
"""Bumped whenever the fields of :class:`ParameterInventory` or the way they are counted change."""


@dataclass(frozen=True)
class ParameterInventory:
    """The parameters of a model as its config builds it."""

    total: int
    """Parameters of the whole model (shared tensors counted once)."""
    hidden_size: int | None
    """Hidden size of the language model (``text_config``, else the config itself)."""
    num_layers: int | None
    """Decoder layers of the language model."""
    linears: tuple[tuple[str, int, int], ...]
    """Every ``nn.Linear``: module path, in_features, out_features."""
    params_by_leaf: dict[str, int]
    """Module leaf name (``lm_head``, ``embed_tokens``, ``q_proj``...) → the parameters of every
    module so named, each module counting all of its own parameters."""

    def to_json(self) -> str:
        return json.dumps({"format": INVENTORY_FORMAT, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ParameterInventory | None:
        """The inventory ``text`` holds, or ``None`` when it is not one of this format."""
        try:
            data = json.loads(text)
            if data.pop("format") != INVENTORY_FORMAT:
                return None
            return cls(
                total=int(data["total"]),
                hidden_size=data["hidden_size"],
                num_layers=data["num_layers"],
                linears=tuple((str(name), int(i), int(o)) for name, i, o in data["linears"]),
                params_by_leaf={str(k): int(v) for k, v in data["params_by_leaf"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def parameter_inventory(
    family: VisionLanguageFamily, source: str, *, revision: str | None = None, cache_dir: Path | None = None
) -> ParameterInventory:
    """The inventory of the model ``source`` (a local folder or a Hub id, read offline).

    Read from rrg's cache when this config was counted before with the same model code; otherwise
    the config is loaded with ``family.load_config`` (no weights) and the model built on the meta
    device. Raises ``OSError`` when the config cannot be read offline (a Hub id whose config is not
    in the Hugging Face cache: nothing is downloaded), or what ``load_config`` raises.
    """
    config_file = _config_file(source, revision)
    if config_file is None:
        raise OSError(f"config.json of {source} is not in the Hugging Face cache")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "plan" / f"inventory-{_key(family, config_file)}.json"
    try:
        cached = ParameterInventory.from_json(path.read_text(encoding="utf-8"))
    except OSError:
        cached = None
    if cached is not None:
        return cached
    inventory = count_on_meta_device(family, source, revision=revision)
    write_cache_file(path, inventory.to_json())
    return inventory


def count_on_meta_device(family: VisionLanguageFamily, source: str, *, revision: str | None = None) -> ParameterInventory:
    """Build the model of ``source``'s config on the meta device and list what it holds."""
    import torch

    config = family.load_config(source, revision=revision, local_files_only=True)
    with torch.device("meta"):
        model = family._model_class()._from_config(config)
    text_config = getattr(config, "text_config", None) or config
    linears = []
    params_by_leaf: dict[str, int] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            linears.append((name, module.in_features, module.out_features))
        leaf = name.rsplit(".", 1)[-1]
        if leaf:
            params_by_leaf[leaf] = params_by_leaf.get(leaf, 0) + sum(p.numel() for p in module.parameters())
    return ParameterInventory(
        total=sum(p.numel() for p in model.parameters()),
        hidden_size=getattr(text_config, "hidden_size", None),
        num_layers=getattr(text_config, "num_hidden_layers", None),
        linears=tuple(linears),
        params_by_leaf=params_by_leaf,
    )


def _config_file(source: str, revision: str | None) -> Path | None:
    """The ``config.json`` a plan of ``source`` reads: in the folder, or in the Hugging Face cache
    (``None`` when a Hub id's is not there)."""
    local = Path(source)
    if local.is_dir():
        return local / "config.json"
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(source, "config.json", revision=revision)
    except ValueError:  # not a valid repository id
        return None
    return Path(found) if isinstance(found, str) else None


def _key(family: VisionLanguageFamily, config_file: Path) -> str:
    parts: dict[str, Any] = {
        "format": INVENTORY_FORMAT,
        "family": family.name,
        "class": family.model_class_name,
        "code": family.model_code_version(),
        "config": hashlib.sha256(config_file.read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def write_cache_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place, so a reader never
    sees half a file. A cache that cannot be written (read-only home) is not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        pass
