"""``rrg report``: the study's results from the registry as one self-contained HTML file."""

from __future__ import annotations

import click

from rrg.cli.registry_option import existing_registry_option


@click.command("report")
@click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")
@click.option("--pick", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="Which run of a row's recipe: the one that ended last, or the highest green_flare.")
@click.option("--recipe", "recipes", multiple=True, metavar="NAME[@VERSION]",
              help="The recipe whose runs fill the row they fall in (repeatable); default: the study's recipe for each row.")
@click.option("--samples", type=click.IntRange(min=0), default=2, show_default=True,
              help="Samples in each group of the gallery (hardest, easiest, most disputed); 0 leaves it out.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="report.html",
              show_default=True, help="The HTML file to write (replaced if it exists).")
@existing_registry_option
def report(registry, tags, pick, recipes, samples, output) -> None:
    """Write the study's results as one self-contained HTML file.

    The runs are those of `rrg table` (same --tag, --pick and --recipe rule: one per stage and
    model). The page holds Table 1 beside the study's published values, Table 2 (the seven
    green_flare components), the figures of `rrg plot`, a gallery of the hardest, easiest and
    most disputed samples with each run's output and the sample's images, each model's lineage
    (zero-shot -> SFT -> GRPO) and every run's recipe (name@version, hash, YAML) and data
    fingerprints. It needs no network and runs no script: images are embedded, CSS is inline.
    The file is written only once complete; an error leaves no file.

    \b
    Examples:
      rrg report -o report.html
      rrg report --tag paper --pick best --samples 3 -o study.html
    """
    from rrg.results.report import write_report

    registry.reap_stale_runs(strict=False)  # reading still works on a read-only or locked registry
    written = write_report(registry, output, tags=tags, pick=pick, recipes=recipes, samples=samples)
    drawn = sum(1 for figure in written.figures if figure.data_uri)
    shown = sum(len(group.samples) for group in written.gallery.groups)
    click.echo(
        f"wrote {output}: {len(written.table1)} run{'s' if len(written.table1) != 1 else ''}, "
        f"{drawn} figure{'s' if drawn != 1 else ''}, {shown} sample{'s' if shown != 1 else ''}"
    )
