"""The study's figures, drawn from the registry alone with matplotlib's Agg backend.

Each figure has a data function that reads the registry and returns plain data (what is
plotted, number for number) and a drawing function that turns that data into a
:class:`matplotlib.figure.Figure`; the public builders (:func:`study_green`,
:func:`components_box`, :func:`components_radar`, :func:`curves`, :func:`breakdown`) do both.
Figures are made with ``Figure`` + ``FigureCanvasAgg``, never ``pyplot``: nothing global is
touched and nothing is displayed. They are sized for a paper (7 in wide by default, fonts of 8
and 9 pt) and coloured with the Okabe–Ito palette, which stays distinct under the common forms
of colour blindness. :func:`save_png` writes a PNG atomically; :func:`png_bytes` returns one.

Runs are shown by their model's display name and stage (``Qwen3-VL-4B, SFT``,
:mod:`rrg.results.names`). What a figure cannot be drawn from (an unknown run, a run without
predictions, components or training metrics, runs that share no evaluation split or sample) is
a :class:`PlotError`: one line naming the run and what is missing.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg_registry.entities import GREEN_FLARE_COMPONENTS

from rrg.errors import MissingDependencyError, RrgError
from rrg.results.names import STUDY_ORDER, model_name, stage_name
from rrg.results.regions import REGIONS, question_region

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from rrg_registry import Registry
    from rrg_registry.entities import Prediction, RunDetail

WIDTH = 7.0
"""Default figure width in inches (a two-column paper's full text width)."""
DPI = 200
"""Default resolution of the PNG files."""
ACCEPTABLE = 0.8
"""The green_flare level the study calls clinically acceptable."""

COMPONENTS: tuple[str, ...] = GREEN_FLARE_COMPONENTS
"""The seven green_flare components, in the study's Table 2 order (as the registry names them)."""

STAGES: tuple[str, ...] = ("zero_shot", "sft", "grpo")
"""The stages in the order figures show them."""

FONT = 8
"""Points: tick labels, legends, value labels."""
TITLE_FONT = 9
"""Points: axis labels and titles."""

OKABE_ITO: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442")
"""The Okabe–Ito colours (blue, orange, bluish green, reddish purple, vermillion, sky blue, black,
yellow), in the order runs and models take them."""
MODEL_COLOURS: dict[str, str] = dict(zip(STUDY_ORDER, OKABE_ITO))
"""The study's four models keep one colour in every figure."""
STAGE_COLOURS: dict[str, str] = {"zero_shot": "#E69F00", "sft": "#0072B2", "grpo": "#009E73"}
"""The bars of :func:`study_green`, by stage."""
STAGE_LINES: dict[str, str] = {"zero_shot": ":", "sft": "-", "grpo": "--"}
"""Line style of a run's stage where colour shows its model (radar)."""
STAGE_HATCHES: dict[str, str] = {"zero_shot": "", "sft": "", "grpo": "////"}

_RC: dict[str, Any] = {
    "font.size": FONT,
    "axes.titlesize": TITLE_FONT,
    "axes.labelsize": TITLE_FONT,
    "xtick.labelsize": FONT,
    "ytick.labelsize": FONT,
    "legend.fontsize": FONT,
    "figure.titlesize": TITLE_FONT + 1,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlelocation": "left",
    "legend.frameon": False,
    "svg.fonttype": "none",
}


class PlotError(RrgError):
    """A figure cannot be drawn from what the registry holds: a run without the results the
    figure plots, or runs that share no evaluation split or sample."""


# ---------------------------------------------------------------------------------- basics


def _matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "drawing figures needs matplotlib, which is not installed",
            hint="pip install matplotlib (a dependency of rrg-sdk: `pip install rrg-sdk` brings it)",
        ) from None


def _needs_matplotlib(func: Callable[..., Any]) -> Callable[..., Any]:
    """Check that matplotlib can be imported before ``func`` imports any of it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _matplotlib()
        return func(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """The figures' font sizes and spines, for the time a figure is built or rendered."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def _figure(width: float, height: float, constrained: bool = True) -> Figure:
    """An empty figure on its own Agg canvas, laid out by matplotlib's constrained layout (or by
    the caller, with ``constrained=False``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


MIN_WIDTH, MAX_WIDTH = 3.0, 20.0
"""Inches a figure may be wide (narrower ones cannot hold their labels)."""
MIN_DPI, MAX_DPI = 50, 1200


def _check_width(width: float) -> None:
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise PlotError(f"a figure width of {width:g} in is out of range",
                        hint=f"give --width between {MIN_WIDTH:g} and {MAX_WIDTH:g} inches")


def _check_dpi(dpi: float) -> None:
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise PlotError(f"a resolution of {dpi:g} dpi is out of range", hint=f"give --dpi between {MIN_DPI} and {MAX_DPI}")


@_needs_matplotlib
def png_bytes(figure: Figure, dpi: float = DPI) -> bytes:
    """The figure as PNG bytes at ``dpi`` (the figure's size in inches times ``dpi`` pixels)."""
    _check_dpi(dpi)
    buffer = io.BytesIO()
    with _style():
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def save_png(figure: Figure, path: str | os.PathLike[str], dpi: float = DPI) -> Path:
    """Write the figure to ``path`` (a ``.png`` file in an existing folder) as a PNG at ``dpi``.

    The PNG is rendered, written to a temporary file beside ``path`` and renamed over it once
    complete, so an error leaves no file (and an existing one unchanged). Returns the path written.
    """
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise PlotError(f"cannot write {target}: figures are written as PNG files", hint="name the output FILE.png")
    folder = target.parent
    if not folder.is_dir():
        raise PlotError(f"cannot write {target}: the folder {folder} does not exist", hint="create it first or give another -o")
    data = png_bytes(figure, dpi)
    temporary = folder / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        # created like any new file (mode 0o666 less the umask), and never over an existing one
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise PlotError(f"cannot write {target}: {error.strerror}", hint="give -o a folder you can write to") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise PlotError(f"cannot write {target}: {error.strerror}",
                        hint="check that the folder is writable and has space, or give -o another path") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target


def pretty(name: str) -> str:
    """``entity_matching`` → ``entity matching``."""
    return name.replace("_", " ")


# ------------------------------------------------------------------------------------ runs


@dataclass(frozen=True)
class PlotRun:
    """A run as figures name it: ``label`` is ``model, stage`` (with the run id when two runs of
    a figure share model and stage)."""

    run_id: str
    model: str
    stage: str
    label: str


@dataclass(frozen=True)
class Style:
    """How one run is drawn: its colour, line style and box hatch."""

    colour: str
    line: str
    hatch: str
    filled: bool


def _rank(order: Sequence[str], value: str) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def _label(model: str, stage: str) -> str:
    return f"{model}, {stage_name(stage)}"


def _runs(registry: Registry, run_ids: Sequence[str]) -> list[tuple[PlotRun, RunDetail]]:
    """Each named run (id or unique prefix) with its record, in the order given; a run named
    twice is refused. Labels get the run id where two runs share model and stage."""
    if not run_ids:
        raise PlotError("no run to plot", hint="give one or more run ids (`rrg runs list` shows them)")
    details: list[RunDetail] = []
    seen: dict[str, str] = {}
    for given in run_ids:
        detail = registry.get_run(given)
        run_id = detail.run.id
        if run_id in seen:
            raise PlotError(f"run {run_id} is named twice ({seen[run_id]} and {given})", hint="name each run once")
        seen[run_id] = given
        details.append(detail)
    keys = [(model_name(d.run.model_family, d.run.model_id), d.run.stage) for d in details]
    out = []
    for detail, (model, stage) in zip(details, keys):
        label = _label(model, stage)
        if keys.count((model, stage)) > 1:
            label = f"{label} ({detail.run.id})"
        out.append((PlotRun(detail.run.id, model, stage, label), detail))
    return out


def _styles(runs: Sequence[PlotRun]) -> list[Style]:
    """Colour by model (the study's models keep theirs), line style, hatch and fill by stage;
    where two runs share model and stage, every run gets a colour of its own instead."""
    unique = len({(r.model, r.stage) for r in runs}) == len(runs)
    spare = [c for c in OKABE_ITO if c not in MODEL_COLOURS.values()] + list(OKABE_ITO)  # other models, in turn
    colours: dict[str, str] = {}
    others = 0
    styles = []
    for index, run in enumerate(runs):
        if unique:
            if run.model not in colours:
                colours[run.model] = MODEL_COLOURS.get(run.model) or spare[others % len(spare)]
                others += run.model not in MODEL_COLOURS
            colour = colours[run.model]
        else:
            colour = OKABE_ITO[index % len(OKABE_ITO)]
        styles.append(
            Style(
                colour=colour,
                line=STAGE_LINES.get(run.stage, "-.") if unique else "-",
                hatch=STAGE_HATCHES.get(run.stage, "..") if unique else "",
                filled=run.stage != "zero_shot" or not unique,
            )
        )
    return styles


def _study_runs(registry: Registry, tags: Sequence[str], pick: str, recipes: Sequence[str]) -> list[Any]:
    """The runs the study's tables use (:meth:`Registry.study_choices`), as run summaries."""
    choices = registry.study_choices(tags=list(tags), pick=pick, recipes=list(recipes), model_name=model_name)
    return [c.run for c in choices if c.run is not None]


def _nothing_chosen(tags: Sequence[str], what: str) -> PlotError:
    carrying = f" carrying tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}" if tags else ""
    return PlotError(
        f"no succeeded run{carrying} {what}",
        hint="record runs with `rrg run RECIPE`, or check the tags with `rrg runs list`",
    )


def _study_order(runs: Sequence[PlotRun]) -> list[PlotRun]:
    return sorted(runs, key=lambda r: (_rank(STUDY_ORDER, r.model), _rank(STAGES, r.stage)))


# ------------------------------------------------------------------------ shared samples


@dataclass(frozen=True)
class Samples:
    """The predictions of several runs on the samples all of them scored on one split."""

    split: str
    sample_ids: tuple[str, ...]
    predictions: dict[str, dict[str, Prediction]]
    """run id -> sample id -> prediction, for the shared samples."""


def _shared_samples(
    registry: Registry, runs: Sequence[tuple[PlotRun, RunDetail]], split: str | None = None
) -> Samples:
    """The split every run stored predictions on (``split`` if given, else the first such split by
    name) and the samples every run scored there."""
    for run, detail in runs:
        if not detail.prediction_counts:
            raise PlotError(
                f"run {run.run_id} ({run.label}) has no predictions recorded",
                hint="per-sample figures need runs evaluated with evaluation.save_predictions on (the default)",
            )
    if split is not None:
        for run, detail in runs:
            if split not in detail.prediction_counts:
                raise PlotError(
                    f"run {run.run_id} ({run.label}) has no predictions on split {split} "
                    f"(it has {', '.join(sorted(detail.prediction_counts))})",
                    hint="give --split one of the run's splits, or other runs",
                )
        chosen = split
    else:
        common = set.intersection(*(set(d.prediction_counts) for _, d in runs))
        if not common:
            described = "; ".join(f"{r.run_id} on {', '.join(sorted(d.prediction_counts))}" for r, d in runs)
            raise PlotError(
                f"the runs share no evaluation split: {described}",
                hint="plot runs evaluated on one split together",
            )
        chosen = min(common)
    predictions = {run.run_id: {p.sample_id: p for p in registry.predictions(run.run_id, chosen)} for run, _ in runs}
    shared = set.intersection(*(set(found) for found in predictions.values()))
    if not shared:
        raise PlotError(
            f"the runs scored no sample in common on split {chosen}",
            hint="plot runs evaluated on the same samples (the same data.max_eval_samples) together",
        )
    ids = tuple(sorted(shared))
    return Samples(chosen, ids, {r: {s: found[s] for s in ids} for r, found in predictions.items()})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------- study green


@dataclass(frozen=True)
class Bar:
    """One bar of :func:`study_green`: a run's green_flare, and the study's value for its row."""

    model: str
    stage: str
    run_id: str
    value: float
    published: float | None = None


@dataclass(frozen=True)
class StudyGreen:
    """What :func:`study_green` plots: bars grouped by model (``models`` in order), each group's
    bars in stage order."""

    bars: tuple[Bar, ...]
    models: tuple[str, ...]
    reference: bool = False


def study_green_data(
    registry: Registry,
    *,
    tags: Sequence[str] = (),
    pick: str = "latest",
    recipes: Sequence[str] = (),
    reference: bool = False,
) -> StudyGreen:
    """The green_flare of the runs the study's Table 1 uses (``rrg table``: same ``tags``, ``pick``
    and ``recipes``), one bar per (model, stage), models in the study's order; with ``reference``
    each bar carries the study's published value for its row (``rrg.results.reference``)."""
    bars = []
    for run in _study_runs(registry, tags, pick, recipes):
        value = _number(run.metrics.get("green_flare"))
        if value is not None:
            bars.append(Bar(model_name(run.model_family, run.model_id), run.stage, run.id, value))
    if not bars:
        raise _nothing_chosen(tags, "with a green_flare score")
    if reference:
        from rrg.results.reference import STUDY_TABLE1

        bars = [
            Bar(b.model, b.stage, b.run_id, b.value, _number(STUDY_TABLE1.get((b.stage, b.model), {}).get("green_flare")))
            for b in bars
        ]
        if all(b.published is None for b in bars):
            models = sorted({b.model for b in bars})
            raise PlotError(
                f"the study published no green_flare for the models plotted ({', '.join(models)})",
                hint=f"its values are drawn beside runs of its models ({', '.join(STUDY_ORDER)}; recipes/paper/); leave out --reference",
            )
    models = sorted({b.model for b in bars}, key=lambda m: _rank(STUDY_ORDER, m))
    bars.sort(key=lambda b: (models.index(b.model), _rank(STAGES, b.stage)))
    return StudyGreen(tuple(bars), tuple(models), reference)


@_needs_matplotlib
def draw_study_green(data: StudyGreen, width: float = WIDTH) -> Figure:
    """Grouped bars of green_flare per model and stage, value labels, the 0.8 line and, with
    ``data.reference``, the study's values as hollow diamonds."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with _style():
        figure = _figure(width, 3.3)
        ax = figure.add_subplot()
        per_model = max(sum(1 for b in data.bars if b.model == m) for m in data.models)
        slot = 0.8 / max(per_model, 2)
        published_shown = False
        for index, model in enumerate(data.models):
            group = [b for b in data.bars if b.model == model]
            for position, bar in enumerate(group):
                x = index + (position - (len(group) - 1) / 2) * slot
                ax.bar(
                    x, bar.value, width=slot * 0.9, color=STAGE_COLOURS.get(bar.stage, "#999999"),
                    edgecolor="white", linewidth=0.5, zorder=2,
                )
                label_y = bar.value + 0.012
                if bar.published is not None:
                    ax.plot(
                        x, bar.published, marker="D", markersize=5.5, markerfacecolor="none", markeredgecolor="black",
                        markeredgewidth=1.1, linestyle="none", zorder=3,
                    )
                    published_shown = True
                    if bar.value - 0.03 < bar.published < bar.value + 0.075:
                        label_y = max(bar.value, bar.published) + 0.03
                ax.text(x, label_y, f"{bar.value:.3f}", ha="center", va="bottom", fontsize=FONT, zorder=4)
        ax.axhline(ACCEPTABLE, color="#555555", linestyle="--", linewidth=1.0, zorder=1)
        ax.set_xticks(range(len(data.models)), data.models, rotation=0 if len(data.models) <= 5 else 25,
                      ha="center" if len(data.models) <= 5 else "right")
        ax.set_xlim(-0.6, len(data.models) - 0.4)
        ax.set_ylim(0.0, 1.08)
        ax.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_ylabel("green_flare")
        ax.tick_params(labelsize=FONT)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6, zorder=0)
        ax.set_axisbelow(True)
        stages = sorted({b.stage for b in data.bars}, key=lambda s: _rank(STAGES, s))
        handles = [Patch(facecolor=STAGE_COLOURS.get(s, "#999999"), label=stage_name(s)) for s in stages]
        handles.append(Line2D([], [], color="#555555", linestyle="--", linewidth=1.0,
                              label=f"clinical acceptability ({ACCEPTABLE:g})"))
        if published_shown:
            handles.append(Line2D([], [], marker="D", markersize=5.5, markerfacecolor="none", markeredgecolor="black",
                                  markeredgewidth=1.1, linestyle="none", label="published (study)"))
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=len(handles),
                  fontsize=FONT, handlelength=1.6, columnspacing=1.2)
    return figure


def study_green(
    registry: Registry,
    *,
    tags: Sequence[str] = (),
    pick: str = "latest",
    recipes: Sequence[str] = (),
    reference: bool = False,
    width: float = WIDTH,
) -> Figure:
    """The study's Figure 3: green_flare per model, zero-shot beside fine-tuned (SFT, and GRPO where
    a run exists), with the 0.8 clinical-acceptability line (:func:`study_green_data`)."""
    _check_width(width)
    return draw_study_green(study_green_data(registry, tags=tags, pick=pick, recipes=recipes, reference=reference), width)


# ------------------------------------------------------------------------ components box


@dataclass(frozen=True)
class RunSamples:
    """One run's per-sample values of each component, over the shared samples in sample-id order
    (samples without a value for a component are left out of that component)."""

    run: PlotRun
    values: dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class ComponentsBox:
    """What :func:`components_box` plots: per run, the per-sample components on ``split`` over
    the ``n`` samples every run scored."""

    split: str
    n: int
    runs: tuple[RunSamples, ...]


def _resolve_or_study(
    registry: Registry, run_ids: Sequence[str] | None, tags: Sequence[str], pick: str, recipes: Sequence[str], what: str
) -> list[tuple[PlotRun, RunDetail]]:
    if run_ids:
        return _runs(registry, run_ids)
    chosen = _study_runs(registry, tags, pick, recipes)
    if not chosen:
        raise _nothing_chosen(tags, what)
    runs = _runs(registry, [r.id for r in chosen])
    order = {r.run_id: i for i, r in enumerate(_study_order([run for run, _ in runs]))}
    return sorted(runs, key=lambda item: order[item[0].run_id])


def components_box_data(
    registry: Registry,
    run_ids: Sequence[str] | None = None,
    *,
    tags: Sequence[str] = (),
    pick: str = "latest",
    recipes: Sequence[str] = (),
    split: str | None = None,
) -> ComponentsBox:
    """Per-sample values of the seven components (the predictions' ``scores``) of ``run_ids`` (in
    that order), or of the runs the study's tables use (``tags``, ``pick``, ``recipes`` as in
    ``rrg table``; by model, then stage), on the samples every run scored on one split."""
    runs = _resolve_or_study(registry, run_ids, tags, pick, recipes, "to plot")
    samples = _shared_samples(registry, runs, split)
    out = []
    for run, _ in runs:
        found = samples.predictions[run.run_id]
        values: dict[str, tuple[float, ...]] = {}
        for component in COMPONENTS:
            column = [v for s in samples.sample_ids if (v := _number(found[s].scores.get(component))) is not None]
            if not column:
                raise PlotError(
                    f"run {run.run_id} ({run.label}) has no per-sample {component} in its predictions on {samples.split}",
                    hint="its predictions were recorded without per-sample green_flare components; evaluate the run again",
                )
            values[component] = tuple(column)
        out.append(RunSamples(run, values))
    return ComponentsBox(samples.split, len(samples.sample_ids), tuple(out))


def _box_key(runs: Sequence[PlotRun], styles: Sequence[Style]) -> list[Any]:
    """Legend entries of the box plot: how stages are filled, the median and the mean."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    key = []
    for stage in sorted({r.stage for r in runs}, key=lambda s: _rank(STAGES, s)):
        style = next(st for r, st in zip(runs, styles) if r.stage == stage)
        if style.hatch:
            key.append(Patch(facecolor="#888888", edgecolor="white", hatch=style.hatch, linewidth=0, label=stage_name(stage)))
        elif style.filled:
            key.append(Patch(facecolor="#888888", edgecolor="black", linewidth=0.6, label=stage_name(stage)))
        else:
            key.append(Patch(facecolor="white", edgecolor="#888888", linewidth=1.2, label=stage_name(stage)))
    key.append(Line2D([], [], color="black", linewidth=1.0, label="median (box: quartiles)"))
    key.append(Line2D([], [], marker="D", markerfacecolor="white", markeredgecolor="black", markersize=3.5,
                      markeredgewidth=0.6, linestyle="none", label="mean"))
    return key


def _draw_box(ax: Axes, y: float, values: Sequence[float], style: Style, height: float = 0.62) -> None:
    """One horizontal box at ``y``: quartiles, median, whiskers to the furthest values within 1.5
    interquartile ranges, the values beyond as dots, the mean as a white diamond. (Drawn here from
    :func:`matplotlib.cbook.boxplot_stats`: ``Axes.boxplot`` reads every rc parameter, which makes
    matplotlib import pyplot to settle its backend.)"""
    from matplotlib.cbook import boxplot_stats
    from matplotlib.patches import Rectangle

    (stats,) = boxplot_stats(list(values))
    low, high = y - height / 2, y + height / 2
    for start, end in ((stats["whislo"], stats["q1"]), (stats["q3"], stats["whishi"])):
        ax.plot([start, end], [y, y], color="black", linewidth=0.8, zorder=2)
    for end in (stats["whislo"], stats["whishi"]):
        ax.plot([end, end], [y - height / 4, y + height / 4], color="black", linewidth=0.8, zorder=2)
    if style.hatch:
        box = Rectangle((stats["q1"], low), stats["q3"] - stats["q1"], height, facecolor=style.colour,
                        edgecolor="white", hatch=style.hatch, linewidth=0.0, zorder=3)
    elif style.filled:
        box = Rectangle((stats["q1"], low), stats["q3"] - stats["q1"], height, facecolor=style.colour,
                        edgecolor="black", linewidth=0.6, zorder=3)
    else:
        box = Rectangle((stats["q1"], low), stats["q3"] - stats["q1"], height, facecolor="white",
                        edgecolor=style.colour, linewidth=1.2, zorder=3)
    ax.add_patch(box)
    ax.plot([stats["med"], stats["med"]], [low, high], color="black", linewidth=1.0, zorder=4)
    fliers = list(stats["fliers"])
    if fliers:
        ax.plot(fliers, [y] * len(fliers), linestyle="none", marker="o", markersize=1.8, markerfacecolor="#777777",
                markeredgecolor="none", alpha=0.5, zorder=2)
    ax.plot([stats["mean"]], [y], linestyle="none", marker="D", markerfacecolor="white", markeredgecolor="black",
            markersize=3.5, markeredgewidth=0.6, zorder=5)


@_needs_matplotlib
def draw_components_box(data: ComponentsBox, width: float = WIDTH) -> Figure:
    """One panel per component (two columns), one horizontal box per run labelled ``model, stage``;
    colour by model, hatching for GRPO, hollow boxes for zero-shot; the white diamond is the mean."""
    runs = [r.run for r in data.runs]
    styles = _styles(runs)
    rows = math.ceil(len(COMPONENTS) / 2)
    panel = 0.42 + 0.17 * len(runs)
    with _style():
        figure = _figure(width, rows * panel + 0.45)
        grid = figure.subplots(rows, 2, sharey=True, squeeze=False)
        positions = list(range(len(runs), 0, -1))  # the first run on top
        for index, ax in enumerate(grid.flat):
            if index >= len(COMPONENTS):
                ax.set_visible(False)
                continue
            component = COMPONENTS[index]
            for position, run, style in zip(positions, data.runs, styles):
                _draw_box(ax, position, run.values[component], style)
            ax.set_title(pretty(component), fontsize=TITLE_FONT, pad=3)
            ax.set_xlim(-0.04, 1.04)
            ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.5", "0.75", "1"])
            ax.set_ylim(0.4, len(runs) + 0.6)
            ax.set_yticks(positions, [r.label for r in runs])
            ax.tick_params(labelsize=FONT)
            ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
            ax.set_axisbelow(True)
        key = _box_key(runs, styles)
        title = f"{data.split}, n = {data.n} samples"
        if rows * 2 > len(COMPONENTS):
            spare = grid.flat[len(COMPONENTS)]
            spare.set_visible(True)
            spare.axis("off")
            spare.legend(handles=key, loc="center left", fontsize=FONT, title=title, title_fontsize=FONT,
                         alignment="left", handlelength=2.0)
        else:
            figure.legend(handles=key, loc="outside lower center", ncol=len(key), fontsize=FONT, title=title,
                          title_fontsize=FONT)
    return figure


def components_box(
    registry: Registry,
    run_ids: Sequence[str] | None = None,
    *,
    tags: Sequence[str] = (),
    pick: str = "latest",
    recipes: Sequence[str] = (),
    split: str | None = None,
    width: float = WIDTH,
) -> Figure:
    """The study's Figure 4: per-sample distributions of the seven green_flare components per model
    and stage (:func:`components_box_data`)."""
    _check_width(width)
    data = components_box_data(registry, run_ids, tags=tags, pick=pick, recipes=recipes, split=split)
    return draw_components_box(data, width)


# ----------------------------------------------------------------------- components radar


@dataclass(frozen=True)
class RunComponents:
    """A run's recorded green_flare components (its latest evaluation) and the split scored."""

    run: PlotRun
    split: str
    values: dict[str, float]


def components_radar_data(registry: Registry, run_ids: Sequence[str]) -> tuple[RunComponents, ...]:
    """The seven components each run recorded (its latest evaluation), in the order given; the
    runs must have been evaluated on one split."""
    runs = _runs(registry, run_ids)
    recorded = registry.latest_components([run.run_id for run, _ in runs])
    out = []
    for run, _ in runs:
        found = recorded.get(run.run_id)
        if found is None:
            raise PlotError(
                f"run {run.run_id} ({run.label}) has no green_flare components recorded",
                hint="components are recorded by an evaluation scoring green_flare; `rrg components` lists runs with them",
            )
        values = {}
        for component in COMPONENTS:
            value = _number(getattr(found, component))
            if value is None:
                raise PlotError(
                    f"run {run.run_id} ({run.label}) recorded no {component}",
                    hint="evaluate the run again to record all seven components",
                )
            values[component] = value
        out.append(RunComponents(run, found.split, values))
    splits = sorted({r.split for r in out})
    if len(splits) > 1:
        described = "; ".join(f"{r.run.run_id} on {r.split}" for r in out)
        raise PlotError(f"the runs' components were scored on different splits: {described}",
                        hint="plot runs evaluated on one split together")
    return tuple(out)


@_needs_matplotlib
def draw_components_radar(data: Sequence[RunComponents], width: float = WIDTH) -> Figure:
    """One radar (0 at the centre, 1 at the rim) with a polygon per run: colour by model, line
    style by stage (dotted zero-shot, solid SFT, dashed GRPO); legend ``model, stage``."""
    import numpy as np

    runs = [r.run for r in data]
    styles = _styles(runs)
    angles = np.linspace(0.0, 2 * math.pi, len(COMPONENTS), endpoint=False)
    closed = np.concatenate([angles, angles[:1]])
    labels = [r.label for r in runs] + [f"({data[0].split})"]
    legend_width = max(len(text) for text in labels) * FONT * 0.6 / 72 + 0.5  # inches, by the longest entry
    margin = 1.0  # inches beside the radar for the component names
    beside = width - 2 * margin - legend_width >= 2.6
    if beside:
        height = min(0.62 * width, 4.6)
        diameter = min(height - 0.9, width - 2 * margin - legend_width)
    else:
        diameter = max(width - 2 * margin, 1.0)
        height = diameter + 0.9 + 0.19 * (len(runs) + 2)
    with _style():
        figure = _figure(width, height, constrained=False)
        bottom = (height - diameter) / 2 if beside else height - 0.45 - diameter
        ax = figure.add_axes(
            (margin / width, bottom / height, diameter / width, diameter / height), projection="polar"
        )
        ax.set_theta_offset(math.pi / 2)
        ax.set_theta_direction(-1)
        for run, style in zip(data, styles):
            values = [run.values[c] for c in COMPONENTS]
            ax.plot(closed, values + values[:1], color=style.colour, linestyle=style.line, linewidth=1.6, label=run.run.label)
            ax.fill(closed, values + values[:1], color=style.colour, alpha=0.08)
        ax.set_xticks(angles, [pretty(c).replace(" ", "\n", 1) for c in COMPONENTS], fontsize=FONT)
        ax.tick_params(axis="x", pad=6)
        for angle, text in zip(angles, ax.get_xticklabels()):
            across = math.cos(math.pi / 2 - angle)  # where the label sits, left (-1) to right (1)
            text.set_horizontalalignment("left" if across > 0.1 else "right" if across < -0.1 else "center")
        ax.set_ylim(0.0, 1.0)
        ax.set_yticks([0.2, 0.4, 0.6, 0.8, 1.0], ["0.2", "0.4", "0.6", "0.8", "1.0"], fontsize=FONT, color="#444444")
        for text in ax.get_yticklabels():
            text.set_bbox({"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 0.6})
        ax.set_rlabel_position(180 / len(COMPONENTS))
        ax.grid(color="#cccccc", linewidth=0.6)
        ax.spines["polar"].set_color("#999999")
        title = f"green_flare components\n({data[0].split})"
        handles, names = ax.get_legend_handles_labels()
        if beside:
            figure.legend(handles, names, loc="center left", bbox_to_anchor=((2 * margin + diameter) / width, 0.5),
                          fontsize=FONT, handlelength=2.6, title=title, title_fontsize=FONT, alignment="left")
        else:
            figure.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 0.0), fontsize=FONT,
                          handlelength=2.6, title=title, title_fontsize=FONT)
    return figure


def components_radar(registry: Registry, run_ids: Sequence[str], *, width: float = WIDTH) -> Figure:
    """The study's Figure 5: the component profiles of the chosen runs on one radar
    (:func:`components_radar_data`)."""
    _check_width(width)
    return draw_components_radar(components_radar_data(registry, run_ids), width)


# -------------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class Series:
    """One logged quantity by step: the metric's registry name, a label, steps and values."""

    name: str
    label: str
    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class RunCurves:
    """What a run logged while training: losses, GRPO rewards (each term and the total) and the
    green_flare of checkpoints scored during training."""

    run: PlotRun
    loss: Series | None = None
    eval_loss: Series | None = None
    reward_terms: tuple[Series, ...] = ()
    reward: Series | None = None
    checkpoints: Series | None = None


LOSS = "train/loss"
EVAL_LOSS = "train/eval_loss"
REWARD = "train/reward"
REWARD_TERMS = "train/reward_terms/"
REWARD_FUNCTIONS = "train/rewards/"
CHECKPOINT_GREEN = "eval/green_flare"


def _series(history: Mapping[str, dict[int, float]], name: str, label: str) -> Series | None:
    points = history.get(name)
    if not points:
        return None
    steps = sorted(points)
    return Series(name, label, tuple(steps), tuple(points[s] for s in steps))


def _function_label(function: str) -> str:
    """``clinical_reward_radgraph_f1`` → ``clinical (radgraph_f1)``, ``format_reward`` → ``format``."""
    head, found, tail = function.partition("_reward")
    if not found:
        return function
    tail = tail.strip("_")
    return f"{head} ({tail})" if tail else head


def curves_data(registry: Registry, run_ids: Sequence[str]) -> tuple[RunCurves, ...]:
    """The training curves of each run (:meth:`Registry.metric_history`), in the order given:
    ``train/loss``, ``train/eval_loss``, the reward terms (``train/reward_terms/<term>``, else the
    per-function ``train/rewards/<function>/mean`` where there are several), ``train/reward`` and
    ``eval/green_flare`` logged with a step. A run that logged no loss and no reward (a zero-shot
    run) is refused."""
    runs = _runs(registry, run_ids)
    out = []
    for run, _ in runs:
        history: dict[str, dict[int, float]] = {}
        for metric in registry.metric_history(run.run_id):
            if metric.step is not None and (metric.name.startswith("train/") or metric.name == CHECKPOINT_GREEN):
                history.setdefault(metric.name, {})[metric.step] = metric.value  # a step logged again: the last value
        terms = sorted(n for n in history if n.startswith(REWARD_TERMS))
        if terms:
            rewards = [_series(history, n, n[len(REWARD_TERMS):]) for n in terms]
        else:
            functions = sorted(n for n in history if n.startswith(REWARD_FUNCTIONS) and n.endswith("/mean"))
            rewards = [
                _series(history, n, _function_label(n[len(REWARD_FUNCTIONS):-len("/mean")])) for n in functions
            ] if len(functions) > 1 else []
        curves = RunCurves(
            run,
            loss=_series(history, LOSS, "training loss"),
            eval_loss=_series(history, EVAL_LOSS, "validation loss"),
            reward_terms=tuple(s for s in rewards if s is not None),
            reward=_series(history, REWARD, "total reward"),
            checkpoints=_series(history, CHECKPOINT_GREEN, "green_flare of checkpoints"),
        )
        if curves.loss is None and curves.eval_loss is None and curves.reward is None and not curves.reward_terms:
            raise PlotError(
                f"run {run.run_id} ({run.label}) logged no training metrics ({LOSS}, {REWARD})",
                hint="training curves are drawn for SFT and GRPO runs; `rrg runs list --stage sft` lists some",
            )
        out.append(curves)
    return tuple(out)


def _legend_right(ax: Axes, handles: list[Any] | None = None) -> None:
    kwargs = {"handles": handles} if handles is not None else {}
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT, handlelength=2.2, borderaxespad=0.0, **kwargs)


@_needs_matplotlib
def draw_curves(data: Sequence[RunCurves], width: float = WIDTH) -> Figure:
    """Stacked panels sharing the step axis: losses (training solid, validation dashed with
    markers; colour by run), GRPO rewards (each term and the total in black; line style by run
    where several runs logged them) and green_flare of checkpoints scored during training."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    runs = [c.run for c in data]
    styles = _styles(runs)
    colours = [s.colour for s in styles] if len({r.model for r in runs}) == len(runs) else [
        OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(runs))
    ]
    panels = []
    if any(c.loss or c.eval_loss for c in data):
        panels.append("loss")
    rewarded = [c for c in data if c.reward or c.reward_terms]
    if rewarded:
        panels.append("reward")
    if any(c.checkpoints for c in data):
        panels.append("checkpoints")
    with _style():
        figure = _figure(width, 0.35 + 2.1 * len(panels))
        axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, panel in zip(axes, panels):
            ax.tick_params(labelsize=FONT)
            ax.grid(color="#e5e5e5", linewidth=0.6)
            ax.set_axisbelow(True)
            if panel == "loss":
                handles = []
                for curves, colour in zip(data, colours):
                    if curves.loss:
                        ax.plot(curves.loss.steps, curves.loss.values, color=colour, linewidth=1.2)
                    if curves.eval_loss:
                        ax.plot(curves.eval_loss.steps, curves.eval_loss.values, color=colour, linewidth=1.2,
                                linestyle="--", marker="o", markersize=3)
                    if curves.loss or curves.eval_loss:
                        handles.append(Line2D([], [], color=colour, linewidth=2.0, label=curves.run.label))
                handles.append(Line2D([], [], color="#444444", linewidth=1.2, label="training loss"))
                if any(c.eval_loss for c in data):
                    handles.append(Line2D([], [], color="#444444", linewidth=1.2, linestyle="--", marker="o",
                                          markersize=3, label="validation loss"))
                ax.set_ylabel("loss")
                _legend_right(ax, handles)
            elif panel == "reward":
                lines = ["-", "--", ":", "-."]
                names = list(dict.fromkeys(s.label for c in rewarded for s in c.reward_terms))
                term_colours = {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(names)}
                handles = []
                for index, curves in enumerate(rewarded):
                    line = lines[index % len(lines)] if len(rewarded) > 1 else "-"
                    for term in curves.reward_terms:
                        ax.plot(term.steps, term.values, color=term_colours[term.label], linewidth=1.1, linestyle=line)
                    if curves.reward:
                        ax.plot(curves.reward.steps, curves.reward.values, color="black", linewidth=1.8, linestyle=line)
                    if len(rewarded) > 1:
                        handles.append(Line2D([], [], color="#444444", linestyle=line, label=curves.run.label))
                handles += [Line2D([], [], color=term_colours[n], linewidth=1.1, label=n) for n in names]
                if any(c.reward for c in rewarded):
                    handles.append(Line2D([], [], color="black", linewidth=1.8, label="total reward"))
                if len(rewarded) == 1:
                    ax.set_title(rewarded[0].run.label, fontsize=FONT, loc="right", pad=2)
                ax.set_ylabel("reward (mean)")
                _legend_right(ax, handles)
            else:
                for curves, colour in zip(data, colours):
                    if curves.checkpoints:
                        ax.plot(curves.checkpoints.steps, curves.checkpoints.values, color=colour, linewidth=1.2,
                                marker="s", markersize=4, label=curves.run.label)
                ax.set_ylabel("green_flare")
                ax.set_title("policy scored along the way (training.eval_steps)", fontsize=FONT, loc="right", pad=2)
                _legend_right(ax)
        axes[-1].set_xlabel("training step")
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    return figure


def curves(registry: Registry, run_ids: Sequence[str], *, width: float = WIDTH) -> Figure:
    """Training curves of the runs: training and validation loss per step and, for GRPO, each
    reward term, the total reward and the green_flare of checkpoints (:func:`curves_data`)."""
    _check_width(width)
    return draw_curves(curves_data(registry, run_ids), width)


# ----------------------------------------------------------------------------- breakdown


@dataclass(frozen=True)
class RegionScore:
    """Mean per-sample green_flare of one run over the ``n`` samples of one region."""

    mean: float
    n: int


@dataclass(frozen=True)
class Breakdown:
    """What :func:`breakdown` plots: per run, the mean green_flare of each question region (the
    regions of :data:`~rrg.results.regions.REGIONS` with at least one sample, in that order)."""

    split: str
    n: int
    regions: tuple[str, ...]
    runs: tuple[tuple[PlotRun, dict[str, RegionScore]], ...]


def _green(prediction: Prediction) -> float | None:
    value = _number(prediction.green_flare)
    return value if value is not None else _number(prediction.scores.get("green_flare"))


def breakdown_data(registry: Registry, run_ids: Sequence[str], *, split: str | None = None) -> Breakdown:
    """Mean per-sample green_flare by question region (:func:`~rrg.results.regions.question_region`)
    for each run, over the samples every run scored on one split."""
    runs = _runs(registry, run_ids)
    samples = _shared_samples(registry, runs, split)
    out = []
    present: set[str] = set()
    for run, _ in runs:
        by_region: dict[str, list[float]] = {}
        for sample_id in samples.sample_ids:
            prediction = samples.predictions[run.run_id][sample_id]
            value = _green(prediction)
            if value is not None:
                by_region.setdefault(question_region(prediction.question), []).append(value)
        if not by_region:
            raise PlotError(
                f"run {run.run_id} ({run.label}) has no per-sample green_flare in its predictions on {samples.split}",
                hint="evaluate the run with green_flare among evaluation.metrics",
            )
        present |= set(by_region)
        out.append((run, {r: RegionScore(sum(v) / len(v), len(v)) for r, v in by_region.items()}))
    regions = tuple(r for r in REGIONS if r in present)
    return Breakdown(samples.split, len(samples.sample_ids), regions, tuple(out))


@_needs_matplotlib
def draw_breakdown(data: Breakdown, width: float = WIDTH) -> Figure:
    """A table-like heat map: a row per run, a column per region (headed with its number of
    samples), each cell the run's mean green_flare there (cividis colour scale, 0 to 1)."""
    import matplotlib
    import numpy as np

    rows = len(data.runs)
    matrix = np.full((rows, len(data.regions)), np.nan)
    counts: dict[str, set[int]] = {region: set() for region in data.regions}
    for i, (_, scores) in enumerate(data.runs):
        for j, region in enumerate(data.regions):
            if region in scores:
                matrix[i, j] = scores[region].mean
                counts[region].add(scores[region].n)
    uniform = all(len(found) == 1 for found in counts.values())
    with _style():
        figure = _figure(width, 1.25 + 0.34 * rows)
        ax = figure.add_subplot()
        ax.spines[:].set_visible(False)
        colours = matplotlib.colormaps["cividis"].with_extremes(bad="#eeeeee")
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=colours, vmin=0.0, vmax=1.0, aspect="auto")
        for i, (_, scores) in enumerate(data.runs):
            for j, region in enumerate(data.regions):
                if region not in scores:
                    ax.text(j, i, "–", ha="center", va="center", fontsize=FONT, color="#555555")
                    continue
                score = scores[region]
                text = f"{score.mean:.3f}" if uniform else f"{score.mean:.3f}\nn={score.n}"
                colour = "white" if score.mean < 0.6 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=FONT, color=colour)
        headers = [
            f"{region.replace(' ', chr(10))}\nn={next(iter(counts[region]))}" if uniform else region.replace(" ", "\n")
            for region in data.regions
        ]
        ax.set_xticks(range(len(data.regions)), headers)
        ax.xaxis.tick_top()
        ax.set_yticks(range(rows), [run.label for run, _ in data.runs])
        ax.tick_params(length=0, labelsize=FONT)
        ax.set_xticks(np.arange(-0.5, len(data.regions)), minor=True)
        ax.set_yticks(np.arange(-0.5, rows), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
        bar = figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("mean green_flare", fontsize=FONT)
        bar.ax.tick_params(labelsize=FONT)
        ax.set_xlabel(f"question region (split {data.split}, {data.n} samples scored by every run)", fontsize=FONT)
    return figure


def breakdown(registry: Registry, run_ids: Sequence[str], *, split: str | None = None, width: float = WIDTH) -> Figure:
    """Mean green_flare by the anatomical region of the question (heart, lungs, pleura,
    mediastinum, bones, devices, whole report) per run, with sample counts (:func:`breakdown_data`)."""
    _check_width(width)
    return draw_breakdown(breakdown_data(registry, run_ids, split=split), width)
