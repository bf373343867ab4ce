"""The :class:`Registry`: the one object the SDK and the CLI use to record and read results.

``Registry.from_url`` is the only place that tells SQLite from PostgreSQL. ``Registry.default``
resolves ``RRG_REGISTRY_URL`` (falling back to :data:`DEFAULT_URL`) and is meant for entry points
only (the CLI and the top of the SDK); library code receives a ``Registry``.
"""

from __future__ import annotations

import dataclasses

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg_registry import entities
from rrg_registry.errors import (
    InvalidQuery,
    InvalidTransition,
    NotFound,
    RegistryError,
    RegistryLocked,
    RegistryReadOnly,
    UnsupportedUrl,
)
from rrg_registry.filters import MetricFilter, SortKey, parse_filters
from rrg_registry.status import RunStatus, parse_status

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry.store.sql_store import SqlStore

ENV_VAR = "RRG_REGISTRY_URL"
DEFAULT_URL = "sqlite:///rrg.db"
"""Without ``--registry`` or ``RRG_REGISTRY_URL``: the SQLite file ``rrg.db`` in the working directory."""

STALE_AFTER = timedelta(minutes=15)
"""A running run silent this long (no heartbeat), or a pending run this old, is marked interrupted."""

PREFERRED_METRICS: tuple[str, ...] = ("green_flare", "bleu4_flare", "ce")


def resolve_url(url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``url`` if given, else ``$RRG_REGISTRY_URL``, else :data:`DEFAULT_URL`."""
    if url:
        return url
    env = os.environ if environ is None else environ
    return env.get(ENV_VAR) or DEFAULT_URL


def _check_sqlite_folder(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).expanduser().parent
    if not folder.is_dir():
        raise RegistryError(
            f"cannot create the registry {database}: the folder {folder} does not exist",
            hint="create the folder or give another --registry / RRG_REGISTRY_URL",
        )


def _sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names (a bare path or ``sqlite:///PATH``); None for ``:memory:``,
    ``file:`` URIs, other databases and URLs that cannot be read (opening reports those)."""
    import sqlalchemy as sa

    text = url.strip()
    if "://" not in text:
        database: str | None = text
    else:
        try:
            parsed = sa.make_url(text)
        except (sa.exc.ArgumentError, ValueError):
            return None
        if parsed.get_backend_name() != "sqlite":
            return None
        database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def require_existing_registry(url: str) -> None:
    """Raise :class:`~rrg_registry.errors.NotFound` when ``url`` names a SQLite file that does not
    exist, creating nothing: what commands that only read call before opening. A server database
    (PostgreSQL) exists by definition; a missing folder is reported when the URL is opened."""
    path = _sqlite_file(url)
    if path is None or path.exists() or not path.parent.is_dir():
        return
    raise NotFound(
        f"no registry at {path.resolve()}",
        hint="point at one with --registry URL or RRG_REGISTRY_URL; `rrg run` creates one",
    )


def _engine_for(url: str):
    import sqlalchemy as sa

    from rrg_registry.store import engine as engines

    text = url.strip()
    if "://" not in text:  # a bare path names a SQLite file
        _check_sqlite_folder(text)
        return _sqlite_engine(sa.URL.create("sqlite", database=text))
    try:
        parsed = sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        raise UnsupportedUrl(f"cannot read the registry URL {text!r}", hint="use sqlite:///PATH or postgresql://USER@HOST/DB") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _check_sqlite_folder(parsed.database)
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            return engines.create_postgresql_engine(parsed)
        except ImportError as error:
            raise UnsupportedUrl(
                f"the registry URL {parsed.render_as_string(hide_password=True)} needs the Python module "
                f"{error.name or parsed.get_driver_name()!r}, which is not installed",
                hint="pip install 'rrg-sdk[postgres]' (psycopg) and write postgresql://USER@HOST/DB",
            ) from None
    raise UnsupportedUrl(
        f"the registry URL {parsed.render_as_string(hide_password=True)} names a {backend} database",
        hint="rrg supports sqlite:///PATH and postgresql://USER@HOST/DB",
    )


def _sqlite_engine(url):
    """A SQLite engine; a file that does not exist yet where it cannot be created is refused
    (:class:`RegistryReadOnly`), one that cannot be written is opened read-only."""
    from rrg_registry.store import engine as engines

    reason = engines.sqlite_read_only_reason(url.database)
    if reason is not None and not Path(url.database).expanduser().exists():
        raise engines.read_only_error(url.render_as_string(hide_password=True), reason, verb="create")
    return engines.create_sqlite_engine(url)


def _explained(engine, error: Exception) -> Exception:
    """A lock or read-only error in one line; else :func:`_cannot_open` for a database that could
    not be reached or read, and the error itself (a bug) for anything else."""
    import sqlalchemy as sa

    from rrg_registry.store.engine import explain_write_error

    explained = explain_write_error(error, engine)
    if explained is not None:
        return explained
    return _cannot_open(engine, error) if isinstance(error, sa.exc.OperationalError) else error


def _cannot_open(engine, error: Exception) -> RegistryError:
    from rrg_registry.store.schema import display_url

    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return RegistryError(
        f"cannot open the registry at {display_url(engine)}: {reason}",
        hint="check the URL (--registry or RRG_REGISTRY_URL) and that the database server is running",
    )


def _open_engine(url: str):
    """An engine for ``url`` that has made one connection: a database that cannot be reached or
    read (server down, wrong password, a file that is not a database) is a :class:`RegistryError`."""
    import sqlalchemy as sa

    engine = _engine_for(url)
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as error:
        engine.dispose()
        raise _cannot_open(engine, error) from None
    return engine


class Registry:
    """Runs, their recipes, datasets, checkpoints, metrics, green_flare components, predictions and
    publications, in one SQL database. Every method returns entities from :mod:`rrg_registry.entities`.
    """

    def __init__(self, store: SqlStore, url: str) -> None:
        self._store = store
        self.url = url

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, create: bool = True) -> Registry:
        """Open the registry at ``url`` (``sqlite:///PATH``, a bare file path, or ``postgresql://...``).

        An empty database is built by running every migration, once even when several processes
        open it at the same moment; one at an older schema revision is refused with
        :class:`~rrg_registry.errors.StaleSchema` and the command that upgrades it, a SQLite file of
        another application with :class:`~rrg_registry.errors.NotARegistry` (and left unchanged).
        With ``create=False`` (what commands that only read pass) a SQLite file that does not exist
        is refused with :class:`~rrg_registry.errors.NotFound` instead of being created.
        """
        import sqlalchemy as sa

        from rrg_registry.store.schema import display_url, ensure_schema
        from rrg_registry.store.sql_store import SqlStore

        if not create:
            require_existing_registry(url)
        engine = _open_engine(url)
        try:
            ensure_schema(engine)
        except sa.exc.DBAPIError as error:
            engine.dispose()
            explained = _explained(engine, error)
            if explained is error:
                raise
            raise explained from None
        except BaseException:
            engine.dispose()
            raise
        return cls(SqlStore(engine), display_url(engine))

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None, create: bool = True) -> Registry:
        """The registry named by ``$RRG_REGISTRY_URL``, else ``./rrg.db``. For entry points only;
        ``create`` as in :meth:`from_url`."""
        return cls.from_url(resolve_url(None, environ), create=create)

    @staticmethod
    def upgrade_schema(url: str, revision: str = "head") -> tuple[str | None, str | None]:
        """Migrate the database at ``url`` to ``revision``; returns (revision before, revision after).

        Waits for another process creating or migrating the same registry (the schema lock), and
        refuses a revision this rrg does not ship and a database written by a newer rrg.
        """
        import sqlalchemy as sa

        from rrg_registry.store import schema
        from rrg_registry.store.engine import explain_write_error

        engine = _open_engine(url)
        try:
            return schema.upgrade(engine, revision)
        except sa.exc.DBAPIError as error:
            explained = explain_write_error(error, engine)
            if explained is None:
                raise
            raise explained from None
        finally:
            engine.dispose()

    @staticmethod
    def schema_revision(url: str) -> tuple[str | None, str]:
        """(the database's schema revision or None when it has none, the revision this rrg needs).

        A database that is not empty and has no version table (another application's SQLite file,
        registry tables of unknown version) is refused as :meth:`from_url` refuses it.
        """
        from rrg_registry.store import schema

        engine = _open_engine(url)
        try:
            return schema.checked_revision(engine), schema.HEAD_REVISION
        finally:
            engine.dispose()

    @staticmethod
    def knows_schema_revision(revision: str) -> bool:
        """Whether ``revision`` is one of this rrg's migrations (if not, a newer rrg wrote it)."""
        from rrg_registry.store.schema import known_revisions_fast

        return revision in known_revisions_fast()

    def close(self) -> None:
        """Release the database connections."""
        self._store.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    # -- recipes and datasets --------------------------------------------------------------

    def record_recipe(self, name: str, version: int, hash: str, yaml_text: str) -> entities.RecipeVersion:
        """Record a recipe version; the same name+version+hash returns the recorded one.

        Raises :class:`~rrg_registry.errors.RecipeVersionConflict` when name+version is already
        recorded with a different hash.
        """
        return self._store.record_recipe(name, int(version), hash, yaml_text)

    def get_recipe_version(self, name: str, version: int) -> entities.RecipeVersion | None:
        """The recorded recipe ``name@version`` (with ``.yaml_text``), or None."""
        return self._store.get_recipe_version(name, int(version))

    def list_recipe_versions(self, name: str | None = None) -> list[entities.RecipeVersion]:
        """Every recorded recipe version (of ``name``), by name and version."""
        return self._store.list_recipe_versions(name)

    def record_dataset(self, name: str, split: str, fingerprint: str, size: int) -> entities.Dataset:
        """Record a dataset split by fingerprint; recording it again returns the same row."""
        return self._store.record_dataset(name, split, fingerprint, int(size))

    # -- registered datasets ---------------------------------------------------------------

    def register_dataset_version(
        self,
        name: str,
        root: str,
        splits: Sequence[entities.DatasetSplit],
        *,
        description: str | None = None,
        license: str | None = None,
        credentialed: bool = False,
    ) -> tuple[entities.DatasetVersion, bool]:
        """Register the content ``splits`` under ``name``; returns (the version, whether it is new).

        The content is the set of splits (flare_dataset, category, split, count, fingerprint); the
        same content as a recorded version of ``name`` returns that version (a no-op, root,
        description and licence unchanged), other content becomes the next version (1, 2, …).
        Concurrent registrations of one name from several processes never share a version number
        and never give the same content two versions. A name is letters, digits, ``.``, ``_``, ``-``
        (:class:`~rrg_registry.errors.InvalidName` otherwise).
        """
        return self._store.register_dataset_version(
            name, str(root), list(splits), description=description, license=license, credentialed=credentialed
        )

    def get_dataset_version(self, name: str, version: int | None = None) -> entities.DatasetVersion:
        """The registered dataset ``name@version`` (None: its latest version); an unknown name or
        version raises :class:`~rrg_registry.errors.NotFound` listing what is registered."""
        return self._store.get_dataset_version(name, None if version is None else int(version))

    def list_dataset_versions(self, name: str | None = None) -> list[entities.DatasetVersion]:
        """Every registered dataset version (of ``name``), by name and version."""
        return self._store.list_dataset_versions(name)

    def runs_of_dataset_version(self, dataset_version_id: int) -> list[entities.RunSummary]:
        """The runs linked to the dataset version, newest first."""
        return self._store.runs_of_dataset_version(int(dataset_version_id))

    def best_by_model_on_dataset_version(
        self, dataset_version_id: int, metric: str = "green_flare"
    ) -> list[tuple[str, str, float, str]]:
        """For each model (id) and stage with a succeeded run linked to the dataset version, the
        highest ``metric`` and the run that scored it: (model, stage, value, run_id), by model and stage."""
        return self._store.best_by_model_on_dataset_version(int(dataset_version_id), metric)

    # -- registered models -----------------------------------------------------------------

    def register_model_version(
        self,
        name: str,
        *,
        base_model: str,
        base_revision: str | None,
        source: str,
        adapter_path: str,
        files: Mapping[str, str],
        run_id: str | None = None,
        external_model_id: int | None = None,
        recipe_yaml: str | None = None,
        dataset_version_id: int | None = None,
        results: Mapping[str, float] | None = None,
        description: str | None = None,
    ) -> entities.ModelVersion:
        """Record the next version of the registered model ``name`` (created on first use).

        ``source`` is ``run:<id>`` or ``hub:<repo>@<rev>``; ``files`` maps the adapter's relative
        file paths to their sha256; ``results`` holds its evaluation metrics (finite numbers).
        ``run_id``, ``external_model_id`` and ``dataset_version_id`` must exist
        (:class:`~rrg_registry.errors.NotFound`). Concurrent registrations of one name get
        distinct, consecutive versions.
        """
        return self._store.register_model_version(
            name, base_model=base_model, base_revision=base_revision, source=source, adapter_path=str(adapter_path),
            files=dict(files), run_id=run_id, external_model_id=external_model_id, recipe_yaml=recipe_yaml,
            dataset_version_id=dataset_version_id, results=results, description=description,
        )

    def get_model_version(self, name: str, version_or_alias: int | str | None = None) -> entities.ModelVersion:
        """A version of the registered model ``name``: an int (or digits) is a version number, any
        other string an alias (``latest``: the newest version), None the newest version. Not found:
        :class:`~rrg_registry.errors.NotFound` listing its versions and aliases."""
        return self._store.get_model_version(name, version_or_alias)

    def list_registered_models(self) -> list[entities.RegisteredModel]:
        """Every registered model, by name, with its newest version and its aliases."""
        return self._store.list_registered_models()

    def list_model_versions(self, name: str) -> list[entities.ModelVersion]:
        """Every version of the registered model ``name``, oldest first, each with its aliases."""
        return self._store.list_model_versions(name)

    def set_model_alias(self, name: str, alias: str, version: int, set_by: str) -> entities.ModelAlias:
        """Point ``alias`` of model ``name`` at ``version`` (creating or moving it) and record the
        change in :meth:`alias_history`; setting it to the version it already names changes nothing.
        An alias of only digits, or ``latest``, is refused (:class:`~rrg_registry.errors.InvalidName`)."""
        return self._store.set_model_alias(name, alias, int(version), set_by)

    def delete_model_alias(self, name: str, alias: str, set_by: str) -> entities.AliasEvent:
        """Remove ``alias`` of model ``name``, recording who did; returns the recorded event."""
        return self._store.delete_model_alias(name, alias, set_by)

    def alias_history(self, name: str) -> list[entities.AliasEvent]:
        """Every change of model ``name``'s aliases, oldest first."""
        return self._store.alias_history(name)

    # -- run lifecycle ---------------------------------------------------------------------

    def create_run(
        self,
        recipe_version_id: int,
        stage: str,
        model_family: str,
        model_id: str,
        model_revision: str | None = None,
        adapter: str | None = None,
        seed: int | None = None,
        host: str | None = None,
        package_versions: Mapping[str, str] | None = None,
        plan: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        tags: Iterable[str] = (),
        datasets: Iterable[int | entities.Dataset] = (),
        external_model_id: int | None = None,
        dataset_version_id: int | None = None,
    ) -> entities.Run:
        """Create a ``pending`` run of a recorded recipe version and return it (with its new id).

        ``dataset_version_id`` links the run to the registered dataset version it reads."""
        return self._store.create_run(
            entities.NewRun(
                recipe_version_id=recipe_version_id,
                stage=stage,
                model_family=model_family,
                model_id=model_id,
                model_revision=model_revision,
                adapter=adapter,
                seed=seed,
                host=host,
                package_versions=dict(package_versions or {}),
                plan=None if plan is None else dict(plan),
                parent_run_id=parent_run_id,
                tags=tuple(sorted(set(tags))),
                dataset_ids=tuple(sorted({d.id if isinstance(d, entities.Dataset) else int(d) for d in datasets})),
                external_model_id=external_model_id,
                dataset_version_id=dataset_version_id,
            )
        )

    def start_run(self, run_id: str) -> entities.Run:
        """pending -> running; sets ``started_at`` and the first heartbeat."""
        return self._store.set_status(run_id, RunStatus.RUNNING)

    def heartbeat(self, run_id: str) -> datetime:
        """Record that a running run's process is alive; returns the time recorded."""
        return self._store.heartbeat(run_id)

    def add_to_plan(self, run_id: str, key: str, value: Any) -> None:
        """Record a fact decided once the run exists (e.g. where its live logs go) under ``key`` of
        the run's recorded plan. ``value`` must be JSON-serialisable."""
        self._store.add_to_plan(run_id, key, value)

    def finish_run(self, run_id: str, status: RunStatus | str, error: str | None = None) -> entities.Run:
        """Move a run to ``succeeded``, ``failed`` or ``interrupted`` (with ``error`` text)."""
        target = parse_status(status)
        if not target.is_final:
            raise InvalidTransition(
                f"finish_run takes a final status, not {target}", hint="use succeeded, failed or interrupted"
            )
        return self._store.set_status(run_id, target, error)

    def resume_run(self, run_id: str, after_step: int) -> entities.Run:
        """failed | interrupted -> running, to continue from the checkpoint of training step
        ``after_step``: the training metrics and checkpoints recorded after that step are removed
        (the resumed run records them again), everything before it stays."""
        return self._store.resume(run_id, after_step)

    def revive_run(self, run_id: str) -> str:
        """interrupted -> running for a run marked interrupted for a missed heartbeat whose process
        is in fact alive (it is the one calling). Returns the text it had been marked with."""
        return self._store.revive(run_id)

    def reap_stale_runs(self, older_than: timedelta = STALE_AFTER, strict: bool = True) -> list[str]:
        """Mark interrupted every running run without a heartbeat for ``older_than`` and every
        pending run created more than ``older_than`` ago. Returns the ids it marked.

        On a registry that cannot be written now (read-only, or another process holding the write
        lock past the busy timeout) it raises :class:`~rrg_registry.errors.RegistryReadOnly` /
        :class:`~rrg_registry.errors.RegistryLocked`; with ``strict=False`` (what the browsing
        commands pass before they list) it marks nothing and returns ``[]``.
        """
        if not self._store.has_stale_runs(older_than):
            return []
        try:
            return self._store.reap_stale_runs(older_than)
        except (RegistryReadOnly, RegistryLocked):
            if strict:
                raise
            return []

    # -- results ---------------------------------------------------------------------------

    def record_checkpoint(
        self,
        run_id: str,
        step: int,
        path: str,
        sha256: str,
        size: int,
        eval_loss: float | None = None,
        best: bool = False,
    ) -> entities.Checkpoint:
        """Record a saved checkpoint; ``best=True`` moves the run's best flag to it."""
        return self._store.record_checkpoint(run_id, step, str(path), sha256, int(size), eval_loss, best)

    def mark_best_checkpoint(self, checkpoint_id: int) -> entities.Checkpoint:
        """Move the best flag of the checkpoint's run to this checkpoint."""
        return self._store.mark_best_checkpoint(checkpoint_id)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        split: str,
        checkpoint_id: int | None = None,
        n: int | None = None,
        step: int | None = None,
    ) -> list[entities.Metric]:
        """Log metric values (one transaction). Each becomes the run's current value of that name."""
        return self._store.log_metrics(run_id, metrics, split, checkpoint_id, n, step)

    def log_green_flare_components(
        self,
        run_id: str,
        components: Mapping[str, float | None],
        split: str,
        n: int,
        checkpoint_id: int | None = None,
    ) -> entities.GreenFlareComponents:
        """Log the seven green_flare components (plus optional severity_correlation, overall)."""
        return self._store.log_green_flare_components(run_id, components, split, n, checkpoint_id)

    def log_predictions(
        self, run_id: str, split: str, rows: Sequence[Mapping[str, Any]], checkpoint_id: int | None = None
    ) -> int:
        """Store per-sample predictions (bulk insert), replacing the run's earlier ones on ``split``.

        Each row has ``sample_id`` and ``prediction``, optionally ``question``, ``reference``,
        ``scores`` (a dict), ``green_flare`` (defaults to ``scores["green_flare"]``),
        ``image_paths`` (a list of strings), ``study_id`` and ``checkpoint_id``; a row with any
        other key is refused (ValueError), so a misspelt key is not silently dropped.
        Returns the number of rows stored.
        """
        return self._store.log_predictions(run_id, split, rows, checkpoint_id)

    def record_evaluation(
        self,
        run_id: str,
        split: str,
        metrics: Mapping[str, float],
        components: Mapping[str, float | None] | None = None,
        predictions: Sequence[Mapping[str, Any]] | None = None,
        checkpoint_id: int | None = None,
        n: int | None = None,
        status: RunStatus | str | None = None,
        error: str | None = None,
    ) -> entities.Run:
        """Metrics, components, predictions and (optionally) the run's new status in one transaction.

        If anything fails, nothing of it is written. ``n`` defaults to the number of predictions.
        """
        return self._store.record_evaluation(
            run_id, split, metrics, components, predictions, checkpoint_id, n, status, error
        )

    def record_publication(self, run_id: str, repo: str, revision: str, url: str) -> entities.Publication:
        """Record that the run's adapter was uploaded to Hub ``repo`` at commit ``revision``."""
        return self._store.record_publication(run_id, repo, revision, url)

    def record_external_model(
        self, repo: str, revision: str, local_path: str, recipe_yaml: str | None = None
    ) -> entities.ExternalModel:
        """Register an adapter pulled from the Hub (repo + revision are unique; re-registering updates the path)."""
        return self._store.record_external_model(repo, revision, str(local_path), recipe_yaml)

    def get_external_model(self, repo: str, revision: str | None = None) -> entities.ExternalModel | None:
        """The registered pull of ``repo`` (at ``revision``, else the latest registered), or None."""
        return self._store.get_external_model(repo, revision)

    def list_external_models(self) -> list[entities.ExternalModel]:
        """Every registered external model."""
        return self._store.list_external_models()

    # -- reading ---------------------------------------------------------------------------

    def resolve_run_id(self, run_id_or_prefix: str) -> str:
        """The full id of the run named by an id or a unique id prefix."""
        return self._store.resolve_run_id(run_id_or_prefix)

    def get_run(self, run_id: str) -> entities.RunDetail:
        """Everything about a run (id or unique prefix): recipe, lineage, checkpoints, metrics,
        components, publications, prediction counts."""
        return self._store.get_run_detail(self.resolve_run_id(run_id))

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
    ) -> list[entities.RunSummary]:
        """Runs matching every filter, as summaries with their current metric values.

        ``recipe`` is ``name`` or ``name@version``; ``model`` matches the family or the model id;
        ``tag`` requires every tag given; ``where`` holds metric thresholds such as
        ``"green_flare>0.8"``. ``sort`` is a metric name or one of id, created, started, ended,
        stage, model, model_id, status, recipe (default ``created``); metrics and times sort
        descending unless ``ascending``. Sorting by a metric puts runs without it last.
        """
        if limit is not None and limit < 1:
            raise InvalidQuery(f"limit must be at least 1, got {limit}")
        statuses = [status] if isinstance(status, str) else list(status or [])
        tags = [tag] if isinstance(tag, str) else list(tag or [])
        return self._store.search_runs(
            recipe=recipe, stage=stage, model=model, status=statuses, tags=tags,
            where=parse_filters(list(where)), sort=SortKey.parse(sort, ascending), limit=limit,
        )

    def latest_successful_run(
        self, recipe_name: str, version: int | None = None, stage: str | None = None
    ) -> entities.Run | None:
        """The succeeded run of ``recipe_name`` (at ``version``, in ``stage``) that ended last, or None."""
        return self._store.latest_successful_run(recipe_name, version, stage)

    def predictions(self, run_id: str, split: str, study_id: str | None = None) -> list[entities.Prediction]:
        """A run's predictions on ``split`` (only those of the imaging study ``study_id``, if
        given), ordered by sample id."""
        return self._store.predictions(self.resolve_run_id(run_id), split, study_id)

    def prediction_splits(self, run_id: str) -> list[str]:
        """The splits a run stored predictions on, by name."""
        return self._store.prediction_splits(self.resolve_run_id(run_id))

    def compare(
        self,
        run_ids: Sequence[str],
        split: str | None = None,
        resamples: int | None = None,
        seed: int | None = None,
        confidence: float | None = None,
    ) -> entities.Comparison:
        """Runs side by side, and a paired bootstrap of per-sample green_flare of each run against the first.

        The test runs on a split where both runs stored predictions (``split`` if given, else the
        first such split in name order) over the sample ids both scored; otherwise the reason is
        in ``skipped_tests``.
        """
        from rrg_registry import stats

        if len(run_ids) < 2:
            raise InvalidQuery("compare needs at least two runs", hint="give two or more run ids")
        ids = [self.resolve_run_id(r) for r in run_ids]
        summaries = {s.id: s for s in self._store.summaries(ids)}
        runs = tuple(summaries[i] for i in ids)
        names = sorted({name for run in runs for name in run.metrics})
        ordered = [m for m in PREFERRED_METRICS if m in names] + [m for m in names if m not in PREFERRED_METRICS]
        resamples = stats.DEFAULT_RESAMPLES if resamples is None else resamples
        seed = stats.DEFAULT_SEED if seed is None else seed
        confidence = stats.DEFAULT_CONFIDENCE if confidence is None else confidence
        tests: list[entities.PairedTest] = []
        skipped: list[str] = []
        base = ids[0]
        base_splits = set(self._store.prediction_splits(base))
        for other in ids[1:]:
            common = sorted(base_splits & set(self._store.prediction_splits(other)))
            chosen = split if split is not None else (common[0] if common else None)
            if chosen is None or chosen not in common:
                where = f"on split {split}" if split else "on a common split"
                skipped.append(f"{other} vs {base}: no per-sample predictions of both runs {where}")
                continue
            a, b = self._store.sample_scores(base, chosen), self._store.sample_scores(other, chosen)
            shared = sorted(set(a) & set(b))
            if len(shared) < 2:
                skipped.append(f"{other} vs {base}: {len(shared)} sample(s) scored by both on {chosen}; need 2")
                continue
            result = stats.paired_bootstrap(
                [a[s] for s in shared], [b[s] for s in shared], resamples=resamples, seed=seed, confidence=confidence
            )
            tests.append(
                entities.PairedTest(
                    baseline_run_id=base, run_id=other, split=chosen, n=result.n,
                    baseline_mean=result.mean_a, run_mean=result.mean_b, mean_difference=result.mean_difference,
                    ci_low=result.ci_low, ci_high=result.ci_high, confidence=result.confidence,
                    p_value=result.p_value, resamples=result.resamples, seed=result.seed,
                )
            )
        return entities.Comparison(
            runs=runs, metric_names=tuple(ordered), paired_tests=tuple(tests), skipped_tests=tuple(skipped)
        )

    def study_choices(
        self,
        tags: Sequence[str] = (),
        pick: str = "latest",
        recipes: Sequence[str] = (),
        model_name: Callable[[str, str], str] | None = None,
    ) -> list[Any]:
        """For each (stage, model) with a succeeded run (carrying every tag in ``tags``), the run
        that fills its row and the candidates passed over, as :class:`rrg_registry.study.RowChoice`:
        zero-shot rows take base models only; the recipe named for the row (``recipes``, else the
        study's) narrows the candidates; ``pick`` is ``latest`` (ended last) or ``best`` (highest
        green_flare). ``model_name(family, model_id)`` names a row's model (the SDK passes
        ``rrg.results.names.model_name``; default: the model id). See :mod:`rrg_registry.study`."""
        return self._chosen_runs(tags, pick, recipes, model_name)

    def study_table(
        self,
        tags: Sequence[str] = (),
        metrics: Sequence[str] | None = None,
        pick: str = "latest",
        recipes: Sequence[str] = (),
        model_name: Callable[[str, str], str] | None = None,
    ) -> list[dict[str, Any]]:
        """The study's Table 1 from the registry: one row per (stage, model) with the metrics of the
        run chosen for it (:meth:`study_choices`), its id, recipe and the candidates passed over."""
        from rrg_registry import study

        chosen = self._chosen_runs(tags, pick, recipes, model_name)
        return study.study_rows(chosen, tuple(metrics) if metrics else study.STUDY_METRICS)

    def components_table(
        self,
        tags: Sequence[str] = (),
        pick: str = "latest",
        recipes: Sequence[str] = (),
        choices: Sequence[Any] | None = None,
        model_name: Callable[[str, str], str] | None = None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The study's Table 2: (column names ``MODEL/STAGE``, one row per green_flare component),
        the runs chosen as for Table 1 (or ``choices``, from :meth:`study_choices`)."""
        from rrg_registry import study

        chosen = list(choices) if choices is not None else self._chosen_runs(tags, pick, recipes, model_name)
        components = self.latest_components([c.run.id for c in chosen if c.run is not None])
        return study.components_rows(chosen, components)

    def latest_components(self, run_ids: Sequence[str]) -> dict[str, entities.GreenFlareComponents]:
        """Each run's most recently logged green_flare components (runs without any left out)."""
        return self._store.latest_components(list(run_ids))

    def metric_history(self, run_id: str, prefix: str | None = None) -> list[entities.Metric]:
        """Every value the run (id or unique prefix) logged, in logging order, with its step and
        split; only metrics whose name starts with ``prefix`` (e.g. ``train/``) when given."""
        return self._store.metric_history(self.resolve_run_id(run_id), prefix)

    def _chosen_runs(
        self,
        tags: Sequence[str],
        pick: str = "latest",
        recipes: Sequence[str] = (),
        model_name: Callable[[str, str], str] | None = None,
    ) -> list[Any]:
        from rrg_registry import study

        # every candidate as a light row; only the chosen runs are read in full
        candidates = [study.Candidate(*row) for row in self._store.study_candidates(list(tags), study.PICK_METRIC)]
        choices = study.choose_rows(candidates, pick=pick, recipes=list(recipes), model_name=model_name)
        full = {r.id: r for r in self._store.summaries([c.run.id for c in choices if c.run is not None])}
        return [c if c.run is None else dataclasses.replace(c, run=full[c.run.id]) for c in choices]
