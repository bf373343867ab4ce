"""Alembic migrations of the registry schema (version table ``rrg_alembic_version``)."""
