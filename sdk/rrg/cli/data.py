"""``rrg data``: build the bundled demo set, inspect a FLARE data set."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Data sets in the FLARE 2025 Task 5 layout.

    \b
    Examples:
      rrg data demo                                      build (or find) the demo set
      rrg data inspect demo --split validation-public    counts, samples, image problems
      rrg data inspect /data/organized_dataset --dataset IU_XRay --split training
    """


@data.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Build under this folder instead of the rrg cache (the set goes to OUT/demo/<version>/).",
)
@click.option("--force", is_flag=True, help="Rebuild even when a complete copy exists.")
def demo(out: Path | None, force: bool) -> None:
    """Build the bundled demo set if needed; print its root and counts.

    The root is what a recipe's data.root: demo resolves to.

    \b
    Example:
      rrg data demo --out /tmp/rrg-demo
    """
    from rrg.data.demo import build_demo, demo_summary

    root = build_demo(cache_dir=out, force=force)
    summary = demo_summary(root)
    click.echo(str(root))
    for split, questions in summary.questions.items():
        click.echo(f"{split}: {summary.reports[split]} reports, {questions} questions")


@data.command()
@click.argument("root")
@click.option("--dataset", default="IU_XRay", show_default=True, help="Data set folder name.")
@click.option("--split", default="training", show_default=True, help="Split folder name.")
@click.option("--category", default="Xray", show_default=True, help="Category folder name.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help="Read only the first N usable samples.",
)
@click.option(
    "--show", type=click.IntRange(min=0), default=3, show_default=True, help="Samples to print."
)
@click.option(
    "--max-image-pixels",
    type=click.IntRange(min=1),
    default=40_000_000,
    show_default=True,
    help="Largest image accepted (width x height), as data.max_image_pixels in recipes.",
)
def inspect(
    root: str, dataset: str, split: str, category: str, limit: int | None, show: int, max_image_pixels: int
) -> None:
    """Read one split and report counts, a few samples and per-sample image problems.

    ROOT is an organized_dataset folder, or "demo". Exits with status 1 when any sample has a
    missing or unreadable image (those samples are listed), 2 on a layout or format error.

    \b
    Example:
      rrg data inspect demo --split validation-hidden --show 1
    """
    from rrg.data.flare import load_flare
    from rrg.data.layout import resolve_data_root

    resolved = resolve_data_root(root, dataset=dataset, category=category)
    loaded = load_flare(
        resolved, dataset=dataset, split=split, category=category, image_policy="skip", limit=limit,
        max_image_pixels=max_image_pixels,
    )
    rows = loaded.dataset
    images = {path for paths in rows["image_paths"] for path in paths}
    answered = sum(answer is not None for answer in rows["answer"])
    click.echo(f"questions file: {loaded.questions_file}")
    click.echo(f"images folder:  {loaded.images_dir}")
    click.echo(
        f"samples: {loaded.size} ({answered} with answers), images: {len(images)}, skipped: {len(loaded.skipped)}"
    )
    click.echo(
        "task types: "
        + ", ".join(f"{name} {count}" for name, count in sorted(loaded.task_types.items()))
    )
    click.echo(f"fingerprint: {loaded.fingerprint}")
    for row in rows.select(range(min(show, loaded.size))):
        click.echo("")
        click.echo(f"[{row['sample_id']}] {row['question']}")
        click.echo(f"  answer: {_shorten(row['answer'])}")
        click.echo("  images: " + ", ".join(Path(p).name for p in row["image_paths"]))
    if loaded.skipped:
        click.echo("")
        click.echo(f"image problems ({len(loaded.skipped)} samples skipped):")
        for sample_id, reason in loaded.skipped:
            click.echo(f"  {sample_id}: {reason}")
        raise SystemExit(1)


def _shorten(text: str | None, width: int = 160) -> str:
    if text is None:
        return "(none)"
    return text if len(text) <= width else text[: width - 3] + "..."
