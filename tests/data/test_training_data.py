"""Several data sets in one recipe: the `data.train` / `data.expect` schema rules, FLARE task types
and their answers as training text, and reading `all` or a list with caps, weights and task filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flare_trees import item, make_split, write_png
from rrg.data.flare import count_questions, load_flare
from rrg.data.tasks import (
    AnswerShapeError,
    WrittenNumber,
    answer_text,
    same_task_type,
    task_kind,
    task_type_key,
)
from rrg.data.training import TrainingData, find_training_datasets, mix_training, weighted_rows
from rrg.errors import InputError, RrgError
from rrg.recipe import Recipe, RecipeError

SFT = """\
schema: 1
name: multi
version: 1
model: {{family: qwen2_5_vl, id: tiny}}
data:
  root: demo
{data}
stage: {{kind: {stage}}}
"""


def recipe(data: str, stage: str = "sft") -> Recipe:
    return Recipe.from_yaml(SFT.format(data=data, stage=stage), path="multi.yaml")


def problems(data: str, stage: str = "sft") -> list[str]:
    with pytest.raises(RecipeError) as caught:
        recipe(data, stage)
    return [p.format() for p in caught.value.problems]


# ------------------------------------------------------------------ schema: data.train, data.expect


def test_train_all_and_a_list_of_entries_with_their_defaults():
    assert recipe("  train: all").spec.data.train == "all"
    spec = recipe(
        "  category: Microscopy\n"
        "  train:\n"
        "    - dataset: chromosome\n"
        "    - {dataset: chestdr, category: Xray, task_types: [Multi-label Classification], max_samples: 50, weight: 2.5}\n"
    ).spec
    first, second = spec.data.train
    # an entry without category takes data.category; weight 1, every task type, no cap by default
    assert (first.dataset, first.category, first.task_types, first.max_samples, first.weight) == ("chromosome", "Microscopy", None, None, 1.0)
    assert (second.category, second.task_types, second.max_samples, second.weight) == ("Xray", ["Multi-label Classification"], 50, 2.5)


def test_a_category_left_out_hashes_like_the_one_it_stands_for():
    left_out = recipe("  train: [{dataset: chestdr}]")
    written = recipe("  train: [{dataset: chestdr, category: Xray}]")
    assert left_out.hash == written.hash
    assert recipe("  train: [{dataset: chestdr, weight: 2}]").hash != written.hash


def test_recipes_without_the_new_keys_keep_their_hash():
    plain = recipe("  max_train_samples: 8")
    assert "train" not in plain.to_dict()["data"] and "expect" not in plain.to_dict()["data"]
    assert recipe("  max_train_samples: 8\n  train: null\n  expect: null").hash == plain.hash


@pytest.mark.parametrize(
    ("data", "stage", "expected"),
    [
        (
            "  train: [{dataset: a}, {dataset: b}, {dataset: a, task_types: [Counting]}]",
            "sft",
            "multi.yaml:7: data.train.2.dataset: train lists a twice (entries 0 and 2) (hint: list each data set once; give one entry several task_types)",
        ),
        (
            "  train: all",
            "zero_shot",
            "multi.yaml:7: data.train: stage zero_shot trains nothing, so it takes no data.train (hint: remove data.train or set stage.kind to sft or grpo)",
        ),
        ("  train: [{dataset: a, weight: 0}]", "sft", "multi.yaml:7: data.train.0.weight: Input should be greater than 0 (got 0)"),
        ("  train: [{dataset: a, weight: -1.5}]", "sft", "multi.yaml:7: data.train.0.weight: Input should be greater than 0 (got -1.5)"),
        ("  train: [{dataset: a, max_samples: 0}]", "sft", "multi.yaml:7: data.train.0.max_samples: Input should be greater than or equal to 1 (got 0)"),
        (
            "  train: [{dataset: a, task_types: [Cell Counting, cell_counting]}]",
            "sft",
            "multi.yaml:7: data.train.0.task_types: task_types lists Cell Counting, cell_counting more than once (task types are compared loosely) (hint: list each task type once)",
        ),
        ("  train: [{dataset: a, weigth: 2}]", "sft", "multi.yaml:7: data.train.0.weigth: unknown key 'weigth' (hint: did you mean 'weight'?)"),
        ("  train: [{category: Xray}]", "sft", "multi.yaml:7: data.train.0.dataset: required key missing (hint: add `dataset`: FLARE data set folder in the training split, such as `chestdr`.)"),
        ("  train: everything", "sft", "multi.yaml:7: data.train: expected `all` or a list of data sets (got 'everything')"),
        ("  train: {dataset: a}", "sft", "multi.yaml:7: data.train: expected `all` or a list of data sets (each with `dataset:`)"),
        (
            "  expect: {validation-public: 10, validation-hidden: 5}",
            "sft",
            "multi.yaml:7: data.expect.validation-hidden: the run reads no split validation-hidden (it reads training and validation-public) (hint: name a split the run reads, or remove data.expect.validation-hidden)",
        ),
        (
            "  expect: {training: 10}",
            "zero_shot",
            "multi.yaml:7: data.expect.training: the run reads no split training (it reads validation-public) (hint: name a split the run reads, or remove data.expect.training)",
        ),
        ("  expect: {validation-public: 0}", "sft", "multi.yaml:7: data.expect.validation-public: Input should be greater than or equal to 1 (got 0)"),
    ],
    ids=[
        "dataset-twice", "train-on-zero-shot", "weight-zero", "weight-negative", "max-samples-zero", "task-type-twice",
        "unknown-entry-key", "entry-without-dataset", "not-all", "not-a-list", "expect-unread-split", "expect-train-split-on-zero-shot",
        "expect-zero",
    ],
)
def test_rules_are_one_line_each_naming_file_line_and_key(data: str, stage: str, expected: str):
    assert problems(data, stage) == [expected]


def test_expect_accepts_the_splits_the_run_reads_and_their_aliases():
    spec = recipe("  expect: {train: 96, validation-public: 16}").spec
    assert spec.data.expect == {"train": 96, "validation-public": 16}
    assert recipe("  expect: {validation-public: 16}", stage="zero_shot").spec.data.expect == {"validation-public": 16}


# ------------------------------------------------------------------ task types


@pytest.mark.parametrize(
    ("task_type", "kind"),
    [
        ("Report_Generation", "report_generation"),
        ("Report Generation", "report_generation"),
        ("ReportGeneration", "report_generation"),
        ("Classification", "classification"),
        ("Multi-label Classification", "multi_label_classification"),
        ("multilabel_classification", "multi_label_classification"),
        ("Detection", "detection"),
        ("Instance Detection", "instance_detection"),
        ("Cell Counting", "counting"),
        ("Counting", "counting"),
        ("Regression", "regression"),
        ("VQA", "vqa"),
        ("Closed VQA", "vqa"),
        ("Visual Question Answering", "vqa"),
        ("Segmentation", None),
    ],
)
def test_task_kinds_follow_the_flare_baseline_rules(task_type: str, kind: str | None):
    assert task_kind(task_type) == kind


def test_task_types_compare_loosely():
    assert task_type_key("Report_Generation") == task_type_key("report-generation") == task_type_key("ReportGeneration") == "report generation"
    assert same_task_type("Cell Counting", "Counting") and same_task_type("Multi-label Classification", "multilabel classification")
    assert not same_task_type("Detection", "Instance Detection") and not same_task_type("Classification", "Multi-label Classification")
    assert same_task_type("Segmentation", "segmentation") and not same_task_type("Segmentation", "Counting")


def written(text: str):
    """A JSON value as the reader parses it (numbers keep their digits)."""
    return json.loads(text, parse_float=WrittenNumber)


@pytest.mark.parametrize(
    ("task_type", "answer", "text"),
    [
        ("Report_Generation", '"Heart size normal."', "Heart size normal."),
        ("Report Generation", '["Heart size normal.", "No effusion."]', "Heart size normal. No effusion."),
        ("Classification", '"B"', "B"),
        ("Classification", '["B"]', "B"),
        ("Classification", "3", "3"),
        ("Multi-label Classification", '["Effusion", "Lung Opacity"]', "Effusion, Lung Opacity"),
        ("Multi-label Classification", '["Effusion, left", "Nodule"]', "Effusion, left; Nodule"),
        ("Multi-label Classification", '"A; C"', "A; C"),
        ("Counting", "23", "23"),
        ("Cell Counting", '"23"', "23"),
        ("Regression", "23.50", "23.50"),
        ("Regression", "1e3", "1e3"),
        ("Regression", "-0.125", "-0.125"),
        ("Detection", "[12, 40.5, 96, 130]", "[12, 40.5, 96, 130]"),
        ("Detection", "[[12, 40, 96, 130], [1, 2, 3, 4]]", "[[12, 40, 96, 130], [1, 2, 3, 4]]"),
        ("Detection", "[]", "[]"),
        ("Detection", '{"lesion": [[12, 40, 96, 130]]}', '{"lesion": [[12, 40, 96, 130]]}'),
        ("Instance Detection", '{"2": [[3, 4, 50, 60.25]], "1": [10, 20, 30, 40]}', '{"2": [[3, 4, 50, 60.25]], "1": [10, 20, 30, 40]}'),
        ("VQA", "true", "True"),
        ("Closed VQA", '"yes"', "yes"),
        ("Open VQA", '["left", "lower lobe"]', "left, lower lobe"),
        ("Segmentation", '{"b": 1, "a": [1.50]}', '{"b": 1, "a": [1.50]}'),
        ("Classification", "null", None),
    ],
)
def test_answers_become_training_text_per_task_type(task_type: str, answer: str, text: str | None):
    assert answer_text(written(answer), task_type) == text


@pytest.mark.parametrize(
    ("task_type", "answer", "reason"),
    [
        ("Counting", "[1, 2]", "a count must be a number"),
        ("Counting", "true", "a count must be a number"),
        ("Regression", '{"value": 3}', "a regression value must be a number"),
        ("Regression", "NaN", "the answer must be a finite number"),
        ("Report_Generation", "42", "a report answer must be text, or a list of sentences"),
        ("Classification", '["A", "B"]', "a classification answer is one label, found a list of 2 (several labels are a Multi-label Classification)"),
        ("Multi-label Classification", "[]", "an empty list holds no label or text"),
        ("Multi-label Classification", '[["A"]]', "must be a label, a number, or a list of them"),
        ("Detection", "[1, 2, 3]", "a detection answer must be a box [x1, y1, x2, y2], a list of boxes, or a mapping of labels to boxes"),
        ("Instance Detection", '{"1": []}', "a detection answer must be a box [x1, y1, x2, y2], a list of boxes, or a mapping of labels to boxes"),
    ],
)
def test_answers_that_do_not_fit_their_task_are_refused(task_type: str, answer: str, reason: str):
    with pytest.raises(AnswerShapeError) as caught:
        answer_text(written(answer), task_type)
    assert str(caught.value) == reason


def test_the_reader_writes_each_answer_as_text_and_names_a_sample_it_cannot(tmp_path: Path):
    items = [
        item("a.png"),
        item("a.png", task_type="Multi-label Classification", answer=["Effusion", "Nodule"]),
        item("a.png", task_type="Regression", answer="NUMBER"),
        item("a.png", task_type="Detection", answer=[[1, 2, 30, 40]]),
        item("a.png", task_type="Counting", answer=None),
    ]
    questions = make_split(tmp_path, items, images=("a.png",)) / "IU_XRay_questions_train.json"
    questions.write_text(questions.read_text().replace('"NUMBER"', "0.50"))  # as a file writes it
    loaded = load_flare(tmp_path)
    assert list(loaded.dataset["answer"]) == ["Heart size normal.", "Effusion, Nodule", "0.50", "[[1, 2, 30, 40]]", None]

    items[2]["Answer"] = [0.5, 1.5]
    make_split(tmp_path / "bad", items, images=("a.png",))
    with pytest.raises(InputError) as caught:
        load_flare(tmp_path / "bad")
    questions = tmp_path / "bad" / "training" / "Xray" / "IU_XRay" / "IU_XRay_questions_train.json"
    assert caught.value.message == (
        f"{questions}: item 2 (IU_XRay/training/2): Regression answer [0.5, 1.5]: a regression value must be a number"
    )
    assert caught.value.hint == "correct the Answer, or leave this task type out with task_types"
    # the sample is read only when its task type is: filtered out, it is no error
    assert load_flare(tmp_path / "bad", task_types=["Report Generation", "Detection"]).size == 2


# ------------------------------------------------------------------ reading several data sets


def tree(root: Path) -> Path:
    """Two data sets in two modality folders, and a folder without a question file."""
    make_split(
        root,
        [item("a.png"), item("a.png", task_type="Classification", answer="A"), item("a.png"), item("a.png")],
        images=("a.png",),
    )
    make_split(
        root,
        [item("c.png", task_type="Counting", answer=n) for n in range(6)]
        + [item("c.png", task_type="Cell Counting", answer=7), item("c.png", task_type="Instance Detection", answer={"1": [1, 2, 3, 4]})],
        dataset="cells",
        category="Microscopy",
        questions_name="cells_questions_train.json",
        images=("c.png",),
    )
    write_png(root / "training" / "Xray" / "unlabelled" / "imagesTr" / "x.png")
    return root


def test_all_finds_every_data_set_with_a_question_file(tmp_path: Path):
    root = tree(tmp_path)
    assert find_training_datasets(root, "training") == [("Microscopy", "cells"), ("Xray", "IU_XRay")]
    assert find_training_datasets(root, "validation-public") == []


def test_counts_follow_task_filters_and_caps_like_the_reader(tmp_path: Path):
    root = tree(tmp_path)
    counted = count_questions(root, "cells", "training", "Microscopy", task_types=["Counting"])
    assert (counted.size, counted.task_types) == (7, {"Counting": 6, "Cell Counting": 1})
    loaded = load_flare(root, "cells", "training", "Microscopy", task_types=["Counting"], limit=3)
    assert count_questions(root, "cells", "training", "Microscopy", task_types=["Counting"], limit=3).size == loaded.size == 3
    assert list(loaded.dataset["answer"]) == ["0", "1", "2"]
    assert count_questions(root, limit=2).task_types == {"Report_Generation": 1, "Classification": 1}
    with pytest.raises(RrgError, match="no question has task type regression"):
        count_questions(root, "cells", "training", "Microscopy", task_types=["Regression"])


def test_weights_oversample_and_subsample_with_the_seed(tmp_path: Path):
    root = tree(tmp_path)
    reports = load_flare(root)
    cells = load_flare(root, "cells", "training", "Microscopy")
    assert (reports.size, cells.size) == (4, 8)
    assert [weighted_rows(8, w) for w in (1, 2, 0.5, 1.25, 0.01)] == [8, 16, 4, 10, 0]

    # one data set at weight 1 is trained on as read
    assert mix_training([reports], [1.0], seed=42) is reports.dataset

    mixed = TrainingData.mix([reports, cells], [2.0, 0.5], seed=42)
    assert (mixed.size, mixed.rows) == (12, 12)
    ids = list(mixed.dataset["sample_id"])
    assert ids[:8] == list(reports.dataset["sample_id"]) * 2
    half = ids[8:]
    assert len(set(half)) == 4 and set(half) <= set(cells.dataset["sample_id"])
    assert list(mixed.dataset["dataset"]) == ["IU_XRay"] * 8 + ["cells"] * 4
    # the same half with the same seed, another one with another seed
    assert list(TrainingData.mix([reports, cells], [2.0, 0.5], seed=42).dataset["sample_id"]) == ids
    others = {tuple(list(TrainingData.mix([reports, cells], [2.0, 0.5], seed=s).dataset["sample_id"])[8:]) for s in range(6)}
    assert len(others) > 1
    # every column of the reader, in the same order, kept across data sets
    assert mixed.dataset.column_names == reports.dataset.column_names
