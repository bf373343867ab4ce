"""Runs of registered datasets (`data.dataset: NAME@VERSION`) through the real engine and CLI: the
plan resolves the registered root, the run links to the version, changed files are refused before
anything is recorded, new content becomes the next version, and the demo set is registered and
linked on first use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import STAGE_RECIPES, stage_overrides
from rrg.cli import cli


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def iu_copy(demo_cache: Path, tmp_path: Path) -> Path:
    """A copy of the demo's IU_XRay validation split: data a test may change."""
    from rrg.data.demo import build_demo

    source = build_demo(cache_dir=demo_cache) / "validation-public" / "Xray" / "IU_XRay"
    root = tmp_path / "organized_dataset"
    shutil.copytree(source, root / "validation-public" / "Xray" / "IU_XRay")
    return root


def zero_shot(registry, tmp_path: Path, *extra: str):
    args = ["run", str(STAGE_RECIPES["zero_shot"]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"), "--json"]
    for override in (*stage_overrides("zero_shot"), *extra):
        args += ["--set", override]
    return invoke(*args)


def test_a_run_of_a_registered_dataset_links_to_it_and_changed_files_are_refused(
    rrg_cache_env: Path, registry, iu_copy: Path, tmp_path: Path
) -> None:
    registered = invoke("datasets", "register", "iu", str(iu_copy), "--license", "CC BY-NC-ND 4.0", "--registry", registry.url)
    assert registered.exit_code == 0, registered.output
    assert registered.output == "registered iu@1 (1 splits of IU_XRay, 414 samples)\n"
    again = invoke("datasets", "register", "iu", str(iu_copy), "--registry", registry.url)
    assert again.output.startswith("unchanged: iu@1 already holds this content")

    planned = invoke("plan", str(STAGE_RECIPES["zero_shot"]), "--registry", registry.url, "--json",
                     "--set", "data.root=null", "--set", "data.dataset=iu@latest")
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)["data"]
    assert (data["dataset_version"], data["root"], data["dataset"], data["license"]) == ("iu@1", str(iu_copy), "IU_XRay", "CC BY-NC-ND 4.0")

    result = zero_shot(registry, tmp_path, "data.root=null", "data.dataset=iu@1")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["id"]
    detail = registry.get_run(run_id)
    version = registry.get_dataset_version("iu", 1)
    assert detail.dataset_version == version and detail.run.dataset_version_id == version.id
    # the run recorded the fingerprint of what it read (4 samples); the registered one covers the split
    assert [d.split for d in detail.datasets] == ["validation-public"]
    shown = json.loads(invoke("datasets", "show", "iu@1", "--json", "--registry", registry.url).stdout)
    assert [r["id"] for r in shown["runs"]] == [run_id]
    assert shown["best"] == [{"model": shown["best"][0]["model"], "model_id": "tiny", "stage": "zero-shot",
                              "green_flare": detail.metrics["green_flare"], "run": run_id}]

    # a copy elsewhere must exist: it is read as the registered version
    mirror = tmp_path / "mount" / "organized_dataset"
    missing = zero_shot(registry, tmp_path, f"data.root={mirror}", "data.dataset=iu@1", "version=3")
    assert missing.exit_code == 2 and str(mirror) in missing.output
    shutil.copytree(iu_copy, mirror)

    # an answer changes: the registered version no longer matches, nothing is recorded
    questions = iu_copy / "validation-public" / "Xray" / "IU_XRay" / "IU_XRay_questions_val.json"
    items = json.loads(questions.read_text())
    items[-1]["Answer"] = "Changed answer."
    questions.write_text(json.dumps(items))
    refused = zero_shot(registry, tmp_path, "data.root=null", "data.dataset=iu@1", "version=2")
    assert refused.exit_code == 2
    line = refused.output.strip()
    assert "\n" not in line
    registered_fp = version.splits[0].fingerprint
    assert f"data.dataset iu@1: split Xray/IU_XRay/validation-public under {iu_copy} no longer matches" in line
    assert f"registered fingerprint {registered_fp[:12]}, now " in line
    assert f"rrg datasets register iu {iu_copy} --dataset IU_XRay --category Xray --splits validation-public" in line
    assert [r.id for r in registry.search_runs()] == [run_id]
    assert registry.get_recipe_version("demo-zero-shot", 2) is None

    # a copy of the registered content elsewhere (another machine's mount) is read as iu@1, checked the same:
    # it still holds the registered content, while the registered root changed
    result = zero_shot(registry, tmp_path, f"data.root={mirror}", "data.dataset=iu@1", "version=3")
    assert result.exit_code == 0, result.output
    from_copy = registry.get_run(json.loads(result.stdout)["id"])
    assert from_copy.dataset_version == version and from_copy.run.plan["data"]["root"] == str(mirror)

    # the new content is the next version, and runs of it go ahead
    newer = invoke("datasets", "register", "iu", str(iu_copy), "--registry", registry.url)
    assert newer.output.startswith("registered iu@2 ")
    assert registry.get_dataset_version("iu").splits[0].fingerprint != registered_fp
    result = zero_shot(registry, tmp_path, "data.root=null", "data.dataset=iu@latest", "version=2")
    assert result.exit_code == 0, result.output
    assert registry.get_run(json.loads(result.stdout)["id"]).dataset_version.ref == "iu@2"


def test_a_split_the_version_does_not_hold_is_refused_at_plan_time(rrg_cache_env: Path, registry, iu_copy: Path, tmp_path: Path) -> None:
    invoke("datasets", "register", "iu", str(iu_copy), "--registry", registry.url)
    result = invoke("plan", str(STAGE_RECIPES["sft"]), "--registry", registry.url,
                    "--set", "data.root=null", "--set", "data.dataset=iu@1")
    assert result.exit_code == 2
    assert "data.train_split: iu@1 has no registered split Xray/IU_XRay/training" in result.output
    unknown = invoke("plan", str(STAGE_RECIPES["zero_shot"]), "--registry", registry.url,
                     "--set", "data.root=null", "--set", "data.dataset=mimic@1")
    assert unknown.exit_code == 2 and "data.dataset mimic@1: no dataset named mimic is registered" in unknown.output


def test_demo_runs_link_to_the_demo_set_registered_on_first_use(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    assert registry.list_dataset_versions() == []
    first = zero_shot(registry, tmp_path)
    assert first.exit_code == 0, first.output
    (demo,) = registry.list_dataset_versions("demo-iu-xray")
    assert demo.flare_datasets == ("IU_XRay", "IU_XRay_findings") and len(demo.splits) == 8
    assert registry.get_run(json.loads(first.stdout)["id"]).dataset_version == demo
    by_name = invoke("run", str(STAGE_RECIPES["zero_shot"].parent / "zero-shot-dataset-ref.yaml"), "--registry", registry.url,
                     "--output-dir", str(tmp_path / "runs"), "--json", *[a for o in stage_overrides("zero_shot") for a in ("--set", o)])
    assert by_name.exit_code == 0, by_name.output
    assert registry.get_run(json.loads(by_name.stdout)["id"]).dataset_version == demo
    assert len(registry.list_dataset_versions()) == 1
