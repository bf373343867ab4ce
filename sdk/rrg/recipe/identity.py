"""A recipe's identity: name, version and a content hash of the fully resolved recipe.

The hash is the sha256 of a canonical JSON text (sorted keys, no spaces, UTF-8) of the resolved
recipe after ``extends:`` and overrides, with every default filled in. Comments, key order, the
way a value is spelled (``2e-4`` or ``0.0002``) and which file set it do not change it; any change
of meaning does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(data: Any) -> str:
    """The canonical JSON text of plain recipe data (sorted keys, compact, non-ASCII kept)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(data: Any) -> str:
    """sha256 (hex) of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()
