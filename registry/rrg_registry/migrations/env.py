"""Alembic environment of the registry.

The store passes an open connection in ``config.attributes["connection"]`` (so in-memory SQLite
databases and test schemas migrate on the connection the caller holds). The version table is
``rrg_alembic_version`` so a database shared with other Alembic users never collides on
``alembic_version``; ``render_as_batch`` lets SQLite alter tables by copy-and-move.
"""

from __future__ import annotations

from alembic import context

from rrg_registry.store.schema import VERSION_TABLE
from rrg_registry.store.tables import metadata

config = context.config


def run_migrations_offline() -> None:
    """Emit SQL for ``alembic upgrade --sql`` against the URL in the config."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the connection the store handed in."""
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        version_table=VERSION_TABLE,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
