"""The folder rrg publish uploads: exactly the right files, their sizes and sha256 sums."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard
from rrg.hub.bundle import BundleError, assemble_bundle

EXPECTED_FILES = {
    "README.md",
    "adapter_config.json",
    "adapter_model.safetensors",
    "chat_template.jinja",
    "processor_config.json",
    "rrg_recipe.yaml",
    "rrg_results.json",
    "tokenizer.json",
    "tokenizer_config.json",
}


def test_bundle_of_the_trained_run(registry, trained_run, tmp_path) -> None:
    bundle = assemble_bundle(registry, trained_run.run_id, "my-org/demo-sft", tmp_path / "bundle")
    names = {p.name for p in bundle.folder.iterdir()}
    assert (
        names == EXPECTED_FILES
    )  # no optimizer.pt, scheduler.pt, rng_state.pth, trainer_state.json, training_args.bin
    assert {f.name for f in bundle.files} == EXPECTED_FILES
    for f in bundle.files:
        data = (bundle.folder / f.name).read_bytes()
        assert (f.size, f.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    results = json.loads((bundle.folder / "rrg_results.json").read_text())
    assert set(results["files"]) == EXPECTED_FILES - {"rrg_results.json"}
    for name, entry in results["files"].items():
        assert entry["sha256"] == hashlib.sha256((bundle.folder / name).read_bytes()).hexdigest()
    detail = registry.get_run(trained_run.run_id)
    assert results["run"]["id"] == trained_run.run_id
    assert results["run"]["model"] == {
        "family": "qwen2_5_vl",
        "id": "tiny",
        "revision": None,
        "base_model": "Qwen/Qwen2.5-VL-7B-Instruct",
        "tiny": True,
    }
    assert results["evaluation"]["metrics"]["green_flare"] == detail.metrics["green_flare"]
    assert results["evaluation"]["components"] == detail.components[-1].values()
    assert (
        results["evaluation"]["split"] == "validation-public" and results["evaluation"]["n"] == 16
    )
    assert (
        results["license"]["id"] == "cc-by-nc-4.0"
        and results["data"]["license"] == "cc-by-nc-nd-4.0"
    )

    # the adapter weights are the best checkpoint's, byte for byte
    best = next(c for c in detail.checkpoints if c.best)
    assert (bundle.folder / "adapter_model.safetensors").read_bytes() == (
        bundle.record.adapter_dir / "adapter_model.safetensors"
    ).read_bytes()
    assert str(bundle.record.adapter_dir) == best.path
    # no local path leaves the machine through the adapter config
    config = json.loads((bundle.folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (bundle.folder / "rrg_recipe.yaml").read_text() == detail.recipe.yaml_text
    assert ModelCard.load(bundle.card_path).data.base_model == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_assembling_twice_gives_the_same_bytes(registry, trained_run, tmp_path) -> None:
    first = assemble_bundle(registry, trained_run.run_id, "my-org/demo-sft", tmp_path / "a")
    second = assemble_bundle(registry, trained_run.run_id, "my-org/demo-sft", tmp_path / "b")
    assert first.files == second.files
    again = assemble_bundle(
        registry, trained_run.run_id, "my-org/demo-sft", tmp_path / "a"
    )  # replaces an earlier bundle
    assert again.files == first.files


def test_a_foreign_non_empty_folder_is_not_overwritten(registry, trained_run, tmp_path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not empty"):
        assemble_bundle(registry, trained_run.run_id, "my-org/demo-sft", target)
    assert (target / "notes.txt").read_text() == "keep me"


def test_fake_checkpoint_trainer_state_is_left_out(recorded_lineage, tmp_path) -> None:
    from rrg import Registry

    with Registry.from_url(recorded_lineage.registry_url) as registry:
        bundle = assemble_bundle(registry, recorded_lineage.sft_id, "my-org/sft", tmp_path / "b")
    names = {f.name for f in bundle.files}
    assert names == {
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "chat_template.jinja",
        "rrg_recipe.yaml",
        "rrg_results.json",
        "tokenizer.json",
        "tokenizer_config.json",
    }
    assert "PEFT's own card" not in (bundle.folder / "README.md").read_text()


def test_a_broken_adapter_config_is_one_error_and_keeps_an_earlier_bundle(
    recorded_lineage, tmp_path
) -> None:
    from rrg import Registry

    with Registry.from_url(recorded_lineage.registry_url) as registry:
        earlier = assemble_bundle(registry, recorded_lineage.sft_id, "my-org/sft", tmp_path / "b")
        config = earlier.record.adapter_dir / "adapter_config.json"
        for broken in ("not json\n", "[1, 2]\n"):
            config.write_text(broken)
            with pytest.raises(BundleError, match="is not a PEFT adapter config"):
                assemble_bundle(registry, recorded_lineage.sft_id, "my-org/sft", tmp_path / "b")
    assert {p.name for p in (tmp_path / "b").iterdir()} == {f.name for f in earlier.files}


def test_assembling_a_bundle_imports_no_torch(recorded_lineage, tmp_path) -> None:
    """Hashing the files must not pull in torch or transformers (``rrg publish --dry-run`` stays fast)."""
    code = (
        "import sys\n"
        "from rrg_registry import Registry\n"
        "from rrg.hub.bundle import assemble_bundle\n"
        "from rrg.hub.pull import verify_snapshot\n"
        f"with Registry.from_url({recorded_lineage.registry_url!r}) as registry:\n"
        f"    bundle = assemble_bundle(registry, {recorded_lineage.sft_id!r}, 'my-org/sft', {str(tmp_path / 'b')!r})\n"
        "verify_snapshot(bundle.folder, 'my-org/sft')\n"
        "print(','.join(m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
