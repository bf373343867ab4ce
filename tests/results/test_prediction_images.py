"""Predictions carry their images: the study id rule, the rows an evaluation hands the registry,
and the registry's checks of prediction rows (unknown keys and malformed image paths refused,
nothing half-written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rrg_registry import Registry

from rrg.evaluation import ModelEvaluation, study_id
from rrg.metrics.evaluation import evaluate


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["/data/imagesVal/CXR1000_IM-0003-1001.png", "/data/imagesVal/CXR1000_IM-0003-2001.png"], "CXR1000"),
        (["imagesTr/CXR12_frontal.png"], "CXR12"),
        (["/data/p10/s5041/view1_frontal.jpg"], "view1_frontal"),  # another naming: the first image's stem
        (["scan.dcm.png"], "scan.dcm"),
        ([], None),
    ],
)
def test_study_id_rule(paths, expected):
    assert study_id(paths) == expected


def test_an_evaluation_hands_on_image_paths_and_study_ids():
    predictions, references = ["Heart size normal.", "No effusion."], ["Normal heart.", "No pleural effusion."]
    evaluation = ModelEvaluation(
        split="validation-public", sample_ids=["IU_XRay/validation-public/0", "IU_XRay/validation-public/1"],
        questions=["heart?", "pleura?"], references=references, predictions=predictions,
        scores=evaluate(predictions, references, metrics=["green_flare"]), generation_seconds=1.0,
        image_paths=[["/d/CXR7_frontal.png", "/d/CXR7_lateral.png"], ["/d/CXR9_frontal.png"]],
    )
    rows = evaluation.prediction_rows()
    assert [(r["image_paths"], r["study_id"]) for r in rows] == [
        (["/d/CXR7_frontal.png", "/d/CXR7_lateral.png"], "CXR7"), (["/d/CXR9_frontal.png"], "CXR9")]
    assert rows[0]["scores"]["green_flare"] == evaluation.scores.per_sample[0]["green_flare"]


@pytest.fixture
def registry(tmp_path: Path):
    with Registry.from_url(f"sqlite:///{tmp_path / 'rrg.db'}") as opened:
        recipe = opened.record_recipe("r", 1, "a" * 64, "name: r\n")
        run = opened.create_run(recipe.id, "sft", "qwen3_vl", "tiny")
        opened.start_run(run.id)
        yield opened, run.id


def test_prediction_rows_keep_images_and_study(registry):
    reg, run = registry
    reg.log_predictions(run, "val", [
        {"sample_id": "a", "prediction": "p", "image_paths": ["/x/CXR1_frontal.png"], "study_id": "CXR1"},
        {"sample_id": "b", "prediction": "p"},
    ])
    a, b = reg.predictions(run, "val")
    assert (a.image_paths, a.study_id) == (("/x/CXR1_frontal.png",), "CXR1")
    assert (b.image_paths, b.study_id) == (None, None)
    assert [p.sample_id for p in reg.predictions(run, "val", study_id="CXR1")] == ["a"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"sample_id": "c", "prediction": "p", "image_path": "/x.png"}, r"prediction row 1 \(c\) has unknown keys \['image_path'\]"),
        ({"sample_id": "c", "prediction": "p", "image_paths": "/x.png"}, "image_paths must be a list of strings"),
        ({"sample_id": "c", "prediction": "p", "image_paths": [1, 2]}, "image_paths must be a list of strings"),
    ],
)
def test_malformed_prediction_rows_are_refused_and_nothing_is_written(registry, row, message):
    reg, run = registry
    reg.log_predictions(run, "val", [{"sample_id": "a", "prediction": "kept"}])
    with pytest.raises(ValueError, match=message):
        reg.record_evaluation(run, "val", {"green_flare": 0.5},
                              predictions=[{"sample_id": "b", "prediction": "p"}, row], status="succeeded")
    assert [p.prediction for p in reg.predictions(run, "val")] == ["kept"]
    detail = reg.get_run(run)
    assert detail.run.status.value == "running" and detail.metrics == {}
