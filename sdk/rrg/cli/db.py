"""``rrg db``: the registry's schema revision and its migration."""

from __future__ import annotations

import click

from rrg.cli.registry_option import registry_url_option


@click.group()
def db() -> None:
    """Manage the registry database schema.

    \b
    Examples:
      rrg db current
      rrg db upgrade --registry postgresql://rrg@db.example/rrg
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
