"""Numbers print by kind, by one rule wherever a table prints them (``rrg runs list/show``,
``compare``, ``table``, ``components``): learning rates in scientific notation, counts as
integers, durations as ``37 m 41 s`` (issue 14). JSON and CSV keep the values unchanged."""

from __future__ import annotations

import csv
import io

import pytest
from rrg.cli.output import format_cell, format_number, number_kind

from .test_cli import rrg


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("train/learning_rate", 5e-06, "5e-06"),
        ("learning_rate", 0.0002, "2e-04"),
        ("train/learning_rate", 1.5e-4, "1.5e-04"),
        ("train/learning_rate", 0.0, "0"),
        ("wall_seconds", 2261.4, "37 m 41 s"),
        ("train/train_runtime", 7322.0, "2 h 2 m 2 s"),
        ("wall_seconds", 59.7, "1 m 0 s"),
        ("wall_seconds", 41.2, "41 s"),
        ("wall_seconds", 4.25, "4.2 s"),
        ("wall_seconds", -65.0, "-1 m 5 s"),
        ("n", 1945.0, "1945"),
        ("train/global_step", 150.0, "150"),
        ("train/num_tokens", 123456.0, "123456"),
        ("size", 2048, "2048"),
        ("green_flare", 0.8461, "0.8461"),
        ("green_flare", 0.0, "0.0000"),
        ("p_value", 1 / 10001, "1e-04"),
        ("train/grad_norm", 3e-07, "3e-07"),
        ("train/total_flos", 1.234e12, "1.23e+12"),
        ("train/epoch", 1.5, "1.5000"),
        ("train/train_samples_per_second", 12.5, "12.5000"),
        (None, 5e-06, "5e-06"),
    ],
)
def test_format_number_by_kind(name, value, text):
    assert format_number(value, name) == text


def test_kinds_and_cells():
    assert [number_kind(n) for n in ("train/learning_rate", "wall_seconds", "n", "green_flare", None)] == [
        "learning_rate", "duration", "count", "number", "number"]
    assert format_cell(None, "n") == "-" and format_cell(True) == "True" and format_cell("x", "n") == "x"
    assert format_cell(float("nan"), "green_flare") == "nan"


@pytest.fixture
def trained(registry, factory, registry_url):
    run = factory.run(recipe="demo-sft@1", stage="sft", model_family="qwen2_5_vl", model_id="tiny", status="running")
    registry.log_metrics(run.id, {"train/learning_rate": 5e-06, "train/global_step": 150.0, "train/loss": 2.5}, "train", step=150)
    registry.log_metrics(run.id, {"wall_seconds": 2261.0}, "run")
    registry.record_evaluation(run.id, "validation", {"green_flare": 0.75}, n=200, status="succeeded")
    other = factory.run(recipe="demo-sft@1", stage="sft", model_family="qwen2_5_vl", model_id="tiny", status="running")
    registry.log_metrics(other.id, {"train/learning_rate": 2e-04, "train/global_step": 300.0}, "train", step=300)
    registry.log_metrics(other.id, {"wall_seconds": 125.0}, "run")
    registry.record_evaluation(other.id, "validation", {"green_flare": 0.8}, n=200, status="succeeded")
    return registry_url, run, other


def _cells(output: str, first: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith("│") and line.split("│")[1].strip() == first)
    return [cell.strip() for cell in line.split("│")[2:-1]]


def test_runs_show_prints_numbers_by_kind(trained):
    url, run, _ = trained
    output = rrg(url, "runs", "show", run.id).output
    assert _cells(output, "train/learning_rate") == ["5e-06"]
    assert _cells(output, "train/global_step") == ["150"]
    assert _cells(output, "wall_seconds") == ["37 m 41 s"]
    assert _cells(output, "green_flare") == ["0.7500"]
    flat = dict(csv.reader(io.StringIO(rrg(url, "runs", "show", run.id, "--csv").output)))
    assert flat["metrics.train/learning_rate"] == "5e-06" and flat["metrics.wall_seconds"] == "2261.0"


def test_compare_prints_numbers_by_kind(trained):
    url, run, other = trained
    output = rrg(url, "compare", run.id, other.id, "--all").output
    assert _cells(output, "train/learning_rate") == ["5e-06", "2e-04", "1.95e-04"]
    assert _cells(output, "train/global_step") == ["150", "300", "150"]
    assert _cells(output, "wall_seconds") == ["37 m 41 s", "2 m 5 s", "-35 m 36 s"]


def test_runs_list_and_study_table_print_scores_with_four_decimals(trained):
    url, run, _ = trained
    listing = rrg(url, "runs", "list", "--sort", "wall_seconds").output
    assert _cells(listing, run.id)[-2:] == ["0.7500", "37 m 41 s"]
    assert _cells(rrg(url, "table").output, "SFT")[-3:] == ["0.8000", "-", "-"]
