"""Copy runs and everything they recorded from one registry to another (``rrg db copy``).

A personal SQLite registry moves into a team's PostgreSQL one, or back, with run ids, lineage,
recipes, datasets, checkpoints, metrics, green_flare components, predictions, publications,
registered dataset versions and registered models kept. The copy reads and writes both databases
with SQLAlchemy Core (batched selects, multi-row inserts), never the ORM.

**One spec per table.** :data:`SPECS` says, for every table of
:data:`rrg_registry.store.tables.metadata`, which columns are its natural key (what names a row in
any database), which integer surrogate id it has (local to one database, never copied), which of
its columns hold another table's surrogate id (remapped through that table's natural key), which
unit it belongs to (a run's metrics belong to the run) and which columns may differ between two
registries holding the same row (a recipe's ``created_at``). :func:`check_specs` refuses a table
without a spec and a foreign key the spec does not remap, so a new table cannot be forgotten.
Run ids are global (random hex) and are kept.

**Units.** A table with ``part_of`` belongs to a unit: a run with its tags, dataset links,
checkpoints, metrics, components, predictions and publications; a dataset version with its
splits; a registered model with its versions, aliases and alias history. Each unit is copied in
its own transaction, so an interrupted copy leaves whole units only and the next copy continues
where it stopped. Tables that form no unit (recipes, datasets, external models) are copied first,
one transaction per table. Runs are copied parents first (GRPO lineage), so a run's parent is
always there before it.

**Idempotent, and conflicts refused.** A row whose natural key is already in the destination is
not copied again (counted as already there); one whose key is there with other content (recipe
``x@1`` with another hash, the same run id with another status) raises :class:`CopyConflict`
naming the table, the key and both values, and the unit's transaction is rolled back, so nothing
of that unit is written. Copying again after new rows were recorded for a unit already copied
(a publication of a finished run) adds the new rows.

**Live runs.** Pending and running runs are skipped (with the runs that descend from them)
unless ``include_running``: a copy is a snapshot, and the destination would mark a running run
interrupted once its heartbeat is older than the stale limit. ``--run`` naming a live run is
refused unless ``include_running``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rrg_registry.errors import CopyConflict, NotFound, RegistryError, StaleSchema
from rrg_registry.status import FINAL_STATUSES, RunStatus

RUN_TABLE = "runs"

READ_CHUNK = 200
"""Units whose rows are read from the source with one query per table."""


@dataclass(frozen=True)
class TableSpec:
    """How one table's rows are copied between registries.

    ``key``: the columns that name a row in any registry (surrogate-id columns in it are compared
    after remapping). ``surrogate``: the integer id column local to a database, left for the
    destination to assign. ``refs``: column -> table whose surrogate id it holds (remapped).
    ``part_of``: (unit table, column of this table naming the unit's row): the rows are copied in
    the unit's transaction. ``may_differ``: columns two registries may hold different values in
    for the same row (a machine-local path, when it was recorded there); every other column must
    agree, or the copy is refused.
    """

    key: tuple[str, ...]
    surrogate: str | None = None
    refs: Mapping[str, str] = field(default_factory=dict)
    part_of: tuple[str, str] | None = None
    may_differ: tuple[str, ...] = ()


def _run_part(key: tuple[str, ...], surrogate: str | None = None, refs: Mapping[str, str] | None = None) -> TableSpec:
    return TableSpec(key=key, surrogate=surrogate, refs=refs or {}, part_of=(RUN_TABLE, "run_id"))


SPECS: dict[str, TableSpec] = {
    "recipe_versions": TableSpec(key=("name", "version"), surrogate="id", may_differ=("yaml_text", "created_at")),
    "datasets": TableSpec(key=("name", "split", "fingerprint"), surrogate="id", may_differ=("created_at",)),
    "external_models": TableSpec(key=("repo", "revision"), surrogate="id", may_differ=("local_path", "registered_at")),
    "dataset_versions": TableSpec(key=("name", "version"), surrogate="id", may_differ=("root", "created_at")),
    "dataset_version_splits": TableSpec(
        key=("dataset_version_id", "flare_dataset", "category", "split"),
        refs={"dataset_version_id": "dataset_versions"},
        part_of=("dataset_versions", "dataset_version_id"),
    ),
    RUN_TABLE: TableSpec(
        key=("id",),
        refs={
            "recipe_version_id": "recipe_versions",
            "external_model_id": "external_models",
            "dataset_version_id": "dataset_versions",
        },
    ),
    "run_tags": _run_part(("run_id", "tag")),
    "run_datasets": _run_part(("run_id", "dataset_id"), refs={"dataset_id": "datasets"}),
    "checkpoints": _run_part(("run_id", "step"), surrogate="id"),
    "metrics": _run_part(
        ("run_id", "split", "name", "step", "logged_at"), surrogate="id", refs={"checkpoint_id": "checkpoints"}
    ),
    "latest_metrics": _run_part(("run_id", "name"), refs={"metric_id": "metrics"}),
    "green_flare_components": _run_part(
        ("run_id", "split", "checkpoint_id", "logged_at"), surrogate="id", refs={"checkpoint_id": "checkpoints"}
    ),
    "predictions": _run_part(("run_id", "split", "sample_id"), surrogate="id", refs={"checkpoint_id": "checkpoints"}),
    "publications": _run_part(("run_id", "repo", "revision", "published_at"), surrogate="id"),
    "registered_models": TableSpec(key=("name",), surrogate="id", may_differ=("description", "created_at")),
    "model_versions": TableSpec(
        key=("registered_model_id", "version"),
        surrogate="id",
        refs={
            "registered_model_id": "registered_models",
            "external_model_id": "external_models",
            "dataset_version_id": "dataset_versions",
        },
        part_of=("registered_models", "registered_model_id"),
        may_differ=("adapter_path", "description", "created_at"),
    ),
    "model_aliases": TableSpec(
        key=("registered_model_id", "alias"),
        refs={"registered_model_id": "registered_models"},
        part_of=("registered_models", "registered_model_id"),
        may_differ=("set_by", "set_at"),
    ),
    "model_alias_events": TableSpec(
        key=("registered_model_id", "alias", "set_at"),
        surrogate="id",
        refs={"registered_model_id": "registered_models"},
        part_of=("registered_models", "registered_model_id"),
    ),
}
"""Every table of the registry, by name. A table of the metadata missing here fails
:func:`check_specs` (and a test), so a new table must say how it is copied."""


def check_specs(metadata: sa.MetaData | None = None, specs: Mapping[str, TableSpec] | None = None) -> None:
    """Raise ``RuntimeError`` (a bug, not a user error) when ``specs`` does not describe ``metadata``:
    a table without a spec, a spec of no table, a key or column that does not exist, a foreign key
    to a surrogate id the spec does not remap (or a remapped column that is not one), or a unit
    column that is not a foreign key to its unit."""
    if metadata is None:
        from rrg_registry.store.tables import metadata
    specs = SPECS if specs is None else specs
    problems: list[str] = []
    tables = {t.name: t for t in metadata.sorted_tables}
    problems += [f"table {name} has no copy spec" for name in tables if name not in specs]
    problems += [f"copy spec of {name}, which is no table" for name in specs if name not in tables]
    for name, table in tables.items():
        spec = specs.get(name)
        if spec is None:
            continue
        columns = set(table.c.keys())
        named = {*spec.key, *spec.refs, *spec.may_differ, *([spec.surrogate] if spec.surrogate else [])}
        if spec.part_of:
            named.add(spec.part_of[1])
        problems += [f"{name}: copy spec names no column {c}" for c in sorted(named - columns)]
        if spec.surrogate and spec.surrogate in spec.key:
            problems.append(f"{name}: the surrogate id {spec.surrogate} cannot be part of the natural key")
        remapped: dict[str, str] = {}
        for fk in table.foreign_keys:
            target = fk.column.table.name
            target_spec = specs.get(target)
            if target_spec is not None and target_spec.surrogate == fk.column.name:
                remapped[fk.parent.name] = target
        if dict(spec.refs) != remapped:
            problems.append(f"{name}: copy spec remaps {dict(spec.refs)}, but its foreign keys to surrogate ids are {remapped}")
        if spec.part_of:
            unit, column = spec.part_of
            unit_spec = specs.get(unit)
            unit_id = (unit_spec.surrogate or unit_spec.key[0]) if unit_spec else None
            if not any(fk.parent.name == column and fk.column.table.name == unit and fk.column.name == unit_id
                       for fk in table.foreign_keys):
                problems.append(f"{name}: {column} is not a foreign key to {unit}.{unit_id}")
            if unit_spec is not None and unit_spec.part_of is not None:
                problems.append(f"{name}: its unit {unit} is itself part of another unit")
    if problems:
        raise RuntimeError("the copy specs do not match the registry's tables: " + "; ".join(problems))


# -- report ------------------------------------------------------------------------------------


@dataclass
class TableCount:
    """Rows of one table copied, and rows already in the destination."""

    copied: int = 0
    already_there: int = 0


@dataclass
class Skipped:
    """A unit left out of the copy, and why."""

    table: str
    key: str
    reason: str


@dataclass
class CopyReport:
    """What a copy did (or, with ``dry_run``, would do)."""

    source: str
    destination: str
    dry_run: bool = False
    destination_exists: bool = True
    destination_created: bool = False
    tables: dict[str, TableCount] = field(default_factory=dict)
    runs_copied: list[str] = field(default_factory=list)
    runs_already_there: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def copied_rows(self) -> int:
        return sum(c.copied for c in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "destination_existed": self.destination_exists,
            "destination_created": self.destination_created,
            "tables": {name: {"copied": c.copied, "already_there": c.already_there} for name, c in self.tables.items()},
            "runs": {"copied": list(self.runs_copied), "already_there": list(self.runs_already_there)},
            "skipped": [{"table": s.table, "key": s.key, "reason": s.reason} for s in self.skipped],
            "notes": list(self.notes),
        }


ProgressCallback = Callable[[str, str, int, int], None]
"""``(run id, "copied" | "already there", runs done, runs to do)``, after each run's transaction."""


# -- the copier --------------------------------------------------------------------------------


def _short(value: Any, width: int = 40) -> str:
    text = value.isoformat() if isinstance(value, datetime) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


class _Copier:
    def __init__(self, src: sa.Engine, dst: sa.Engine, dst_exists: bool, report: CopyReport) -> None:
        from rrg_registry.store.tables import metadata

        self.metadata = metadata
        self.tables = {t.name: t for t in metadata.sorted_tables}
        self.order = [t.name for t in metadata.sorted_tables]
        self.src, self.dst = src, dst
        self.dst_exists = dst_exists
        self.report = report
        self.dry_run = report.dry_run
        self.maps: dict[str, dict[Any, Any]] = {}
        self.labels: dict[str, dict[Any, str]] = {}
        self._fake_id = 0
        self.parts: dict[str, list[str]] = {}
        for name in self.order:
            part_of = SPECS[name].part_of
            if part_of:
                self.parts.setdefault(part_of[0], []).append(name)
        roots = [n for n in self.order if SPECS[n].part_of is None and n != RUN_TABLE]
        self.before_runs = [n for n in roots if not self._needs_runs(n)]
        self.after_runs = [n for n in roots if n not in self.before_runs]
        for name in (*self.before_runs, RUN_TABLE, *self.after_runs):
            for member in (name, *self.parts.get(name, [])):
                report.tables[member] = TableCount()

    def _needs_runs(self, name: str) -> bool:
        """Whether rows of table ``name`` (or of its parts) refer to runs, so they come after them."""
        tables = [name, *self.parts.get(name, [])]
        return any(fk.column.table.name == RUN_TABLE for t in tables for fk in self.tables[t].foreign_keys)

    # -- reading -----------------------------------------------------------------------------

    def _rows(self, connection: sa.Connection, table: sa.Table, where: Any = None) -> list[dict[str, Any]]:
        """Rows as dicts in primary-key order, datetimes as aware UTC (SQLite returns them naive,
        PostgreSQL in the session's time zone) and booleans as bool, so both databases compare alike."""
        from rrg_registry.store.tables import utc

        query = sa.select(table).order_by(*table.primary_key.columns)
        if where is not None:
            query = query.where(where)
        times = [c.name for c in table.c if isinstance(c.type, sa.DateTime)]
        flags = [c.name for c in table.c if isinstance(c.type, sa.Boolean)]
        rows = [dict(r._mapping) for r in connection.execute(query)]
        for row in rows:
            for name in times:
                if row[name] is not None:
                    row[name] = utc(row[name])
            for name in flags:
                if row[name] is not None:
                    row[name] = bool(row[name])
        return rows

    def _rows_in(self, connection: sa.Connection, table: sa.Table, column: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        values = list(values)
        for start in range(0, len(values), 500):
            out += self._rows(connection, table, table.c[column].in_(values[start : start + 500]))
        return out

    # -- one table's rows --------------------------------------------------------------------

    def _label(self, name: str, row: Mapping[str, Any]) -> str:
        """A row named by its natural key, referenced rows by theirs (``registered_model=cxr``)."""
        spec = SPECS[name]
        parts = []
        for column in spec.key:
            value = row.get(column)
            target = spec.refs.get(column)
            if target is not None and value is not None:
                parts.append(self.labels.get(target, {}).get(value, f"{column}={value}"))
            else:
                parts.append(f"{column}={value if not isinstance(value, datetime) else value.isoformat()}")
        return ", ".join(parts)

    def _translate(self, name: str, row: dict[str, Any]) -> dict[str, Any]:
        spec = SPECS[name]
        out = dict(row)
        for column, target in spec.refs.items():
            value = out.get(column)
            if value is not None:
                try:
                    out[column] = self.maps[target][value]
                except KeyError:
                    raise RuntimeError(f"{name}.{column} = {value} refers to a {target} row that was not copied") from None
        return out

    @staticmethod
    def _keyed(spec: TableSpec, rows: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
        """Rows by natural key; rows sharing a key (a history table without a unique key) are told
        apart by their order (first, second, ...), so each is matched once."""
        out: dict[tuple, dict[str, Any]] = {}
        seen: dict[tuple, int] = {}
        for row in rows:
            key = tuple(row[c] for c in spec.key)
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            out[(*key, occurrence)] = row
        return out

    def _conflict(self, name: str, row: dict[str, Any], column: str, ours: Any, theirs: Any) -> CopyConflict:
        return CopyConflict(
            f"{name} {self._label(name, row)}: {column} is {_short(ours)} in the source {self.report.source} "
            f"but {_short(theirs)} in the destination {self.report.destination}",
            hint="the two registries recorded different things under one name; nothing of it was copied. "
            "Change one of them (e.g. record the recipe under a new version), or copy other runs with --run",
        )

    def _merge(self, connection: sa.Connection | None, name: str, src_rows: list[dict[str, Any]],
               dst_rows: list[dict[str, Any]]) -> None:
        """Copy ``src_rows`` of table ``name`` that the destination lacks (``dst_rows``: the
        destination's rows that could match), remembering each source row's destination id."""
        spec = SPECS[name]
        table = self.tables[name]
        count = self.report.tables[name]
        ids = self.maps.setdefault(name, {})
        labels = self.labels.setdefault(name, {})
        translated = [self._translate(name, row) for row in src_rows]
        theirs = self._keyed(spec, dst_rows)
        compared = [c.name for c in table.c if c.name != spec.surrogate and c.name not in spec.may_differ and c.name not in spec.key]
        new: list[tuple[dict[str, Any], dict[str, Any]]] = []
        originals = {id(row): source for row, source in zip(translated, src_rows, strict=True)}
        for key, row in self._keyed(spec, translated).items():
            there = theirs.get(key)
            if there is None:
                new.append((row, originals[id(row)]))
                continue
            for column in compared:
                if row.get(column) != there.get(column):
                    raise self._conflict(name, row, column, row.get(column), there.get(column))
            count.already_there += 1
            if spec.surrogate:
                ids[originals[id(row)][spec.surrogate]] = there[spec.surrogate]
                labels[there[spec.surrogate]] = f"{name.rstrip('s')}=" + "@".join(str(row[c]) for c in spec.key)
        if not new:
            return
        self._check_unique(name, [row for row, _ in new], dst_rows)
        payload = [{k: v for k, v in row.items() if k != spec.surrogate} for row, _ in new]
        if spec.surrogate:
            if self.dry_run or connection is None:
                assigned = []
                for _ in payload:
                    self._fake_id -= 1
                    assigned.append(self._fake_id)
            else:
                pk = table.c[spec.surrogate]
                result = connection.execute(table.insert().returning(pk, sort_by_parameter_order=True), payload)
                assigned = list(result.scalars())
            for (row, source), new_id in zip(new, assigned, strict=True):
                ids[source[spec.surrogate]] = new_id
                labels[new_id] = f"{name.rstrip('s')}=" + "@".join(str(row[c]) for c in spec.key)
        elif not self.dry_run and connection is not None:
            connection.execute(table.insert(), payload)
        count.copied += len(payload)

    def _check_unique(self, name: str, new_rows: list[dict[str, Any]], dst_rows: list[dict[str, Any]]) -> None:
        """A new row that would break another unique constraint of the destination (a dataset
        version's content registered there under another version number) is a conflict."""
        table = self.tables[name]
        spec = SPECS[name]
        for constraint in table.constraints:
            if not isinstance(constraint, sa.UniqueConstraint):
                continue
            columns = [c.name for c in constraint.columns]
            if sorted(columns) == sorted(spec.key):
                continue
            there = {tuple(r[c] for c in columns): r for r in dst_rows}
            for row in new_rows:
                other = there.get(tuple(row[c] for c in columns))
                if other is not None:
                    differing = next(c for c in spec.key if row[c] != other[c])
                    raise self._conflict(name, row, differing, row[differing], other[differing])

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection | None]:
        """A destination transaction (None in a dry run against a destination still to be created).
        SQLite takes the write lock first (``BEGIN IMMEDIATE``), so what is read in it stays true;
        a dry run rolls back."""
        if not self.dst_exists:
            yield None
            return
        with self.dst.connect() as connection:
            transaction = connection.begin()
            try:
                if not self.dry_run and connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                if self.dry_run:
                    transaction.rollback()
                else:
                    transaction.commit()
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise

    def _dst_rows(self, connection: sa.Connection | None, name: str, where: Any = None) -> list[dict[str, Any]]:
        if connection is None:
            return []
        return self._rows(connection, self.tables[name], where)

    # -- tables that form no unit (recipes, datasets, external models) -------------------------

    def copy_tables(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        """Copy the rows of several tables (in the given order, parts after their units) in one
        transaction: a conflict in any of them writes none."""
        name = ""
        try:
            with self._writing() as connection:
                for name, src_rows in rows.items():
                    self._merge(connection, name, src_rows, self._dst_rows(connection, name))
        except sa.exc.DataError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            raise RegistryError(
                f"cannot write {name} to the destination {self.report.destination}: {reason}",
                hint="the source holds a value the destination's column does not take (SQLite does not enforce "
                "column lengths); correct it in the source",
            ) from None

    # -- units --------------------------------------------------------------------------------

    def copy_units(self, unit: str, src_units: list[dict[str, Any]], done: Callable[[dict[str, Any], bool], None]) -> None:
        """Copy each row of table ``unit`` with its parts, one transaction each, in the given order."""
        spec = SPECS[unit]
        unit_id = spec.surrogate or spec.key[0]
        for start in range(0, len(src_units), READ_CHUNK):
            chunk = src_units[start : start + READ_CHUNK]
            ids = [row[unit_id] for row in chunk]
            with self.src.connect() as source:
                parts = {
                    part: self._group(self._rows_in(source, self.tables[part], SPECS[part].part_of[1], ids), SPECS[part].part_of[1])
                    for part in self.parts.get(unit, [])
                }
            for row in chunk:
                self._copy_unit(unit, row, {part: rows.get(row[unit_id], []) for part, rows in parts.items()}, done)

    @staticmethod
    def _group(rows: list[dict[str, Any]], column: str) -> dict[Any, list[dict[str, Any]]]:
        out: dict[Any, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row[column], []).append(row)
        return out

    def _copy_unit(self, unit: str, row: dict[str, Any], parts: dict[str, list[dict[str, Any]]],
                   done: Callable[[dict[str, Any], bool], None], retried: bool = False) -> None:
        spec = SPECS[unit]
        table = self.tables[unit]
        before = {name: (c.copied, c.already_there) for name, c in self.report.tables.items()}
        maps_before = {name: dict(m) for name, m in self.maps.items() if name == unit or name in parts}
        try:
            with self._writing() as connection:
                where = sa.and_(*(table.c[c] == self._translate(unit, row)[c] for c in spec.key))
                mine = self._dst_rows(connection, unit, where)
                if mine and connection is not None and connection.dialect.name != "sqlite" and not self.dry_run:
                    connection.execute(sa.select(table.c[spec.key[0]]).where(where).with_for_update())
                self._merge(connection, unit, [row], mine)
                existed = bool(mine)
                unit_dst_id = mine[0][spec.surrogate or spec.key[0]] if mine else None
                for part in self.parts.get(unit, []):
                    column = SPECS[part].part_of[1]
                    theirs = self._dst_rows(connection, part, self.tables[part].c[column] == unit_dst_id) if existed else []
                    self._merge(connection, part, parts[part], theirs)
        except sa.exc.IntegrityError:
            # another process copied this unit between our look and our insert: look again
            for name, (copied, already) in before.items():
                self.report.tables[name].copied, self.report.tables[name].already_there = copied, already
            self.maps.update(maps_before)
            if retried:
                raise
            self._copy_unit(unit, row, parts, done, retried=True)
            return
        except sa.exc.DataError as error:
            raise self._unwritable(unit, row, error) from None
        except BaseException:
            for name, (copied, already) in before.items():
                self.report.tables[name].copied, self.report.tables[name].already_there = copied, already
            raise
        done(row, existed)

    def _unwritable(self, name: str, row: dict[str, Any], error: sa.exc.DataError) -> RegistryError:
        reason = str(error.orig or error).strip().splitlines()[0]
        return RegistryError(
            f"cannot write {name} {self._label(name, row)} to the destination {self.report.destination}: {reason}",
            hint="the source holds a value the destination's column does not take (SQLite does not enforce "
            "column lengths); correct it in the source, or copy other runs with --run",
        )


def _topological(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs ordered by creation, every parent before its children."""
    by_id = {r["id"]: r for r in runs}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    for run in sorted(runs, key=lambda r: (r["created_at"], r["id"])):
        chain = []
        current: dict[str, Any] | None = run
        while current is not None and current["id"] not in placed:
            chain.append(current)
            parent = current.get("parent_run_id")
            current = by_id.get(parent) if parent else None
        for item in reversed(chain):
            placed.add(item["id"])
            ordered.append(item)
    return ordered


# -- checks before copying ---------------------------------------------------------------------


def _same_database(a: sa.Engine, b: sa.Engine) -> bool:
    if a.dialect.name != b.dialect.name:
        return False
    if a.dialect.name == "sqlite":
        da, db = a.url.database or "", b.url.database or ""
        if da in ("", ":memory:") or db in ("", ":memory:"):
            return False
        return os.path.realpath(os.path.expanduser(da)) == os.path.realpath(os.path.expanduser(db))
    return a.url.render_as_string(hide_password=True) == b.url.render_as_string(hide_password=True)


def _check_revisions(src: sa.Engine, dst: sa.Engine | None) -> bool:
    """Both registries at this rrg's schema revision (the destination may be empty, or None: a
    file still to be created); returns whether the destination has a schema. Refuses in one line
    naming the one behind."""
    from rrg_registry.store import schema

    head = schema.HEAD_REVISION
    src_url, dst_url = schema.display_url(src), (schema.display_url(dst) if dst is not None else "")
    src_rev = schema.checked_revision(src)
    if src_rev is None:
        raise NotFound(
            f"the source {src_url} holds no rrg registry (it has no schema)",
            hint="give the registry to copy from as SRC: rrg db copy SRC DST",
        )
    dst_rev = schema.checked_revision(dst) if dst is not None else None
    known = schema.known_revisions_fast()
    for role, url, revision in (("source", src_url, src_rev), ("destination", dst_url, dst_rev)):
        if revision is not None and revision not in known:
            raise StaleSchema(
                f"the {role} registry {url} has schema revision {revision}, which this rrg does not know "
                f"(it needs {head})",
                hint="the database was written by a newer rrg; upgrade rrg",
            )
    behind = [(role, url, rev) for role, url, rev in (("source", src_url, src_rev), ("destination", dst_url, dst_rev))
              if rev is not None and rev != head]
    if len(behind) == 2:
        raise StaleSchema(
            f"both registries are behind this rrg's schema revision {head}: the source {src_url} is at {src_rev}, "
            f"the destination {dst_url} at {dst_rev}",
            hint=f"take backups, then run `rrg db upgrade --registry {src_url}` and `rrg db upgrade --registry {dst_url}`",
        )
    if behind:
        role, url, revision = behind[0]
        other = "destination" if role == "source" else "source"
        other_rev = dst_rev if role == "source" else src_rev
        where = f"the {other}'s {other_rev}" if other_rev is not None else f"this rrg's {head}"
        raise StaleSchema(
            f"the {role} registry {url} is at schema revision {revision}, behind {where}",
            hint=f"take a backup, then run `rrg db upgrade --registry {url}`",
        )
    return dst_rev is not None


def _resolve_runs(connection: sa.Connection, runs: sa.Table, wanted: Sequence[str]) -> list[str]:
    out: list[str] = []
    for text in wanted:
        text = text.strip()
        matches = connection.execute(
            sa.select(runs.c.id).where(runs.c.id.startswith(text, autoescape=True)).order_by(runs.c.id).limit(6)
        ).scalars().all() if text else []
        exact = [m for m in matches if m == text]
        if exact:
            matches = exact
        if not matches:
            raise NotFound(f"no run matches {text!r} in the source registry", hint="list its runs with `rrg runs list --registry SRC`")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
            raise NotFound(f"run id prefix {text!r} matches several runs of the source ({shown})", hint="type more characters")
        out.append(matches[0])
    return out


# -- entry point -------------------------------------------------------------------------------


def copy_registry(
    source_url: str,
    destination_url: str,
    run_ids: Sequence[str] = (),
    *,
    dry_run: bool = False,
    include_running: bool = False,
    progress: ProgressCallback | None = None,
) -> CopyReport:
    """Copy the registry at ``source_url`` (every run, or the runs ``run_ids`` name, ids or unique
    prefixes, with their ancestors) into the one at ``destination_url``, creating it when empty.

    Both must be at this rrg's schema revision. Rows already in the destination are not copied
    again; a row whose natural key is there with other content raises :class:`CopyConflict` and
    nothing of its unit is written. Each run is copied in its own transaction (parents first), so
    an interrupted copy is continued by copying again. Pending and running runs are skipped (and
    their descendants) unless ``include_running``. With ``dry_run`` nothing is written (and an
    empty destination is not created); the report counts what would be copied.
    """
    from rrg_registry.registry import (
        _engine_for,
        _open_engine,
        _sqlite_file,
        require_existing_registry,
    )
    from rrg_registry.store import schema
    from rrg_registry.store.engine import explain_write_error, read_only_error, read_only_reason

    check_specs()
    require_existing_registry(source_url)
    src = _open_engine(source_url)
    dst = None
    try:
        missing_file = _sqlite_file(destination_url)
        if dry_run and missing_file is not None and not missing_file.exists():
            dst = _engine_for(destination_url)  # not connected: connecting would create the file
            report = CopyReport(schema.display_url(src), schema.display_url(dst), dry_run=True)
            _check_revisions(src, None)
            dst_exists = False
        else:
            dst = _open_engine(destination_url)
            report = CopyReport(schema.display_url(src), schema.display_url(dst), dry_run=dry_run)
            if _same_database(src, dst):
                raise RegistryError(
                    f"the source and the destination are the same registry ({report.source})",
                    hint="give two different registries: rrg db copy SRC DST",
                )
            dst_exists = _check_revisions(src, dst)
        report.destination_exists = dst_exists
        if not dry_run:
            reason = read_only_reason(dst)
            if reason is not None:
                raise read_only_error(report.destination, reason)
            if not dst_exists:
                schema.ensure_schema(dst)
                dst_exists = report.destination_created = True
        try:
            _copy(src, dst, dst_exists, report, list(run_ids), include_running, progress)
        except sa.exc.DBAPIError as error:
            explained = explain_write_error(error, dst)
            if explained is None:
                raise
            raise explained from None
        return report
    finally:
        src.dispose()
        if dst is not None:
            dst.dispose()


def _copy(src: sa.Engine, dst: sa.Engine, dst_exists: bool, report: CopyReport, wanted: list[str],
          include_running: bool, progress: ProgressCallback | None) -> None:
    copier = _Copier(src, dst, dst_exists, report)
    runs_table = copier.tables[RUN_TABLE]
    live = {s.value for s in RunStatus if s not in FINAL_STATUSES}

    with src.connect() as source:
        all_runs = copier._rows(source, runs_table)
        by_id = {r["id"]: r for r in all_runs}
        if wanted:
            chosen = _resolve_runs(source, runs_table, wanted)
            selected: dict[str, dict[str, Any]] = {}
            for run_id in chosen:
                current: str | None = run_id
                while current is not None and current not in selected:
                    selected[current] = by_id[current]
                    current = by_id[current]["parent_run_id"]
            for run in selected.values():
                if run["status"] in live and not include_running:
                    named = "it" if run["id"] in chosen else "it is an ancestor of a run asked for, and it"
                    raise RegistryError(
                        f"run {run['id']} is {run['status']} in the source: {named} has not finished, so a copy "
                        "would be a snapshot the destination marks interrupted",
                        hint="copy it once it has finished, or pass --include-running to copy it as it is now",
                    )
            runs = [by_id[i] for i in by_id if i in selected]
        else:
            runs = []
            skipped_ids: set[str] = set()
            for run in _topological(all_runs):
                parent = run["parent_run_id"]
                if run["status"] in live and not include_running:
                    skipped_ids.add(run["id"])
                    report.skipped.append(Skipped(RUN_TABLE, run["id"], f"{run['status']}; copied once it has finished "
                                                  "(or now, as it is, with --include-running)"))
                elif parent in skipped_ids:
                    skipped_ids.add(run["id"])
                    report.skipped.append(Skipped(RUN_TABLE, run["id"], f"its parent run {parent} is skipped"))
                else:
                    runs.append(run)
        runs = _topological(runs)

        # what the runs need from the tables that form no unit, or everything in a full copy
        before_runs, after_runs = copier.before_runs, copier.after_runs
        needed: dict[str, set[Any]] | None = _needed(copier, source, runs) if wanted else None
        head_rows: dict[str, list[dict[str, Any]]] = {}
        for name in before_runs:
            table = copier.tables[name]
            if needed is None:
                head_rows[name] = copier._rows(source, table)
            else:
                head_rows[name] = copier._rows_in(source, table, SPECS[name].surrogate, sorted(needed.get(name, ())))
            unit_id = SPECS[name].surrogate or SPECS[name].key[0]
            owners = sorted(row[unit_id] for row in head_rows[name])
            for part in copier.parts.get(name, []):
                head_rows[part] = copier._rows_in(source, copier.tables[part], SPECS[part].part_of[1], owners)
        if wanted and after_runs:
            shown = ", ".join(after_runs)
            report.notes.append(f"with --run only the runs and what they need are copied; {shown} come with a copy without --run")

    copier.copy_tables(head_rows)

    total = len(runs)
    done_count = 0

    def run_done(row: dict[str, Any], existed: bool) -> None:
        nonlocal done_count
        done_count += 1
        (report.runs_already_there if existed else report.runs_copied).append(row["id"])
        if progress is not None:
            progress(row["id"], "already there" if existed else "copied", done_count, total)

    copier.copy_units(RUN_TABLE, runs, run_done)

    if wanted:
        return
    present = set(report.runs_copied) | set(report.runs_already_there)
    for name in after_runs:
        with src.connect() as source:
            rows = copier._rows(source, copier.tables[name])
            parts = {part: copier._rows(source, copier.tables[part]) for part in copier.parts.get(name, [])}
        spec = SPECS[name]
        unit_id = spec.surrogate or spec.key[0]
        run_columns = {fk.parent.name for t in [name, *parts] for fk in copier.tables[t].foreign_keys
                       if fk.column.table.name == RUN_TABLE}
        keep = []
        for row in rows:
            members = [row] + [p for part, prows in parts.items() for p in prows if p[SPECS[part].part_of[1]] == row[unit_id]]
            missing = sorted({m[c] for m in members for c in run_columns if m.get(c) and m[c] not in present})
            if missing:
                report.skipped.append(Skipped(name, copier._label(name, row),
                                              f"it refers to run(s) not copied: {', '.join(missing)}"))
            else:
                keep.append(row)
        if name in copier.parts:
            copier.copy_units(name, keep, lambda row, existed: None)
        else:
            copier.copy_tables({name: keep})


def _needed(copier: _Copier, source: sa.Connection, runs: list[dict[str, Any]]) -> dict[str, set[Any]]:
    """Surrogate ids of the rows the runs (and their parts) refer to, and what those refer to."""
    needed: dict[str, set[Any]] = {}
    ids = [r["id"] for r in runs]

    def add(name: str, rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, Any]]:
        found = []
        for row in rows:
            for column, target in SPECS[name].refs.items():
                value = row.get(column)
                if value is not None and SPECS[target].part_of is None and value not in needed.setdefault(target, set()):
                    needed[target].add(value)
                    found.append((target, value))
        return found

    frontier = add(RUN_TABLE, runs)
    for part in copier.parts.get(RUN_TABLE, []):
        if any(SPECS[target].part_of is None for target in SPECS[part].refs.values()):
            frontier += add(part, copier._rows_in(source, copier.tables[part], "run_id", ids))
    while frontier:
        by_table: dict[str, list[Any]] = {}
        for target, value in frontier:
            by_table.setdefault(target, []).append(value)
        frontier = []
        for target, values in by_table.items():
            frontier += add(target, copier._rows_in(source, copier.tables[target], SPECS[target].surrogate, values))
            for part in copier.parts.get(target, []):
                frontier += add(part, copier._rows_in(source, copier.tables[part], SPECS[part].part_of[1], values))
    return needed
