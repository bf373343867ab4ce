"""The registry as the browsing commands read it (``rrg runs list``, ``rrg runs show``,
``rrg compare``, ``rrg datasets list``, ``rrg datasets show``): plain dicts and lists, and in a
fresh process no pydantic, SQLAlchemy, SQLModel or Alembic.

:class:`RegistryReader` answers exactly what those commands print, with one set of SQL queries
for both databases. Runs come as the rows of :meth:`rrg_registry.entities.RunSummary.to_row`;
other records as dicts of their entity's fields, in order, as ``model_dump()`` gives them (times as
aware UTC datetimes; :func:`entity_json` turns them into the ``model_dump(mode="json")`` form).

* A plain SQLite file (a path or ``sqlite:///PATH``) that this process can write and that is an
  up-to-date registry in WAL mode is read through :mod:`sqlite3` directly: one query checks the
  schema revision, then the command's own queries run (a few milliseconds on 10,000 runs).
* Anything else (PostgreSQL, a read-only or missing file, ``sqlite://``, ``file:`` URIs, a file
  at another schema revision, one that is not a registry or not yet in WAL mode) is opened by
  :meth:`rrg_registry.Registry.from_url`, which reports every problem in one line, and the same
  queries run on its engine.

Marking stale runs interrupted (:meth:`RegistryReader.reap_stale_runs`) is a write: one indexed
query looks for a stale run first, and only when there is one is the registry opened in full to
mark it, as :meth:`rrg_registry.Registry.reap_stale_runs` does with ``strict=False``.

The constants below repeat values of modules that import the database layer or pydantic; a test
keeps each equal to its original.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rrg_registry.errors import AmbiguousRunId, InvalidQuery, NotFound, RunNotFound
from rrg_registry.filters import RUN_FIELDS, SortKey, parse_filters
from rrg_registry.status import RunStatus, parse_status

if TYPE_CHECKING:  # pragma: no cover
    import sqlalchemy as sa

    from rrg_registry.filters import MetricFilter
    from rrg_registry.registry import Registry

DEFAULT_URL = "sqlite:///rrg.db"
"""As :data:`rrg_registry.registry.DEFAULT_URL`: the SQLite file ``rrg.db`` in the working directory."""

STALE_AFTER = timedelta(minutes=15)
"""As :data:`rrg_registry.registry.STALE_AFTER`: how long a running run may stay silent, or a
pending run unstarted, before the browsing commands mark it interrupted."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""As :data:`rrg_registry.store.engine.SQLITE_BUSY_TIMEOUT_MS`, in seconds."""

GREEN_FLARE_COMPONENTS: tuple[str, ...] = (
    "entity_matching",
    "location_accuracy",
    "negation_handling",
    "temporal_accuracy",
    "measurement_accuracy",
    "clinical_significance",
    "structure_completeness",
)
"""As :data:`rrg_registry.entities.GREEN_FLARE_COMPONENTS`: the seven weighted components, in the
study's Table 2 order."""

GREEN_FLARE_EXTRA: tuple[str, ...] = ("severity_correlation", "overall")
"""As :data:`rrg_registry.entities.GREEN_FLARE_EXTRA`."""

PREFERRED_METRICS: tuple[str, ...] = ("green_flare", "bleu4_flare", "ce")
"""As :data:`rrg_registry.registry.PREFERRED_METRICS`: the metrics a comparison names first."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"
"""The shipped schema migrations, ``NNNN_name.py``."""

VERSION_TABLE = "rrg_alembic_version"
"""As :data:`rrg_registry.store.schema.VERSION_TABLE`: the table holding a registry's schema revision."""

_SQL_OPERATORS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "=", "!=": "<>"}
_IN_CHUNK = 500  # run ids per IN (...) list

_SUMMARY = (
    "runs.id, runs.stage, runs.model_family, runs.model_id, runs.adapter, runs.status, runs.parent_run_id, "
    "runs.created_at, runs.started_at, runs.ended_at, recipe_versions.name, recipe_versions.version"
)
_RUNS_AND_RECIPES = "runs JOIN recipe_versions ON recipe_versions.id = runs.recipe_version_id"
_COMPONENT_FIELDS = ("id", "run_id", "checkpoint_id", "split", "n", *GREEN_FLARE_COMPONENTS, *GREEN_FLARE_EXTRA, "logged_at")


def head_revision() -> str:
    """The newest schema revision this rrg ships (migrations are numbered ``NNNN_name.py``)."""
    return max(p.name.split("_", 1)[0] for p in MIGRATIONS.glob("[0-9]*_*.py"))


def plain_sqlite_file(url: str) -> Path | None:
    """The SQLite file a plain URL names: a bare path, or ``sqlite:///PATH`` without query
    arguments or %-escapes. None for anything else (a server, ``sqlite://``, ``:memory:``,
    ``file:`` URIs, another driver), which only :meth:`rrg_registry.Registry.from_url` reads."""
    text = url.strip()
    if "://" not in text:
        database = text
    elif text.startswith("sqlite:///"):
        database = text[len("sqlite:///"):]
        if "?" in database or "%" in database:
            return None
    else:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _writable_file(path: Path) -> bool:
    """Whether ``path`` is a file this process can write, in a folder it can write, on a file
    system mounted read-write (what SQLite needs to read a WAL database without special flags)."""
    try:
        if not path.is_file() or os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def utc(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite holds naive UTC text
    (``YYYY-MM-DD HH:MM:SS.ffffff``), PostgreSQL hands out aware datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sqlite_time(moment: datetime) -> str:
    """``moment`` as SQLite holds registry times (naive UTC text), for comparisons in SQL."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json_value(value: Any) -> Any:
    """A JSON column's value: SQLite returns its text, PostgreSQL the decoded value."""
    return json.loads(value) if isinstance(value, str) else value


def entity_json(value: Any) -> Any:
    """``value`` (a record of this module, or lists and dicts of them) in the form the entities'
    ``model_dump(mode="json")`` gives: times as ISO 8601 text, ``Z`` for UTC."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dict):
        return {k: entity_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [entity_json(v) for v in value]
    return value


def _placeholders(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``:prefix0, :prefix1, ...`` and their parameters, for ``IN (...)``."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values))


def _chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield list(values[start:start + _IN_CHUNK])


class _Connection(Protocol):
    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]: ...

    def close(self) -> None: ...


class _SqliteConnection:
    """:mod:`sqlite3` on a plain registry file, in autocommit mode (reads take no lock that lasts)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    @classmethod
    def open(cls, path: Path) -> _SqliteConnection | None:
        """A connection to ``path`` if it is an up-to-date registry in WAL mode; None if it is
        not, cannot be read, or is locked: :meth:`Registry.from_url` then opens it, and says why
        where something is wrong."""
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            journal = connection.execute("PRAGMA journal_mode").fetchone()
            revision = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
        except sqlite3.DatabaseError:  # not a database, no version table, locked
            connection.close()
            return None
        if journal is None or journal[0] != "wal" or revision is None or revision[0] != head_revision():
            connection.close()
            return None
        return cls(connection)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self._connection.execute(sql, dict(params or {})).fetchall()

    def close(self) -> None:
        self._connection.close()


class _EngineConnection:
    """The same queries on the SQLAlchemy engine of a registry opened in full."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._connection: sa.Connection | None = None

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        import sqlalchemy as sa

        if self._connection is None:
            self._connection = self._engine.connect()
        return [tuple(row) for row in self._connection.execute(sa.text(sql), dict(params or {}))]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class RegistryReader:
    """What ``rrg runs list``, ``rrg runs show``, ``rrg compare`` and ``rrg datasets list/show``
    read, as plain data.

    Open it with :meth:`open` (a context manager); it never creates a registry.
    """

    def __init__(self, url: str, connection: _Connection, registry: Registry | None = None) -> None:
        self.url = url
        self._connection = connection
        self._registry = registry

    @classmethod
    def open(cls, url: str) -> RegistryReader:
        """The registry at ``url`` for reading. A plain SQLite file that is an up-to-date
        registry is read through :mod:`sqlite3`; anything else is opened by
        :meth:`rrg_registry.Registry.from_url` with ``create=False``, which raises the one-line
        errors (no registry there, a stale or unknown schema revision, another application's
        file, a server that cannot be reached)."""
        path = plain_sqlite_file(url)
        if path is not None and _writable_file(path):
            connection = _SqliteConnection.open(path)
            if connection is not None:
                return cls(url, connection)
        from rrg_registry.registry import Registry

        registry = Registry.from_url(url, create=False)
        return cls(url, _EngineConnection(registry._store.engine), registry)

    @property
    def light(self) -> bool:
        """Whether the registry is read through :mod:`sqlite3`, without the database layer."""
        return self._registry is None

    def close(self) -> None:
        """Close the connection (and the registry, if it was opened in full)."""
        self._connection.close()
        if self._registry is not None:
            self._registry.close()

    def __enter__(self) -> RegistryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryReader({self.url!r})"

    def _rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self._connection.rows(sql, params)

    # -- stale runs ------------------------------------------------------------------------

    def _stale_run_exists(self) -> bool:
        """Whether a running run has been silent, or a pending run unstarted, for :data:`STALE_AFTER`."""
        cutoff = _sqlite_time(datetime.now(UTC) - STALE_AFTER)
        return bool(self._rows(
            "SELECT 1 FROM runs WHERE (status = :running AND coalesce(heartbeat_at, started_at, created_at) < :cutoff) "
            "OR (status = :pending AND created_at < :cutoff) LIMIT 1",
            {"running": RunStatus.RUNNING.value, "pending": RunStatus.PENDING.value, "cutoff": cutoff},
        ))

    def reap_stale_runs(self) -> list[str]:
        """Mark stale runs interrupted as :meth:`Registry.reap_stale_runs` does with
        ``strict=False`` (a registry that cannot be written now is left as it is); returns the ids
        marked. Read through :mod:`sqlite3`, it costs one indexed query when nothing is stale."""
        if self._registry is not None:
            return self._registry.reap_stale_runs(strict=False)
        if not self._stale_run_exists():
            return []
        from rrg_registry.registry import Registry

        with Registry.from_url(self.url, create=False) as registry:
            return registry.reap_stale_runs(strict=False)

    # -- runs ------------------------------------------------------------------------------

    def resolve_run_id(self, run_id_or_prefix: str) -> str:
        """The full id of the run named by an id or a unique id prefix (as
        :meth:`Registry.resolve_run_id`)."""
        text = run_id_or_prefix.strip()
        if not text:
            raise RunNotFound("an empty run id names no run", hint="give a run id from `rrg runs list`")
        if self._rows("SELECT id FROM runs WHERE id = :id", {"id": text}):
            return text
        escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
        matches = [row[0] for row in self._rows(
            "SELECT id FROM runs WHERE id LIKE :prefix ESCAPE '/' ORDER BY id LIMIT 6", {"prefix": escaped + "%"}
        )]
        if not matches:
            raise RunNotFound(f"no run matches {text!r}", hint="list runs with `rrg runs list`")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
            raise AmbiguousRunId(f"run id prefix {text!r} matches several runs ({shown})", hint="type more characters")
        return matches[0]

    def search_runs(
        self,
        recipe: str | None = None,
        stage: str | None = None,
        model: str | None = None,
        status: str | Sequence[str] | None = None,
        tag: str | Sequence[str] | None = None,
        where: Sequence[str | MetricFilter] = (),
        sort: str | None = None,
        ascending: bool | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs matching every filter, as rows (:meth:`RunSummary.to_row` shape), with the
        arguments, order and errors of :meth:`Registry.search_runs`."""
        if limit is not None and limit < 1:
            raise InvalidQuery(f"limit must be at least 1, got {limit}")
        statuses = [status] if isinstance(status, str) else list(status or [])
        tags = [tag] if isinstance(tag, str) else list(tag or [])
        filters = parse_filters(list(where))
        key = SortKey.parse(sort, ascending)
        conditions: list[str] = []
        params: dict[str, Any] = {}
        if recipe:
            name, _, version = recipe.partition("@")
            conditions.append("recipe_versions.name = :recipe_name")
            params["recipe_name"] = name
            if version:
                if not version.isdigit():
                    raise InvalidQuery(f"cannot read the recipe {recipe!r}", hint="write NAME or NAME@VERSION, e.g. demo-sft@2")
                conditions.append("recipe_versions.version = :recipe_version")
                params["recipe_version"] = int(version)
        if stage:
            conditions.append("runs.stage = :stage")
            params["stage"] = stage
        if model:
            conditions.append("(runs.model_family = :model OR runs.model_id = :model)")
            params["model"] = model
        if statuses:
            listed, values = _placeholders("status", [parse_status(s).value for s in statuses])
            conditions.append(f"runs.status IN ({listed})")
            params.update(values)
        for i, required in enumerate(tags):
            conditions.append(f"EXISTS (SELECT 1 FROM run_tags WHERE run_tags.run_id = runs.id AND run_tags.tag = :tag{i})")
            params[f"tag{i}"] = required
        for i, f in enumerate(filters):
            op = _SQL_OPERATORS.get(f.op)
            if op is None:
                raise InvalidQuery(f"unknown comparison {f.op!r} in the filter {f}", hint="use one of > >= < <= = !=")
            conditions.append(
                f"EXISTS (SELECT 1 FROM latest_metrics AS where{i} WHERE where{i}.run_id = runs.id "
                f"AND where{i}.name = :where{i}_name AND where{i}.value {op} :where{i}_value)"
            )
            params.update({f"where{i}_name": f.metric, f"where{i}_value": f.value})
        direction = "DESC" if key.descending else "ASC"
        newest = "runs.created_at DESC, runs.id"
        if limit is not None:
            params["limit"] = limit

        def run_ids(joins: str, where: list[str], order: str, query_params: dict[str, Any]) -> list[str]:
            sql = f"SELECT runs.id FROM {_RUNS_AND_RECIPES}{joins}"
            sql += f" WHERE {' AND '.join(where)}" if where else ""
            sql += f" ORDER BY {order}" + ("" if limit is None else " LIMIT :limit")
            return [row[0] for row in self._rows(sql, query_params)]

        if not key.is_metric:
            if key.key == "recipe":
                order = f"recipe_versions.name {direction}, recipe_versions.version {direction}"
            else:
                order = f"runs.{RUN_FIELDS[key.key]} {direction}"
            return self.summaries(run_ids("", conditions, f"{order}, {newest}", params))
        # runs with the metric, by its value; then, if the limit leaves room, runs without it
        params["sort_metric"] = key.key
        ids = run_ids(
            " JOIN latest_metrics AS sort_metric ON sort_metric.run_id = runs.id AND sort_metric.name = :sort_metric",
            conditions, f"sort_metric.value {direction}, {newest}", params,
        )
        if limit is None or len(ids) < limit:
            without = ("NOT EXISTS (SELECT 1 FROM latest_metrics WHERE latest_metrics.run_id = runs.id "
                       "AND latest_metrics.name = :sort_metric)")
            rest = params if limit is None else {**params, "limit": limit - len(ids)}
            ids += run_ids("", [*conditions, without], newest, rest)
        return self.summaries(ids)

    def summaries(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The runs ``run_ids`` (full ids) as rows, in that order; ids of no run are left out."""
        found: dict[str, tuple] = {}
        tags: dict[str, list[str]] = {}
        metrics: dict[str, dict[str, float]] = {}
        for chunk in _chunks(list(dict.fromkeys(run_ids))):
            listed, params = _placeholders("run", chunk)
            for row in self._rows(f"SELECT {_SUMMARY} FROM {_RUNS_AND_RECIPES} WHERE runs.id IN ({listed})", params):
                found[row[0]] = row
            for run_id, tag in self._rows(f"SELECT run_id, tag FROM run_tags WHERE run_id IN ({listed})", params):
                tags.setdefault(run_id, []).append(tag)
            for run_id, name, value in self._rows(
                f"SELECT run_id, name, value FROM latest_metrics WHERE run_id IN ({listed}) ORDER BY run_id, name", params
            ):
                metrics.setdefault(run_id, {})[name] = value
        out = []
        for run_id in run_ids:
            row = found.get(run_id)
            if row is None:
                continue
            (_, stage, family, model_id, adapter, status, parent, created, started, ended, recipe, version) = row
            out.append({
                "id": run_id,
                "recipe": f"{recipe}@{version}",
                "stage": stage,
                "model": family,
                "model_id": model_id,
                "adapter": adapter,
                "status": RunStatus(status).value,
                "tags": sorted(tags.get(run_id, ())),
                "parent": parent,
                "created": utc(created),
                "started": utc(started),
                "ended": utc(ended),
                "metrics": dict(metrics.get(run_id, {})),
            })
        return out

    def run_detail(self, run_id: str, history: bool = True) -> dict[str, Any]:
        """Everything about a run (id or unique prefix) with the keys of :class:`RunDetail`:
        run, recipe, parent, children, datasets, checkpoints, metrics, metric_history (empty
        unless ``history``), components, publications, prediction_counts."""
        run_id = self.resolve_run_id(run_id)
        found = self._rows(
            "SELECT id, recipe_version_id, stage, model_family, model_id, model_revision, adapter, status, host, seed, "
            "package_versions, plan, parent_run_id, external_model_id, created_at, started_at, ended_at, "
            "heartbeat_at, error, dataset_version_id FROM runs WHERE id = :id",
            {"id": run_id},
        )
        if not found:
            raise RunNotFound(f"no run {run_id!r} in the registry", hint="list runs with `rrg runs list`")
        (_, recipe_id, stage, family, model_id, revision, adapter, status, host, seed, packages, plan, parent_id,
         external_id, created, started, ended, heartbeat, error, dataset_version_id) = found[0]
        recipe_row = self._rows(
            "SELECT id, name, version, hash, yaml_text, created_at FROM recipe_versions WHERE id = :id", {"id": recipe_id}
        )[0]
        recipe = dict(zip(("id", "name", "version", "hash", "yaml_text", "created_at"), recipe_row))
        recipe["created_at"] = utc(recipe["created_at"])
        tags = sorted(row[0] for row in self._rows("SELECT tag FROM run_tags WHERE run_id = :id", {"id": run_id}))
        run = {
            "id": run_id, "recipe_version_id": recipe_id, "recipe_name": recipe["name"],
            "recipe_version": recipe["version"], "stage": stage, "model_family": family, "model_id": model_id,
            "model_revision": revision, "adapter": adapter, "status": RunStatus(status).value, "host": host,
            "seed": seed, "package_versions": dict(_json_value(packages) or {}), "plan": _json_value(plan),
            "parent_run_id": parent_id, "external_model_id": external_id, "dataset_version_id": dataset_version_id,
            "tags": tags, "created_at": utc(created),
            "started_at": utc(started), "ended_at": utc(ended), "heartbeat_at": utc(heartbeat), "error": error,
        }
        parent = self._links("runs.id = :id", parent_id)[0] if parent_id else None
        datasets = [
            dict(zip(("id", "name", "split", "fingerprint", "size", "created_at"), row), created_at=utc(row[5]))
            for row in self._rows(
                "SELECT datasets.id, datasets.name, datasets.split, datasets.fingerprint, datasets.size, "
                "datasets.created_at FROM datasets JOIN run_datasets ON run_datasets.dataset_id = datasets.id "
                "WHERE run_datasets.run_id = :id ORDER BY datasets.name, datasets.split",
                {"id": run_id},
            )
        ]
        checkpoints = [
            dict(zip(("id", "run_id", "step", "path", "sha256", "size", "eval_loss", "best", "created_at"), row),
                 best=bool(row[7]), created_at=utc(row[8]))
            for row in self._rows(
                "SELECT id, run_id, step, path, sha256, size, eval_loss, best, created_at FROM checkpoints "
                "WHERE run_id = :id ORDER BY step",
                {"id": run_id},
            )
        ]
        metric_history = [
            dict(zip(("id", "run_id", "checkpoint_id", "split", "name", "value", "n", "step", "logged_at"), row),
                 logged_at=utc(row[8]))
            for row in self._rows(
                "SELECT id, run_id, checkpoint_id, split, name, value, n, step, logged_at FROM metrics "
                "WHERE run_id = :id ORDER BY id",
                {"id": run_id},
            )
        ] if history else []
        latest = dict(self._rows(
            "SELECT name, value FROM latest_metrics WHERE run_id = :id ORDER BY name", {"id": run_id}
        ))
        components = [
            dict(zip(_COMPONENT_FIELDS, row), logged_at=utc(row[-1]))
            for row in self._rows(
                f"SELECT {', '.join(_COMPONENT_FIELDS)} FROM green_flare_components WHERE run_id = :id ORDER BY id",
                {"id": run_id},
            )
        ]
        publications = [
            dict(zip(("id", "run_id", "repo", "revision", "url", "published_at"), row), published_at=utc(row[5]))
            for row in self._rows(
                "SELECT id, run_id, repo, revision, url, published_at FROM publications WHERE run_id = :id ORDER BY id",
                {"id": run_id},
            )
        ]
        counts = dict(self._rows(
            "SELECT split, count(*) FROM predictions WHERE run_id = :id GROUP BY split ORDER BY split", {"id": run_id}
        ))
        return {
            "run": run,
            "recipe": recipe,
            "parent": parent,
            "children": self._links("runs.parent_run_id = :id", run_id),
            "datasets": datasets,
            "checkpoints": checkpoints,
            "metrics": latest,
            "metric_history": metric_history,
            "components": components,
            "publications": publications,
            "prediction_counts": counts,
            "dataset_version": self.dataset_version(dataset_version_id) if dataset_version_id is not None else None,
        }

    def dataset_version(self, dataset_version_id: int) -> dict[str, Any]:
        """The registered dataset version with this id, with the keys of :class:`DatasetVersion`."""
        return self._dataset_versions("dataset_versions.id = :id", {"id": dataset_version_id})[0]

    def _dataset_versions(self, condition: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        fields = ("id", "name", "version", "root", "description", "license", "credentialed", "content_hash", "created_at")
        versions = [
            dict(zip(fields, row), credentialed=bool(row[6]), created_at=utc(row[8]), splits=[])
            for row in self._rows(
                f"SELECT {', '.join(fields)} FROM dataset_versions WHERE {condition} ORDER BY name, version", params
            )
        ]
        by_id = {v["id"]: v for v in versions}
        for chunk in _chunks(list(by_id)):
            listed, ids = _placeholders("dv", chunk)
            for row in self._rows(
                "SELECT dataset_version_id, flare_dataset, category, split, count, task_types, fingerprint "
                f"FROM dataset_version_splits WHERE dataset_version_id IN ({listed})",
                ids,
            ):
                by_id[row[0]]["splits"].append({
                    "flare_dataset": row[1], "category": row[2], "split": row[3], "count": row[4],
                    "task_types": list(_json_value(row[5]) or []), "fingerprint": row[6],
                })
        for version in versions:  # by code point, as the registry orders them (not the database's collation)
            version["splits"].sort(key=lambda s: (s["flare_dataset"], s["category"], s["split"]))
        return versions

    def list_dataset_versions(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every registered dataset version (of ``name``), by name and version, as
        :meth:`Registry.list_dataset_versions` gives them (keys of :class:`DatasetVersion`)."""
        if name is None:
            return self._dataset_versions("1 = 1", {})
        return self._dataset_versions("name = :name", {"name": name})

    def get_dataset_version(self, name: str, version: int | None = None) -> dict[str, Any]:
        """The registered dataset ``name@version`` (None: its latest version), with the keys of
        :class:`DatasetVersion`; an unknown name or version raises :class:`NotFound` listing what
        is registered, as :meth:`Registry.get_dataset_version` does."""
        if version is None:
            found = self._dataset_versions(
                "name = :name AND version = (SELECT max(version) FROM dataset_versions WHERE name = :name)",
                {"name": name},
            )
        else:
            found = self._dataset_versions("name = :name AND version = :version", {"name": name, "version": int(version)})
        if found:
            return found[0]
        versions = [row[0] for row in self._rows(
            "SELECT version FROM dataset_versions WHERE name = :name ORDER BY version", {"name": name}
        )]
        if versions:
            raise NotFound(
                f"dataset {name} has no version {version}",
                hint=f"registered versions: {', '.join(f'{name}@{v}' for v in versions)}",
            )
        names = [row[0] for row in self._rows("SELECT DISTINCT name FROM dataset_versions ORDER BY name")]
        how = "register it with `rrg datasets register NAME ROOT`"
        if names:
            how = f"registered datasets: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}; or {how}"
        raise NotFound(f"no dataset named {name} is registered", hint=how)

    def runs_of_dataset_version(self, dataset_version_id: int) -> list[dict[str, Any]]:
        """The runs linked to the dataset version, newest first, as rows (:meth:`RunSummary.to_row`
        shape), as :meth:`Registry.runs_of_dataset_version` gives them."""
        return self.summaries([row[0] for row in self._rows(
            "SELECT id FROM runs WHERE dataset_version_id = :id ORDER BY created_at DESC, id",
            {"id": int(dataset_version_id)},
        )])

    def best_by_model_on_dataset_version(
        self, dataset_version_id: int, metric: str = "green_flare"
    ) -> list[tuple[str, str, float, str]]:
        """For each model (id) and stage with a succeeded run linked to the dataset version, the
        highest ``metric`` and the run that scored it: (model, stage, value, run_id), by model and
        stage; ties go to the run created first (as :meth:`Registry.best_by_model_on_dataset_version`)."""
        best: dict[tuple[str, str], tuple[str, str, float, str]] = {}
        for model_id, stage, value, run_id in self._rows(
            "SELECT runs.model_id, runs.stage, latest_metrics.value, runs.id FROM runs "
            "JOIN latest_metrics ON latest_metrics.run_id = runs.id AND latest_metrics.name = :metric "
            "WHERE runs.dataset_version_id = :id AND runs.status = :succeeded "
            "ORDER BY runs.model_id, runs.stage, latest_metrics.value DESC, runs.created_at, runs.id",
            {"metric": metric, "id": int(dataset_version_id), "succeeded": RunStatus.SUCCEEDED.value},
        ):
            best.setdefault((model_id, stage), (model_id, stage, float(value), run_id))
        return list(best.values())

    def _links(self, condition: str, value: str) -> list[dict[str, Any]]:
        """Runs in a lineage (``condition`` on ``:id``) as {id, recipe, stage, status}, oldest first."""
        return [
            {"id": run_id, "recipe": f"{name}@{version}", "stage": stage, "status": RunStatus(status).value}
            for run_id, name, version, stage, status in self._rows(
                "SELECT runs.id, recipe_versions.name, recipe_versions.version, runs.stage, runs.status "
                f"FROM {_RUNS_AND_RECIPES} WHERE {condition} ORDER BY runs.created_at, runs.id",
                {"id": value},
            )
        ]

    # -- comparisons -----------------------------------------------------------------------

    def latest_components(self, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each run's most recently logged green_flare components (fields of
        :class:`GreenFlareComponents`); runs without any are left out."""
        latest: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(run_ids))):
            listed, params = _placeholders("run", chunk)
            for row in self._rows(
                f"SELECT {', '.join(_COMPONENT_FIELDS)} FROM green_flare_components WHERE run_id IN ({listed}) ORDER BY id",
                params,
            ):
                latest[row[1]] = dict(zip(_COMPONENT_FIELDS, row), logged_at=utc(row[-1]))
        return latest

    def prediction_splits(self, run_id: str) -> list[str]:
        """The splits a run (full id) stored predictions on, by name."""
        return [row[0] for row in self._rows(
            "SELECT DISTINCT split FROM predictions WHERE run_id = :id ORDER BY split", {"id": run_id}
        )]

    def sample_scores(self, run_id: str, split: str) -> dict[str, float]:
        """Per-sample green_flare of a run (full id) on a split; samples without one left out."""
        return dict(self._rows(
            "SELECT sample_id, green_flare FROM predictions WHERE run_id = :id AND split = :split "
            "AND green_flare IS NOT NULL",
            {"id": run_id, "split": split},
        ))

    def compare(
        self,
        run_ids: Sequence[str],
        split: str | None = None,
        resamples: int | None = None,
        seed: int | None = None,
        confidence: float | None = None,
    ) -> dict[str, Any]:
        """Runs side by side and paired bootstraps of per-sample green_flare against the first,
        as :meth:`Registry.compare`: ``{"runs": rows, "metric_names": [...], "paired_tests":
        [PairedTest fields], "skipped_tests": [reasons]}``."""
        from rrg_registry import stats

        if len(run_ids) < 2:
            raise InvalidQuery("compare needs at least two runs", hint="give two or more run ids")
        ids = [self.resolve_run_id(r) for r in run_ids]
        found = {row["id"]: row for row in self.summaries(ids)}
        runs = [found[i] for i in ids]
        names = sorted({name for run in runs for name in run["metrics"]})
        ordered = [m for m in PREFERRED_METRICS if m in names] + [m for m in names if m not in PREFERRED_METRICS]
        resamples = stats.DEFAULT_RESAMPLES if resamples is None else resamples
        seed = stats.DEFAULT_SEED if seed is None else seed
        confidence = stats.DEFAULT_CONFIDENCE if confidence is None else confidence
        tests: list[dict[str, Any]] = []
        skipped: list[str] = []
        base = ids[0]
        base_splits = set(self.prediction_splits(base))
        for other in ids[1:]:
            common = sorted(base_splits & set(self.prediction_splits(other)))
            chosen = split if split is not None else (common[0] if common else None)
            if chosen is None or chosen not in common:
                where = f"on split {split}" if split else "on a common split"
                skipped.append(f"{other} vs {base}: no per-sample predictions of both runs {where}")
                continue
            a, b = self.sample_scores(base, chosen), self.sample_scores(other, chosen)
            shared = sorted(set(a) & set(b))
            if len(shared) < 2:
                skipped.append(f"{other} vs {base}: {len(shared)} sample(s) scored by both on {chosen}; need 2")
                continue
            result = stats.paired_bootstrap(
                [a[s] for s in shared], [b[s] for s in shared], resamples=resamples, seed=seed, confidence=confidence
            )
            tests.append({
                "baseline_run_id": base, "run_id": other, "split": chosen, "metric": "green_flare", "n": result.n,
                "baseline_mean": result.mean_a, "run_mean": result.mean_b, "mean_difference": result.mean_difference,
                "ci_low": result.ci_low, "ci_high": result.ci_high, "confidence": result.confidence,
                "p_value": result.p_value, "resamples": result.resamples, "seed": result.seed,
            })
        return {"runs": runs, "metric_names": ordered, "paired_tests": tests, "skipped_tests": skipped}
