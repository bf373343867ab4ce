"""``rrg samples`` and :func:`rrg.results.samples.side_by_side` on the study fixture registry: the
same samples' question, reference, images, study and each run's prediction and score side by
side, chosen by id, study, question, worst/best mean green_flare or disagreement; and every user
error as one line with exit status 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rrg_registry import GREEN_FLARE_COMPONENTS, Registry

from rrg.cli import cli
from rrg.errors import RrgError
from rrg.results.samples import DEFAULT_SAMPLES, natural_key, side_by_side

SPLIT = "validation-public"
QWEN = ("qwen3_vl/zero_shot", "qwen3_vl/sft", "qwen3_vl/grpo")


def rrg(url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--registry", url], env={"COLUMNS": "120"})


@pytest.fixture
def study(study_registry):
    """(registry URL, an open registry, the three Qwen3-VL-4B run ids, each run's predictions by sample id)."""
    with Registry.from_url(study_registry.url) as registry:
        ids = [study_registry.run_ids[key] for key in QWEN]
        predictions = [{p.sample_id: p for p in registry.predictions(run, SPLIT)} for run in ids]
        yield study_registry.url, registry, ids, predictions


def _mean(predictions, sample_id):
    values = [p[sample_id].green_flare for p in predictions]
    return sum(values) / len(values)


def test_default_shows_the_first_samples_with_each_runs_output(study):
    _, registry, ids, predictions = study
    result = side_by_side(registry, [run[:6] for run in ids])  # unique prefixes name runs too
    assert result.split == SPLIT
    assert [(c.run_id, c.model, c.stage) for c in result.runs] == [
        (ids[0], "Qwen3-VL-4B", "zero_shot"), (ids[1], "Qwen3-VL-4B", "sft"), (ids[2], "Qwen3-VL-4B", "grpo")]
    assert [c.label for c in result.runs] == [f"Qwen3-VL-4B, zero-shot ({ids[0]})", f"Qwen3-VL-4B, SFT ({ids[1]})",
                                              f"Qwen3-VL-4B, GRPO ({ids[2]})"]
    expected = sorted(predictions[0], key=natural_key)[:DEFAULT_SAMPLES]
    assert [r.sample_id for r in result.rows] == expected == [f"IU_XRay/{SPLIT}/{i}" for i in range(DEFAULT_SAMPLES)]
    for row in result.rows:
        first = predictions[0][row.sample_id]
        assert (row.question, row.reference, row.study_id) == (first.question, first.reference, first.study_id)
        assert row.image_paths == list(first.image_paths) and all(Path(p).is_file() for p in row.image_paths)
        assert all(Path(p).name.startswith(f"{row.study_id}_") for p in row.image_paths)
        for output, run in zip(row.outputs, predictions, strict=True):
            assert (output.prediction, output.green_flare) == (run[row.sample_id].prediction, run[row.sample_id].green_flare)
            assert output.scores == run[row.sample_id].scores
            assert set(GREEN_FLARE_COMPONENTS) <= set(output.scores)


def test_worst_best_and_disagree_rank_by_the_runs_scores(study):
    _, registry, ids, predictions = study
    samples = list(predictions[0])
    means = sorted(samples, key=lambda s: _mean(predictions, s))
    worst = side_by_side(registry, ids, worst=4)
    assert [r.sample_id for r in worst.rows] == means[:4]
    assert worst.selection == "the 4 samples with the lowest mean green_flare over the runs"
    best = side_by_side(registry, ids, best=3)
    assert [r.mean_green_flare for r in best.rows] == pytest.approx(
        sorted((_mean(predictions, s) for s in samples), reverse=True)[:3])
    spreads = {s: max(p[s].green_flare for p in predictions) - min(p[s].green_flare for p in predictions) for s in samples}
    disagree = side_by_side(registry, ids, disagree=5)
    assert [r.spread for r in disagree.rows] == pytest.approx(sorted(spreads.values(), reverse=True)[:5])
    assert disagree.rows[0].spread > 0


def test_sample_ids_question_and_study_select_samples(study):
    _, registry, ids, predictions = study
    named = side_by_side(registry, ids, sample_ids=[f"IU_XRay/{SPLIT}/12", f"IU_XRay/{SPLIT}/3"])
    assert [r.sample_id for r in named.rows] == [f"IU_XRay/{SPLIT}/12", f"IU_XRay/{SPLIT}/3"]

    heart = side_by_side(registry, ids, question="HEART", worst=50)
    asked = [s for s, p in predictions[0].items() if "heart" in p.question.lower()]
    assert len(heart.rows) == min(50, len(asked)) > 0 and all("heart" in r.question.lower() for r in heart.rows)
    assert heart.selection.endswith("whose question contains 'HEART'")
    assert [r.sample_id for r in side_by_side(registry, ids, question="heart").rows] == sorted(asked, key=natural_key)[:5]

    by_study: dict[str, list[str]] = {}
    for sample_id, prediction in predictions[0].items():
        by_study.setdefault(prediction.study_id, []).append(sample_id)
    study_id, samples = max(by_study.items(), key=lambda item: len(item[1]))
    assert len(samples) > 1  # one radiograph, several questions
    shown = side_by_side(registry, ids, study=study_id)
    assert sorted(r.sample_id for r in shown.rows) == sorted(samples)
    assert {r.study_id for r in shown.rows} == {study_id}
    assert len({r.question for r in shown.rows}) == len(samples)
    assert len({tuple(r.image_paths) for r in shown.rows}) == 1
    assert shown.selection == f"every sample of study {study_id}"


def test_cli_table_json_and_csv(study):
    url, _, ids, predictions = study
    result = rrg(url, "samples", *ids, "--worst", "2")
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith(f"Samples on {SPLIT}: the 2 samples with the lowest mean green_flare over the runs")
    for label in ("Qwen3-VL-4B, zero-shot", f"({ids[0]})", "Qwen3-VL-4B, GRPO", "question", "reference", "images"):
        assert label in text
    assert max(len(line) for line in text.splitlines()) <= 120

    data = json.loads(rrg(url, "samples", *ids, "--worst", "2", "--json").output)
    assert list(data) == ["split", "selection", "runs", "samples"]
    assert [r["label"] for r in data["runs"]][1] == f"Qwen3-VL-4B, SFT ({ids[1]})"
    sample = data["samples"][0]
    assert f"study {sample['study_id']}" in text and sample["sample_id"] in text
    assert list(sample) == ["sample_id", "study_id", "question", "reference", "image_paths", "outputs"]
    output = sample["outputs"][2]
    stored = predictions[2][sample["sample_id"]]
    assert output["run"] == ids[2] and output["prediction"] == stored.prediction
    assert output["components"] == {name: stored.scores[name] for name in GREEN_FLARE_COMPONENTS}
    assert output["scores"] == stored.scores and output["green_flare"] == stored.green_flare

    rows = list(csv.DictReader(io.StringIO(rrg(url, "samples", *ids, "--worst", "2", "--csv").output)))
    assert len(rows) == 2 * 3 and [r["run"] for r in rows[:3]] == ids
    assert rows[0]["image_paths"] == ";".join(sample["image_paths"])
    assert float(rows[2]["location_accuracy"]) == stored.scores["location_accuracy"]


def test_the_study_option_on_the_command_line(study):
    url, _, ids, predictions = study
    study_id = predictions[0][f"IU_XRay/{SPLIT}/0"].study_id
    data = json.loads(rrg(url, "samples", ids[0], ids[1], "--study", study_id, "--json").output)
    expected = sorted((s for s, p in predictions[0].items() if p.study_id == study_id), key=natural_key)
    assert [s["sample_id"] for s in data["samples"]] == expected
    assert {s["study_id"] for s in data["samples"]} == {study_id}


def _add_run(registry, name: str, rows: list[dict] | None, split: str = SPLIT) -> str:
    recipe = registry.record_recipe(name, 1, name.encode().hex().ljust(64, "0")[:64], f"name: {name}\n")
    run = registry.create_run(recipe.id, "sft", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct")
    registry.start_run(run.id)
    registry.record_evaluation(run.id, split, {"green_flare": 0.5}, predictions=rows, n=1, status="succeeded")
    return run.id


def _one_line_error(url: str, *args: str) -> str:
    result = rrg(url, "samples", *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    return result.output


def test_user_errors_are_one_line_exit_2(study):
    url, registry, ids, _ = study
    sample = f"IU_XRay/{SPLIT}/0"
    bare = _add_run(registry, "no-predictions", None)
    elsewhere = _add_run(registry, "on-test", [{"sample_id": "t0", "prediction": "x", "green_flare": 0.1}], split="test")
    other_data = _add_run(registry, "other-data", [{"sample_id": sample, "prediction": "x", "reference": "Other.",
                                                   "green_flare": 0.1}])
    other_samples = _add_run(registry, "other-samples", [{"sample_id": "zz", "prediction": "x", "green_flare": 0.1}])

    assert _one_line_error(url, "zzzz") == "Error: no run matches 'zzzz' (hint: list runs with `rrg runs list`)\n"
    assert f"run {bare} (no-predictions@1) has no predictions recorded" in _one_line_error(url, ids[0], bare)
    assert (f"the runs share no evaluation split ({ids[0]}: {SPLIT}; {elsewhere}: test)"
            in _one_line_error(url, ids[0], elsewhere))
    assert f"run {ids[0]} (qwen3-vl-4b-zero-shot@" in _one_line_error(url, ids[0], "--split", "test")
    assert "recorded different references for sample" in _one_line_error(url, ids[0], other_data)
    assert f"share no sample on {SPLIT}" in _one_line_error(url, ids[0], other_samples)
    assert "--disagree compares runs" in _one_line_error(url, ids[0], "--disagree", "3")
    assert "--worst and --best choose samples in two ways" in _one_line_error(url, *ids, "--worst", "2", "--best", "2")
    assert "--best takes a number of samples of 1 or more" in _one_line_error(url, *ids, "--best", "0")
    assert "sample 'nope' is not among the samples" in _one_line_error(url, *ids, "--sample", "nope")
    assert "no question on validation-public contains 'zebra'" in _one_line_error(url, *ids, "--question", "zebra")
    assert "has no prediction of study 'CXR0000000'" in _one_line_error(url, *ids, "--study", "CXR0000000")
    assert f"run {ids[0]} is given twice" in _one_line_error(url, ids[0], ids[0])
    with pytest.raises(RrgError, match="no runs to show"):
        side_by_side(registry, [])
