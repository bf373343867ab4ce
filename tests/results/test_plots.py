"""`rrg plot` and :mod:`rrg.results.plots` on the study fixture registry: the numbers plotted are
the registry's, the PNGs decode at the size asked for, text is readable, and what cannot be
plotted is one error line with exit status 2 and no file."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from rrg.cli import cli
from rrg.data.regions import FINDINGS_QUESTION, IMPRESSION_QUESTION, REGION_QUESTIONS
from rrg.errors import MissingDependencyError
from rrg.results import plots
from rrg.results.names import STUDY_ORDER
from rrg.results.reference import STUDY_TABLE1
from rrg.results.regions import REGIONS, question_region
from rrg_registry import GREEN_FLARE_COMPONENTS, Registry
from rrg_registry.errors import RunNotFound

SPLIT = "validation-public"
STUDY_RADAR = ("deepseek_ocr/zero_shot", "deepseek_ocr/sft", "qwen3_vl/zero_shot", "qwen3_vl/sft", "qwen3_vl/grpo")


@pytest.fixture
def study(study_registry):
    """The study registry copy and an open Registry on it."""
    with Registry.from_url(study_registry.url) as registry:
        yield study_registry, registry


def rrg(url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--registry", url])


def one_error_line(result, *parts: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and "(hint: " in lines[0], lines[0]
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def decoded(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()  # decodes every pixel, not just the header
        assert image.format == "PNG"
        return image.size


def expected_pixels(figure, dpi: int) -> tuple[int, int]:
    width, height = figure.get_size_inches()
    return round(width * dpi), round(height * dpi)


def shown_ticklabels(ax, which: str) -> list:
    """The tick labels of an axis whose ticks lie within its view (those matplotlib draws)."""
    low, high = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    ticks = ax.get_xticks() if which == "x" else ax.get_yticks()
    labels = ax.get_xticklabels() if which == "x" else ax.get_yticklabels()
    return [label for tick, label in zip(ticks, labels) if low - 1e-9 <= tick <= high + 1e-9]


def rendered_texts(figure) -> list:
    """Every text a figure draws (titles, labels, tick labels, annotations, legends), after drawing it."""
    plots.png_bytes(figure, dpi=72)
    texts = list(figure.texts)
    for legend in figure.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.axison:
            texts += [ax.xaxis.label, ax.yaxis.label, *shown_ticklabels(ax, "x"), *shown_ticklabels(ax, "y")]
        if ax.get_legend() is not None:
            texts += [*ax.get_legend().get_texts(), ax.get_legend().get_title()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def overlapping(texts) -> list[tuple[str, str]]:
    renderer = texts[0].figure.canvas.get_renderer() if texts else None
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


# ------------------------------------------------------------------------------- regions


def test_question_region_of_the_demo_questions_flare_style_questions_and_devices():
    for region, question in REGION_QUESTIONS.items():
        assert question_region(question) == region
    assert question_region(FINDINGS_QUESTION) == question_region(IMPRESSION_QUESTION) == "whole report"
    assert question_region("Write the part of the radiology report that describes the  HEART.") == "heart"
    assert question_region("Describe the support devices, lines and tubes.") == "devices"
    assert question_region("Where is the pacemaker lead?") == "devices"
    assert question_region("Describe the cardiac silhouette and the lungs.") == "heart"  # the first named
    assert question_region("Describe the lungs and the cardiac silhouette.") == "lungs"
    assert question_region("Is there a pleural effusion?") == "pleura"
    assert question_region("Any rib fracture?") == "bones"
    assert question_region("What does the radiograph show?") == "whole report"
    assert question_region(None) == question_region("") == "whole report"
    assert set(REGIONS) == {"heart", "lungs", "pleura", "mediastinum", "bones", "devices", "whole report"}


# ---------------------------------------------------------------------------- the data


def test_study_green_bars_are_the_registrys_green_flare_with_the_published_values(study):
    fixture, registry = study
    data = plots.study_green_data(registry, reference=True)
    assert data.models == STUDY_ORDER
    by_key = {(b.stage, b.model): b for b in data.bars}
    assert len(by_key) == len(data.bars) == 9
    for key, run_id in fixture.run_ids.items():
        bar = next(b for b in data.bars if b.run_id == run_id)
        assert bar.value == registry.get_run(run_id).metrics["green_flare"], key
        assert bar.published == STUDY_TABLE1[(bar.stage, bar.model)]["green_flare"]
    assert [b.stage for b in data.bars if b.model == "Qwen3-VL-4B"] == ["zero_shot", "sft", "grpo"]
    assert [b.stage for b in data.bars if b.model == "DeepSeek-OCR"] == ["zero_shot", "sft"]
    assert all(b.published is None for b in plots.study_green_data(registry).bars)


def test_study_green_follows_the_table_selection_and_refuses_an_unmatched_tag(study):
    _, registry = study
    rows = {r["run"] for r in registry.study_table()}
    assert {b.run_id for b in plots.study_green_data(registry).bars} == rows
    with pytest.raises(plots.PlotError, match="no succeeded run carrying tag no-such-tag with a green_flare score"):
        plots.study_green_data(registry, tags=["no-such-tag"])


def test_components_box_data_is_every_runs_per_sample_scores_by_model_then_stage(study):
    _, registry = study
    data = plots.components_box_data(registry)
    labels = [r.run.label for r in data.runs]
    assert labels == [
        "DeepSeek-OCR, zero-shot", "DeepSeek-OCR, SFT", "Qwen2.5-VL-7B, zero-shot", "Qwen2.5-VL-7B, SFT",
        "Qwen3-VL-4B, zero-shot", "Qwen3-VL-4B, SFT", "Qwen3-VL-4B, GRPO", "MedGemma-4B, zero-shot", "MedGemma-4B, SFT",
    ]
    assert data.split == SPLIT and data.n == 240
    recorded = registry.latest_components([r.run.run_id for r in data.runs])
    for run in data.runs:
        predictions = registry.predictions(run.run.run_id, SPLIT)
        for component in GREEN_FLARE_COMPONENTS:
            assert run.values[component] == tuple(p.scores[component] for p in predictions)
            # the box's mean marker is the component the run recorded (Table 2)
            mean = sum(run.values[component]) / len(run.values[component])
            assert mean == pytest.approx(getattr(recorded[run.run.run_id], component), abs=1e-12)


def test_components_box_of_named_runs_keeps_their_order(study):
    fixture, registry = study
    ids = [fixture.run_ids["qwen3_vl/grpo"], fixture.run_ids["deepseek_ocr/zero_shot"][:5]]
    data = plots.components_box_data(registry, ids)
    assert [r.run.run_id for r in data.runs] == [fixture.run_ids["qwen3_vl/grpo"], fixture.run_ids["deepseek_ocr/zero_shot"]]


def test_components_radar_data_is_the_recorded_components(study):
    fixture, registry = study
    ids = [fixture.run_ids[k] for k in STUDY_RADAR]
    data = plots.components_radar_data(registry, ids)
    recorded = registry.latest_components(ids)
    assert [r.run.run_id for r in data] == ids
    for run in data:
        assert run.values == {c: getattr(recorded[run.run.run_id], c) for c in GREEN_FLARE_COMPONENTS}
        assert run.split == SPLIT


def test_curves_data_is_the_logged_history(study):
    fixture, registry = study
    sft, grpo = fixture.run_ids["qwen3_vl/sft"], fixture.run_ids["qwen3_vl/grpo"]
    data = dict(zip(("sft", "grpo"), plots.curves_data(registry, [sft, grpo])))

    def logged(run_id: str, name: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in registry.get_run(run_id).metric_history if m.name == name)

    assert list(zip(data["sft"].loss.steps, data["sft"].loss.values)) == logged(sft, "train/loss")
    assert list(zip(data["sft"].eval_loss.steps, data["sft"].eval_loss.values)) == logged(sft, "train/eval_loss")
    assert data["sft"].reward is None and data["sft"].reward_terms == ()
    assert list(zip(data["grpo"].reward.steps, data["grpo"].reward.values)) == logged(grpo, "train/reward")
    terms = {t.label: t for t in data["grpo"].reward_terms}
    assert set(terms) == {"clinical (radgraph_f1)", "format", "rouge"}
    name = "train/rewards/format_reward/mean"
    assert terms["format"].name == name and list(zip(terms["format"].steps, terms["format"].values)) == logged(grpo, name)


def test_metric_history_reads_a_runs_logged_values_by_prefix(study):
    fixture, registry = study
    grpo = fixture.run_ids["qwen3_vl/grpo"]
    everything = registry.metric_history(grpo[:6])
    assert everything == sorted(everything, key=lambda m: m.id) and {m.run_id for m in everything} == {grpo}
    rewards = registry.metric_history(grpo, prefix="train/rewards/")
    assert rewards == [m for m in everything if m.name.startswith("train/rewards/")] and len(rewards) == 90
    assert registry.metric_history(grpo, prefix="train/rewards_") == []  # "_" is a character, not a wildcard
    with pytest.raises(RunNotFound):
        registry.metric_history("ffffffff")


def test_curves_data_prefers_reward_terms_and_reads_checkpoint_scores(study):
    fixture, registry = study
    grpo = fixture.run_ids["qwen3_vl/grpo"]
    for step, (clinical, total, green) in {100: (0.4, 0.5, 0.79), 200: (0.45, 0.55, 0.81)}.items():
        registry.log_metrics(grpo, {"train/reward_terms/clinical": clinical, "train/reward_terms/format": 1.0,
                                    "train/reward_terms/rouge": 0.3}, split="train", step=step)
        registry.log_metrics(grpo, {"eval/green_flare": green}, split=SPLIT, step=step)
    (curves,) = plots.curves_data(registry, [grpo])
    assert [t.label for t in curves.reward_terms] == ["clinical", "format", "rouge"]
    assert curves.reward_terms[0].values == (0.4, 0.45)
    # the fixture scored the policy at 100, 200 and 300; the values logged last at a step count
    latest = {m.step: m.value for m in registry.metric_history(grpo, "eval/green_flare")}
    assert latest[100] == 0.79 and latest[200] == 0.81 and 300 in latest
    assert curves.checkpoints.steps == tuple(sorted(latest)) and curves.checkpoints.values == tuple(latest[s] for s in sorted(latest))


def test_breakdown_data_is_the_mean_green_flare_per_question_region(study):
    fixture, registry = study
    ids = [fixture.run_ids["qwen3_vl/zero_shot"], fixture.run_ids["qwen3_vl/sft"]]
    data = plots.breakdown_data(registry, ids)
    assert data.split == SPLIT and data.n == 240
    for run, scores in data.runs:
        expected: dict[str, list[float]] = {}
        for p in registry.predictions(run.run_id, SPLIT):
            expected.setdefault(question_region(p.question), []).append(p.green_flare)
        assert set(scores) == set(expected)
        for region, values in expected.items():
            assert scores[region].n == len(values)
            assert scores[region].mean == pytest.approx(sum(values) / len(values), abs=1e-12)
        assert sum(s.n for s in scores.values()) == 240
    assert data.regions == tuple(r for r in REGIONS if r in expected)
    assert "heart" in data.regions and "lungs" in data.regions


# ----------------------------------------------------------------------------- figures


@pytest.mark.parametrize("name", ["study-green", "components-box", "components-radar", "curves-sft", "curves-grpo", "breakdown"])
def test_every_figure_has_readable_text_that_does_not_overlap(study, name):
    fixture, registry = study
    ids = fixture.run_ids
    build = {
        "study-green": lambda: plots.study_green(registry, reference=True),
        "components-box": lambda: plots.components_box(registry),
        "components-radar": lambda: plots.components_radar(registry, [ids[k] for k in STUDY_RADAR]),
        "curves-sft": lambda: plots.curves(registry, [ids[k] for k in ids if k.endswith("/sft")]),
        "curves-grpo": lambda: plots.curves(registry, [ids["qwen3_vl/grpo"]]),
        "breakdown": lambda: plots.breakdown(registry, [ids[k] for k in STUDY_RADAR]),
    }[name]
    figure = build()
    assert type(figure.canvas).__name__ == "FigureCanvasAgg"
    assert figure.get_size_inches()[0] == plots.WIDTH
    texts = rendered_texts(figure)
    assert texts and min(t.get_fontsize() for t in texts) >= 8
    width, height = figure.bbox.width, figure.bbox.height
    for text in texts:  # nothing drawn outside the figure
        box = text.get_window_extent()
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, text.get_text()
    for ax in figure.axes:
        for which in ("x", "y"):
            shown = [t for t in shown_ticklabels(ax, which) if t.get_visible() and t.get_text()]
            assert not overlapping(shown), name


def test_study_green_draws_one_bar_per_row_with_its_value_label(study):
    _, registry = study
    data = plots.study_green_data(registry, reference=True)
    figure = plots.draw_study_green(data)
    ax = figure.axes[0]
    heights = sorted(round(p.get_height(), 12) for p in ax.patches)
    assert heights == sorted(round(b.value, 12) for b in data.bars)
    labels = {t.get_text() for t in ax.texts}
    assert {f"{b.value:.3f}" for b in data.bars} <= labels
    assert any(line.get_ydata()[0] == plots.ACCEPTABLE for line in ax.lines)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["zero-shot", "SFT", "GRPO", "clinical acceptability (0.8)", "published (study)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(STUDY_ORDER)


def test_save_png_is_atomic(study, tmp_path, monkeypatch):
    fixture, registry = study
    figure = plots.components_radar(registry, [fixture.run_ids["qwen3_vl/sft"]])
    folder = tmp_path / "figures"
    folder.mkdir()
    target = folder / "radar.png"
    target.write_bytes(b"the previous figure")

    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots.os, "replace", refuse)
    with pytest.raises(plots.PlotError, match=r"cannot write .*radar.png: No space left on device"):
        plots.save_png(figure, target)
    assert target.read_bytes() == b"the previous figure"
    assert [p.name for p in folder.iterdir()] == ["radar.png"]  # no temporary file left
    monkeypatch.undo()
    written = plots.save_png(figure, target, dpi=100)
    assert decoded(written) == expected_pixels(figure, 100)
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # the mode of any new file


def test_without_matplotlib_a_figure_is_one_line_with_an_install_hint(study, tmp_path, monkeypatch):
    fixture, registry = study
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importing it fails
    with pytest.raises(MissingDependencyError, match="pip install matplotlib"):
        plots.study_green(registry)
    result = rrg(fixture.url, "plot", "study-green", "-o", str(tmp_path / "figure.png"))
    one_error_line(result, "drawing figures needs matplotlib, which is not installed")
    assert not (tmp_path / "figure.png").exists()


def test_png_bytes_decode_at_the_size_asked_for(study):
    fixture, registry = study
    figure = plots.curves(registry, [fixture.run_ids["medgemma/sft"]], width=4.5)
    data = plots.png_bytes(figure, dpi=120)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.size == expected_pixels(figure, 120) and image.size[0] == 540


# ---------------------------------------------------------------------------------- CLI


def test_cli_writes_each_figure_and_prints_its_path(study, tmp_path):
    fixture, registry = study
    ids = fixture.run_ids
    sft = [ids[k] for k in ids if k.endswith("/sft")]
    radar = [ids[k] for k in STUDY_RADAR]
    cases = {
        "study-green": (["study-green", "--reference", "study"], lambda: plots.study_green(registry, reference=True, width=5)),
        "box": (["components-box"], lambda: plots.components_box(registry, width=5)),
        "radar": (["components-radar", *radar], lambda: plots.components_radar(registry, radar, width=5)),
        "curves": (["curves", *sft], lambda: plots.curves(registry, sft, width=5)),
        "breakdown": (["breakdown", *radar], lambda: plots.breakdown(registry, radar, width=5)),
    }
    for name, (args, build) in cases.items():
        out = tmp_path / f"{name}.png"
        result = rrg(fixture.url, "plot", *args, "--width", "5", "--dpi", "100", "-o", str(out))
        assert result.exit_code == 0, result.output
        size = decoded(out)
        assert size == expected_pixels(build(), 100) and size[0] == 500, name
        assert result.output.strip() == f"wrote {out} ({size[0]}×{size[1]} px)"


def test_cli_default_name_and_resolution(study, tmp_path, monkeypatch):
    fixture, _ = study
    monkeypatch.chdir(tmp_path)
    result = rrg(fixture.url, "plot", "study-green")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote study-green.png (1400×")
    assert decoded(tmp_path / "study-green.png")[0] == round(plots.WIDTH * plots.DPI)


def _run_like(registry, source: str, stage: str, split: str | None, *, predictions: bool = True, components: bool = True) -> str:
    """A succeeded run copying ``source``'s evaluation onto ``split`` (predictions, components)."""
    version = registry.list_recipe_versions()[0]
    run = registry.create_run(version.id, stage, "qwen3_vl", "Qwen/Qwen3-VL-8B-Instruct")
    registry.start_run(run.id)
    rows = [
        {"sample_id": p.sample_id, "question": p.question, "prediction": p.prediction, "reference": p.reference,
         "scores": p.scores}
        for p in registry.predictions(source, SPLIT)
    ]
    recorded = registry.latest_components([source])[source].values()
    registry.record_evaluation(
        run.id, split or SPLIT, {"green_flare": 0.7}, components=recorded if components else None,
        predictions=rows if predictions else None, n=len(rows), status="succeeded",
    )
    return run.id


def _no_png(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if p.suffix in (".png", ".part") or p.name.startswith(".")]


def test_errors_are_one_line_exit_2_and_leave_no_file(study, tmp_path):
    fixture, registry = study
    ids = fixture.run_ids
    tmp_path = tmp_path / "figures"
    tmp_path.mkdir()
    out = str(tmp_path / "figure.png")
    zero_shot = ids["qwen3_vl/zero_shot"]
    hidden = _run_like(registry, zero_shot, "sft", "validation-hidden")
    bare = _run_like(registry, zero_shot, "sft", None, predictions=False, components=False)

    one_error_line(rrg(fixture.url, "plot", "curves", "ffffffff", "-o", out), "no run matches", "ffffffff")
    one_error_line(rrg(fixture.url, "plot", "curves", ids["qwen3_vl/sft"], zero_shot, "-o", out),
                   f"run {zero_shot} (Qwen3-VL-4B, zero-shot) logged no training metrics")
    one_error_line(rrg(fixture.url, "plot", "components-box", zero_shot, bare, "-o", out),
                   f"run {bare} (Qwen3-VL-8B-Instruct, SFT) has no predictions recorded")
    one_error_line(rrg(fixture.url, "plot", "components-radar", zero_shot, bare, "-o", out),
                   f"run {bare} (Qwen3-VL-8B-Instruct, SFT) has no green_flare components recorded")
    one_error_line(rrg(fixture.url, "plot", "breakdown", zero_shot, hidden, "-o", out),
                   "the runs share no evaluation split", f"{hidden} on validation-hidden", f"{zero_shot} on {SPLIT}")
    one_error_line(rrg(fixture.url, "plot", "components-radar", zero_shot, hidden, "-o", out),
                   "scored on different splits")
    one_error_line(rrg(fixture.url, "plot", "breakdown", zero_shot, "--split", "validation-hidden", "-o", out),
                   f"run {zero_shot} (Qwen3-VL-4B, zero-shot) has no predictions on split validation-hidden")
    one_error_line(rrg(fixture.url, "plot", "components-box", zero_shot, "--tag", "paper", "-o", out),
                   "do not apply to the runs named")
    one_error_line(rrg(fixture.url, "plot", "components-radar", zero_shot, zero_shot[:5], "-o", out), "named twice")
    one_error_line(rrg(fixture.url, "plot", "study-green", "--tag", "no-such-tag", "-o", out), "no-such-tag")
    one_error_line(rrg(fixture.url, "plot", "study-green", "-o", str(tmp_path / "figure.pdf")), "PNG", "FILE.png")
    one_error_line(rrg(fixture.url, "plot", "study-green", "-o", str(tmp_path / "missing" / "f.png")),
                   "the folder", "does not exist")
    one_error_line(rrg(f"sqlite:///{tmp_path / 'none.db'}", "plot", "study-green", "-o", out), "no registry")
    _no_png(tmp_path)
    assert not (tmp_path / "missing").exists()


def test_two_runs_of_one_model_and_stage_are_told_apart(study):
    fixture, registry = study
    again = _run_like(registry, fixture.run_ids["qwen3_vl/zero_shot"], "zero_shot", None)
    first = _run_like(registry, fixture.run_ids["qwen3_vl/sft"], "zero_shot", None)
    data = plots.components_radar_data(registry, [first, again])
    assert [r.run.label for r in data] == [f"Qwen3-VL-8B-Instruct, zero-shot ({first})",
                                           f"Qwen3-VL-8B-Instruct, zero-shot ({again})"]
    styles = plots._styles([r.run for r in data])
    assert styles[0].colour != styles[1].colour


def test_figures_use_no_pyplot(study_registry):
    import subprocess

    code = (
        "import sys\n"
        "from rrg_registry import Registry\n"
        "from rrg.results import plots\n"
        f"registry = Registry.from_url({study_registry.url!r})\n"
        f"ids = {[study_registry.run_ids[k] for k in STUDY_RADAR]!r}\n"
        "plots.png_bytes(plots.study_green(registry, reference=True))\n"
        "plots.png_bytes(plots.components_box(registry))\n"
        "plots.png_bytes(plots.components_radar(registry, ids))\n"
        "plots.png_bytes(plots.curves(registry, [ids[1], ids[3], ids[4]]))\n"
        "plots.png_bytes(plots.breakdown(registry, ids))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "import matplotlib\n"
        "assert matplotlib.rcParams['font.size'] == matplotlib.rcParamsDefault['font.size']\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_rrg_plot_help_imports_no_matplotlib():
    import subprocess

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from rrg.cli import cli\n"
        "result = CliRunner().invoke(cli, ['plot', 'curves', '--help'])\n"
        "assert result.exit_code == 0 and '--dpi' in result.output, result.output\n"
        "assert 'matplotlib' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
