"""``rrg plot``: the study's figures as PNG files, drawn from the registry.

Each subcommand calls one builder of :mod:`rrg.results.plots` and writes its figure with
:func:`rrg.results.plots.save_png` (atomically: an error leaves no file), then prints the path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rrg.cli.registry_option import existing_registry_option

PICKS = ("latest", "best")


def figure_options(default_name: str) -> Callable:
    """``-o/--output``, ``--width`` and ``--dpi``, passed on as ``output`` (a Path), ``width``
    and ``dpi``; without ``-o`` the figure is written to ``default_name`` in the working folder."""

    def decorator(func: Callable) -> Callable:
        @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                      metavar="FILE.png", help=f"The PNG file to write (replaced if it exists). Default: {default_name}.")
        @click.option("--width", type=click.FloatRange(3.0, 20.0), default=7.0, show_default=True,
                      help="Figure width in inches (the height follows from what is plotted).")
        @click.option("--dpi", type=click.IntRange(50, 1200), default=200, show_default=True,
                      help="Pixels per inch of the PNG.")
        @functools.wraps(func)
        def wrapper(*args: Any, output: Path | None, **kwargs: Any) -> Any:
            return func(*args, output=output or Path(default_name), **kwargs)

        return wrapper

    return decorator


def study_options(func: Callable) -> Callable:
    """``--tag``, ``--pick`` and ``--recipe``: which runs stand for the study's rows, as in `rrg table`."""
    func = click.option("--recipe", "recipes", multiple=True, metavar="NAME[@VERSION]",
                        help="The recipe whose runs fill the row they fall in (repeatable); default: the study's recipe for each row.")(func)
    func = click.option("--pick", type=click.Choice(PICKS), default=None,
                        help="Which run of a row's recipe: the one that ended last (default), or the highest green_flare.")(func)
    func = click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")(func)
    return func


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's header."""
    with path.open("rb") as handle:
        header = handle.read(24)
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def _write(figure: Any, output: Path, dpi: int) -> None:
    from rrg.results.plots import save_png

    written = save_png(figure, output, dpi)
    width, height = _png_size(written)
    click.echo(f"wrote {written} ({width}×{height} px)")


@click.group("plot")
def plot() -> None:
    """The study's figures as PNG files, drawn from the registry.

    Runs are named by model and stage (Qwen3-VL-4B, SFT). Figures are 7 in wide at 200 dpi
    by default (--width, --dpi), with colour-blind-safe colours. A figure the registry cannot
    give (an unknown run, a run without predictions, components or training metrics, runs
    evaluated on different splits) is one error line and no file.

    \b
    Examples:
      rrg plot study-green --reference study -o study-green.png
      rrg plot components-box -o components-box.png
      rrg plot components-radar 3fa2 9b1c 7d0e -o radar.png
      rrg plot curves 9b1c -o curves.png
      rrg plot breakdown 3fa2 9b1c -o breakdown.png
    """


@plot.command("study-green")
@study_options
@click.option("--reference", type=click.Choice(["study"]), default=None,
              help="Mark the study's published green_flare beside each bar (hollow diamonds).")
@figure_options("study-green.png")
@existing_registry_option
def study_green(registry, tags, pick, recipes, reference, output, width, dpi) -> None:
    """green_flare per model: zero-shot beside SFT (and GRPO where a run exists), with the 0.8
    clinical-acceptability line (the study's Figure 3).

    The runs are those of `rrg table` (same --tag, --pick, --recipe rule: one per stage and model).

    \b
    Example:
      rrg plot study-green --tag paper --reference study -o study-green.png
    """
    from rrg.results import plots

    registry.reap_stale_runs(strict=False)  # reading still works on a read-only or locked registry
    figure = plots.study_green(registry, tags=tags, pick=pick or "latest", recipes=recipes,
                               reference=reference == "study", width=width)
    _write(figure, output, dpi)


@plot.command("components-box")
@click.argument("run_ids", nargs=-1, metavar="[RUN]...")
@study_options
@click.option("--split", default=None, help="The evaluation split (default: the first split every run stored predictions on).")
@figure_options("components-box.png")
@existing_registry_option
def components_box(registry, run_ids, tags, pick, recipes, split, output, width, dpi) -> None:
    """Per-sample distributions of the seven green_flare components, one box per run (model,
    stage) in each component's panel (the study's Figure 4).

    Without RUN ids: the runs of `rrg table` (--tag, --pick, --recipe as there), by model then
    stage. The boxes cover the samples every run scored on one split.

    \b
    Examples:
      rrg plot components-box -o components-box.png
      rrg plot components-box 3fa2 9b1c --split validation-public -o box.png
    """
    from rrg.results import plots

    if run_ids and (tags or pick or recipes):
        raise plots.PlotError(
            f"--tag, --pick and --recipe choose the study's runs; they do not apply to the runs named ({', '.join(run_ids)})",
            hint="give RUN ids, or --tag/--pick/--recipe, not both",
        )
    registry.reap_stale_runs(strict=False)
    figure = plots.components_box(registry, list(run_ids) or None, tags=tags, pick=pick or "latest",
                                  recipes=recipes, split=split, width=width)
    _write(figure, output, dpi)


@plot.command("components-radar")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@figure_options("components-radar.png")
@existing_registry_option
def components_radar(registry, run_ids, output, width, dpi) -> None:
    """The seven green_flare components each run recorded, as profiles on one radar (the study's
    Figure 5); the runs must have been evaluated on one split.

    \b
    Example:
      rrg plot components-radar 3fa2 9b1c 7d0e -o radar.png
    """
    from rrg.results import plots

    _write(plots.components_radar(registry, list(run_ids), width=width), output, dpi)


@plot.command("curves")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@figure_options("curves.png")
@existing_registry_option
def curves(registry, run_ids, output, width, dpi) -> None:
    """Training curves by step: training and validation loss and, for GRPO runs, each reward term,
    the total reward and the green_flare of checkpoints scored while training.

    A run without training metrics (a zero-shot run) is an error.

    \b
    Example:
      rrg plot curves 9b1c 5e2f -o curves.png
    """
    from rrg.results import plots

    _write(plots.curves(registry, list(run_ids), width=width), output, dpi)


@plot.command("breakdown")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@click.option("--split", default=None, help="The evaluation split (default: the first split every run stored predictions on).")
@figure_options("breakdown.png")
@existing_registry_option
def breakdown(registry, run_ids, split, output, width, dpi) -> None:
    """Mean green_flare by the anatomical region each question asks for (heart, lungs, pleura,
    mediastinum, bones, devices, whole report), one row per run, with the number of samples.

    Regions come from the question text (`Write the part of the radiology report that describes
    the heart.`); the means cover the samples every run scored on one split.

    \b
    Example:
      rrg plot breakdown 3fa2 9b1c -o breakdown.png
    """
    from rrg.results import plots

    _write(plots.breakdown(registry, list(run_ids), split=split, width=width), output, dpi)
