"""Zero-shot, SFT and GRPO through the real engine on the tiny twins.

The demo's family runs once per session (a chain the other fast tests also read); every other
family runs its own chain here too: each takes a few seconds on two cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import FAST_FAMILY, check_chain, load_recipe, run_chain
from rrg.models import FAMILY_NAMES


def test_demo_family_chain(demo_chain) -> None:
    check_chain(demo_chain)


@pytest.mark.parametrize("family", [f for f in FAMILY_NAMES if f != FAST_FAMILY])
def test_every_family_chain(family: str, rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    check_chain(run_chain(family, registry, tmp_path / "runs"))


def test_a_trained_run_loads_its_base_twice_and_hashes_each_checkpoint_once(rrg_cache_env: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the starting model is scored before training as it is about to be trained (no second copy
    # in memory); each checkpoint's weights are hashed when saved, not again when handed on
    from rrg.models.base import VisionLanguageFamily
    from rrg.train import callbacks

    loads: list[str] = []
    hashed: list[Path] = []
    load, file_sha256 = VisionLanguageFamily.load, callbacks.file_sha256

    def counting_load(self, model_id, **kwargs):
        loads.append(model_id)
        return load(self, model_id, **kwargs)

    def counting_sha256(path):
        hashed.append(Path(path))
        return file_sha256(path)

    monkeypatch.setattr(VisionLanguageFamily, "load", counting_load)
    monkeypatch.setattr(callbacks, "file_sha256", counting_sha256)
    run = load_recipe("sft", registry).run(registry=registry, output_dir=tmp_path / "runs")
    assert run.status == "succeeded", run.error
    assert "before/green_flare" in run.metrics
    assert len(loads) == 2  # the base to train, then the base under the handed-on adapter
    assert sorted(hashed) == sorted(Path(c.path) / "adapter_model.safetensors" for c in run.checkpoints)
