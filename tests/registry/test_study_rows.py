"""Which run fills each row of the study's tables (``rrg table``, ``rrg components``): by a stated
rule, with the run id shown and every candidate passed over named with its reason (issue 14)."""

from __future__ import annotations

import json

import pytest
from rrg_registry import study
from rrg_registry.errors import InvalidQuery

from rrg.results.names import model_name

from .conftest import COMPONENTS, hours_ago
from .test_cli import rrg


def _evaluated(registry, factory, clock, hours: float, recipe: str, stage: str, green: float, **kwargs):
    """A succeeded run of ``recipe`` that ended ``hours`` ago, with metrics and components."""
    clock(hours_ago(hours))
    run = factory.run(recipe=recipe, stage=stage, model_family="qwen2_5_vl", model_id="tiny", status="running", **kwargs)
    registry.record_evaluation(run.id, "validation", {"green_flare": green, "bleu4_flare": 0.05, "ce": 0.9},
                               components={**COMPONENTS, "entity_matching": green}, n=200, status="succeeded")
    clock(None)
    return run


@pytest.fixture
def demo(registry, factory, registry_url, clock):
    """The demo's runs, then a 150-step toy SFT and a zero-shot evaluation of a pulled SFT adapter,
    both later than the demo runs (what replaced the demo rows before)."""
    runs = {
        "zero_shot": _evaluated(registry, factory, clock, 5, "demo-zero-shot@1", "zero_shot", 0.30),
        "sft_old": _evaluated(registry, factory, clock, 4, "demo-sft@1", "sft", 0.70),
        "sft": _evaluated(registry, factory, clock, 3, "demo-sft@1", "sft", 0.65),
    }
    runs["toy"] = _evaluated(registry, factory, clock, 2, "toy-sft@1", "sft", 0.40)
    runs["pulled"] = _evaluated(registry, factory, clock, 1, "demo-zero-shot@1", "zero_shot", 0.66,
                                adapter="hub:org/demo-sft@abc123")
    return registry_url, runs


MODEL = "Qwen2.5-VL (tiny)"
"""The runs' model (qwen2_5_vl, tiny) as the rows name it."""


def _rows(registry, **kwargs):
    return {(r["stage"], r["model"]): r for r in registry.study_table(model_name=model_name, **kwargs)}


def test_zero_shot_row_takes_a_base_model_and_the_named_recipe_beats_a_later_toy_run(registry, demo):
    _, runs = demo
    rows = _rows(registry)
    zero_shot, sft = rows[("zero_shot", MODEL)], rows[("sft", MODEL)]
    assert zero_shot["run"] == runs["zero_shot"].id and zero_shot["green_flare"] == 0.30
    assert zero_shot["passed_over"] == [{"run": runs["pulled"].id, "recipe": "demo-zero-shot@1", "reason": "adapter"}]
    assert (sft["run"], sft["recipe"]) == (runs["sft"].id, "demo-sft@1")  # the latest demo-sft, not the toy run
    assert sft["passed_over"] == [
        {"run": runs["toy"].id, "recipe": "toy-sft@1", "reason": "other_recipe"},
        {"run": runs["sft_old"].id, "recipe": "demo-sft@1", "reason": "earlier"},
    ]


def test_a_run_with_a_parent_is_no_zero_shot_baseline_either(registry, factory, clock, demo):
    _, runs = demo
    child = _evaluated(registry, factory, clock, 0.5, "demo-zero-shot@1", "zero_shot", 0.9, parent_run_id=runs["sft"].id)
    assert _rows(registry)[("zero_shot", MODEL)]["run"] == runs["zero_shot"].id
    adapters = [s for s in registry.search_runs(stage="zero_shot") if s.id in {child.id, runs["pulled"].id}]
    only_adapters = study.choose_rows(adapters, model_name=model_name)
    assert only_adapters[0].run is None
    assert only_adapters[0].note().startswith(f"zero_shot {MODEL}: no eligible run; passed over 2 runs starting from an adapter")
    assert study.choose_rows(adapters)[0].key == ("zero_shot", "tiny")  # no naming function: the model id


def test_pick_best_and_a_recipe_named_on_the_command_line(registry, demo):
    _, runs = demo
    best = _rows(registry, pick="best")[("sft", MODEL)]
    assert best["run"] == runs["sft_old"].id
    assert [p["reason"] for p in best["passed_over"]] == ["other_recipe", "lower_green_flare"]
    toy = _rows(registry, recipes=["toy-sft"])[("sft", MODEL)]
    assert toy["run"] == runs["toy"].id and {p["reason"] for p in toy["passed_over"]} == {"other_recipe"}
    assert _rows(registry, recipes=["demo-sft@1"])[("sft", MODEL)]["run"] == runs["sft"].id
    with pytest.raises(InvalidQuery):
        registry.study_table(pick="random")


def test_rows_without_a_named_recipe_take_every_candidate(registry, factory, clock):
    first = _evaluated(registry, factory, clock, 2, "mine@1", "sft", 0.5)
    second = _evaluated(registry, factory, clock, 1, "yours@1", "sft", 0.4)
    row = _rows(registry)[("sft", MODEL)]
    assert row["run"] == second.id
    assert row["passed_over"] == [{"run": first.id, "recipe": "mine@1", "reason": "earlier"}]


def test_table_cli_lists_the_run_used_and_notes_what_was_passed_over(demo):
    url, runs = demo
    output = rrg(url, "table").output
    assert "latest run per row" in output and runs["sft"].id in output and runs["toy"].id not in output.split("note:")[0]
    notes = [line for line in output.splitlines() if line.startswith("note: ")]
    assert notes == [
        (f"note: zero_shot {MODEL}: used {runs['zero_shot'].id} (demo-zero-shot@1, the latest); passed over "
         f"1 run starting from an adapter (not a zero-shot baseline): {runs['pulled'].id} (demo-zero-shot@1)"),
        (f"note: sft {MODEL}: used {runs['sft'].id} (demo-sft@1, the latest); passed over "
         f"1 run of another recipe than demo-sft: {runs['toy'].id} (toy-sft@1); 1 run that ended earlier: {runs['sft_old'].id}"),
    ]
    best = json.loads(rrg(url, "table", "--pick", "best", "--json").output)
    assert [r["run"] for r in best] == [runs["zero_shot"].id, runs["sft_old"].id]
    assert json.loads(rrg(url, "table", "--recipe", "toy-sft", "--json").output)[1]["run"] == runs["toy"].id


def test_components_follow_the_same_rule(registry, demo):
    url, runs = demo
    columns, rows = registry.components_table(model_name=model_name)
    assert columns == [f"{MODEL}/zero_shot", f"{MODEL}/sft"]
    assert rows[0] == {"component": "entity_matching", f"{MODEL}/zero_shot": 0.30, f"{MODEL}/sft": 0.65}
    assert registry.components_table(pick="best", model_name=model_name)[1][0][f"{MODEL}/sft"] == 0.70
    output = rrg(url, "components").output
    assert f"note: {MODEL}/sft: run {runs['sft'].id} (demo-sft@1)" in output
    assert f"1 run of another recipe than demo-sft: {runs['toy'].id} (toy-sft@1)" in output
    assert rrg(url, "components", "--csv").output.splitlines()[1] == f"entity_matching,0.3,0.65,{(0.65 - 0.3) / 0.3}"


def test_the_study_recipes_name_the_rows_their_shipped_recipes_fill():
    """:data:`study.STUDY_RECIPES` agrees with ``recipes/``: each name is a shipped recipe of that
    stage and model family, and every shipped recipe names a row."""
    from rrg.builtin import BUILTIN_RECIPES
    from rrg.recipe import Recipe

    shipped = {}
    for builtin in BUILTIN_RECIPES:
        recipe = Recipe.load(builtin.path)
        shipped[recipe.name] = (recipe.stage, recipe.spec.model.family)
    named = {name: key for key, names in study.STUDY_RECIPES.items() for name in names}
    assert named == shipped
