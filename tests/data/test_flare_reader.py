"""The FLARE reader on small constructed trees."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from flare_trees import item, make_split, write_png
from rrg.data.flare import REPORT_GENERATION, load_flare, load_images, resolve_image
from rrg.data.layout import resolve_data_root
from rrg.errors import InputError, RrgError


def test_string_and_list_image_names_with_and_without_folder_prefix(tmp_path: Path):
    make_split(
        tmp_path,
        [
            item("imagesTr/a.png"),
            item("b.png"),
            item(["imagesTr/c_lateral.png", "imagesTr/c_frontal.png"]),
            item(["d_lateral.png", "d_PA.png"]),
        ],
        images=("a.png", "b.png", "c_lateral.png", "c_frontal.png", "d_lateral.png", "d_PA.png"),
    )
    loaded = load_flare(tmp_path)
    images_dir = (tmp_path / "training/Xray/IU_XRay/imagesTr").resolve()
    assert loaded.dataset.column_names == [
        "sample_id",
        "dataset",
        "split",
        "task_type",
        "modality",
        "question",
        "answer",
        "image_paths",
    ]
    assert loaded.dataset["sample_id"] == [f"IU_XRay/training/{i}" for i in range(4)]
    assert loaded.dataset["image_paths"] == [
        [str(images_dir / "a.png")],
        [str(images_dir / "b.png")],
        [str(images_dir / "c_frontal.png"), str(images_dir / "c_lateral.png")],  # frontal first
        [str(images_dir / "d_PA.png"), str(images_dir / "d_lateral.png")],
    ]
    row = loaded.dataset[0]
    assert (row["dataset"], row["split"], row["task_type"], row["modality"]) == (
        "IU_XRay",
        "training",
        "Report_Generation",
        "Xray",
    )
    assert row["answer"] == "Heart size normal."
    assert loaded.size == 4 and loaded.skipped == []
    assert loaded.questions_file.name == "IU_XRay_questions_train.json"
    assert loaded.dataset._fingerprint == loaded.fingerprint


def test_validation_public_and_hidden_naming_variants(tmp_path: Path):
    make_split(
        tmp_path,
        [item("imagesVal/a.png", answer="A.")],
        split="validation-public",
        questions_name="IU_XRay_questions_val.json",
        images_folder="imagesVal",
        images=("a.png",),
    )
    hidden = make_split(
        tmp_path,
        [item("imagesVal/a.png", answer="with GT")],
        split="validation-hidden",
        questions_name="IU_XRay_questions_val_withGT.json",
        images_folder="imagesVal",
        images=("a.png",),
    )
    (hidden / "IU_XRay_questions_val.json").write_text(
        json.dumps([item("imagesVal/a.png", answer=None)])
    )
    public = load_flare(tmp_path, split="validation-public")
    assert public.questions_file.name == "IU_XRay_questions_val.json" and public.dataset[
        "answer"
    ] == ["A."]
    withgt = load_flare(tmp_path, split="validation-hidden")
    assert withgt.questions_file.name == "IU_XRay_questions_val_withGT.json"
    assert withgt.dataset["answer"] == ["with GT"]


def test_testing_split_alias_plain_images_folder_and_missing_answer(tmp_path: Path):
    make_split(
        tmp_path,
        [item("images/a.png", answer=None)],
        split="testing",
        questions_name="IU_XRay_questions_test.json",
        images_folder="images",
        images=("a.png",),
    )
    loaded = load_flare(tmp_path, split="test")
    assert loaded.split == "testing"
    assert loaded.images_dir.name == "images"
    assert loaded.dataset["answer"] == [None]


def test_single_other_question_file_is_used_and_several_are_an_error(tmp_path: Path):
    dataset_dir = make_split(
        tmp_path,
        [item("a.png")],
        questions_name="IU_XRay_questions_train_v2.json",
        images=("a.png",),
    )
    assert load_flare(tmp_path).questions_file.name == "IU_XRay_questions_train_v2.json"
    (dataset_dir / "IU_XRay_questions_train_v3.json").write_text("[]")
    with pytest.raises(RrgError) as err:
        load_flare(tmp_path)
    assert "no question file IU_XRay_questions_train.json and several other question files" in str(
        err.value
    )
    assert "IU_XRay_questions_train_v2.json, IU_XRay_questions_train_v3.json" in err.value.hint


def test_missing_split_names_what_was_found(tmp_path: Path):
    make_split(tmp_path, [item("a.png")], images=("a.png",))
    with pytest.raises(RrgError) as err:
        load_flare(tmp_path, split="validation-public")
    assert str(err.value).startswith(f"{tmp_path}: no validation-public/Xray/IU_XRay folder")
    assert err.value.hint == "found: training/Xray/IU_XRay"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "../outside.png",
            "IU_XRay/training/0: image name '../outside.png' leaves the image folder",
        ),
        (
            "imagesTr/../../outside.png",
            "IU_XRay/training/0: image name 'imagesTr/../../outside.png' leaves the image folder",
        ),
        ("/etc/hostname", "IU_XRay/training/0: image name '/etc/hostname' is an absolute path"),
    ],
)
def test_image_names_that_escape_the_folder_are_rejected(tmp_path: Path, name: str, message: str):
    make_split(tmp_path, [item(name)])
    write_png(tmp_path / "training/Xray/IU_XRay/outside.png")
    with pytest.raises(InputError) as err:
        load_flare(tmp_path, image_policy="skip")  # an escape is never skipped
    assert str(err.value).startswith(message)


def test_symlink_pointing_outside_is_rejected(tmp_path: Path):
    outside = write_png(tmp_path / "elsewhere" / "secret.png")
    dataset_dir = make_split(tmp_path / "root", [item(["ok.png", "link.png"])], images=("ok.png",))
    os.symlink(outside, dataset_dir / "imagesTr" / "link.png")
    with pytest.raises(InputError) as err:
        load_flare(tmp_path / "root")
    assert str(err.value).startswith(
        f"IU_XRay/training/0: image 'link.png' is a link to {outside.resolve()}, outside the image folder"
    )


def test_symlink_inside_the_folder_is_fine(tmp_path: Path):
    dataset_dir = make_split(tmp_path, [item("link.png")], images=("real.png",))
    os.symlink(dataset_dir / "imagesTr" / "real.png", dataset_dir / "imagesTr" / "link.png")
    assert load_flare(tmp_path).size == 1


def _tree_with_bad_images(root: Path) -> Path:
    dataset_dir = make_split(
        root,
        [
            item("imagesTr/good.png"),
            item(["imagesTr/good.png", "imagesTr/gone.png"]),
            item("imagesTr/junk.png"),
            item("imagesTr/cut.png"),
        ],
        images=("good.png",),
    )
    (dataset_dir / "imagesTr" / "junk.png").write_bytes(b"this is not a png")
    write_png(dataset_dir / "imagesTr" / "whole.png", size=64)
    data = (dataset_dir / "imagesTr" / "whole.png").read_bytes()
    (dataset_dir / "imagesTr" / "cut.png").write_bytes(data[: len(data) // 2])
    return dataset_dir


def test_missing_image_fails_naming_sample_file_and_problem(tmp_path: Path):
    dataset_dir = _tree_with_bad_images(tmp_path)
    with pytest.raises(RrgError) as err:
        load_flare(tmp_path)
    path = (dataset_dir / "imagesTr" / "gone.png").resolve()
    assert str(err.value).startswith(
        f"IU_XRay/training/1: image imagesTr/gone.png is missing ({path})"
    )
    assert 'image_policy="skip"' in err.value.hint


def test_corrupt_image_fails_naming_sample(tmp_path: Path):
    dataset_dir = _tree_with_bad_images(tmp_path)
    (dataset_dir / "imagesTr" / "gone.png").write_bytes(
        (dataset_dir / "imagesTr" / "good.png").read_bytes()
    )
    with pytest.raises(RrgError) as err:
        load_flare(tmp_path)
    assert str(err.value).startswith(
        "IU_XRay/training/2: image imagesTr/junk.png is not a readable image (cannot identify image file"
    )


def test_skip_policy_drops_and_reports_each_bad_sample(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    _tree_with_bad_images(tmp_path)
    with caplog.at_level("WARNING", logger="rrg.data.flare"):
        loaded = load_flare(tmp_path, image_policy="skip")
    assert loaded.dataset["sample_id"] == ["IU_XRay/training/0"]
    assert [sample_id for sample_id, _ in loaded.skipped] == [
        "IU_XRay/training/1",
        "IU_XRay/training/2",
        "IU_XRay/training/3",
    ]
    assert loaded.skipped[0][1] == "image imagesTr/gone.png is missing"
    assert loaded.skipped[1][1].startswith(
        "image imagesTr/junk.png is not a readable image (cannot identify image file"
    )
    assert loaded.skipped[2][1].startswith("image imagesTr/cut.png is not a readable image (")
    assert "IU_XRay/training: skipped 3 samples with image problems" in caplog.text


def test_limit_and_task_type_filter(tmp_path: Path):
    make_split(
        tmp_path,
        [
            item("a.png", task_type="Classification", answer=3),
            item("a.png"),
            item("a.png", task_type="report generation"),
            item("a.png"),
        ],
        images=("a.png",),
    )
    assert load_flare(tmp_path, limit=2).dataset["sample_id"] == [
        "IU_XRay/training/0",
        "IU_XRay/training/1",
    ]
    assert load_flare(tmp_path).dataset["answer"][0] == "3"
    reports = load_flare(tmp_path, task_types=REPORT_GENERATION)
    assert reports.dataset["sample_id"] == [
        "IU_XRay/training/1",
        "IU_XRay/training/2",
        "IU_XRay/training/3",
    ]
    assert load_flare(tmp_path, task_types=["Report-Generation"], limit=1).dataset["sample_id"] == [
        "IU_XRay/training/1"
    ]
    with pytest.raises(RrgError) as err:
        load_flare(tmp_path, task_types=["VQA"])
    assert (
        err.value.hint
        == "task types in the file: Classification, Report_Generation, report generation"
    )


def test_fingerprint_follows_answers_images_and_selection_not_location(tmp_path: Path):
    dataset_dir = make_split(
        tmp_path / "one", [item("a.png"), item("b.png")], images=("a.png", "b.png")
    )
    first = load_flare(tmp_path / "one").fingerprint
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    assert load_flare(tmp_path / "two").fingerprint == first
    assert load_flare(tmp_path / "one", limit=1).fingerprint != first

    questions = dataset_dir / "IU_XRay_questions_train.json"
    items = json.loads(questions.read_text())
    items[1]["Answer"] = "Heart size is normal."
    questions.write_text(json.dumps(items, indent=1))
    changed_answer = load_flare(tmp_path / "one").fingerprint
    assert changed_answer != first

    write_png(dataset_dir / "imagesTr" / "b.png", value=129)
    assert load_flare(tmp_path / "one").fingerprint not in (first, changed_answer)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"TaskType": "x"}', "expected a JSON list of questions, found dict"),
        ("[]", "the question list is empty"),
        (
            '[{"TaskType": "Report_Generation", "Modality": "Xray", "ImageName": "a.png"}]',
            "item 0 (IU_XRay/training/0): Question: Field required",
        ),
    ],
)
def test_malformed_question_files_name_file_and_item(tmp_path: Path, content: str, message: str):
    dataset_dir = make_split(tmp_path, [], images=("a.png",))
    (dataset_dir / "IU_XRay_questions_train.json").write_text(content)
    with pytest.raises(InputError) as err:
        load_flare(tmp_path)
    assert str(err.value).startswith(f"{dataset_dir / 'IU_XRay_questions_train.json'}: {message}")


def test_load_images_gives_rgb_and_names_a_bad_file(tmp_path: Path):
    path = write_png(tmp_path / "a.png", size=12)
    images = load_images([path, str(path)])
    assert [(im.mode, im.size) for im in images] == [("RGB", (12, 12))] * 2
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(RrgError, match=f"image {tmp_path / 'bad.png'} is not a readable image"):
        load_images([tmp_path / "bad.png"])


def test_resolve_image_keeps_nested_names_inside(tmp_path: Path):
    assert (
        resolve_image(tmp_path, "imagesTr/sub/x.png", "s") == tmp_path.resolve() / "sub" / "x.png"
    )


def test_resolve_data_root(tmp_path: Path):
    with pytest.raises(RrgError) as err:
        resolve_data_root(tmp_path / "nowhere")
    assert err.value.message == f"data.root: folder {tmp_path / 'nowhere'} does not exist"
    make_split(
        tmp_path / "organized_dataset", [item("a.png")], dataset="chestdr", images=("a.png",)
    )
    with pytest.raises(RrgError) as err:
        resolve_data_root(tmp_path)
    assert (
        err.value.message
        == f"data.root: {tmp_path / 'organized_dataset'} has no Xray/IU_XRay data set in any split"
    )
    assert err.value.hint == "found: training/Xray/chestdr"
    assert (
        resolve_data_root(str(tmp_path), dataset="chestdr")
        == (tmp_path / "organized_dataset").resolve()
    )
