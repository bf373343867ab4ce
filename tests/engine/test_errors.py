"""Errors a user can cause stop ``rrg run`` with one line and exit 2, before anything is recorded."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import (
    STAGE_RECIPES,
    assert_one_line_error,
    load_recipe,
    snapshot,
    stage_overrides,
)
from rrg.cli import cli


def rrg_run(registry, stage: str, *extra: str, output_dir: Path | None = None):
    args = ["run", str(STAGE_RECIPES[stage]), "--registry", registry.url]
    for override in stage_overrides(stage, extra=extra):
        args += ["--set", override]
    if output_dir is not None:
        args += ["--output-dir", str(output_dir)]
    return CliRunner().invoke(cli, args)


def test_bad_data_root(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    before = snapshot(registry)
    result = rrg_run(registry, "sft", f"data.root={tmp_path / 'nowhere'}")
    assert_one_line_error(result, f"data.root: folder {tmp_path / 'nowhere'} does not exist")
    assert snapshot(registry) == before == ([], [])
    assert not (tmp_path / "rrg_runs").exists()


@pytest.fixture
def root_missing_an_image(demo_root: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the demo set (files hard-linked, not copied) whose first validation image is gone."""
    root = tmp_path / "organized_dataset"
    for split in ("training", "validation-public"):
        shutil.copytree(demo_root / split, root / split, copy_function=os.link)
    dataset = root / "validation-public" / "Xray" / "IU_XRay"
    first = json.loads((dataset / "IU_XRay_questions_val.json").read_text())[0]
    image = first["ImageName"][0] if isinstance(first["ImageName"], list) else first["ImageName"]
    (dataset / image).unlink()
    return root, image


def test_a_missing_image_under_image_policy_fail(rrg_cache_env: Path, registry, root_missing_an_image) -> None:
    root, image = root_missing_an_image
    before = snapshot(registry)
    result = rrg_run(registry, "zero_shot", f"data.root={root}", "data.image_policy=fail")
    assert_one_line_error(result, Path(image).name)
    assert snapshot(registry) == before


def test_a_missing_image_under_image_policy_skip_runs(rrg_cache_env: Path, registry, root_missing_an_image, tmp_path: Path) -> None:
    root, _ = root_missing_an_image
    result = rrg_run(registry, "zero_shot", f"data.root={root}", "data.image_policy=skip", output_dir=tmp_path / "out")
    assert result.exit_code == 0, result.output
    (run,) = registry.search_runs()
    predictions = registry.predictions(run.id, "validation-public")
    assert len(predictions) == 4  # the broken sample skipped, the limit still filled


def test_grpo_without_a_succeeded_parent(rrg_cache_env: Path, registry) -> None:
    before = snapshot(registry)
    result = rrg_run(registry, "grpo")
    assert_one_line_error(result, "stage.init_from: no succeeded run of demo-sft@2 in the registry", "run the recipe demo-sft@2 first")
    assert snapshot(registry) == before


def test_grpo_from_a_failed_parent(rrg_cache_env: Path, registry) -> None:
    # a recorded but failed SFT run is no starting point either
    sft = load_recipe("sft", registry)
    version = registry.record_recipe(sft.name, sft.version, sft.hash, sft.to_yaml())
    failed = registry.create_run(version.id, "sft", "qwen2_5_vl", "tiny")
    registry.start_run(failed.id)
    registry.finish_run(failed.id, "failed", "RuntimeError: boom")
    before = snapshot(registry)
    result = rrg_run(registry, "grpo", f"stage.init_from={failed.id}")
    assert_one_line_error(result, f"stage.init_from: run {failed.id} (demo-sft@2) is failed, not succeeded")
    assert snapshot(registry) == before


def test_a_changed_recipe_under_a_recorded_version(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    first = rrg_run(registry, "zero_shot", output_dir=tmp_path / "out")
    assert first.exit_code == 0, first.output
    before = snapshot(registry)
    changed = rrg_run(registry, "zero_shot", "evaluation.max_new_tokens=12", output_dir=tmp_path / "out")
    line = assert_one_line_error(changed, "recipe demo-zero-shot@1 is already recorded with different content")
    assert line.endswith("(hint: add --set version=2 (compare with: rrg recipe show demo-zero-shot@1))")
    assert snapshot(registry) == before
    bumped = rrg_run(registry, "zero_shot", "evaluation.max_new_tokens=12", "version=2", output_dir=tmp_path / "out")
    assert bumped.exit_code == 0, bumped.output
    assert len(registry.search_runs()) == 2


@pytest.mark.parametrize(
    ("override", "key"),
    [("data.train_split=testing", "data.train_split"), ("evaluation.split=testing", "evaluation.split")],
    ids=["train-split", "evaluation-split"],
)
def test_a_split_without_reference_answers(override: str, key: str, rrg_cache_env: Path, registry) -> None:
    # the demo's testing split carries no answers: nothing to train on, nothing to score against
    before = snapshot(registry)
    result = rrg_run(registry, "sft", override)
    assert_one_line_error(result, "IU_XRay/testing have no reference answer", f"(hint: set {key} to a split whose samples carry an Answer)")
    assert snapshot(registry) == before == ([], [])


def test_an_output_folder_that_cannot_be_made(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = rrg_run(registry, "sft", output_dir=blocker / "runs")
    assert_one_line_error(result, f"output folder {blocker / 'runs'}: ", "pass --output-dir a folder you can write to")
    assert snapshot(registry) == ([], [])


def test_two_starting_adapters_are_refused_before_either_is_fetched(rrg_cache_env: Path, registry) -> None:
    result = rrg_run(registry, "grpo", "stage.init_from=0123abcd", "model.adapter=hub:nobody/nothing")
    assert_one_line_error(result, "both stage.init_from and model.adapter name a starting adapter", "(hint: keep one of them)")
    assert snapshot(registry) == ([], [])


def test_a_max_length_that_cuts_image_tokens(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    # TRL finds it in the first training step, after the run is recorded: the run ends failed
    args = ["run", str(STAGE_RECIPES["sft"]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"), "--json"]
    for override in stage_overrides("sft", extra=("training.max_length=16", "evaluation.before_training=false")):
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    line = assert_one_line_error(result, "training.max_length (16) cuts image tokens off the training samples", "raise training.max_length")
    (run,) = registry.search_runs()
    assert run.status.value == "failed"
    assert registry.get_run(run.id).run.error == f"RrgError: {line.removeprefix('Error: ')}"


def test_an_image_larger_than_data_max_image_pixels(rrg_cache_env: Path, registry) -> None:
    before = snapshot(registry)
    result = rrg_run(registry, "zero_shot", "data.max_image_pixels=100")
    assert_one_line_error(result, "is too large (", "more than data.max_image_pixels 100)")
    assert snapshot(registry) == before == ([], [])


@pytest.mark.parametrize(("family", "token"), [("qwen2_5_vl", "<|im_start|>"), ("deepseek_ocr", "<image>")])
def test_a_special_token_written_in_a_question(family: str, token: str, rrg_cache_env: Path, demo_root: Path, registry, tmp_path: Path) -> None:
    # the tokenizer would read it as the token itself: the prompt would no longer match its images
    root = tmp_path / "organized_dataset"
    for split in ("training", "validation-public"):
        shutil.copytree(demo_root / split, root / split, copy_function=os.link)
    questions = root / "validation-public" / "Xray" / "IU_XRay" / "IU_XRay_questions_val.json"
    items = json.loads(questions.read_text())
    items[1]["Question"] = f"Describe the heart. {token}"
    questions.unlink()  # a hard link to the demo set: replace it, do not write through it
    questions.write_text(json.dumps(items))
    before = snapshot(registry)
    result = rrg_run(registry, "zero_shot", f"data.root={root}", f"model.family={family}")
    assert_one_line_error(result, "IU_XRay_questions_val.json: sample IU_XRay/validation-public/1: its question holds", repr(token))
    assert snapshot(registry) == before
