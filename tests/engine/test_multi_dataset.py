"""Several training data sets in one run (``data.train``) and ``data.expect``, through the plan, the
engine and ``rrg run``: the plan lists each data set, a real CPU SFT of the multi-dataset demo
recipe records every data set's fingerprint, and a broken expectation stops the run (exit status 2)
before anything is recorded, at plan time or once the images are read."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from engine_helpers import DEMO, snapshot
from rrg.cli import cli

RECIPE = DEMO / "multi-dataset.yaml"
HINT = "(hint: check that data.root holds the data the recipe was written for, or correct data.expect (--set data.expect=null drops the check))"


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def plan_json(*args: str) -> dict:
    result = invoke("plan", str(RECIPE), "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error_line(result) -> str:
    """The one ``Error:`` line of a refused command (exit status 2), which ends its output (a tiny
    twin built on first use may have printed its progress before it)."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.output.strip().splitlines()[-1] == errors[0], result.output
    return errors[0]


def test_the_plan_lists_each_training_data_set_and_the_total(rrg_cache_env: Path) -> None:
    data = plan_json()["data"]
    assert (data["dataset"], data["train_split"], data["eval_split"]) == ("IU_XRay", "training", "validation-public")
    assert data["train_datasets"] == [
        {
            "dataset": "IU_XRay", "category": "Xray", "task_filter": None, "max_samples": 64, "weight": 1.0,
            "size": 64, "rows": 64, "task_types": {"Report_Generation": 64},
        },
        {
            "dataset": "IU_XRay_findings", "category": "Xray", "task_filter": ["Classification", "Multi-label Classification"],
            "max_samples": 32, "weight": 0.5, "size": 32, "rows": 16,
            "task_types": {"Classification": 16, "Multi-label Classification": 16},
        },
    ]
    assert (data["train_size"], data["eval_size"], data["expect"]) == (96, 16, {"training": 96, "validation-public": 16})

    table = invoke("plan", str(RECIPE)).stdout
    assert "training: 96 samples" in table and "IU_XRay_findings" in table and "× weight 0.5" in table


def test_all_takes_every_demo_data_set_and_caps_combine(rrg_cache_env: Path) -> None:
    data = plan_json("--set", "data.train=all", "--set", "data.expect=null")["data"]
    sizes = {d["dataset"]: (d["size"], d["task_types"]) for d in data["train_datasets"]}
    assert sizes == {
        "IU_XRay": (2507, {"Report_Generation": 2507}),
        "IU_XRay_findings": (576, {"Classification": 288, "Multi-label Classification": 288}),
    }
    # data.max_train_samples caps every training data set; an entry's own smaller cap wins
    data = plan_json("--set", "data.max_train_samples=40", "--set", "data.expect=null")["data"]
    assert [(d["dataset"], d["max_samples"], d["size"]) for d in data["train_datasets"]] == [("IU_XRay", 40, 40), ("IU_XRay_findings", 32, 32)]
    # a task filter compared loosely; the legacy single data set is one entry
    data = plan_json("--set", "data.train=[{dataset: IU_XRay_findings, task_types: [multilabel classification]}]", "--set", "data.expect=null")["data"]
    assert [(d["dataset"], d["size"], d["task_types"]) for d in data["train_datasets"]] == [("IU_XRay_findings", 288, {"Multi-label Classification": 288})]
    single = json.loads(invoke("plan", str(DEMO / "sft.yaml"), "--json").stdout)["data"]
    assert [(d["dataset"], d["size"], d["weight"]) for d in single["train_datasets"]] == [("IU_XRay", 2507, 1.0)] and single["train_size"] == 2507


@pytest.mark.parametrize(
    ("recipe", "overrides", "message"),
    [
        (
            RECIPE,
            ["data.expect.training=95"],
            "data.expect.training: expected 95 samples, the split has 96 in its 2 training data sets",
        ),
        (
            RECIPE,
            ["data.expect.validation-public=1945"],
            "data.expect.validation-public: expected 1945 samples, the split has 16",
        ),
        (
            RECIPE,
            ["data.train=[{dataset: IU_XRay}, {dataset: ChestX}]", "data.expect=null"],
            "data.train.1 ChestX: {root}: no training/Xray/ChestX folder",
        ),
        (
            RECIPE,
            ["data.train=[{dataset: IU_XRay_findings, task_types: [Regression]}]", "data.expect=null"],
            "data.train.0 IU_XRay_findings: {root}/training/Xray/IU_XRay_findings/IU_XRay_findings_questions_train.json: no question has task type regression",
        ),
        (
            RECIPE,
            ["data.train=[{dataset: IU_XRay_findings, weight: 0.01, max_samples: 10}]", "data.expect=null"],
            "data.train.0 IU_XRay_findings: weight 0.01 leaves none of its 10 samples in the training mix",
        ),
        (
            DEMO / "grpo.yaml",
            ["data.train=[{dataset: IU_XRay}, {dataset: IU_XRay_findings}]"],
            "data.train.1 IU_XRay_findings: stage grpo rewards report text, and this data set has Classification, Multi-label Classification samples",
        ),
    ],
    ids=["expect-training", "expect-validation", "missing-data-set", "task-filter-matches-nothing", "weight-leaves-nothing", "grpo-non-report"],
)
def test_the_plan_refuses_in_one_line_naming_the_recipe_and_key(recipe: Path, overrides: list[str], message: str, rrg_cache_env: Path, demo_root: Path) -> None:
    args = [arg for override in overrides for arg in ("--set", override)]
    line = error_line(invoke("plan", str(recipe), *args))
    assert line.startswith(f"Error: {recipe}: {message.format(root=demo_root)}"), line
    if "expect" in message:
        assert line.endswith(HINT)


def test_rrg_run_refuses_an_expectation_and_records_nothing(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    result = invoke("run", str(RECIPE), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"), "--set", "data.expect.training=97")
    line = error_line(result)
    assert line == f"Error: {RECIPE}: data.expect.training: expected 97 samples, the split has 96 in its 2 training data sets {HINT}"
    assert snapshot(registry) == ([], [])
    assert not (tmp_path / "runs").exists()


def _tree_with_a_broken_image(root: Path) -> Path:
    """IU_XRay with three validation questions in FLARE layout; one of their images is broken."""
    from PIL import Image

    folder = root / "validation-public" / "Xray" / "IU_XRay"
    (folder / "imagesVal").mkdir(parents=True)
    Image.new("L", (32, 32), 128).save(folder / "imagesVal" / "a.png")
    (folder / "imagesVal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    items = [
        {"TaskType": "Report_Generation", "Modality": "Xray", "ImageName": f"imagesVal/{name}.png",
         "Question": "Write the part of the radiology report that describes the heart.", "Answer": "Heart size normal.", "Split": "val"}
        for name in ("a", "broken", "a")
    ]
    (folder / "IU_XRay_questions_val.json").write_text(json.dumps(items))
    return root


def test_the_engine_checks_again_once_images_are_read(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    root = _tree_with_a_broken_image(tmp_path / "organized_dataset")
    recipe = tmp_path / "expect.yaml"
    recipe.write_text(
        "schema: 1\nname: expect-check\nversion: 1\n"
        "model: {family: qwen2_5_vl, id: tiny}\n"
        f"data:\n  root: {root}\n  image_policy: skip\n  expect: {{validation-public: 3}}\n"
        "stage: {kind: zero_shot}\n"
        "evaluation: {max_new_tokens: 8, batch_size: 4}\n"
        "hardware: {accelerator: cpu, precision: fp32, backend: transformers}\n"
    )
    # the question file holds 3 samples: the plan agrees with the expectation
    assert plan_json_of(recipe)["data"]["eval_size"] == 3
    result = invoke("run", str(recipe), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"))
    line = error_line(result)
    assert line == (
        f"Error: {recipe}: data.expect.validation-public: expected 3 samples, the split has 2 "
        f"after 1 samples were skipped for image problems {HINT}"
    )
    assert snapshot(registry) == ([], [])


def plan_json_of(recipe: Path) -> dict:
    result = invoke("plan", str(recipe), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_resume_checks_every_training_data_set(rrg_cache_env: Path, demo_root: Path) -> None:
    from rrg.data.flare import load_flare
    from rrg.data.training import TrainingData
    from rrg.engine import PreparedRun, _require_same_data
    from rrg.errors import RrgError

    reports = load_flare(demo_root, limit=4)
    labels = load_flare(demo_root, "IU_XRay_findings", limit=4)
    evaluation = load_flare(demo_root, split="validation-public", limit=4)
    prepared = PreparedRun(plan=None, train=TrainingData.mix([reports, labels], [1.0, 1.0], 42), evaluation=evaluation, parent=None, init_adapter=None)  # type: ignore[arg-type]

    def detail(labels_fingerprint: str) -> SimpleNamespace:
        datasets = [
            SimpleNamespace(name="IU_XRay", split="training", fingerprint=reports.fingerprint),
            SimpleNamespace(name="IU_XRay_findings", split="training", fingerprint=labels_fingerprint),
            SimpleNamespace(name="IU_XRay", split="validation-public", fingerprint=evaluation.fingerprint),
        ]
        return SimpleNamespace(datasets=datasets, run=SimpleNamespace(id="3fa2c1d0"))

    _require_same_data(detail(labels.fingerprint), prepared)  # unchanged: resumes
    with pytest.raises(RrgError) as caught:
        _require_same_data(detail("0" * 64), prepared)
    assert caught.value.message == (
        f"{labels.questions_file}: IU_XRay_findings/training changed since run 3fa2c1d0 was recorded "
        f"(fingerprint 000000000000 then, {labels.fingerprint[:12]} now)"
    )


def test_a_cpu_sft_run_on_two_data_sets_records_both(rrg_cache_env: Path, registry, tmp_path: Path, demo_root: Path) -> None:
    from rrg.data.flare import load_flare

    result = invoke("run", str(RECIPE), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"), "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert (run["recipe"], run["stage"], run["status"]) == ("demo-multi-dataset@1", "sft", "succeeded")
    detail = registry.get_run(run["id"])
    recorded = {(d.name, d.split): (d.fingerprint, d.size) for d in detail.datasets}
    expected = {
        ("IU_XRay", "training"): load_flare(demo_root, limit=64),
        ("IU_XRay_findings", "training"): load_flare(demo_root, "IU_XRay_findings", limit=32, task_types=["Classification", "Multi-label Classification"]),
        ("IU_XRay", "validation-public"): load_flare(demo_root, split="validation-public", limit=16),
    }
    assert recorded == {key: (split.fingerprint, split.size) for key, split in expected.items()}
    assert detail.run.plan["data"]["train_size"] == 96
    # trained on the mixture (eval loss at steps 4 and 8), scored on IU_XRay report generation only
    assert sorted(c.step for c in detail.checkpoints) == [4, 8] and all(c.eval_loss is not None for c in detail.checkpoints)
    predictions = registry.get_run(run["id"]).prediction_counts
    assert predictions == {"validation-public": 16}
    assert 0.0 <= run["metrics"]["green_flare"] <= 1.0
