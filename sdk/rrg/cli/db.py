"""``rrg db``: the registry's schema revision, its migration, and copying runs between registries."""

from __future__ import annotations

import click

from rrg.cli.registry_option import registry_url_option


@click.group()
def db() -> None:
    """Manage the registry database: its schema, and copying runs between registries.

    \b
    Examples:
      rrg db current
      rrg db upgrade --registry postgresql://rrg@db.example/rrg
      rrg db copy sqlite:///rrg.db postgresql://rrg@db.example/rrg
    """


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target schema revision.")
@registry_url_option
def upgrade(registry_url, revision) -> None:
    """Migrate the registry database to the newest schema (take a backup first).

    An empty database is created from scratch.
    """
    from rrg_registry import Registry

    before, after = Registry.upgrade_schema(registry_url, revision)
    if before == after:
        click.echo(f"registry already at revision {after}")
    else:
        click.echo(f"registry upgraded from {before or 'empty'} to {after}")


@db.command("current")
@registry_url_option
def current(registry_url) -> None:
    """Print the registry's schema revision and the one this rrg needs (a registry that does not
    exist is reported, not created)."""
    from rrg_registry import Registry
    from rrg_registry.registry import require_existing_registry

    require_existing_registry(registry_url)
    revision, head = Registry.schema_revision(registry_url)
    if revision == head:
        state = "up to date"
    elif revision is None:
        state = "empty"
    elif Registry.knows_schema_revision(revision):
        state = "needs `rrg db upgrade`"
    else:
        state = "written by a newer rrg; upgrade rrg"
    click.echo(f"revision {revision or 'none'} (this rrg needs {head}): {state}")


@db.command("copy")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option("--run", "run_ids", multiple=True, metavar="ID",
              help="Copy only this run (id or unique prefix) and its ancestors; repeat for more.")
@click.option("--dry-run", is_flag=True, help="Count what would be copied; write nothing, create nothing.")
@click.option("--include-running", is_flag=True,
              help="Also copy pending and running runs, as they are now (skipped otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def copy(source, destination, run_ids, dry_run, include_running, as_json) -> None:
    """Copy runs, with everything they recorded, from the registry SRC into DST.

    SRC and DST are registry URLs (sqlite:///PATH, a file path, postgresql://...). Run ids, lineage,
    recipes, datasets, checkpoints, metrics, components, predictions, publications, registered
    datasets and models are kept; integer ids are renumbered in DST. A DST that does not exist (or
    an empty database) is created; both must be at this rrg's schema revision (`rrg db upgrade`).

    Copying again copies nothing twice, and continues a copy that was interrupted: each run is
    copied whole, in its own transaction, parents first. A row that DST holds under the same name
    with other content (recipe x@1 with another hash) is refused, naming both values. Pending and
    running runs are skipped unless --include-running.

    \b
    Examples:
      rrg db copy sqlite:///rrg.db postgresql://rrg@db.example/rrg --dry-run
      rrg db copy rrg.db postgresql://rrg@db.example/rrg --run 4c021a9b
      rrg db copy postgresql://rrg@db.example/rrg sqlite:///mine.db --json
    """
    from rrg_registry.copy import copy_registry

    from rrg.cli import Interrupted

    done = [0, 0]
    with _copy_progress(enabled=not as_json) as advance:

        def progress(run_id: str, state: str, count: int, total: int) -> None:
            done[0], done[1] = count, total
            advance(run_id, state, count, total)

        try:
            report = copy_registry(source, destination, run_ids, dry_run=dry_run,
                                   include_running=include_running, progress=progress)
        except KeyboardInterrupt as exc:
            raise Interrupted(
                f"stopped by {str(exc) or 'Ctrl-C'} after {done[0]} of {done[1]} runs; every run in the destination "
                "is whole: run the same command again to continue"
            ) from None
    if as_json:
        from rrg.cli.output import dumps_json

        click.echo(dumps_json(report.to_dict()))
        return
    _print_copy_report(report)


def _copy_progress(enabled: bool):
    """A context giving ``advance(run_id, state, done, total)``: a rich progress bar on a terminal's
    stderr, nothing otherwise."""
    import contextlib
    import sys

    if not enabled or not sys.stderr.isatty():
        return contextlib.nullcontext(lambda *args: None)

    @contextlib.contextmanager
    def bar():
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(TextColumn("copying runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.description}"), console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("", total=None)

            def advance(run_id: str, state: str, count: int, total: int) -> None:
                progress.update(task, completed=count, total=total, description=f"{run_id} {state}")

            yield advance

    return bar()


def _print_copy_report(report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    verb = "would copy" if report.dry_run else "copied"
    console.print(f"{report.source} → {report.destination}" + (" (dry run: nothing written)" if report.dry_run else ""),
                  markup=False, highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("table")
    table.add_column(verb, justify="right")
    table.add_column("already there", justify="right")
    for name, count in report.tables.items():
        if count.copied or count.already_there:
            table.add_row(name, str(count.copied), str(count.already_there))
    if report.destination_created:
        console.print(f"created the registry {report.destination}", markup=False, highlight=False)
    elif report.dry_run and not report.destination_exists:
        console.print(f"the registry {report.destination} would be created", markup=False, highlight=False)
    console.print(table)
    runs = f"runs: {len(report.runs_copied)} {'to copy' if report.dry_run else 'copied'}, {len(report.runs_already_there)} already there"
    skipped_runs = [s for s in report.skipped if s.table == "runs"]
    if skipped_runs:
        runs += f", {len(skipped_runs)} skipped"
    console.print(runs, markup=False, highlight=False)
    for item in report.skipped:
        console.print(f"skipped {item.table} {item.key}: {item.reason}", markup=False, highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if report.copied_rows == 0 and not report.dry_run:
        console.print("nothing to copy: the destination already holds everything", markup=False, highlight=False)
