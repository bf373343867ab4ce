"""Run a recipe: plan → data → model → stage (zero-shot, SFT, GRPO) → evaluation → registry.

Everything a user can get wrong (recipe, hardware, data, parent run) is checked before the run is
created, so such an error leaves nothing in the registry. Once created, a run always ends in a
final status: ``succeeded`` with its evaluation written in one transaction, ``failed`` with the
error, or ``interrupted`` on Ctrl-C / SIGTERM. Checkpoints are recorded as they are saved and stay
recorded whatever happens next.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.adapters import AdapterSource, resolve_init_from, resolve_model_adapter
from rrg.callstack import roomy_stack
from rrg.errors import RrgError
from rrg.interrupts import sigterm_as_interrupt
from rrg.plan import Plan, resolve_plan
from rrg.provenance import host_name, package_versions, peak_rss_gib

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry

    from rrg.artifacts import ArtifactStore
    from rrg.data.flare import FlareSplit
    from rrg.data.training import TrainingData
    from rrg.evaluation import ModelEvaluation
    from rrg.recipe import Recipe
    from rrg.run import Run

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = Path("rrg_runs")
HEARTBEAT_SECONDS = 30.0
"""How often a running run tells the registry it is alive, in every phase (loading, training,
generating, scoring, recording); the registry treats a run silent for 15 minutes as dead."""


class RecipeVersionChanged(RrgError):
    """The recipe's name+version is recorded with different content."""


@dataclass
class RunEvents:
    """Optional hooks a front end (the CLI's progress display) uses to follow a run."""

    on_phase: Callable[[str], None] = lambda phase: None
    on_train_step: Callable[[int, int, dict[str, float]], None] = lambda step, total, logs: None
    on_generate: Callable[[int, int], None] = lambda done, total: None


@dataclass
class RunRecorder:
    """A run being recorded: what the training callbacks write through."""

    registry: Registry
    run_id: str
    checkpoints: list[Any] = field(default_factory=list)
    is_main = True
    """Whether this process writes to the registry (see :class:`FollowerRecorder`)."""
    artifacts: ArtifactStore | None = None
    """Where checkpoints are uploaded (the run's folder under its artefacts URL), None for a local run."""
    logs: Path | None = None
    """The run's tracker logs folder (``logging.report_to``), uploaded with the checkpoints; None without trackers."""
    _manifests: dict[int, Any] = field(default_factory=dict)
    _logs_manifest: Any = None
    _last_beat: float = field(default_factory=time.monotonic)

    def log_training_metrics(self, step: int, metrics: dict[str, float]) -> None:
        self.registry.log_metrics(self.run_id, {f"train/{k}": v for k, v in metrics.items()}, split="train", step=step)

    def log_scores(self, step: int, split: str, values: dict[str, float], n: int | None = None) -> None:
        """Scores of the policy at a training step (GRPO's ``training.eval_steps``)."""
        self.registry.log_metrics(self.run_id, values, split=split, n=n, step=step)

    def record_checkpoint(self, step: int, path: Path, sha256: str, size: int, eval_loss: float | None, best: bool) -> Any:
        """Record a saved checkpoint; with an artefacts URL, only once its folder and manifest are
        uploaded (the checkpoint's path is then the folder's URL)."""
        location = self._upload(step, Path(path)) if self.artifacts is not None else str(path)
        checkpoint = self.registry.record_checkpoint(self.run_id, step, location, sha256, size, eval_loss, best)
        self.checkpoints.append(checkpoint)
        self.upload_logs()
        return checkpoint

    def upload_logs(self, warn: bool = True) -> None:
        """Upload the tracker logs folder as it is now to ``<run URL>/logs/`` (only new or changed
        files after the first time), then record its manifest as the plan entry's ``logs``. Logs
        are a copy of what the registry holds, so a failed upload is a warning (``warn``: on
        standard error too), not a failed run: the manifest recorded before stays valid."""
        if self.artifacts is None or self.logs is None or not any(p.is_file() for p in self.logs.rglob("*")):
            return
        from rrg.artifacts import LOGS_FOLDER, PLAN_KEY, plan_entry

        try:
            keep = self._logs_manifest
            if keep is None:  # first upload of this process; a resumed run's recorded logs are there already
                recorded = plan_entry(self.registry.get_run(self.run_id).run.plan).get("logs")
                keep = self.artifacts.read_manifest(LOGS_FOLDER, recorded["manifest"]) if recorded else None
            uploaded = self.artifacts.upload_folder(self.logs, LOGS_FOLDER, keep=keep)
        except RrgError as exc:
            logger.warning("tracker logs of run %s not uploaded: %s", self.run_id, exc.format_message())
            if warn:
                warn_user(f"the tracker logs of run {self.run_id} were not uploaded ({exc.format_message()})")
            return
        self._logs_manifest = uploaded.listing
        entry = plan_entry(self.registry.get_run(self.run_id).run.plan)
        entry["logs"] = uploaded.entry()
        self.registry.add_to_plan(self.run_id, PLAN_KEY, entry)

    def heartbeat(self) -> None:
        from rrg_registry.errors import InvalidTransition

        try:
            self.registry.heartbeat(self.run_id)
        except InvalidTransition:  # reaped while alive: put back to running, then beat
            if not _still_running(self.registry, self.run_id):
                raise
            self.registry.heartbeat(self.run_id)
        self._last_beat = time.monotonic()

    def generation_progress(self, events: RunEvents) -> Callable[[int, int], None]:
        """The progress hook for generation: shows progress and keeps the heartbeat going, so a
        long evaluation is not taken for a dead run."""

        def progress(done: int, total: int) -> None:
            events.on_generate(done, total)
            if time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
                self.heartbeat()

        return progress

    def log_before(self, evaluation: ModelEvaluation) -> None:
        """The starting model's scores, as ``before/<metric>`` on the evaluation split."""
        summary = evaluation.scores.summary
        values = {f"before/{k}": v for k, v in summary.items() if k != "n" and isinstance(v, (int, float))}
        self.registry.log_metrics(self.run_id, values, split=evaluation.split, n=evaluation.scores.n)

    def hand_on(self, step: int, path: Path, weights: Path, eval_loss: float | None) -> int:
        """Flag the checkpoint the run hands on as best (recording it, with the sha256 and size of
        its ``weights`` file, if the trainer did not)."""
        recorded = next((c for c in self.checkpoints if c.step == step), None)
        if recorded is None:  # recorded before the run was resumed
            recorded = next((c for c in self.registry.get_run(self.run_id).checkpoints if c.step == step), None)
        if recorded is None:
            from rrg.train.callbacks import file_sha256

            return self.record_checkpoint(step, path, file_sha256(weights), weights.stat().st_size, eval_loss, True).id
        if self.artifacts is not None:  # the folder gained the processor files: upload them too
            self._upload(step, path, again=True)
        if not recorded.best:
            self.registry.mark_best_checkpoint(recorded.id)
        return recorded.id

    def _upload(self, step: int, folder: Path, again: bool = False) -> str:
        """Upload a checkpoint folder, then record its manifest in the run's plan entry; returns its URL.

        ``again``: the folder was uploaded and recorded before; the recorded files stay in place
        (only new or changed ones are sent) and the new manifest is recorded once it is written."""
        from rrg.artifacts import PLAN_KEY, Manifest, plan_entry

        keep = self._manifests.get(step, Manifest({})) if again else None
        uploaded = self.artifacts.upload_folder(folder, f"checkpoints/{folder.name}", keep=keep)
        self._manifests[step] = uploaded.listing
        entry = plan_entry(self.registry.get_run(self.run_id).run.plan)
        entry["checkpoints"][str(step)] = uploaded.entry()
        self.registry.add_to_plan(self.run_id, PLAN_KEY, entry)
        return uploaded.url


class FollowerRecorder(RunRecorder):
    """The recorder of a launched process other than the main one: the main process (global rank
    0) alone writes to the registry, so this one records nothing."""

    is_main = False

    def log_training_metrics(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def log_scores(self, step: int, split: str, values: dict[str, float], n: int | None = None) -> None:
        pass

    def record_checkpoint(self, step: int, path: Path, sha256: str, size: int, eval_loss: float | None, best: bool) -> Any:
        return None

    def heartbeat(self) -> None:
        pass

    def log_before(self, evaluation: ModelEvaluation | None) -> None:
        pass

    def hand_on(self, step: int, path: Path, weights: Path, eval_loss: float | None) -> int | None:
        return None

    def upload_logs(self, warn: bool = True) -> None:
        pass


@dataclass(frozen=True)
class PreparedRun:
    """Everything checked and loaded before a run is created."""

    plan: Plan
    train: TrainingData | None
    evaluation: FlareSplit
    parent: AdapterSource | None
    init_adapter: AdapterSource | None
    processes: Any = None
    """accelerate's ``PartialState`` when this is one of several launched processes (``plan.launch``), else None."""


def run_recipe(
    recipe: Recipe,
    *,
    registry: Registry | None = None,
    device: str | None = None,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    events: RunEvents | None = None,
    prepared: PreparedRun | None = None,
    verbose: bool = False,
    artifacts: str | None = None,
) -> Run:
    """Run ``recipe`` and record it; returns the :class:`~rrg.run.Run` handle.

    ``registry`` defaults to ``Registry.default()`` (``$RRG_REGISTRY_URL`` or ``./rrg.db``);
    ``device="cpu"`` runs a GPU recipe on the CPU (see :func:`rrg.plan.resolve_plan`); outputs
    (checkpoints, the exported adapter) go to ``output_dir/<run id>/``. ``prepared`` is what
    :func:`prepare_run` returned for this recipe, registry and device, if the caller checked
    first (the CLI does, so a user error prints before any progress display). The libraries'
    own progress bars and deprecation warnings stay quiet unless ``verbose``. ``artifacts`` (default
    ``$RRG_ARTIFACTS_URL``) is an fsspec URL each checkpoint is uploaded under, as
    ``<artifacts>/<run id>/checkpoints/...``, before it is recorded (see :mod:`rrg.artifacts`).
    """
    from rrg.logs import quiet_libraries

    with quiet_libraries(verbose):
        return _run_recipe(recipe, registry, device, output_dir, events or RunEvents(), prepared, artifacts)


def _run_recipe(
    recipe: Recipe, registry: Registry | None, device: str | None, output_dir: str | Path, events: RunEvents, prepared: PreparedRun | None,
    artifacts: str | None = None,
) -> Run:
    from rrg.run import Run

    if registry is None:
        from rrg_registry import Registry as RegistryClass

        registry = RegistryClass.default()
    if prepared is None:
        prepared = prepare_run(recipe, registry=registry, device=device, events=events)
    elif prepared.plan.recipe_hash != recipe.hash:
        raise ValueError(f"the prepared run is of another recipe ({prepared.plan.recipe}, {prepared.plan.recipe_hash[:12]})")
    output_root = Path(output_dir).resolve()
    store_url = None
    if prepared.plan.stage != "zero_shot":
        _require_output_dir(output_root)
        from rrg.artifacts import require_store

        store_url = require_store(artifacts)
    if prepared.plan.launch is not None:
        from rrg.launch import is_launched

        if not is_launched():  # start the plan's processes, each running this recipe
            return _run_launched(recipe, registry, prepared, output_root, events, artifacts)
        prepared = replace(prepared, processes=_process_group(recipe, prepared.plan))
        run_id = _shared_run_id(registry, recipe, prepared)
    else:
        run_id = _create_run(registry, recipe, prepared)
    if prepared.processes is not None and not prepared.processes.is_main_process:
        _follow(recipe, prepared, output_root / run_id)
        return Run(run_id, registry=registry, plan=prepared.plan)
    logs = tracker_folders(prepared.plan, output_root / run_id)
    if logs:
        registry.add_to_plan(run_id, "logs", logs)
    store = None
    if store_url is not None:
        from rrg.artifacts import PLAN_KEY, ArtifactStore, new_plan_entry

        store = ArtifactStore(f"{store_url}/{run_id}")
        registry.add_to_plan(run_id, PLAN_KEY, new_plan_entry(store.url, output_root / run_id))
    _execute(registry, run_id, recipe, prepared, output_root / run_id, events, artifacts=store)
    return Run(run_id, registry=registry, plan=prepared.plan)


def resume_run(
    run_ref: str,
    *,
    registry: Registry,
    device: str | None = None,
    events: RunEvents | None = None,
    verbose: bool = False,
) -> Run:
    """Continue an interrupted or failed SFT/GRPO run from its last valid checkpoint, as the same run.

    The run's own recipe is read back from the registry, its data must still have the fingerprints
    it was recorded with, and the checkpoint's weights the sha256 recorded. Training continues with
    the optimizer, scheduler, RNG and data position saved in the checkpoint (``Trainer``'s
    ``resume_from_checkpoint``); what the run recorded after that step is replaced, the rest kept.
    ``device`` defaults to the device the run was planned for.
    """
    from rrg.logs import quiet_libraries
    from rrg.recipe import Recipe
    from rrg.run import Run

    events = events or RunEvents()
    run_id = registry.resolve_run_id(run_ref)
    detail = registry.get_run(run_id)
    run = detail.run
    if run.stage == "zero_shot":
        raise RrgError(f"run {run_id} ({run.recipe}) is a zero_shot run: there is no training to resume", hint=f"run it again: rrg run {run.recipe}")
    if run.status.value not in ("interrupted", "failed"):
        raise RrgError(
            f"run {run_id} ({run.recipe}) is {run.status.value}; only an interrupted or failed run resumes",
            hint="a running run is still alive; start a new version of its recipe to train again",
        )
    from rrg.artifacts import plan_entry

    stored = plan_entry(run.plan)
    if stored is None:
        checkpoint = _last_valid_checkpoint(detail)
        run_dir = Path(checkpoint.path).parent.parent if checkpoint is not None else None
        resume_from = Path(checkpoint.path) if checkpoint is not None else None
    else:
        checkpoint, run_dir, resume_from = _last_stored_checkpoint(registry, detail, stored)
    if checkpoint is None:
        raise RrgError(
            f"run {run_id} ({run.recipe}) has no recorded checkpoint left intact to resume from",
            hint=f"run its recipe again: rrg run {run.recipe}",
        )
    recipe = Recipe.load(run.recipe, registry=registry)
    planned_device = (run.plan or {}).get("device")
    with quiet_libraries(verbose):
        prepared = prepare_run(recipe, registry=registry, device=device or planned_device, events=events)
        _require_same_data(detail, prepared)
        if stored is not None and prepared.plan.logging is not None:
            _restore_logs(stored, run_dir / prepared.plan.logging.folder, what=f"run {run_id}")
        registry.resume_run(run_id, checkpoint.step)
        store = None
        if stored is not None:
            from rrg.artifacts import PLAN_KEY, ArtifactStore

            store = ArtifactStore(stored["url"])
            if stored.get("local") != str(run_dir):
                registry.add_to_plan(run_id, PLAN_KEY, {**stored, "local": str(run_dir)})
        _execute(registry, run_id, recipe, prepared, run_dir, events, resume_from=resume_from, artifacts=store)
    return Run(run_id, registry=registry, plan=prepared.plan)


def _restore_logs(stored: dict[str, Any], folder: Path, *, what: str) -> None:
    """On a machine without the run's tracker logs folder, put back the logs the run uploaded
    (verified), so the trackers go on writing beside them and the next upload lists them all."""
    if folder.is_dir() or not stored.get("logs"):
        return
    import shutil

    from rrg.artifacts import LOGS_FOLDER, MANIFEST_PREFIX, fetch_folder

    logs = stored["logs"]
    cached = fetch_folder(f"{stored['url']}/{LOGS_FOLDER}", logs["manifest"], logs["sha256"], what=what)
    shutil.copytree(cached, folder, ignore=shutil.ignore_patterns(f"{MANIFEST_PREFIX}*"))


def _last_stored_checkpoint(registry: Registry, detail: Any, stored: dict[str, Any]) -> tuple[Any, Path | None, Path | None]:
    """For a run whose checkpoints are on shared storage: the newest recorded checkpoint that is
    intact in the run's local folder, else whose stored copy verifies (its manifest against the
    registry, every file against the manifest), copied into the local folder. The local folder is
    the one recorded if it can be written here (the same machine, a shared disk), else
    ``rrg_runs/<run id>`` in the working directory. Files a cut-off upload left are never read:
    only recorded checkpoints, with their recorded manifests, are."""
    import shutil

    from rrg.artifacts import MANIFEST_PREFIX, fetch_checkpoint, is_url

    run_id = detail.run.id
    run_dir = Path(stored["local"])
    try:
        _require_output_dir(run_dir)
    except RrgError:
        run_dir = (DEFAULT_OUTPUT_DIR / run_id).resolve()
        _require_output_dir(run_dir)
    for checkpoint in sorted(detail.checkpoints, key=lambda c: c.step, reverse=True):
        folder = run_dir / "checkpoints" / f"checkpoint-{checkpoint.step}"
        if _intact_checkpoint(folder, checkpoint.sha256):
            return checkpoint, run_dir, folder
        if not is_url(checkpoint.path):
            continue
        try:
            fetched = fetch_checkpoint(registry, run_id, checkpoint, what=f"run {run_id}")
        except RrgError as exc:
            warn_user(f"{exc.message}; trying an earlier checkpoint")
            continue
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(fetched, folder, ignore=shutil.ignore_patterns(f"{MANIFEST_PREFIX}*"))
        if _intact_checkpoint(folder, checkpoint.sha256):
            return checkpoint, run_dir, folder
    return None, None, None


def _last_valid_checkpoint(detail: Any) -> Any:
    """The newest recorded checkpoint whose weights still have the recorded sha256 and whose folder
    holds the trainer state a resume needs."""
    from rrg.provenance import file_sha256
    from rrg.train.callbacks import weights_file

    for checkpoint in sorted(detail.checkpoints, key=lambda c: c.step, reverse=True):
        folder = Path(checkpoint.path)
        weights = weights_file(folder) if folder.is_dir() else None
        if weights is None or not (folder / "trainer_state.json").is_file():
            continue
        if file_sha256(weights) == checkpoint.sha256:
            return checkpoint
    return None


def _intact_checkpoint(folder: Path, sha256: str) -> bool:
    """The folder holds weights with ``sha256`` and the trainer state a resume needs."""
    from rrg.provenance import file_sha256
    from rrg.train.callbacks import weights_file

    weights = weights_file(folder) if folder.is_dir() else None
    return weights is not None and (folder / "trainer_state.json").is_file() and file_sha256(weights) == sha256


def _require_same_data(detail: Any, prepared: PreparedRun) -> None:
    """Every data set the run was recorded with (each training data set and the evaluation split)
    still has the fingerprint recorded."""
    recorded = {(d.name, d.split): d.fingerprint for d in detail.datasets}
    parts = prepared.train.parts if prepared.train is not None else ()
    for split in (*parts, prepared.evaluation):
        before = recorded.get((split.name, split.split))
        if before is not None and before != split.fingerprint:
            raise RrgError(
                f"{split.questions_file}: {split.name}/{split.split} changed since run {detail.run.id} was recorded "
                f"(fingerprint {before[:12]} then, {split.fingerprint[:12]} now)",
                hint="restore the data the run used, or start a new run",
            )


def prepare_run(recipe: Recipe, *, registry: Registry, device: str | None = None, events: RunEvents | None = None) -> PreparedRun:
    """Everything before the run is recorded: plan, recipe-version check, data, starting adapter.

    Raises on any problem a user can fix; writes nothing (``rrg run --dry-run`` stops here).
    """
    events = events or RunEvents()
    events.on_phase("planning")
    _register_demo_if_named(recipe, registry)
    plan = resolve_plan(recipe, device=device, registry=registry)
    _check_recipe_version(registry, recipe)
    return _prepare(recipe, plan, registry, events)


def _check_recipe_version(registry: Registry, recipe: Recipe) -> None:
    recorded = registry.get_recipe_version(recipe.name, recipe.version)
    if recorded is not None and recorded.hash != recipe.hash:
        where = recipe.source_path or recipe.ref
        free = max(v.version for v in registry.list_recipe_versions(recipe.name)) + 1
        how = f"add --set version={free}" if recipe.overrides else f"bump `version:` to {free}"
        raise RecipeVersionChanged(
            f"{where}: recipe {recipe.ref} is already recorded with different content "
            f"(recorded {recorded.hash[:12]}, this one {recipe.hash[:12]})",
            hint=f"{how} (compare with: rrg recipe show {recipe.ref})",
        )


def _prepare(recipe: Recipe, plan: Plan, registry: Registry, events: RunEvents) -> PreparedRun:
    from rrg.data.flare import REPORT_GENERATION, load_flare

    spec = recipe.spec
    data = spec.data
    if plan.init_from not in (None, "base") and plan.model.init_adapter:
        raise RrgError(
            f"{recipe.source_path or recipe.ref}: both stage.init_from and model.adapter name a starting adapter",
            hint="keep one of them",
        )
    _require_scorers(recipe, plan)
    events.on_phase("reading data")
    train = _read_training_data(plan, data) if plan.stage != "zero_shot" else None
    evaluation = load_flare(
        plan.data.root, plan.data.dataset, plan.data.eval_split, plan.data.category,
        image_policy=data.image_policy, limit=data.max_eval_samples, task_types=REPORT_GENERATION,
        max_image_pixels=data.max_image_pixels,
    )
    if plan.data.dataset_version_id is not None:
        _require_registered_content(recipe, plan, registry, train, evaluation)
    _require_samples(evaluation, "data.max_eval_samples")
    _require_answers(evaluation, "evaluation.split" if spec.evaluation.split else "data.eval_split")
    _require_plain_text(evaluation, plan.model.family, ("question",))
    _require_expected(recipe, plan, train, evaluation)
    parent = resolve_init_from(registry, plan.init_from) if plan.init_from else None
    init_adapter = resolve_model_adapter(registry, plan.model.init_adapter) if plan.model.init_adapter else None
    return PreparedRun(plan=plan, train=train, evaluation=evaluation, parent=parent, init_adapter=init_adapter)


def _require_registered_content(recipe: Recipe, plan: Plan, registry: Registry, train: TrainingData | None, evaluation: FlareSplit) -> None:
    """The data a run of a registered dataset version (``data.dataset: NAME@VERSION``) read still
    has the fingerprints registered in that version (:func:`rrg.datasets.require_registered_content`)."""
    from rrg.datasets import require_registered_content

    version = registry.get_dataset_version(*plan.data.dataset_version.rsplit("@", 1))
    categories = {source.dataset: source.category for source in plan.data.train_datasets or []}
    reads = [(part, categories.get(part.name, plan.data.category)) for part in (train.parts if train is not None else ())]
    reads.append((evaluation, plan.data.category))
    require_registered_content(version, reads, recipe.source_path or recipe.ref, root=plan.data.root)


def _register_demo_if_named(recipe: Recipe, registry: Registry) -> None:
    """A recipe naming the demo set by its registered name (``data.dataset: demo-iu-xray@...``)
    finds it registered: the demo set is registered on first use, as with ``data.root: demo``."""
    from rrg.datasets import DEMO_NAME, demo_version, is_dataset_ref

    dataset = recipe.spec.data.dataset
    if is_dataset_ref(dataset) and dataset.split("@", 1)[0] == DEMO_NAME:
        demo_version(registry)


def _dataset_version_id(registry: Registry, recipe: Recipe, plan: Plan) -> int | None:
    """The registered dataset version the run reads: the one its recipe named, or, for the bundled
    demo set (``data.root: demo``), its registered version (registered on first use)."""
    if plan.data.dataset_version_id is not None:
        return plan.data.dataset_version_id
    if recipe.spec.data.root == "demo":
        from rrg.datasets import demo_version

        return demo_version(registry).id
    return None


def _read_training_data(plan: Plan, data: Any) -> TrainingData:
    """Every training data set of the plan, read and checked on its own, then mixed by weight."""
    from rrg.data.flare import load_flare
    from rrg.data.training import TrainingData

    several = data.train is not None
    parts = []
    for source in plan.data.train_datasets or []:
        part = load_flare(
            plan.data.root, source.dataset, data.train_split, source.category,
            image_policy=data.image_policy, limit=source.max_samples, task_types=source.task_filter,
            max_image_pixels=data.max_image_pixels,
        )
        _require_samples(part, f"data.train entry {source.dataset}" if several else "data.max_train_samples")
        _require_answers(part, "data.train_split")
        _require_plain_text(part, plan.model.family, ("question", "answer"))
        if plan.training is not None:
            _require_prompts_fit(plan, part, plan.training.max_length)
        parts.append(part)
    return TrainingData.mix(parts, [source.weight for source in plan.data.train_datasets or []], plan.seed)


def _require_expected(recipe: Recipe, plan: Plan, train: TrainingData | None, evaluation: FlareSplit) -> None:
    """``data.expect`` holds for the samples actually read: an ``image_policy: skip`` read may have
    dropped some that the plan counted."""
    from rrg.plan import EXPECT_HINT, expectation_problem

    skipped = {plan.data.eval_split: len(evaluation.skipped)}
    if train is not None:
        skipped[plan.data.train_split] = skipped.get(plan.data.train_split, 0) + len(train.skipped)
    problem = expectation_problem(plan.data, train.size if train is not None else None, evaluation.size, skipped)
    if problem is not None:
        raise RrgError(f"{recipe.source_path or recipe.ref}: {problem}", hint=EXPECT_HINT)


def _require_scorers(recipe: Recipe, plan: Plan) -> None:
    """Every evaluation metric and the GRPO reward can run here: each metric's availability check
    passes (radgraph_f1: the radgraph package installed, its weights and encoder on disk) and the
    reward builds as the trainer will build it. Nothing is scored and no model is loaded; the
    metric's own one-line error is raised, prefixed with the recipe file and key."""
    from rrg.errors import MissingDependencyError
    from rrg.metrics import METRICS

    where = recipe.source_path or recipe.ref

    def named(key: str, exc: RrgError) -> RrgError:
        kind = MissingDependencyError if isinstance(exc, MissingDependencyError) else RrgError
        return kind(f"{where}: {key}: {exc.message}", hint=exc.hint)

    for metric in plan.generation["metrics"]:
        try:
            METRICS.check([metric])
        except RrgError as exc:
            raise named(f"evaluation.metrics {metric}", exc) from None
    if plan.reward is None:
        return
    from rrg.metrics.radgraph_f1 import RADGRAPH_ARCHIVES
    from rrg.train.grpo import reward_functions

    scorer = plan.reward["clinical_scorer"]
    if scorer == "radgraph_f1" and plan.reward["radgraph_model"] not in RADGRAPH_ARCHIVES:
        raise RrgError(
            f"{where}: reward.radgraph_model: unknown RadGraph model {plan.reward['radgraph_model']!r}",
            hint=f"choose from {', '.join(RADGRAPH_ARCHIVES)}",
        )
    try:
        reward_functions(plan)
    except RrgError as exc:
        raise named(f"reward.clinical_scorer {scorer}", exc) from None


def _require_samples(split: FlareSplit, key: str) -> None:
    if split.size == 0:
        raise RrgError(
            f"{split.questions_file}: no usable sample in {split.name}/{split.split}"
            + (f" ({len(split.skipped)} skipped for image problems)" if split.skipped else ""),
            hint=f"check the data folder, or {key}",
        )


def _require_answers(split: FlareSplit, key: str) -> None:
    """Training and scoring both need the reference answer of every sample."""
    missing = [sid for sid, answer in zip(split.dataset["sample_id"], split.dataset["answer"]) if answer is None]
    if missing:
        raise RrgError(
            f"{split.questions_file}: {len(missing)} of {split.size} samples in {split.name}/{split.split} "
            f"have no reference answer (first: {missing[0]})",
            hint=f"set {key} to a split whose samples carry an Answer",
        )


def _require_plain_text(split: FlareSplit, family_name: str, columns: tuple[str, ...]) -> None:
    """No question (or, for training, answer) holds one of the model's special tokens as text: the
    tokenizer would read ``<image>`` or ``<|im_start|>`` there as the token itself and the prompt
    would no longer match its images or its chat format."""
    from rrg.models import get_family

    tokens = get_family(family_name).special_tokens.tokens
    data = split.dataset
    for column in columns:
        for sample_id, text in zip(data["sample_id"], data[column]):
            found = next((t for t in tokens if text and t in text), None)
            if found is not None:
                raise RrgError(
                    f"{split.questions_file}: sample {sample_id}: its {column} holds {found!r}, a special token of "
                    f"the {family_name} tokenizer",
                    hint="edit that text (or drop the sample): special tokens cannot appear as plain text",
                )


def _require_prompts_fit(plan: Plan, split: FlareSplit, max_length: int) -> None:
    """Every training prompt, image tokens included, fits ``training.max_length``.

    SFT: truncation would cut image tokens off and the model could not place its images; checked
    for families that can count image tokens before their processor runs (DeepSeek-OCR), where
    TRL's truncation is otherwise the rule. GRPO: TRL truncates nothing, so the prompt plus
    ``grpo.max_completion_length`` must fit, for every family (the others' prompts are measured
    by running their processor on the images)."""
    from PIL import Image

    from rrg.data.flare import load_images
    from rrg.models import get_family
    from rrg.models.base import VisionLanguageFamily

    family = get_family(plan.model.family)
    counts_headers = type(family).prompt_lengths is not VisionLanguageFamily.prompt_lengths
    completion = int(plan.trainer.get("max_completion_length", 0)) if plan.stage == "grpo" and plan.trainer else 0
    if not counts_headers and plan.stage != "grpo":
        return
    budget = max_length - completion
    processor = family._load_processor(plan.model.source, revision=plan.model.revision, trust_remote_code=False)
    if plan.model.image_size is not None:
        family._set_image_size(processor, plan.model.image_size)
    if plan.model.image_mode is not None:
        family.set_image_mode(processor, plan.model.image_mode)
    data = split.dataset
    for sample_id, question, paths in zip(data["sample_id"], data["question"], data["image_paths"]):
        if counts_headers:
            images = [Image.open(path) for path in paths]  # headers only; checked in full by load_flare
            (length,) = family.prompt_lengths(processor, [(question, images)])
            for image in images:
                image.close()
        else:
            images = load_images(paths)
            prompt = family.prompt_text(processor, question, len(images))
            length = int(family.processor_inputs(processor, [prompt], [images])["input_ids"].shape[1])
        if length > budget:
            room = f"training.max_length {max_length} less grpo.max_completion_length {completion}" if completion else f"training.max_length {max_length}"
            raise RrgError(
                f"{split.questions_file}: sample {sample_id}: its prompt takes {length} tokens with its image "
                f"tokens, more than {room}",
                hint=f"raise training.max_length to at least {length + completion}, or shorten the question",
            )


def _require_output_dir(folder: Path) -> None:
    """The folder checkpoints and adapters go to exists (or can be made) and can be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RrgError(f"output folder {folder}: {exc.strerror or exc}", hint="pass --output-dir a folder you can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RrgError(f"output folder {folder}: permission denied", hint="pass --output-dir a folder you can write to")


def _create_run(registry: Registry, recipe: Recipe, prepared: PreparedRun) -> str:
    plan = prepared.plan
    version = registry.record_recipe(recipe.name, recipe.version, recipe.hash, recipe.to_yaml())
    parts = prepared.train.parts if prepared.train is not None else ()
    datasets = [
        registry.record_dataset(split.name, split.split, split.fingerprint, split.size)
        for split in (*parts, prepared.evaluation)
    ]
    start = prepared.parent or prepared.init_adapter
    run = registry.create_run(
        version.id,
        plan.stage,
        plan.model.family,
        plan.model.id,
        model_revision=plan.model.revision,
        adapter=start.label if start is not None else None,
        seed=plan.seed,
        host=host_name(),
        package_versions=package_versions(),
        plan=plan.model_dump(mode="json"),
        parent_run_id=(start.run_id if start is not None else None),
        tags=recipe.spec.tags,
        datasets=datasets,
        external_model_id=(start.external_model_id if start is not None else None),
        dataset_version_id=_dataset_version_id(registry, recipe, plan),
    )
    return run.id


def _process_group(recipe: Recipe, plan: Plan) -> Any:
    """Join the job's process group (gloo on the CPU, NCCL on GPUs, from torchrun's environment)
    after checking it has as many processes as the plan asks for; accelerate's ``PartialState``."""
    from accelerate import PartialState

    from rrg.launch import check_launched_world

    check_launched_world(plan, recipe.source_path or recipe.ref)
    return PartialState(cpu=plan.device == "cpu")


def _shared_run_id(registry: Registry, recipe: Recipe, prepared: PreparedRun) -> str:
    """The run every launched process records into: the one ``rrg run`` created before launching
    (``RRG_RUN_ID``), or one the main process creates now; the main process hands its id to the
    others, or the reason it could not, so no process waits for a run that does not exist."""
    from accelerate.utils import broadcast_object_list

    from rrg.launch import RUN_ID_ENV

    processes = prepared.processes
    payload: list[Any] = [None]
    if processes.is_main_process:
        given = os.environ.get(RUN_ID_ENV)
        try:
            payload = [("run", _adopt_run(registry, recipe, given) if given else _create_run(registry, recipe, prepared))]
        except BaseException as exc:
            broadcast_object_list([("error", f"{type(exc).__name__}: {exc}")], from_process=0)
            raise
    broadcast_object_list(payload, from_process=0)
    kind, value = payload[0]
    if kind == "error":
        raise RrgError(f"process {processes.process_index}: the main process could not record the run ({value})", hint="see the main process's message")
    return value


def _adopt_run(registry: Registry, recipe: Recipe, run_id: str) -> str:
    """The run ``rrg run`` created for the launched processes: pending, of this very recipe."""
    from rrg.launch import RUN_ID_ENV

    run = registry.get_run(run_id).run
    if run.recipe != recipe.ref or run.status.value != "pending":
        raise RrgError(
            f"{RUN_ID_ENV}={run_id}: run {run.id} is {run.status.value}, of {run.recipe}; the launched processes run {recipe.ref} in a new (pending) run",
            hint=f"unset {RUN_ID_ENV}: the main process then creates the run",
        )
    return run.id


def _run_launched(recipe: Recipe, registry: Registry, prepared: PreparedRun, output_root: Path, events: RunEvents, artifacts: str | None) -> Run:
    """Run a plan of several processes on this machine: create the run, start torchrun with the
    run's id in ``RRG_RUN_ID`` (each process runs ``rrg run name@version``, read back from the
    registry, so every process runs the recipe recorded), wait, and make sure the run ends in a
    final status: processes that died without recording one leave it ``failed``."""
    from rrg.launch import LaunchError, WorkerArgs, run_launched
    from rrg.run import Run

    plan = prepared.plan
    if plan.launch.nodes != 1:
        raise LaunchError(
            f"{recipe.source_path or recipe.ref}: hardware.nodes {plan.launch.nodes}: `rrg run` starts the processes of one machine",
            hint="submit it with `rrg launch RECIPE --slurm`, or run the command of `rrg run --print-launch` on every machine",
        )
    if registry.url in ("sqlite://", "sqlite:///:memory:"):
        raise LaunchError(
            f"{recipe.source_path or recipe.ref}: {plan.launch.world_size} processes cannot share an in-memory registry",
            hint="give a registry file or server (--registry, RRG_REGISTRY_URL)",
        )
    run_id = _create_run(registry, recipe, prepared)
    events.on_phase(f"training in {plan.launch.world_size} processes" if plan.stage != "zero_shot" else f"evaluating in {plan.launch.world_size} processes")
    worker = WorkerArgs(recipe.ref, device=plan.device if plan.device == "cpu" else None, output_dir=str(output_root))
    environment = {"RRG_REGISTRY_URL": registry.url}
    if artifacts is not None:
        environment["RRG_ARTIFACTS_URL"] = artifacts
    try:
        status = run_launched(plan, worker, run_id, environment=environment)
    except KeyboardInterrupt as exc:
        if registry.get_run(run_id).run.status.value in ("pending", "running"):
            registry.finish_run(run_id, "interrupted", "interrupted (Ctrl-C) while its processes ran")
        exc.rrg_run = (run_id, recipe.ref, plan.stage)
        raise
    run = registry.get_run(run_id).run
    if run.status.value in ("pending", "running"):
        registry.finish_run(run_id, "failed", f"its {plan.launch.world_size} processes exited with status {status} before recording an outcome")
        run = registry.get_run(run_id).run
    if run.status.value != "succeeded":
        raise LaunchError(
            f"run {run_id} ({recipe.ref}) is {run.status.value} after its {plan.launch.world_size} processes exited with status {status}: {(run.error or '').splitlines()[0] if run.error else 'no error recorded'}",
            hint="the processes' own output above says what went wrong",
        )
    return Run(run_id, registry=registry, plan=plan)


def _follow(recipe: Recipe, prepared: PreparedRun, run_dir: Path) -> None:
    """A launched process other than the main one: the same stage, in step with the others,
    recording nothing (the main process records the run's outcome)."""
    with sigterm_as_interrupt():
        _run_stage(recipe, prepared, FollowerRecorder(None, ""), run_dir, RunEvents())  # type: ignore[arg-type]


def _still_running(registry: Registry, run_id: str) -> bool:
    """True if the run is ``running``. A run that another process marked interrupted for a missed
    heartbeat while this one was alive (a long stall, a suspended machine) is put back to
    ``running`` and says so in one line, so what it records next is its real outcome."""
    from rrg_registry.status import REAPED_PREFIX

    run = registry.get_run(run_id).run
    if run.status.value == "running":
        return True
    if run.status.value == "interrupted" and (run.error or "").startswith(REAPED_PREFIX):
        reason = registry.revive_run(run_id)
        message = f"run {run_id} was marked interrupted by another process ({reason}) while it was alive; it is running again"
        logger.warning(message)
        warn_user(message)
        return True
    return False


def warn_user(message: str) -> None:
    """One line on standard error, for what a user should know while a run goes on."""
    import sys

    print(f"Warning: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _heartbeat(registry: Registry, run_id: str) -> Iterator[None]:
    """A background thread that tells the registry the run is alive every ``HEARTBEAT_SECONDS``
    while the body runs, whatever it is doing (a Hub download, a model load, scoring), so a live
    run is never reaped as dead by a teammate's ``rrg runs list``."""
    import threading

    stop = threading.Event()

    from rrg_registry.errors import InvalidTransition

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                try:
                    registry.heartbeat(run_id)
                except InvalidTransition:  # no longer running: reaped while alive?
                    if _still_running(registry, run_id):
                        registry.heartbeat(run_id)
            except Exception as exc:  # a missed beat is retried at the next one
                logger.warning("heartbeat of run %s failed: %s", run_id, exc)

    thread = threading.Thread(target=beat, name=f"rrg-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


_NO_SPACE = ("no space left on device", "os error 28")
"""What the writers say when a disk is full: Python (errno 28), safetensors (Rust's os error 28).
``torch.save`` says only "file write failed", so that one counts when the disk is in fact full."""


@contextlib.contextmanager
def _disk_full_as_user_error(checkpoints: Path, recorder: RunRecorder) -> Iterator[None]:
    """A full disk while training (in practice, while a checkpoint is written) ends the run with one
    line naming the checkpoint and its folder. The half-written checkpoint, never recorded, is
    removed to give the space back; the checkpoints recorded before it stay as they are."""
    import errno
    import shutil

    try:
        yield
    except Exception as exc:  # OSError, safetensors' SafetensorError, torch.save's RuntimeError
        if not checkpoints.is_dir():
            raise
        text = str(exc).lower()
        full = getattr(exc, "errno", None) == errno.ENOSPC or any(s in text for s in _NO_SPACE)
        if not full and "file write failed" in text:
            full = shutil.disk_usage(checkpoints).free < 1 << 20
        if not full:
            raise
        recorded = {Path(c.path).name for c in recorder.checkpoints}
        partial = sorted(
            (p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name not in recorded),
            key=lambda p: int(p.name.rsplit("-", 1)[1]) if p.name.rsplit("-", 1)[1].isdigit() else -1,
        )
        name = partial[-1].name if partial else "a checkpoint"
        for folder in partial:
            shutil.rmtree(folder, ignore_errors=True)
        raise RrgError(
            f"no space left on device while saving {name} in {checkpoints}",
            hint="free disk space or pass --output-dir on a larger disk; the checkpoints recorded before it are intact",
        ) from exc


@roomy_stack  # training and evaluation loops never straddle a frame-stack chunk (rrg.callstack)
def _execute(
    registry: Registry, run_id: str, recipe: Recipe, prepared: PreparedRun, run_dir: Path, events: RunEvents,
    resume_from: Path | None = None, artifacts: ArtifactStore | None = None,
) -> None:
    logs = run_dir / prepared.plan.logging.folder if prepared.plan.logging is not None else None
    recorder = RunRecorder(registry, run_id, artifacts=artifacts, logs=logs)
    if resume_from is None:
        registry.start_run(run_id)
    started = time.perf_counter()
    try:
        with sigterm_as_interrupt(), _heartbeat(registry, run_id):
            evaluation, checkpoint_id = _run_stage(recipe, prepared, recorder, run_dir, events, resume_from)
            events.on_phase("recording")
            recorder.upload_logs()  # the trackers closed their files when training ended
            _still_running(registry, run_id)
            metrics = _report_metrics(evaluation)
            metrics["generation_samples_per_second"] = evaluation.samples_per_second
            components = _components(evaluation)
            registry.log_metrics(
                run_id,
                {"wall_seconds": time.perf_counter() - started, "peak_rss_gib": peak_rss_gib()},
                split="run",
            )
            registry.record_evaluation(
                run_id,
                evaluation.split,
                metrics,
                components=components,
                predictions=evaluation.prediction_rows() if prepared.plan.generation["save_predictions"] else None,
                checkpoint_id=checkpoint_id,
                n=evaluation.scores.n,
                status="succeeded",
            )
    except KeyboardInterrupt as exc:
        _still_running(registry, run_id)
        registry.finish_run(run_id, "interrupted", f"interrupted ({str(exc) or 'Ctrl-C'})")
        exc.rrg_run = (run_id, recipe.ref, prepared.plan.stage)  # read by the CLI's one-line message
        raise
    except BaseException as exc:
        _still_running(registry, run_id)
        try:  # the logs of a failed run are what explains it; never in place of (or beside) its one-line error
            recorder.upload_logs(warn=False)
        except Exception as upload_error:
            logger.warning("tracker logs of run %s not uploaded: %s", run_id, upload_error)
        registry.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}"[:2000])
        raise


def _report_metrics(evaluation: ModelEvaluation) -> dict[str, float]:
    """The evaluation's numeric scores, less the sample count and the green_flare components
    (recorded as components)."""
    from rrg.metrics.green_flare import COMPONENTS

    left_out = {"n", "severity_correlation", *COMPONENTS}
    return {k: v for k, v in evaluation.scores.summary.items() if isinstance(v, (int, float)) and k not in left_out}


def _components(evaluation: ModelEvaluation) -> dict[str, float] | None:
    from rrg.metrics.green_flare import COMPONENTS

    summary = evaluation.scores.summary
    if "green_flare" not in summary:
        return None
    return {
        **{name: summary[name] for name in COMPONENTS},
        "severity_correlation": summary.get("severity_correlation"),
        "overall": summary["green_flare"],
    }


def _seed_everything(plan: Plan, num_threads: int | None) -> None:
    import torch
    from transformers import set_seed

    if num_threads:
        torch.set_num_threads(num_threads)
    set_seed(plan.seed)


def _load_model(plan: Plan, family: Any, *, for_training: bool = False) -> tuple[Any, Any]:
    """The base model and processor; for training on the unsloth backend, Unsloth's model with
    its LoRA already applied."""
    if for_training and plan.backend == "unsloth":
        from rrg.backends.unsloth import load_unsloth_model

        return load_unsloth_model(plan)
    from rrg.train.adapter import quantization_config

    return family.load(
        plan.model.id if plan.model.id == "tiny" else plan.model.source,
        revision=plan.model.revision,
        dtype=plan.dtype,
        device=plan.device,
        trust_remote_code=plan.model.trust_remote_code,
        image_size=plan.model.image_size,
        image_mode=plan.model.image_mode,
        quantization_config=quantization_config(plan),
    )


def _load_processor(plan: Plan, family: Any) -> Any:
    """The processor alone (vLLM loads the weights itself)."""
    return family.load_processor(
        plan.model.id if plan.model.id == "tiny" else plan.model.source,
        revision=plan.model.revision,
        trust_remote_code=plan.model.trust_remote_code,
        image_size=plan.model.image_size,
        image_mode=plan.model.image_mode,
    )


def _score_base(plan: Plan, family: Any, prepared: PreparedRun, progress: Callable[[int, int], None]) -> ModelEvaluation:
    """Score a plain copy of the base model (Unsloth's training model already carries its LoRA)."""
    model, processor = _load_model(plan, family)
    result = _evaluate(plan, model, processor, family, prepared, progress)
    del model
    return result


def _evaluate(plan: Plan, model: Any, processor: Any, family: Any, prepared: PreparedRun, progress: Callable[[int, int], None]) -> ModelEvaluation | None:
    """Generate and score on the evaluation split with the plan's generation settings. Launched
    processes each generate their share; the main process gathers and scores them, the others
    get None."""
    from rrg.evaluation import evaluate_model

    generation = plan.generation
    return evaluate_model(
        model, processor, family, prepared.evaluation.dataset,
        split=prepared.evaluation.split,
        metrics=generation["metrics"],
        max_new_tokens=generation["max_new_tokens"],
        batch_size=generation["batch_size"],
        num_beams=generation["num_beams"],
        truncate_chars=generation["truncate_chars"],
        progress=progress,
        processes=prepared.processes,
    )


def _score_every(plan: Plan, processor: Any, family: Any, prepared: PreparedRun, recorder: RunRecorder) -> Any:
    """The GRPO callback scoring the policy every ``training.eval_steps`` steps on the evaluation
    samples, with the evaluation's own settings; logged as ``eval/<metric>`` at that step."""
    from rrg.train.callbacks import ScoreEveryCallback

    split = prepared.evaluation.split
    sizes: dict[str, int] = {}

    def score(model: Any) -> dict[str, float]:
        evaluation = _evaluate(plan, model, processor, family, prepared, lambda done, total: None)
        if evaluation is None:  # a launched process other than the main one: the main one scores
            return {}
        sizes["n"] = evaluation.scores.n
        return _report_metrics(evaluation)

    def log(step: int, values: dict[str, float]) -> None:
        recorder.log_scores(step, split, values, n=sizes.get("n"))

    return ScoreEveryCallback(plan.training.score_every, score, log)


TRACKER_FOLDERS: dict[str, tuple[str, str]] = {
    "tensorboard": ("TENSORBOARD_LOGGING_DIR", "tensorboard"),
    "trackio": ("TRACKIO_DIR", "trackio"),
    "wandb": ("WANDB_DIR", "wandb"),
}
"""For each tracker: the environment variable its transformers integration reads its local
folder from, and that folder's name under the run's ``logs/``."""


def tracker_folders(plan: Plan, run_dir: Path) -> dict[str, str]:
    """Where each tracker of ``logging.report_to`` writes for a run in ``run_dir``."""
    if plan.logging is None:
        return {}
    return {name: str((run_dir / plan.logging.folder / TRACKER_FOLDERS[name][1]).resolve()) for name in plan.logging.report_to}


@contextlib.contextmanager
def _tracker_folders(plan: Plan, run_dir: Path) -> Iterator[None]:
    """Point the trackers of ``logging.report_to`` at the run's ``logs/`` folder (and wandb at the
    recipe's project) while the trainer is built and trains; the environment is restored after."""
    folders = tracker_folders(plan, run_dir)
    if not folders:
        yield
        return
    values = {TRACKER_FOLDERS[name][0]: folder for name, folder in folders.items()}
    if "wandb" in folders:
        values["WANDB_PROJECT"] = plan.logging.project
    saved = {key: os.environ.get(key) for key in values}
    for folder in folders.values():
        Path(folder).mkdir(parents=True, exist_ok=True)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_stage(
    recipe: Recipe, prepared: PreparedRun, recorder: RunRecorder, run_dir: Path, events: RunEvents, resume_from: Path | None = None
) -> tuple[ModelEvaluation, int | None]:
    from rrg.models import get_family
    from rrg.train.adapter import lora_config
    from rrg.train.callbacks import ProgressCallback, RegistryCallback, weights_file

    plan = prepared.plan
    spec = recipe.spec
    family = get_family(plan.model.family)
    _seed_everything(plan, plan.num_threads)

    events.on_phase("loading model")
    start = prepared.parent or prepared.init_adapter
    unsloth_wrapped = plan.backend == "unsloth" and plan.stage != "zero_shot" and start is None
    vllm = plan.generation.get("backend") == "vllm"  # the zero-shot and final evaluations generate with vLLM
    if vllm and plan.stage == "zero_shot":
        model, processor = None, _load_processor(plan, family)
    else:
        model, processor = _load_model(plan, family, for_training=unsloth_wrapped)
    checkpoint_id = None

    if plan.stage == "zero_shot":
        if vllm:
            from rrg.evaluation import vllm_generator

            model = vllm_generator(plan, family, prepared.evaluation.dataset, weights=start.path if start is not None else None)
        elif start is not None:
            model = family.load_adapter(model, start.path)
    else:
        if start is not None:
            model = family.load_adapter(model, start.path, is_trainable=True)
        if spec.evaluation.before_training and resume_from is None:  # a resumed run scored it already
            events.on_phase("evaluating before training")
            progress = recorder.generation_progress(events)
            if unsloth_wrapped:
                before = _score_base(plan, family, prepared, progress)
            else:
                before = _evaluate(plan, model, processor, family, prepared, progress)
            recorder.log_before(before)
        peft_config = lora_config(plan) if (plan.adapter is not None and start is None and not unsloth_wrapped) else None
        callbacks = [RegistryCallback(recorder, heartbeat_seconds=HEARTBEAT_SECONDS), ProgressCallback(events.on_train_step)]
        if plan.training is not None and plan.training.score_every:
            callbacks.append(_score_every(plan, processor, family, prepared, recorder))
        run_dir.mkdir(parents=True, exist_ok=True)
        events.on_phase("training")
        disk_full = _disk_full_as_user_error(run_dir / "checkpoints", recorder) if recorder.is_main else contextlib.nullcontext()
        with disk_full, _tracker_folders(plan, run_dir):
            if plan.stage == "sft":
                from rrg.train.sft import run_sft

                result = run_sft(
                    plan, model, processor, family, prepared.train.dataset, prepared.evaluation.dataset, run_dir, callbacks,
                    early_stopping_patience=plan.training.early_stopping_patience if plan.training else None,
                    peft_config=peft_config,
                    resume_from=resume_from,
                )
            else:
                from rrg.train.grpo import run_grpo

                result = run_grpo(
                    plan, model, processor, family, prepared.train.dataset, run_dir, callbacks,
                    peft_config=peft_config, resume_from=resume_from,
                )
        weights = weights_file(result.adapter_dir)
        checkpoint_id = recorder.hand_on(result.step, result.adapter_dir, weights, result.best_eval_loss)
        # Evaluate exactly what the run hands on, read back from disk.
        del model
        events.on_phase("loading trained weights")
        if vllm:
            from rrg.evaluation import vllm_generator

            model = vllm_generator(plan, family, prepared.evaluation.dataset, weights=result.adapter_dir)
        elif weights.name == "adapter_model.safetensors":
            model, processor = _load_model(plan, family)
            model = family.load_adapter(model, result.adapter_dir)
        else:  # full fine-tuning exported the whole model
            model, processor = family.load(str(result.adapter_dir), dtype=plan.dtype, device=plan.device)

    events.on_phase("evaluating")
    evaluation = _evaluate(plan, model, processor, family, prepared, recorder.generation_progress(events))
    return evaluation, checkpoint_id
