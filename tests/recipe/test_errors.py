"""The recipe error: every problem at once, one line each, typo suggestions, CLI-ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from rrg.errors import RrgError
from rrg.recipe import Recipe, RecipeError, RecipeProblem

TYPOS = """\
schema: 1
name: typos
version: 1
modle_id: x
model:
  famliy: qwen2_5_vl
  id: tiny
data:
  root: demo
  categroy: Xray
stage:
  kind: sft
trainig:
  epochs: 1
"""


def test_every_typo_is_reported_with_its_line_and_closest_key(tmp_path: Path):
    path = tmp_path / "typos.yaml"
    path.write_text(TYPOS)
    with pytest.raises(RecipeError) as caught:
        Recipe.load(path)
    found = [(p.line, p.key, p.message, p.hint) for p in caught.value.problems]
    assert found == [
        (4, "modle_id", "unknown key 'modle_id'", "did you mean 'model'?"),
        (5, "model.family", "required key missing", "add `family`: Model family: decides the architecture, chat format, processor and default LoRA targets."),
        (6, "model.famliy", "unknown key 'famliy'", "did you mean 'family'?"),
        (10, "data.categroy", "unknown key 'categroy'", "did you mean 'category'?"),
        (13, "trainig", "unknown key 'trainig'", "did you mean 'training'?"),
    ]


def test_problem_format_leaves_out_unknown_parts():
    assert RecipeProblem("a.yaml", 3, "x.y", "bad", "fix it").format() == "a.yaml:3: x.y: bad (hint: fix it)"
    assert RecipeProblem("--set x=1", None, "x", "bad").format() == "--set x=1: x: bad"
    assert RecipeProblem("a.yaml", None, "", "empty").format() == "a.yaml: empty"


def test_recipe_error_is_an_rrg_error_with_one_line_per_problem(capsys):
    error = RecipeError([RecipeProblem("a.yaml", 1, "k", "one"), RecipeProblem("a.yaml", 2, "m", "two", "h")])
    assert isinstance(error, RrgError) and error.exit_code == 2
    assert str(error) == "a.yaml:1: k: one\na.yaml:2: m: two (hint: h)"
    error.show()
    assert capsys.readouterr().err == "Error: invalid recipe (2 problems):\na.yaml:1: k: one\na.yaml:2: m: two (hint: h)\n"


def test_cross_field_rules_in_several_sections_come_together(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "schema: 1\nname: rules\nversion: 1\nmodel:\n  family: deepseek_ocr\n  id: deepseek-ai/DeepSeek-OCR\n"
        "  trust_remote_code: true\ndata:\n  root: demo\nstage:\n  kind: sft\nhardware:\n  accelerator: cpu\n"
        "  backend: unsloth\n  precision: fp16\n"
    )
    with pytest.raises(RecipeError) as caught:
        Recipe.load(path)
    assert [(p.line, p.key) for p in caught.value.problems] == [
        (7, "model.trust_remote_code"),
        (14, "hardware.backend"),
        (15, "hardware.precision"),
    ]


def test_cli_style_override_problems_name_the_flag(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text("schema: 1\nname: ok\nversion: 1\nmodel:\n  family: qwen3_vl\n  id: tiny\ndata:\n  root: demo\nstage:\n  kind: zero_shot\n")
    with pytest.raises(RecipeError) as caught:
        Recipe.load(path, overrides=["evaluation.max_new_token=5", "oops"])
    assert str(caught.value).splitlines() == [
        "--set evaluation.max_new_token=5: evaluation.max_new_token: unknown key 'max_new_token' (hint: did you mean 'max_new_tokens'?)",
        "--set oops: expected key.path=value (hint: e.g. --set training.learning_rate=2e-4)",
    ]
