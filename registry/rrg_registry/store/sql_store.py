"""The SQL store: every read and write of the registry, in managed transactions.

Each public method opens one transaction (:func:`rrg_registry.store.engine.transaction`), works
on the table classes of :mod:`rrg_registry.store.tables`, and returns entities. Writes that belong
together (an evaluation's metrics, components, predictions and the run's final status) share one
transaction, so a failure leaves none of them behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rrg_registry import entities
from rrg_registry.errors import (
    AmbiguousRunId,
    DuplicateRecord,
    InvalidName,
    InvalidQuery,
    InvalidTransition,
    NotFound,
    RecipeVersionConflict,
    RunNotFound,
)
from rrg_registry.filters import RUN_FIELDS, MetricFilter, SortKey
from rrg_registry.status import REAPED_PREFIX, RESUMABLE_STATUSES, RunStatus, check_transition, parse_status
from rrg_registry.store.engine import explain_write_error, session_factory, transaction
from rrg_registry.store.retry import in_write_unit, retried, transient_reason
from rrg_registry.store.tables import (
    CheckpointRow,
    DatasetRow,
    DatasetVersionRow,
    DatasetVersionSplitRow,
    ExternalModelRow,
    GreenFlareComponentsRow,
    LatestMetricRow,
    MetricRow,
    ModelAliasEventRow,
    ModelAliasRow,
    ModelVersionRow,
    PredictionRow,
    PublicationRow,
    RecipeVersionRow,
    RegisteredModelRow,
    RunDatasetRow,
    RunRow,
    RunTagRow,
    run_entity,
    utc,
)

RUN_ID_BYTES = 4
"""Run ids are ``2 * RUN_ID_BYTES`` hex characters."""

_RUNS = RunRow.__table__
_RECIPES = RecipeVersionRow.__table__
_TAGS = RunTagRow.__table__
_LATEST = LatestMetricRow.__table__
_METRICS = MetricRow.__table__
_PREDICTIONS = PredictionRow.__table__
_COMPONENTS = GreenFlareComponentsRow.__table__

_OPS = {
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
}


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def _short(text: str, width: int = 12) -> str:
    return text if len(text) <= width else text[:width] + "…"


def _finite(name: str, value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"metric {name} is {number}; the registry stores finite numbers only")
    return number


PREDICTION_KEYS: tuple[str, ...] = (
    "sample_id", "prediction", "question", "reference", "green_flare", "scores", "image_paths", "study_id",
    "checkpoint_id",
)
"""The keys a prediction row may have; any other key is refused (a misspelt key would be lost)."""


def _image_paths(index: int, value: Any) -> list[str] | None:
    """A prediction row's ``image_paths`` as a list of strings (None when not given)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"prediction row {index}: image_paths must be a list of strings, got {value!r}")
    return list(value)


def _stale(older_than: timedelta) -> Any:
    """Running runs silent (no heartbeat) and pending runs unstarted for longer than ``older_than``."""
    cutoff = now() - older_than
    last_sign = sa.func.coalesce(RunRow.heartbeat_at, RunRow.started_at, RunRow.created_at)
    return sa.or_(
        sa.and_(RunRow.status == RunStatus.RUNNING.value, last_sign < cutoff),
        sa.and_(RunRow.status == RunStatus.PENDING.value, RunRow.created_at < cutoff),
    )


T = TypeVar("T")

REGISTER_ATTEMPTS = 30
"""How often a registration that lost a race (a unique constraint another process's concurrent
registration of the same name took first) is tried again, each time reading what won."""

REGISTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""Names of registered datasets and models: letters, digits, ``.``, ``_`` and ``-`` (no ``@`` or
``/``, which separate a name from its version and a FLARE data set in references)."""

ALIAS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(kind: str, name: str) -> str:
    """``name`` if it can name a registered ``kind`` (dataset, model), else :class:`InvalidName`."""
    if not isinstance(name, str) or not REGISTRY_NAME.fullmatch(name):
        raise InvalidName(
            f"{name!r} is not a valid {kind} name",
            hint="use up to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (no '@' or '/')",
        )
    return name


def dataset_content_hash(splits: Sequence[entities.DatasetSplit]) -> str:
    """sha256 (hex) over the splits' (flare_dataset, category, split, count, fingerprint), sorted:
    the identity of a dataset version's content (root, description and licence are not part of it)."""
    keys = sorted(s.content_key() for s in splits)
    return hashlib.sha256(json.dumps(keys, separators=(",", ":")).encode("utf-8")).hexdigest()


def _retry_race(attempt: Callable[[], T]) -> T:
    """``attempt()`` again (after a short random pause) while it fails on a unique constraint, that
    is, while a concurrent registration won the race for a version number or a name; each new
    attempt reads what the winner wrote. Gives up after :data:`REGISTER_ATTEMPTS` tries."""
    for tries in range(1, REGISTER_ATTEMPTS + 1):
        try:
            return attempt()
        except IntegrityError:
            if tries == REGISTER_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.005, 0.05) * min(tries, 5))
    raise AssertionError("unreachable")


class SqlStore:
    """Registry storage on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A managed session (commit on success, rollback on error, always closed). A write that
        waited out another process's lock, or that the database refused as read-only, becomes
        :class:`~rrg_registry.errors.RegistryLocked` / :class:`~rrg_registry.errors.RegistryReadOnly`.

        Inside a method decorated with :func:`~rrg_registry.store.retry.retried` (every method that
        writes) the transaction is a writing one (``BEGIN IMMEDIATE`` on SQLite) and an error worth
        a retry is left as it is, for the decorator to rerun the method."""
        writing = in_write_unit()
        try:
            with transaction(self._sessions, write=writing) as session:
                yield session
        except sa.exc.DBAPIError as error:
            if writing and transient_reason(error) is not None:
                raise
            explained = explain_write_error(error, self.engine)
            if explained is None:
                raise
            raise explained from None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- recipes and datasets -------------------------------------------------------------

    @retried
    def record_recipe(self, name: str, version: int, hash: str, yaml_text: str) -> entities.RecipeVersion:
        existing = self.get_recipe_version(name, version)
        if existing is None:
            try:
                with self.transaction() as session:
                    row = RecipeVersionRow(name=name, version=version, hash=hash, yaml_text=yaml_text, created_at=now())
                    session.add(row)
                    session.flush()
                    return row.to_entity()
            except IntegrityError:
                # Another process recorded the same name+version between our lookup and insert.
                existing = self.get_recipe_version(name, version)
                if existing is None:
                    raise
        if existing.hash != hash:
            raise RecipeVersionConflict(
                f"recipe {name}@{version} is already recorded with hash {_short(existing.hash)}; "
                f"this one hashes {_short(hash)}",
                hint="bump `version:` in the recipe",
            )
        return existing

    def get_recipe_version(self, name: str, version: int) -> entities.RecipeVersion | None:
        with self.transaction() as session:
            row = session.scalars(
                sa.select(RecipeVersionRow).where(RecipeVersionRow.name == name, RecipeVersionRow.version == version)
            ).one_or_none()
            return None if row is None else row.to_entity()

    def list_recipe_versions(self, name: str | None = None) -> list[entities.RecipeVersion]:
        with self.transaction() as session:
            query = sa.select(RecipeVersionRow).order_by(RecipeVersionRow.name, RecipeVersionRow.version)
            if name is not None:
                query = query.where(RecipeVersionRow.name == name)
            return [row.to_entity() for row in session.scalars(query)]

    @retried
    def record_dataset(self, name: str, split: str, fingerprint: str, size: int) -> entities.Dataset:
        def lookup(session: Session) -> DatasetRow | None:
            return session.scalars(
                sa.select(DatasetRow).where(
                    DatasetRow.name == name, DatasetRow.split == split, DatasetRow.fingerprint == fingerprint
                )
            ).one_or_none()

        with self.transaction() as session:
            row = lookup(session)
            if row is not None:
                return row.to_entity()
        try:
            with self.transaction() as session:
                row = DatasetRow(name=name, split=split, fingerprint=fingerprint, size=size, created_at=now())
                session.add(row)
                session.flush()
                return row.to_entity()
        except IntegrityError:
            with self.transaction() as session:
                row = lookup(session)
                if row is None:
                    raise
                return row.to_entity()

    # -- registered datasets -----------------------------------------------------------

    def _dataset_versions(self, session: Session, where: list[Any]) -> list[entities.DatasetVersion]:
        rows = session.scalars(
            sa.select(DatasetVersionRow).where(*where).order_by(DatasetVersionRow.name, DatasetVersionRow.version)
        ).all()
        if not rows:
            return []
        splits: dict[int, list[DatasetVersionSplitRow]] = {}
        for split in session.scalars(
            sa.select(DatasetVersionSplitRow).where(DatasetVersionSplitRow.dataset_version_id.in_([r.id for r in rows]))
        ):
            splits.setdefault(split.dataset_version_id, []).append(split)
        return [row.to_entity(splits.get(row.id, [])) for row in rows]

    @retried
    def register_dataset_version(
        self,
        name: str,
        root: str,
        splits: Sequence[entities.DatasetSplit],
        description: str | None = None,
        license: str | None = None,
        credentialed: bool = False,
    ) -> tuple[entities.DatasetVersion, bool]:
        check_name("dataset", name)
        if not splits:
            raise InvalidQuery(f"dataset {name}: no split to register", hint="register at least one FLARE split")
        seen: set[tuple[str, str, str]] = set()
        for split in splits:
            key = (split.flare_dataset, split.category, split.split)
            if key in seen:
                raise InvalidQuery(
                    f"dataset {name}: split {'/'.join(key)} is given twice", hint="give each FLARE split once"
                )
            seen.add(key)
        content_hash = dataset_content_hash(splits)

        def attempt() -> tuple[entities.DatasetVersion, bool]:
            with self.transaction() as session:
                same = self._dataset_versions(
                    session, [DatasetVersionRow.name == name, DatasetVersionRow.content_hash == content_hash]
                )
                if same:
                    return same[0], False
                latest = session.scalar(sa.select(sa.func.max(DatasetVersionRow.version)).where(DatasetVersionRow.name == name))
                row = DatasetVersionRow(
                    name=name, version=(latest or 0) + 1, root=str(root), description=description, license=license,
                    credentialed=bool(credentialed), content_hash=content_hash, created_at=now(),
                )
                session.add(row)
                session.flush()
                children = [
                    DatasetVersionSplitRow(
                        dataset_version_id=row.id, flare_dataset=s.flare_dataset, category=s.category, split=s.split,
                        count=int(s.count), task_types=list(s.task_types), fingerprint=s.fingerprint,
                    )
                    for s in splits
                ]
                session.add_all(children)
                session.flush()
                return row.to_entity(children), True

        return _retry_race(attempt)

    def get_dataset_version(self, name: str, version: int | None = None) -> entities.DatasetVersion:
        with self.transaction() as session:
            where = [DatasetVersionRow.name == name]
            if version is None:
                latest = sa.select(sa.func.max(DatasetVersionRow.version)).where(DatasetVersionRow.name == name)
                where.append(DatasetVersionRow.version == latest.scalar_subquery())
            else:
                where.append(DatasetVersionRow.version == int(version))
            found = self._dataset_versions(session, where)
            if found:
                return found[0]
            versions = session.scalars(
                sa.select(DatasetVersionRow.version).where(DatasetVersionRow.name == name).order_by(DatasetVersionRow.version)
            ).all()
            if versions:
                raise NotFound(
                    f"dataset {name} has no version {version}",
                    hint=f"registered versions: {', '.join(f'{name}@{v}' for v in versions)}",
                )
            names = session.scalars(sa.select(DatasetVersionRow.name).distinct().order_by(DatasetVersionRow.name)).all()
            how = "register it with `rrg datasets register NAME ROOT`"
            if names:
                how = f"registered datasets: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}; or {how}"
            raise NotFound(f"no dataset named {name} is registered", hint=how)

    def list_dataset_versions(self, name: str | None = None) -> list[entities.DatasetVersion]:
        with self.transaction() as session:
            return self._dataset_versions(session, [] if name is None else [DatasetVersionRow.name == name])

    def runs_of_dataset_version(self, dataset_version_id: int) -> list[entities.RunSummary]:
        with self.transaction() as session:
            ids = session.scalars(
                sa.select(RunRow.id)
                .where(RunRow.dataset_version_id == dataset_version_id)
                .order_by(RunRow.created_at.desc(), RunRow.id)
            ).all()
            return self._summaries(session, ids)

    def best_by_model_on_dataset_version(
        self, dataset_version_id: int, metric: str = "green_flare"
    ) -> list[tuple[str, str, float, str]]:
        """(model id, stage, best value, run id) of the succeeded runs linked to the version, one per
        model and stage, by model then stage; ties go to the run created first."""
        query = (
            sa.select(_RUNS.c.model_id, _RUNS.c.stage, _LATEST.c.value, _RUNS.c.id)
            .select_from(_RUNS.join(_LATEST, sa.and_(_LATEST.c.run_id == _RUNS.c.id, _LATEST.c.name == metric)))
            .where(_RUNS.c.dataset_version_id == dataset_version_id, _RUNS.c.status == RunStatus.SUCCEEDED.value)
            .order_by(_RUNS.c.model_id, _RUNS.c.stage, _LATEST.c.value.desc(), _RUNS.c.created_at, _RUNS.c.id)
        )
        best: dict[tuple[str, str], tuple[str, str, float, str]] = {}
        with self.transaction() as session:
            for model_id, stage, value, run_id in session.execute(query):
                best.setdefault((model_id, stage), (model_id, stage, float(value), run_id))
        return list(best.values())

    # -- registered models --------------------------------------------------------------

    def _model_row(self, session: Session, name: str) -> RegisteredModelRow:
        row = session.scalars(sa.select(RegisteredModelRow).where(RegisteredModelRow.name == name)).one_or_none()
        if row is None:
            names = session.scalars(sa.select(RegisteredModelRow.name).order_by(RegisteredModelRow.name)).all()
            raise NotFound(
                f"no registered model named {name}",
                hint=(f"registered models: {', '.join(names[:10])}" + (", …" if len(names) > 10 else "") if names
                      else "no model is registered yet; register one with `rrg models register`"),
            )
        return row

    def _aliases(self, session: Session, model_id: int) -> dict[str, int]:
        return dict(
            session.execute(
                sa.select(ModelAliasRow.alias, ModelAliasRow.version)
                .where(ModelAliasRow.registered_model_id == model_id)
                .order_by(ModelAliasRow.alias)
            ).all()
        )

    def _model_versions(self, session: Session, model: RegisteredModelRow, where: list[Any]) -> list[entities.ModelVersion]:
        aliases: dict[int, list[str]] = {}
        for alias, version in self._aliases(session, model.id).items():
            aliases.setdefault(version, []).append(alias)
        rows = session.scalars(
            sa.select(ModelVersionRow)
            .where(ModelVersionRow.registered_model_id == model.id, *where)
            .order_by(ModelVersionRow.version)
        ).all()
        return [row.to_entity(model.name, aliases.get(row.version, [])) for row in rows]

    @retried
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
        check_name("model", name)
        scores = {str(k): _finite(str(k), v) for k, v in (results or {}).items()}
        file_hashes = {str(k): str(v) for k, v in files.items()}
        with self.transaction() as session:
            if run_id is not None:
                self._run_row(session, run_id)
            if external_model_id is not None and session.get(ExternalModelRow, external_model_id) is None:
                raise NotFound(f"no external model with id {external_model_id}", hint="pull it first with `rrg pull`")
            if dataset_version_id is not None and session.get(DatasetVersionRow, dataset_version_id) is None:
                raise NotFound(
                    f"no dataset version with id {dataset_version_id}", hint="list them with `rrg datasets list`"
                )

        def model_row(session: Session) -> RegisteredModelRow:
            row = session.scalars(sa.select(RegisteredModelRow).where(RegisteredModelRow.name == name)).one_or_none()
            if row is None:  # first version: create the name (a concurrent creation makes this fail, then retry)
                row = RegisteredModelRow(name=name, description=description, created_at=now())
                session.add(row)
                session.flush()
            return row

        def attempt() -> entities.ModelVersion:
            with self.transaction() as session:
                model = model_row(session)
                latest = session.scalar(
                    sa.select(sa.func.max(ModelVersionRow.version)).where(ModelVersionRow.registered_model_id == model.id)
                )
                row = ModelVersionRow(
                    registered_model_id=model.id, version=(latest or 0) + 1, base_model=base_model,
                    base_revision=base_revision, source=source, run_id=run_id, external_model_id=external_model_id,
                    adapter_path=str(adapter_path), files=file_hashes, recipe_yaml=recipe_yaml,
                    dataset_version_id=dataset_version_id, results=scores, description=description, created_at=now(),
                )
                session.add(row)
                session.flush()
                return row.to_entity(model.name, [])

        return _retry_race(attempt)

    def get_model_version(self, name: str, version_or_alias: int | str | None = None) -> entities.ModelVersion:
        with self.transaction() as session:
            model = self._model_row(session, name)
            aliases = self._aliases(session, model.id)
            wanted: int | None
            if version_or_alias is None or version_or_alias == "latest":
                wanted = session.scalar(
                    sa.select(sa.func.max(ModelVersionRow.version)).where(ModelVersionRow.registered_model_id == model.id)
                )
                label = "latest"
            elif isinstance(version_or_alias, int) or str(version_or_alias).isdigit():
                wanted, label = int(version_or_alias), f"version {int(version_or_alias)}"
            else:
                wanted, label = aliases.get(str(version_or_alias)), f"alias {version_or_alias}"
            found = self._model_versions(session, model, [ModelVersionRow.version == wanted]) if wanted is not None else []
            if found:
                return found[0]
            versions = session.scalars(
                sa.select(ModelVersionRow.version)
                .where(ModelVersionRow.registered_model_id == model.id)
                .order_by(ModelVersionRow.version)
            ).all()
            listed = ", ".join(str(v) for v in versions) or "none"
            named = ", ".join(f"{a} -> {v}" for a, v in aliases.items()) or "none"
            raise NotFound(f"model {name} has no {label}", hint=f"versions: {listed}; aliases: {named}")

    def list_registered_models(self) -> list[entities.RegisteredModel]:
        with self.transaction() as session:
            latest = dict(
                session.execute(
                    sa.select(ModelVersionRow.registered_model_id, sa.func.max(ModelVersionRow.version)).group_by(
                        ModelVersionRow.registered_model_id
                    )
                ).all()
            )
            aliases: dict[int, dict[str, int]] = {}
            for model_id, alias, version in session.execute(
                sa.select(ModelAliasRow.registered_model_id, ModelAliasRow.alias, ModelAliasRow.version).order_by(
                    ModelAliasRow.alias
                )
            ):
                aliases.setdefault(model_id, {})[alias] = version
            return [
                entities.RegisteredModel(
                    name=row.name, description=row.description, created_at=utc(row.created_at),
                    latest_version=latest.get(row.id, 0), aliases=aliases.get(row.id, {}),
                )
                for row in session.scalars(sa.select(RegisteredModelRow).order_by(RegisteredModelRow.name))
            ]

    def list_model_versions(self, name: str) -> list[entities.ModelVersion]:
        with self.transaction() as session:
            return self._model_versions(session, self._model_row(session, name), [])

    def _check_alias(self, alias: str) -> None:
        if not isinstance(alias, str) or not ALIAS_NAME.fullmatch(alias) or alias.isdigit() or alias == "latest":
            raise InvalidName(
                f"{alias!r} cannot be a model alias",
                hint="use letters, digits, '.', '_' or '-' (not all digits, which name versions, and not 'latest')",
            )

    @retried
    def set_model_alias(self, name: str, alias: str, version: int, set_by: str) -> entities.ModelAlias:
        self._check_alias(alias)

        def attempt() -> entities.ModelAlias:
            with self.transaction() as session:
                model = self._model_row(session, name)
                exists = session.scalar(
                    sa.select(ModelVersionRow.id).where(
                        ModelVersionRow.registered_model_id == model.id, ModelVersionRow.version == int(version)
                    )
                )
                if exists is None:
                    versions = session.scalars(
                        sa.select(ModelVersionRow.version)
                        .where(ModelVersionRow.registered_model_id == model.id)
                        .order_by(ModelVersionRow.version)
                    ).all()
                    raise NotFound(
                        f"model {name} has no version {version}",
                        hint=f"versions: {', '.join(str(v) for v in versions) or 'none'}",
                    )
                row = session.scalars(
                    sa.select(ModelAliasRow)
                    .where(ModelAliasRow.registered_model_id == model.id, ModelAliasRow.alias == alias)
                    .with_for_update()
                ).one_or_none()
                moment = now()
                if row is not None and row.version == int(version):
                    return entities.ModelAlias(name=name, alias=alias, version=row.version, set_by=row.set_by, set_at=utc(row.set_at))
                old = None if row is None else row.version
                if row is None:
                    row = ModelAliasRow(registered_model_id=model.id, alias=alias, version=int(version), set_by=set_by, set_at=moment)
                    session.add(row)
                else:
                    row.version, row.set_by, row.set_at = int(version), set_by, moment
                session.add(
                    ModelAliasEventRow(
                        registered_model_id=model.id, alias=alias, old_version=old, new_version=int(version),
                        set_by=set_by, set_at=moment,
                    )
                )
                session.flush()
                return entities.ModelAlias(name=name, alias=alias, version=int(version), set_by=set_by, set_at=utc(moment))

        return _retry_race(attempt)

    @retried
    def delete_model_alias(self, name: str, alias: str, set_by: str) -> entities.AliasEvent:
        with self.transaction() as session:
            model = self._model_row(session, name)
            row = session.scalars(
                sa.select(ModelAliasRow)
                .where(ModelAliasRow.registered_model_id == model.id, ModelAliasRow.alias == alias)
                .with_for_update()
            ).one_or_none()
            if row is None:
                named = ", ".join(self._aliases(session, model.id)) or "none"
                raise NotFound(f"model {name} has no alias {alias}", hint=f"its aliases: {named}")
            moment = now()
            event = ModelAliasEventRow(
                registered_model_id=model.id, alias=alias, old_version=row.version, new_version=None,
                set_by=set_by, set_at=moment,
            )
            session.delete(row)
            session.add(event)
            session.flush()
            return entities.AliasEvent(
                name=name, alias=alias, old_version=event.old_version, new_version=None, set_by=set_by, set_at=utc(moment)
            )

    def alias_history(self, name: str) -> list[entities.AliasEvent]:
        with self.transaction() as session:
            model = self._model_row(session, name)
            rows = session.scalars(
                sa.select(ModelAliasEventRow)
                .where(ModelAliasEventRow.registered_model_id == model.id)
                .order_by(ModelAliasEventRow.id)
            ).all()
            return [
                entities.AliasEvent(
                    name=name, alias=r.alias, old_version=r.old_version, new_version=r.new_version,
                    set_by=r.set_by, set_at=utc(r.set_at),
                )
                for r in rows
            ]

    # -- runs -----------------------------------------------------------------------------

    def _run_row(self, session: Session, run_id: str, for_update: bool = False) -> RunRow:
        query = sa.select(RunRow).where(RunRow.id == run_id)
        if for_update:
            query = query.with_for_update()
        row = session.scalars(query).one_or_none()
        if row is None:
            raise RunNotFound(f"no run {run_id!r} in the registry", hint="list runs with `rrg runs list`")
        return row

    def _run(self, session: Session, row: RunRow) -> entities.Run:
        recipe = session.get(RecipeVersionRow, row.recipe_version_id)
        tags = session.scalars(sa.select(RunTagRow.tag).where(RunTagRow.run_id == row.id)).all()
        return run_entity(row, recipe, list(tags))

    def _new_run_id(self, session: Session) -> str:
        while True:
            run_id = secrets.token_hex(RUN_ID_BYTES)
            if session.get(RunRow, run_id) is None:
                return run_id

    @retried(races=("pk_runs",))
    def create_run(self, new: entities.NewRun) -> entities.Run:
        with self.transaction() as session:
            if session.get(RecipeVersionRow, new.recipe_version_id) is None:
                raise NotFound(
                    f"no recipe version with id {new.recipe_version_id}",
                    hint="record the recipe first with record_recipe()",
                )
            if new.parent_run_id is not None:
                self._run_row(session, new.parent_run_id)
            for dataset_id in new.dataset_ids:
                if session.get(DatasetRow, dataset_id) is None:
                    raise NotFound(f"no dataset with id {dataset_id}", hint="record it first with record_dataset()")
            if new.external_model_id is not None and session.get(ExternalModelRow, new.external_model_id) is None:
                raise NotFound(f"no external model with id {new.external_model_id}")
            if new.dataset_version_id is not None and session.get(DatasetVersionRow, new.dataset_version_id) is None:
                raise NotFound(
                    f"no dataset version with id {new.dataset_version_id}",
                    hint="register it first with register_dataset_version() (`rrg datasets register`)",
                )
            row = RunRow(
                id=self._new_run_id(session),
                **new.model_dump(exclude={"tags", "dataset_ids"}),
                status=RunStatus.PENDING.value,
                created_at=now(),
            )
            session.add(row)
            session.flush()
            for tag in new.tags:
                session.add(RunTagRow(run_id=row.id, tag=tag))
            for dataset_id in new.dataset_ids:
                session.add(RunDatasetRow(run_id=row.id, dataset_id=dataset_id))
            session.flush()
            return self._run(session, row)

    def _move(self, session: Session, run_id: str, new: RunStatus | str, error: str | None = None) -> RunRow:
        row = self._run_row(session, run_id, for_update=True)
        target = check_transition(run_id, row.status, new)
        moment = now()
        values: dict[str, Any] = {"status": target.value}
        if target is RunStatus.RUNNING:
            values.update(started_at=moment, heartbeat_at=moment)
        if target.is_final:
            values.update(ended_at=moment, error=error)
        # Compare-and-set on the status read above, so two processes cannot both move the run.
        result = session.execute(
            sa.update(RunRow).where(RunRow.id == run_id, RunRow.status == row.status).values(**values)
        )
        if result.rowcount != 1:
            session.expire(row)
            current = self._run_row(session, run_id)
            check_transition(run_id, current.status, target)
            raise InvalidTransition(
                f"run {run_id} changed status while moving to {target}", hint="look at it with `rrg runs show`"
            )
        session.refresh(row)
        return row

    @retried
    def set_status(self, run_id: str, status: RunStatus | str, error: str | None = None) -> entities.Run:
        with self.transaction() as session:
            return self._run(session, self._move(session, run_id, status, error))

    @retried
    def heartbeat(self, run_id: str) -> datetime:
        with self.transaction() as session:
            row = self._run_row(session, run_id)
            if row.status != RunStatus.RUNNING.value:
                raise InvalidTransition(
                    f"run {run_id} is {row.status}, not running, so it takes no heartbeat",
                    hint="start the run first; a run marked interrupted cannot resume",
                )
            moment = now()
            session.execute(sa.update(RunRow).where(RunRow.id == run_id).values(heartbeat_at=moment))
            return moment

    @retried
    def add_to_plan(self, run_id: str, key: str, value: Any) -> None:
        with self.transaction() as session:
            row = self._run_row(session, run_id, for_update=True)
            plan = dict(row.plan or {})
            plan[key] = value
            session.execute(sa.update(RunRow).where(RunRow.id == run_id).values(plan=plan))

    @retried
    def resume(self, run_id: str, after_step: int) -> entities.Run:
        """failed | interrupted -> running, forgetting what the run recorded after training step
        ``after_step`` (training metrics and checkpoints), so the steps it repeats are recorded once."""
        with self.transaction() as session:
            row = self._run_row(session, run_id, for_update=True)
            if parse_status(row.status) not in RESUMABLE_STATUSES:
                raise InvalidTransition(
                    f"run {run_id} is {row.status}; only an interrupted or failed run resumes",
                    hint="start a new run of its recipe instead",
                )
            self._reopen(session, row)
            later = sa.select(MetricRow.id).where(MetricRow.run_id == run_id, MetricRow.split == "train", MetricRow.step > after_step)
            names = session.scalars(sa.select(MetricRow.name).where(MetricRow.id.in_(later)).distinct()).all()
            session.execute(sa.delete(LatestMetricRow).where(LatestMetricRow.run_id == run_id, LatestMetricRow.name.in_(names)))
            session.execute(sa.delete(MetricRow).where(MetricRow.id.in_(later)))
            session.execute(sa.delete(CheckpointRow).where(CheckpointRow.run_id == run_id, CheckpointRow.step > after_step))
            for name in names:  # the latest value left of each metric whose newer values went
                latest = session.execute(
                    sa.select(MetricRow).where(MetricRow.run_id == run_id, MetricRow.name == name).order_by(MetricRow.id.desc()).limit(1)
                ).scalar_one_or_none()
                if latest is not None:
                    session.execute(sa.insert(_LATEST), [{"run_id": run_id, "name": name, "value": latest.value, "split": latest.split, "metric_id": latest.id}])
            session.refresh(row)
            return self._run(session, row)

    @retried
    def revive(self, run_id: str) -> str:
        """interrupted (for a missed heartbeat) -> running, for a run whose process is alive;
        returns the text it was marked with."""
        with self.transaction() as session:
            row = self._run_row(session, run_id, for_update=True)
            reason = row.error or ""
            if row.status != RunStatus.INTERRUPTED.value or not reason.startswith(REAPED_PREFIX):
                raise InvalidTransition(
                    f"run {run_id} is {row.status}" + (f" ({reason})" if reason else "") + ", not marked interrupted for a missed heartbeat",
                    hint="only a run marked interrupted by another process for silence is revived",
                )
            self._reopen(session, row)
            return reason

    def _reopen(self, session: Session, row: RunRow) -> None:
        moment = now()
        result = session.execute(
            sa.update(RunRow)
            .where(RunRow.id == row.id, RunRow.status == row.status)
            .values(status=RunStatus.RUNNING.value, ended_at=None, error=None, heartbeat_at=moment)
        )
        if result.rowcount != 1:
            raise InvalidTransition(f"run {row.id} changed status while it was reopened", hint="look at it with `rrg runs show`")

    @retried
    def reap_stale_runs(self, older_than: timedelta) -> list[str]:
        with self.transaction() as session:
            stale = session.execute(sa.select(RunRow.id, RunRow.status).where(_stale(older_than))).all()
            reaped: list[str] = []
            moment = now()
            for run_id, status in stale:
                message = (
                    f"{REAPED_PREFIX}{older_than}; marked interrupted at {moment:%Y-%m-%d %H:%M:%S} UTC"
                    if status == RunStatus.RUNNING.value
                    else f"never started within {older_than}; marked interrupted at {moment:%Y-%m-%d %H:%M:%S} UTC"
                )
                result = session.execute(
                    sa.update(RunRow)
                    .where(RunRow.id == run_id, RunRow.status == status)
                    .values(status=RunStatus.INTERRUPTED.value, ended_at=moment, error=message)
                )
                if result.rowcount == 1:
                    reaped.append(run_id)
            return sorted(reaped)

    def has_stale_runs(self, older_than: timedelta) -> bool:
        """A read-only check, so browsing skips the write when nothing is stale."""
        with self.transaction() as session:
            return session.execute(sa.select(RunRow.id).where(_stale(older_than)).limit(1)).first() is not None

    def resolve_run_id(self, prefix: str) -> str:
        text = prefix.strip()
        if not text:
            raise RunNotFound("an empty run id names no run", hint="give a run id from `rrg runs list`")
        with self.transaction() as session:
            if session.get(RunRow, text) is not None:
                return text
            matches = session.scalars(
                sa.select(RunRow.id).where(RunRow.id.startswith(text, autoescape=True)).order_by(RunRow.id).limit(6)
            ).all()
        if not matches:
            raise RunNotFound(f"no run matches {text!r}", hint="list runs with `rrg runs list`")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
            raise AmbiguousRunId(f"run id prefix {text!r} matches several runs ({shown})", hint="type more characters")
        return matches[0]

    def get_run(self, run_id: str) -> entities.Run:
        with self.transaction() as session:
            return self._run(session, self._run_row(session, run_id))

    # -- checkpoints, metrics, components, predictions, publications ------------------------

    @retried
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
        with self.transaction() as session:
            self._run_row(session, run_id)
            if best:
                session.execute(sa.update(CheckpointRow).where(CheckpointRow.run_id == run_id).values(best=False))
            row = CheckpointRow(
                run_id=run_id, step=step, path=path, sha256=sha256, size=size,
                eval_loss=eval_loss, best=best, created_at=now(),
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise DuplicateRecord(
                    f"run {run_id} already has a checkpoint at step {step}",
                    hint="each step is recorded once; use mark_best_checkpoint() to move the best flag",
                ) from None
            return row.to_entity()

    @retried
    def mark_best_checkpoint(self, checkpoint_id: int) -> entities.Checkpoint:
        with self.transaction() as session:
            row = session.get(CheckpointRow, checkpoint_id)
            if row is None:
                raise NotFound(f"no checkpoint with id {checkpoint_id}")
            session.execute(sa.update(CheckpointRow).where(CheckpointRow.run_id == row.run_id).values(best=False))
            session.execute(sa.update(CheckpointRow).where(CheckpointRow.id == checkpoint_id).values(best=True))
            session.refresh(row)
            return row.to_entity()

    def _check_checkpoint(self, session: Session, run_id: str, checkpoint_id: int | None) -> None:
        if checkpoint_id is None:
            return
        row = session.get(CheckpointRow, checkpoint_id)
        if row is None or row.run_id != run_id:
            raise NotFound(f"run {run_id} has no checkpoint with id {checkpoint_id}")

    def _log_metrics(
        self,
        session: Session,
        run_id: str,
        metrics: Mapping[str, float],
        split: str,
        checkpoint_id: int | None,
        n: int | None,
        step: int | None,
    ) -> list[entities.Metric]:
        if not metrics:
            return []
        moment = now()
        rows = [
            MetricRow(run_id=run_id, checkpoint_id=checkpoint_id, split=split, name=name,
                      value=_finite(name, value), n=n, step=step, logged_at=moment)
            for name, value in metrics.items()
        ]
        session.add_all(rows)
        session.flush()
        session.execute(
            sa.delete(LatestMetricRow).where(LatestMetricRow.run_id == run_id, LatestMetricRow.name.in_(list(metrics)))
        )
        session.execute(
            sa.insert(_LATEST),
            [{"run_id": run_id, "name": r.name, "value": r.value, "split": split, "metric_id": r.id} for r in rows],
        )
        return [r.to_entity() for r in rows]

    def _log_components(
        self,
        session: Session,
        run_id: str,
        components: Mapping[str, float | None],
        split: str,
        n: int,
        checkpoint_id: int | None,
    ) -> entities.GreenFlareComponents:
        allowed = (*entities.GREEN_FLARE_COMPONENTS, *entities.GREEN_FLARE_EXTRA)
        unknown = sorted(set(components) - set(allowed))
        if unknown:
            raise ValueError(f"unknown green_flare components {unknown}; expected names from {list(allowed)}")
        missing = [name for name in entities.GREEN_FLARE_COMPONENTS if components.get(name) is None]
        if missing:
            raise ValueError(f"green_flare components missing: {missing}")
        values = {k: (None if v is None else _finite(k, v)) for k, v in components.items()}
        row = GreenFlareComponentsRow(
            run_id=run_id, checkpoint_id=checkpoint_id, split=split, n=n, logged_at=now(), **values
        )
        session.add(row)
        session.flush()
        return row.to_entity()

    def _log_predictions(
        self, session: Session, run_id: str, split: str, rows: Sequence[Mapping[str, Any]], checkpoint_id: int | None
    ) -> int:
        session.execute(sa.delete(PredictionRow).where(PredictionRow.run_id == run_id, PredictionRow.split == split))
        if not rows:
            return 0
        payload = []
        for i, item in enumerate(rows):
            if "sample_id" not in item or "prediction" not in item:
                raise ValueError(f"prediction row {i} needs 'sample_id' and 'prediction', has {sorted(item)}")
            unknown = sorted(set(item) - set(PREDICTION_KEYS))
            if unknown:
                raise ValueError(f"prediction row {i} ({item['sample_id']}) has unknown keys {unknown}; "
                                 f"expected names from {list(PREDICTION_KEYS)}")
            scores = dict(item.get("scores") or {})
            green = item.get("green_flare", scores.get("green_flare"))
            payload.append(
                {
                    "run_id": run_id,
                    "checkpoint_id": item.get("checkpoint_id", checkpoint_id),
                    "split": split,
                    "sample_id": str(item["sample_id"]),
                    "question": item.get("question"),
                    "prediction": item["prediction"],
                    "reference": item.get("reference"),
                    "green_flare": None if green is None else float(green),
                    "scores": scores,
                    "image_paths": _image_paths(i, item.get("image_paths")),
                    "study_id": None if item.get("study_id") is None else str(item["study_id"]),
                }
            )
        try:
            session.execute(sa.insert(_PREDICTIONS), payload)
        except IntegrityError:
            seen: set[str] = set()
            dupes = sorted({p["sample_id"] for p in payload if p["sample_id"] in seen or seen.add(p["sample_id"])})
            if dupes:
                raise ValueError(f"sample ids repeat in the predictions of run {run_id} on {split}: {dupes[:5]}") from None
            raise
        return len(payload)

    @retried(races=("pk_latest_metrics",))
    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        split: str,
        checkpoint_id: int | None = None,
        n: int | None = None,
        step: int | None = None,
    ) -> list[entities.Metric]:
        with self.transaction() as session:
            self._run_row(session, run_id)
            self._check_checkpoint(session, run_id, checkpoint_id)
            return self._log_metrics(session, run_id, metrics, split, checkpoint_id, n, step)

    @retried
    def log_green_flare_components(
        self, run_id: str, components: Mapping[str, float | None], split: str, n: int, checkpoint_id: int | None = None
    ) -> entities.GreenFlareComponents:
        with self.transaction() as session:
            self._run_row(session, run_id)
            self._check_checkpoint(session, run_id, checkpoint_id)
            return self._log_components(session, run_id, components, split, n, checkpoint_id)

    @retried(races=("uq_predictions_run_id_split_sample_id",))
    def log_predictions(
        self, run_id: str, split: str, rows: Sequence[Mapping[str, Any]], checkpoint_id: int | None = None
    ) -> int:
        with self.transaction() as session:
            self._run_row(session, run_id)
            self._check_checkpoint(session, run_id, checkpoint_id)
            return self._log_predictions(session, run_id, split, rows, checkpoint_id)

    @retried(races=("pk_latest_metrics", "uq_predictions_run_id_split_sample_id"))
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
        with self.transaction() as session:
            self._run_row(session, run_id)
            self._check_checkpoint(session, run_id, checkpoint_id)
            count = n if n is not None else (len(predictions) if predictions is not None else None)
            self._log_metrics(session, run_id, metrics, split, checkpoint_id, count, None)
            if components is not None:
                if count is None:
                    raise ValueError("components need n (or predictions to count)")
                self._log_components(session, run_id, components, split, count, checkpoint_id)
            if predictions is not None:
                self._log_predictions(session, run_id, split, predictions, checkpoint_id)
            row = self._move(session, run_id, parse_status(status), error) if status is not None else self._run_row(session, run_id)
            return self._run(session, row)

    @retried
    def record_publication(self, run_id: str, repo: str, revision: str, url: str) -> entities.Publication:
        with self.transaction() as session:
            self._run_row(session, run_id)
            row = PublicationRow(run_id=run_id, repo=repo, revision=revision, url=url, published_at=now())
            session.add(row)
            session.flush()
            return row.to_entity()

    @retried(races=("uq_external_models_repo_revision",))
    def record_external_model(
        self, repo: str, revision: str, local_path: str, recipe_yaml: str | None = None
    ) -> entities.ExternalModel:
        with self.transaction() as session:
            row = session.scalars(
                sa.select(ExternalModelRow).where(ExternalModelRow.repo == repo, ExternalModelRow.revision == revision)
            ).one_or_none()
            if row is None:
                row = ExternalModelRow(repo=repo, revision=revision, local_path=local_path,
                                       recipe_yaml=recipe_yaml, registered_at=now())
                session.add(row)
            else:
                row.local_path = local_path
                if recipe_yaml is not None:
                    row.recipe_yaml = recipe_yaml
            session.flush()
            return row.to_entity()

    def get_external_model(self, repo: str, revision: str | None = None) -> entities.ExternalModel | None:
        with self.transaction() as session:
            query = sa.select(ExternalModelRow).where(ExternalModelRow.repo == repo)
            if revision is not None:
                query = query.where(ExternalModelRow.revision == revision)
            row = session.scalars(query.order_by(ExternalModelRow.registered_at.desc(), ExternalModelRow.id.desc())).first()
            return None if row is None else row.to_entity()

    def list_external_models(self) -> list[entities.ExternalModel]:
        with self.transaction() as session:
            rows = session.scalars(sa.select(ExternalModelRow).order_by(ExternalModelRow.repo, ExternalModelRow.id))
            return [row.to_entity() for row in rows]

    # -- reads ----------------------------------------------------------------------------

    def get_run_detail(self, run_id: str) -> entities.RunDetail:
        with self.transaction() as session:
            row = self._run_row(session, run_id)
            run = self._run(session, row)
            recipe = session.get(RecipeVersionRow, row.recipe_version_id).to_entity()
            parent = self._links(session, [RunRow.id == row.parent_run_id])[0] if row.parent_run_id else None
            children = self._links(session, [RunRow.parent_run_id == run_id])
            datasets = session.scalars(
                sa.select(DatasetRow)
                .join(RunDatasetRow, RunDatasetRow.dataset_id == DatasetRow.id)
                .where(RunDatasetRow.run_id == run_id)
                .order_by(DatasetRow.name, DatasetRow.split)
            ).all()
            checkpoints = session.scalars(
                sa.select(CheckpointRow).where(CheckpointRow.run_id == run_id).order_by(CheckpointRow.step)
            ).all()
            history = session.scalars(
                sa.select(MetricRow).where(MetricRow.run_id == run_id).order_by(MetricRow.id)
            ).all()
            latest = dict(
                session.execute(
                    sa.select(LatestMetricRow.name, LatestMetricRow.value)
                    .where(LatestMetricRow.run_id == run_id)
                    .order_by(LatestMetricRow.name)
                ).all()
            )
            components = session.scalars(
                sa.select(GreenFlareComponentsRow)
                .where(GreenFlareComponentsRow.run_id == run_id)
                .order_by(GreenFlareComponentsRow.id)
            ).all()
            publications = session.scalars(
                sa.select(PublicationRow).where(PublicationRow.run_id == run_id).order_by(PublicationRow.id)
            ).all()
            counts = dict(
                session.execute(
                    sa.select(PredictionRow.split, sa.func.count())
                    .where(PredictionRow.run_id == run_id)
                    .group_by(PredictionRow.split)
                    .order_by(PredictionRow.split)
                ).all()
            )
            return entities.RunDetail(
                run=run,
                recipe=recipe,
                parent=parent,
                children=tuple(children),
                datasets=tuple(d.to_entity() for d in datasets),
                checkpoints=tuple(c.to_entity() for c in checkpoints),
                metrics=latest,
                metric_history=tuple(m.to_entity() for m in history),
                components=tuple(c.to_entity() for c in components),
                publications=tuple(p.to_entity() for p in publications),
                prediction_counts=counts,
                dataset_version=(
                    self._dataset_versions(session, [DatasetVersionRow.id == row.dataset_version_id])[0]
                    if row.dataset_version_id is not None
                    else None
                ),
            )

    def _links(self, session: Session, where: list[Any]) -> list[entities.RunLink]:
        rows = session.execute(
            sa.select(RunRow.id, RecipeVersionRow.name, RecipeVersionRow.version, RunRow.stage, RunRow.status)
            .join(RecipeVersionRow, RecipeVersionRow.id == RunRow.recipe_version_id)
            .where(*where)
            .order_by(RunRow.created_at, RunRow.id)
        ).all()
        return [
            entities.RunLink(id=r[0], recipe=f"{r[1]}@{r[2]}", stage=r[3], status=RunStatus(r[4])) for r in rows
        ]

    def search_runs(
        self,
        recipe: str | None = None,
        stage: str | None = None,
        model: str | None = None,
        status: Sequence[str] | None = None,
        tags: Sequence[str] = (),
        where: Sequence[MetricFilter] = (),
        sort: SortKey | None = None,
        limit: int | None = None,
    ) -> list[entities.RunSummary]:
        sort = sort or SortKey.parse(None)
        conditions: list[Any] = []
        if recipe:
            name, _, version = recipe.partition("@")
            conditions.append(_RECIPES.c.name == name)
            if version:
                if not version.isdigit():
                    raise InvalidQuery(f"cannot read the recipe {recipe!r}", hint="write NAME or NAME@VERSION, e.g. demo-sft@2")
                conditions.append(_RECIPES.c.version == int(version))
        if stage:
            conditions.append(_RUNS.c.stage == stage)
        if model:
            conditions.append(sa.or_(_RUNS.c.model_family == model, _RUNS.c.model_id == model))
        if status:
            conditions.append(_RUNS.c.status.in_([parse_status(s).value for s in status]))
        for tag in tags:
            conditions.append(sa.exists().where(_TAGS.c.run_id == _RUNS.c.id, _TAGS.c.tag == tag))
        for f in where:
            alias = _LATEST.alias()
            conditions.append(
                sa.exists().where(alias.c.run_id == _RUNS.c.id, alias.c.name == f.metric, _OPS[f.op](alias.c.value, f.value))
            )
        base = sa.select(_RUNS.c.id).select_from(_RUNS.join(_RECIPES, _RECIPES.c.id == _RUNS.c.recipe_version_id))
        base = base.where(*conditions)

        with self.transaction() as session:
            if sort.is_metric:
                sorted_metric = _LATEST.alias("sort_metric")
                value = sorted_metric.c.value
                first = (
                    base.join(sorted_metric, sa.and_(sorted_metric.c.run_id == _RUNS.c.id, sorted_metric.c.name == sort.key))
                    .order_by(value.desc() if sort.descending else value.asc(), _RUNS.c.created_at.desc(), _RUNS.c.id)
                )
                if limit is not None:
                    first = first.limit(limit)
                ids = list(session.scalars(first))
                if limit is None or len(ids) < limit:
                    rest = base.where(
                        ~sa.exists().where(_LATEST.c.run_id == _RUNS.c.id, _LATEST.c.name == sort.key)
                    ).order_by(_RUNS.c.created_at.desc(), _RUNS.c.id)
                    if limit is not None:
                        rest = rest.limit(limit - len(ids))
                    ids.extend(session.scalars(rest))
            else:
                column = _RECIPES.c.name if sort.key == "recipe" else _RUNS.c[RUN_FIELDS[sort.key]]
                order = [column.desc() if sort.descending else column.asc()]
                if sort.key == "recipe":
                    order.append(_RECIPES.c.version.desc() if sort.descending else _RECIPES.c.version.asc())
                query = base.order_by(*order, _RUNS.c.created_at.desc(), _RUNS.c.id)
                if limit is not None:
                    query = query.limit(limit)
                ids = list(session.scalars(query))
            return self._summaries(session, ids)

    def summaries(self, run_ids: Sequence[str]) -> list[entities.RunSummary]:
        with self.transaction() as session:
            return self._summaries(session, run_ids)

    def study_candidates(self, tags: Sequence[str], metric: str) -> list[tuple]:
        """Every succeeded run carrying ``tags``, as plain rows for choosing the study tables' runs
        among many: (id, recipe name@version, stage, model family, model id, adapter, parent run id,
        created_at, ended_at, latest ``metric`` or None). No summaries are built."""
        value = _LATEST.alias("pick")
        query = (
            sa.select(
                _RUNS.c.id, _RECIPES.c.name, _RECIPES.c.version, _RUNS.c.stage, _RUNS.c.model_family,
                _RUNS.c.model_id, _RUNS.c.adapter, _RUNS.c.parent_run_id, _RUNS.c.created_at, _RUNS.c.ended_at,
                value.c.value,
            )
            .select_from(
                _RUNS.join(_RECIPES, _RECIPES.c.id == _RUNS.c.recipe_version_id).outerjoin(
                    value, sa.and_(value.c.run_id == _RUNS.c.id, value.c.name == metric)
                )
            )
            .where(_RUNS.c.status == RunStatus.SUCCEEDED.value)
        )
        for tag in tags:
            query = query.where(sa.exists().where(_TAGS.c.run_id == _RUNS.c.id, _TAGS.c.tag == tag))
        with self.transaction() as session:
            return [
                (r[0], f"{r[1]}@{r[2]}", r[3], r[4], r[5], r[6], r[7], utc(r[8]), utc(r[9]), r[10])
                for r in session.execute(query)
            ]

    def _summaries(self, session: Session, run_ids: Sequence[str]) -> list[entities.RunSummary]:
        if not run_ids:
            return []
        ids = list(run_ids)
        rows = {
            r.id: r
            for r in session.execute(
                sa.select(
                    _RUNS.c.id, _RUNS.c.stage, _RUNS.c.model_family, _RUNS.c.model_id, _RUNS.c.adapter,
                    _RUNS.c.status, _RUNS.c.parent_run_id, _RUNS.c.created_at, _RUNS.c.started_at,
                    _RUNS.c.ended_at, _RECIPES.c.name.label("recipe_name"), _RECIPES.c.version.label("recipe_version"),
                )
                .select_from(_RUNS.join(_RECIPES, _RECIPES.c.id == _RUNS.c.recipe_version_id))
                .where(_RUNS.c.id.in_(ids))
            )
        }
        tags: dict[str, list[str]] = {}
        for run_id, tag in session.execute(sa.select(_TAGS.c.run_id, _TAGS.c.tag).where(_TAGS.c.run_id.in_(ids))):
            tags.setdefault(run_id, []).append(tag)
        metrics: dict[str, dict[str, float]] = {}
        for run_id, name, value in session.execute(
            sa.select(_LATEST.c.run_id, _LATEST.c.name, _LATEST.c.value)
            .where(_LATEST.c.run_id.in_(ids))
            .order_by(_LATEST.c.run_id, _LATEST.c.name)
        ):
            metrics.setdefault(run_id, {})[name] = value
        out = []
        for run_id in ids:
            r = rows.get(run_id)
            if r is None:
                continue
            out.append(
                entities.RunSummary(
                    id=r.id, recipe=f"{r.recipe_name}@{r.recipe_version}", stage=r.stage,
                    model_family=r.model_family, model_id=r.model_id, adapter=r.adapter,
                    status=RunStatus(r.status), tags=tuple(sorted(tags.get(run_id, ()))),
                    parent_run_id=r.parent_run_id, created_at=utc(r.created_at),
                    started_at=utc(r.started_at), ended_at=utc(r.ended_at), metrics=metrics.get(run_id, {}),
                )
            )
        return out

    def latest_successful_run(
        self, recipe_name: str, version: int | None = None, stage: str | None = None
    ) -> entities.Run | None:
        with self.transaction() as session:
            query = (
                sa.select(RunRow)
                .join(RecipeVersionRow, RecipeVersionRow.id == RunRow.recipe_version_id)
                .where(RecipeVersionRow.name == recipe_name, RunRow.status == RunStatus.SUCCEEDED.value)
            )
            if version is not None:
                query = query.where(RecipeVersionRow.version == version)
            if stage is not None:
                query = query.where(RunRow.stage == stage)
            row = session.scalars(query.order_by(RunRow.ended_at.desc(), RunRow.created_at.desc(), RunRow.id)).first()
            return None if row is None else self._run(session, row)

    def latest_components(self, run_ids: Sequence[str]) -> dict[str, entities.GreenFlareComponents]:
        """Each run's most recently logged green_flare components."""
        if not run_ids:
            return {}
        with self.transaction() as session:
            rows = session.scalars(
                sa.select(GreenFlareComponentsRow)
                .where(GreenFlareComponentsRow.run_id.in_(list(run_ids)))
                .order_by(GreenFlareComponentsRow.id)
            ).all()
            return {row.run_id: row.to_entity() for row in rows}

    def metric_history(self, run_id: str, prefix: str | None = None) -> list[entities.Metric]:
        """Every value a run logged (of the metrics whose name starts with ``prefix``), in logging order."""
        with self.transaction() as session:
            self._run_row(session, run_id)
            query = sa.select(MetricRow).where(MetricRow.run_id == run_id)
            if prefix:
                query = query.where(MetricRow.name.startswith(prefix, autoescape=True))
            return [row.to_entity() for row in session.scalars(query.order_by(MetricRow.id))]

    def predictions(self, run_id: str, split: str, study_id: str | None = None) -> list[entities.Prediction]:
        with self.transaction() as session:
            self._run_row(session, run_id)
            query = sa.select(PredictionRow).where(PredictionRow.run_id == run_id, PredictionRow.split == split)
            if study_id is not None:
                query = query.where(PredictionRow.study_id == study_id)
            rows = session.scalars(query.order_by(PredictionRow.sample_id)).all()
            return [row.to_entity() for row in rows]

    def prediction_splits(self, run_id: str) -> list[str]:
        with self.transaction() as session:
            return list(
                session.scalars(
                    sa.select(PredictionRow.split).where(PredictionRow.run_id == run_id).distinct().order_by(PredictionRow.split)
                )
            )

    def sample_scores(self, run_id: str, split: str) -> dict[str, float]:
        """Per-sample green_flare of a run on a split (samples without a score left out)."""
        with self.transaction() as session:
            return dict(
                session.execute(
                    sa.select(PredictionRow.sample_id, PredictionRow.green_flare).where(
                        PredictionRow.run_id == run_id,
                        PredictionRow.split == split,
                        PredictionRow.green_flare.is_not(None),
                    )
                ).all()
            )
