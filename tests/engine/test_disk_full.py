"""A disk that fills up while a checkpoint is written: the run ends ``failed`` with one line naming
the checkpoint and its folder, the half-written checkpoint is neither recorded nor left behind, and
the checkpoints recorded before it stay valid. The disk is a real, small tmpfs (the tests run as
root, as CI does); the same path is also driven by a writer that fails with ENOSPC."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from engine_helpers import load_recipe


def _fill(folder: Path) -> None:
    """Write until the file system is full (the next write of any size fails)."""
    with open(folder / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def _fill_at_step_3(folder: Path):
    def on_train_step(done: int, total: int, logs: dict) -> None:
        if done == 3 and not (folder / "filler").exists():  # checkpoint-2 is saved and recorded
            _fill(folder)

    return on_train_step


def _assert_failed_with_checkpoint_two_kept(registry, output: Path, error) -> None:
    assert str(error).startswith("no space left on device while saving checkpoint-4 in ")
    (summary,) = registry.search_runs()
    detail = registry.get_run(summary.id)
    assert detail.run.status.value == "failed"
    assert detail.run.error.startswith("RrgError: no space left on device while saving checkpoint-4")
    (checkpoint,) = detail.checkpoints
    weights = Path(checkpoint.path) / "adapter_model.safetensors"
    assert checkpoint.step == 2 and checkpoint.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert not (Path(checkpoint.path).parent / "checkpoint-4").exists()


@pytest.fixture
def small_disk(tmp_path: Path):
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True)
    assert mounted.returncode == 0, f"the test needs root to mount a tmpfs: {mounted.stderr!r}"
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
def test_a_full_disk_while_saving_a_checkpoint(rrg_cache_env: Path, registry, small_disk: Path) -> None:
    from rrg.engine import RunEvents, run_recipe
    from rrg.errors import RrgError

    recipe = load_recipe("sft", registry, extra=("evaluation.before_training=false",))
    with pytest.raises(RrgError) as caught:
        run_recipe(recipe, registry=registry, output_dir=small_disk / "runs", events=RunEvents(on_train_step=_fill_at_step_3(small_disk)))
    _assert_failed_with_checkpoint_two_kept(registry, small_disk, caught.value)


def test_a_writer_failing_with_enospc(rrg_cache_env: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import peft.peft_model
    from rrg.engine import run_recipe
    from rrg.errors import RrgError

    real = peft.peft_model.safe_save_file

    def save(tensors, filename, metadata=None):
        if "checkpoint-4" in str(filename):
            Path(filename).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(peft.peft_model, "safe_save_file", save)
    recipe = load_recipe("sft", registry, extra=("evaluation.before_training=false",))
    with pytest.raises(RrgError) as caught:
        run_recipe(recipe, registry=registry, output_dir=tmp_path / "runs")
    _assert_failed_with_checkpoint_two_kept(registry, tmp_path, caught.value)
