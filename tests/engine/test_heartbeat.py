"""A live run keeps its heartbeat in every phase, not only while training or generating: a run
that spends minutes loading a model (a Hub download) or scoring must not look dead."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from engine_helpers import load_recipe


def test_heartbeats_continue_through_a_long_model_load(rrg_cache_env: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rrg.engine as engine

    monkeypatch.setattr(engine, "HEARTBEAT_SECONDS", 0.05)
    seen: list = []

    def slow_load(plan, family, *, for_training: bool = False):
        (summary,) = registry.search_runs()
        for _ in range(8):  # a slow download: nothing here calls the registry
            time.sleep(0.05)
            seen.append(registry.get_run(summary.id).run.heartbeat_at)
        raise RuntimeError("download failed")

    monkeypatch.setattr(engine, "_load_model", slow_load)
    recipe = load_recipe("zero_shot", registry)
    with pytest.raises(RuntimeError, match="download failed"):
        recipe.run(registry=registry, output_dir=tmp_path / "runs")
    assert len(set(seen)) >= 3, seen  # the heartbeat moved while the load was under way
    (summary,) = registry.search_runs()
    assert summary.status.value == "failed"
