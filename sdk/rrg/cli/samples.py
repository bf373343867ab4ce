"""``rrg samples``: the same samples' question, reference, images and every run's prediction side
by side (the study's table of example outputs), read from the registry
(:func:`rrg.results.samples.side_by_side`)."""

from __future__ import annotations

from typing import Any

import click

from rrg.cli.output import dumps_json, emit_rows, format_number, output_options
from rrg.cli.registry_option import existing_registry_option

CSV_COLUMNS = ("sample_id", "study_id", "question", "reference", "image_paths", "run", "label", "prediction",
               "green_flare")


def _components(scores: dict[str, Any]) -> dict[str, Any]:
    from rrg_registry.entities import GREEN_FLARE_COMPONENTS

    return {name: scores.get(name) for name in GREEN_FLARE_COMPONENTS}


def json_data(result: Any) -> dict[str, Any]:
    """What ``--json`` prints: the split, how the samples were chosen, the runs, and per sample its
    question, reference, image paths, study id and each run's prediction, green_flare, seven
    components and every per-sample score."""
    return {
        "split": result.split,
        "selection": result.selection,
        "runs": [{"run": r.run_id, "label": r.label, "model": r.model, "stage": r.stage} for r in result.runs],
        "samples": [
            {
                "sample_id": row.sample_id,
                "study_id": row.study_id,
                "question": row.question,
                "reference": row.reference,
                "image_paths": row.image_paths,
                "outputs": [
                    {"run": run.run_id, "prediction": out.prediction, "green_flare": out.green_flare,
                     "components": _components(out.scores), "scores": out.scores}
                    for run, out in zip(result.runs, row.outputs)
                ],
            }
            for row in result.rows
        ],
    }


def csv_rows(result: Any) -> list[dict[str, Any]]:
    """One row per (sample, run): the sample's fields, the run, its prediction, green_flare and the
    seven components (image paths joined by ``;``)."""
    rows = []
    for row in result.rows:
        for run, out in zip(result.runs, row.outputs):
            rows.append({
                "sample_id": row.sample_id, "study_id": row.study_id, "question": row.question,
                "reference": row.reference, "image_paths": ";".join(row.image_paths), "run": run.run_id,
                "label": run.label, "prediction": out.prediction, "green_flare": out.green_flare,
                **_components(out.scores),
            })
    return rows


def _images_text(paths: list[str]) -> str:
    """Image file names, then the folder they share (``CXR12_frontal.png, CXR12_lateral.png`` /
    ``in /data/IU_XRay/imagesVal``); full paths when the folders differ."""
    from pathlib import PurePath

    if not paths:
        return "- (not recorded)"
    folders = {str(PurePath(p).parent) for p in paths}
    if len(folders) > 1:
        return "\n".join(paths)
    return ", ".join(PurePath(p).name for p in paths) + f"\nin {folders.pop()}"


def _print_tables(result: Any) -> None:
    """One table per sample: question, images, reference, then each run's prediction and score."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    console.print(Text(f"Samples on {result.split}: {result.selection}", style="bold"))
    for row in result.rows:
        title = row.sample_id + (f"  ·  study {row.study_id}" if row.study_id else "")
        table = Table(title=title, title_justify="left", show_lines=True, expand=True)
        table.add_column("", max_width=26, overflow="fold", style="bold")
        table.add_column("green_flare", justify="right", no_wrap=True)
        table.add_column("text", ratio=1, overflow="fold")
        table.add_row("question", "", row.question or "-")
        table.add_row("images", "", _images_text(row.image_paths))
        table.add_row("reference", "", row.reference or "-")
        for run, out in zip(result.runs, row.outputs):
            score = "-" if out.green_flare is None else format_number(out.green_flare, "green_flare")
            table.add_row(run.label, score, out.prediction)
        console.print(table)


@click.command("samples")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@click.option("--sample", "sample_ids", multiple=True, metavar="ID", help="Show this sample (repeatable).")
@click.option("--study", metavar="ID", help="Every sample of this imaging study, e.g. CXR1000 (one radiograph, several questions).")
@click.option("--question", metavar="TEXT", help="Only samples whose question contains TEXT (any case).")
@click.option("--worst", type=int, metavar="N", help="The N samples with the lowest mean green_flare over the runs.")
@click.option("--best", type=int, metavar="N", help="The N samples with the highest mean green_flare over the runs.")
@click.option("--disagree", type=int, metavar="N", help="The N samples with the widest green_flare spread between the runs.")
@click.option("--split", metavar="SPLIT", help="The evaluation split (default: the first, by name, every run has predictions on).")
@output_options
@existing_registry_option
def samples(registry, run_ids, sample_ids, study, question, worst, best, disagree, split, output_format) -> None:
    """The same samples side by side: question, reference, image paths, study id and each run's
    prediction with its per-sample green_flare.

    Runs are labelled "model, stage (run id)". Only samples every run predicted, on a split every
    run has predictions on, are shown. Without --sample, --study, --worst, --best or --disagree: the
    first 5 samples (of those whose question contains --question TEXT, if given). --worst/--best
    rank by the mean green_flare over the runs, --disagree by the spread (highest - lowest)
    between them; they rank the samples left by --sample, --study and --question.

    JSON: {split, selection, runs: [{run, label, model, stage}], samples: [{sample_id, study_id,
    question, reference, image_paths, outputs: [{run, prediction, green_flare, components (the
    seven), scores (every per-sample score)}]}]}. CSV: one row per sample and run (sample_id,
    study_id, question, reference, image_paths joined by ";", run, label, prediction, green_flare,
    the seven components).

    \b
    Examples:
      rrg samples 8025e246 3d109cd6 --worst 3
      rrg samples c243a20e bfe103d6 aab5c306 --study CXR12
      rrg samples 8025e246 3d109cd6 --question heart --disagree 5 --json
    """
    from rrg.results.samples import side_by_side

    result = side_by_side(registry, run_ids, sample_ids=sample_ids, worst=worst, best=best, disagree=disagree,
                          question=question, split=split, study=study)
    if output_format == "json":
        click.echo(dumps_json(json_data(result)))
    elif output_format == "csv":
        from rrg_registry.entities import GREEN_FLARE_COMPONENTS

        emit_rows(csv_rows(result), "csv", columns=(*CSV_COLUMNS, *GREEN_FLARE_COMPONENTS))
    else:
        _print_tables(result)
