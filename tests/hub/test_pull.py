"""rrg pull: the real huggingface_hub cache layout, offline; verification; loading and evaluating."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from rrg.cli import cli
from rrg.hub.bundle import assemble_bundle
from rrg.hub.pull import PullError, pull_adapter

REPO = "my-org/demo-sft"
COMMIT = "1f0c4e8c9a7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e"


@pytest.fixture
def published(registry, trained_run, tmp_path, hub_cache):
    """The trained run's bundle, in the HF cache as snapshot_download leaves it."""
    bundle = assemble_bundle(registry, trained_run.run_id, REPO, tmp_path / "bundle")
    snapshot = hub_cache(REPO, bundle.folder, COMMIT)
    return bundle, snapshot


def test_pull_offline_from_the_cache(registry, published, offline_hub) -> None:
    bundle, snapshot = published
    pulled = pull_adapter(REPO, registry=registry)
    assert pulled.path == snapshot
    assert pulled.path.is_relative_to(offline_hub)
    assert (pulled.path / "adapter_model.safetensors").is_symlink()  # the real cache layout
    assert pulled.revision == COMMIT
    assert pulled.verified_files == len(bundle.files) - 1
    assert pulled.recipe_yaml == bundle.record.recipe_yaml
    external = registry.get_external_model(REPO, COMMIT)
    assert external.id == pulled.external_model_id
    assert external.local_path == str(snapshot)
    assert external.recipe_yaml == bundle.record.recipe_yaml
    # by commit and by branch name too; registering again keeps one row
    assert (
        pull_adapter(REPO, revision=COMMIT, registry=registry).external_model_id
        == pulled.external_model_id
    )
    assert (
        pull_adapter(REPO, revision="main", registry=registry).external_model_id
        == pulled.external_model_id
    )
    assert len(registry.list_external_models()) == 1


def test_a_tampered_file_is_refused(registry, published) -> None:
    _, snapshot = published
    blob = (snapshot / "adapter_model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(PullError, match="adapter_model.safetensors does not match the sha256"):
        pull_adapter(REPO, registry=registry)
    assert registry.list_external_models() == []


def test_a_missing_listed_file_is_refused(registry, published) -> None:
    _, snapshot = published
    (snapshot / "tokenizer.json").unlink()
    with pytest.raises(PullError, match="tokenizer.json, listed in rrg_results.json, is missing"):
        pull_adapter(REPO, registry=registry)


def test_a_repo_without_an_adapter_is_refused(registry, tmp_path, hub_cache) -> None:
    folder = tmp_path / "not-adapter"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    hub_cache("someone/full-model", folder, COMMIT)
    with pytest.raises(PullError, match="no adapter_config.json"):
        pull_adapter("someone/full-model", registry=registry)


def test_cli_pull_offline_and_not_cached(registry_url, published) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        cli, ["pull", f"{REPO}@main", "--registry", registry_url, "--json"], catch_exceptions=False
    )
    assert ok.exit_code == 0, ok.output
    shown = json.loads(ok.output)
    assert shown["revision"] == COMMIT and shown["adapter_ref"] == f"hub:{REPO}@{COMMIT}"
    missing = runner.invoke(
        cli, ["pull", "my-org/never-downloaded", "--registry", registry_url], catch_exceptions=False
    )
    assert missing.exit_code == 2
    assert missing.output.strip() == (
        "Error: pulling my-org/never-downloaded: not in the local Hugging Face cache, and the Hub could not be reached "
        "(hint: connect to the network (and unset HF_HUB_OFFLINE), then retry)"
    )


def test_peft_loads_the_pulled_adapter_onto_the_tiny_twin_with_the_same_generations(
    registry, trained_run, published
) -> None:
    """Plain PEFT (PeftModel.from_pretrained) on the pulled snapshot writes exactly the run's predictions."""
    from peft import PeftModel
    from rrg.data.flare import load_flare
    from rrg.evaluation import evaluate_model
    from rrg.models import get_family

    pulled = pull_adapter(REPO, registry=registry)
    detail = registry.get_run(trained_run.run_id)
    plan = detail.run.plan
    generation = plan["generation"]
    family = get_family("qwen2_5_vl")
    base, processor = family.load("tiny", dtype="float32", device="cpu")
    model = PeftModel.from_pretrained(base, str(pulled.path))
    split = load_flare(plan["data"]["root"], "IU_XRay", "validation-public", limit=16)
    evaluation = evaluate_model(
        model,
        processor,
        family,
        split.dataset,
        split="validation-public",
        metrics=["green_flare"],
        max_new_tokens=generation["max_new_tokens"],
        batch_size=generation["batch_size"],
        truncate_chars=generation["truncate_chars"],
    )
    recorded = {
        p.sample_id: p.prediction
        for p in registry.predictions(trained_run.run_id, "validation-public")
    }
    assert dict(zip(evaluation.sample_ids, evaluation.predictions, strict=True)) == recorded


def test_a_recipe_with_a_hub_adapter_reproduces_the_run(registry, trained_run, published) -> None:
    """pull → load → evaluate: demo/zero-shot with model.adapter hub:... gives the run's green_flare."""
    from rrg import Recipe

    recipe = Recipe.load(
        "demo/zero-shot",
        overrides=[f"model.adapter=hub:{REPO}@{COMMIT}", "data.max_eval_samples=16"],
    )
    evaluated = recipe.run(registry=registry, output_dir=published[0].folder.parent / "eval-runs")
    assert evaluated.status == "succeeded", evaluated.error
    original = registry.get_run(trained_run.run_id)
    assert evaluated.metrics["green_flare"] == original.metrics["green_flare"]
    assert evaluated.components == original.components[-1].values()
    assert [p.prediction for p in evaluated.predictions()] == [
        p.prediction for p in registry.predictions(trained_run.run_id, "validation-public")
    ]
    run = evaluated.detail.run
    assert run.adapter == f"hub:{REPO}@{COMMIT}"
    assert run.external_model_id == registry.get_external_model(REPO, COMMIT).id


@pytest.mark.parametrize(
    "repo", ["not-a-repo", "my-org/demo--sft", "my-org/demo..sft", "my-org/x.git"]
)
def test_cli_pull_bad_repo_id(registry_url, repo) -> None:
    result = CliRunner().invoke(
        cli, ["pull", repo, "--registry", registry_url], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {repo!r} is not a Hub repository id")


@pytest.mark.parametrize(
    "files",
    [["adapter_model.safetensors"], {"adapter_model.safetensors": {"size": 1}}, {"x": "y"}],
)
def test_a_malformed_results_file_is_refused(registry, tmp_path, hub_cache, files) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "rrg_results.json").write_text(json.dumps({"format": 1, "files": files}))
    hub_cache("someone/odd-adapter", folder, COMMIT)
    with pytest.raises(PullError, match="rrg_results.json is not an rrg results file"):
        pull_adapter("someone/odd-adapter", registry=registry)
    assert registry.list_external_models() == []
