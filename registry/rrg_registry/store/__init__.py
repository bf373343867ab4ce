"""The registry's database layer: SQLModel tables, engines and sessions, migrations, the SQL store.

Only :class:`rrg_registry.Registry` uses this package. Nothing outside it opens a session or
imports a table class; what leaves it are the entities of :mod:`rrg_registry.entities`.
"""
