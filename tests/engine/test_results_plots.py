"""`rrg plot` from a registry holding only the demo's zero-shot → SFT → GRPO chain (tiny twins, a
few samples): every figure is drawn from what the engine recorded, with the demo model's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import EVAL_SAMPLES, assert_one_line_error
from PIL import Image
from rrg.cli import cli
from rrg.results import plots
from rrg.results.names import model_name
from rrg_registry import GREEN_FLARE_COMPONENTS

SPLIT = "validation-public"


def rrg(url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--registry", url])


@pytest.fixture(scope="module")
def chain(demo_chain):
    """(registry, registry URL, {stage: run id}) of the session's demo chain."""
    registry = demo_chain.registry
    ids = {"zero_shot": demo_chain.zero_shot.id, "sft": demo_chain.sft.id, "grpo": demo_chain.grpo.id}
    return registry, registry.url, ids


def test_study_green_of_the_demo_chain(chain):
    registry, _, ids = chain
    data = plots.study_green_data(registry)
    family = registry.get_run(ids["sft"]).run.model_family
    assert family == "qwen2_5_vl" and data.models == (model_name(family, "tiny"),) == ("Qwen2.5-VL (tiny)",)
    assert [(b.stage, b.run_id) for b in data.bars] == [(s, ids[s]) for s in ("zero_shot", "sft", "grpo")]
    for bar in data.bars:
        assert bar.value == registry.get_run(bar.run_id).metrics["green_flare"]
    with pytest.raises(plots.PlotError, match=r"the study published no green_flare for the models plotted \(Qwen2.5-VL \(tiny\)\)"):
        plots.study_green_data(registry, reference=True)


def test_components_and_breakdown_of_the_demo_chain(chain):
    registry, _, ids = chain
    box = plots.components_box_data(registry)
    assert [r.run.run_id for r in box.runs] == [ids["zero_shot"], ids["sft"], ids["grpo"]]
    assert box.split == SPLIT and box.n == EVAL_SAMPLES
    recorded = registry.latest_components(list(ids.values()))
    for run in box.runs:
        for component in GREEN_FLARE_COMPONENTS:
            values = run.values[component]
            assert len(values) == EVAL_SAMPLES
            assert sum(values) / len(values) == pytest.approx(getattr(recorded[run.run.run_id], component), abs=1e-9)
    radar = plots.components_radar_data(registry, list(ids.values()))
    assert [r.values for r in radar] == [{c: getattr(recorded[i], c) for c in GREEN_FLARE_COMPONENTS} for i in ids.values()]
    breakdown = plots.breakdown_data(registry, list(ids.values()))
    for run, scores in breakdown.runs:
        assert sum(s.n for s in scores.values()) == EVAL_SAMPLES
        total = sum(s.mean * s.n for s in scores.values()) / EVAL_SAMPLES
        assert total == pytest.approx(registry.get_run(run.run_id).metrics["green_flare"], abs=1e-9)


def test_curves_of_the_demo_chain_show_the_engines_reward_terms(chain):
    registry, _, ids = chain
    sft, grpo = plots.curves_data(registry, [ids["sft"], ids["grpo"]])
    assert sft.loss.steps == (1, 2, 3, 4) and sft.eval_loss.steps == (2, 4)
    assert [t.label for t in grpo.reward_terms] == ["clinical", "format", "rouge"]
    assert grpo.reward is not None and grpo.reward.steps == (1, 2, 3)
    scored = sorted((m.step, m.value) for m in registry.metric_history(ids["grpo"], prefix="eval/green_flare") if m.step is not None)
    assert (list(zip(grpo.checkpoints.steps, grpo.checkpoints.values)) if grpo.checkpoints else []) == scored
    history = registry.metric_history(ids["grpo"], prefix="train/reward_terms/")
    assert {m.name for m in history} == {t.name for t in grpo.reward_terms}
    assert grpo.reward_terms[0].values == tuple(m.value for m in sorted(
        (m for m in history if m.name == "train/reward_terms/clinical"), key=lambda m: m.step))


def test_cli_draws_every_figure_of_the_demo_chain(chain, tmp_path: Path):
    _, url, ids = chain
    runs = [ids["zero_shot"], ids["sft"], ids["grpo"]]
    commands = {
        "study-green": ["study-green"],
        "components-box": ["components-box"],
        "components-radar": ["components-radar", *runs],
        "curves": ["curves", ids["sft"], ids["grpo"]],
        "breakdown": ["breakdown", *runs],
    }
    for name, args in commands.items():
        out = tmp_path / f"{name}.png"
        result = rrg(url, "plot", *args, "-o", str(out))
        assert result.exit_code == 0, result.output
        with Image.open(out) as image:
            image.load()
            assert image.size[0] == round(plots.WIDTH * plots.DPI), name
        assert result.output.startswith(f"wrote {out} (1400×")


def test_cli_refuses_what_the_demo_chain_cannot_show(chain, tmp_path: Path):
    _, url, ids = chain
    out = tmp_path / "figure.png"
    assert_one_line_error(rrg(url, "plot", "curves", ids["zero_shot"], "-o", str(out)),
                          f"run {ids['zero_shot']} (Qwen2.5-VL (tiny), zero-shot) logged no training metrics")
    assert_one_line_error(rrg(url, "plot", "study-green", "--reference", "study", "-o", str(out)),
                          "the study published no green_flare")
    assert not out.exists() and not list(tmp_path.iterdir())
