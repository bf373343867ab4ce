"""Zero-shot, SFT and GRPO through the real engine on the tiny twins.

The demo's family runs once per session (a chain the other fast tests also read); every other
family runs its own chain here too: each takes a few seconds on two cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import FAST_FAMILY, check_chain, run_chain
from rrg.models import FAMILY_NAMES


def test_demo_family_chain(demo_chain) -> None:
    check_chain(demo_chain)


@pytest.mark.parametrize("family", [f for f in FAMILY_NAMES if f != FAST_FAMILY])
def test_every_family_chain(family: str, rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    check_chain(run_chain(family, registry, tmp_path / "runs"))
