"""``Run``: a handle on one recorded run (what ``Recipe.run()`` and ``rrg run`` return)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rrg.plan import Plan
    from rrg_registry import Registry
    from rrg_registry.entities import Checkpoint, RunDetail


class Run:
    """A recorded run, read from the registry on each access so it always shows the latest state.

    >>> run = Recipe.load("recipes/demo/sft.yaml").run()       # doctest: +SKIP
    >>> run.status, run.metrics["green_flare"], run.components["entity_matching"]   # doctest: +SKIP
    """

    def __init__(self, run_id: str, registry: Registry | None = None, plan: Plan | None = None) -> None:
        if registry is None:
            from rrg_registry import Registry as RegistryClass

            registry = RegistryClass.default()
        self.registry = registry
        self.id = registry.resolve_run_id(run_id)
        self._plan = plan

    @classmethod
    def load(cls, run_id: str, registry: Registry | None = None) -> Run:
        """The run with this id (or unique id prefix)."""
        return cls(run_id, registry=registry)

    @property
    def detail(self) -> RunDetail:
        return self.registry.get_run(self.id)

    @property
    def status(self) -> str:
        return self.detail.run.status.value

    @property
    def recipe(self) -> str:
        return self.detail.run.recipe

    @property
    def stage(self) -> str:
        return self.detail.run.stage

    @property
    def error(self) -> str | None:
        return self.detail.run.error

    @property
    def metrics(self) -> dict[str, float]:
        """The latest value of every metric the run logged (green_flare, bleu4_flare, ce, ...)."""
        return dict(self.detail.metrics)

    @property
    def components(self) -> dict[str, float | None]:
        """The seven green_flare components (plus severity_correlation and overall) of the last evaluation."""
        components = self.detail.components
        return components[-1].values() if components else {}

    @property
    def checkpoints(self) -> list[Checkpoint]:
        return list(self.detail.checkpoints)

    @property
    def adapter_path(self) -> Path | None:
        """The local folder of the adapter the run handed on (its best checkpoint), if it trained
        one. An adapter kept on shared storage (``RRG_ARTIFACTS_URL``) is fetched into the local
        artefacts cache and verified first (:func:`rrg.artifacts.fetch_checkpoint`)."""
        best = [c for c in self.detail.checkpoints if c.best]
        if not best:
            return None
        from rrg.artifacts import fetch_checkpoint, is_url

        if is_url(best[-1].path):
            return fetch_checkpoint(self.registry, self.id, best[-1], what=f"run {self.id}")
        return Path(best[-1].path)

    @property
    def plan(self) -> dict[str, Any] | None:
        """The resolved plan recorded with the run."""
        if self._plan is not None:
            return self._plan.model_dump(mode="json")
        return self.detail.run.plan

    @property
    def parent_id(self) -> str | None:
        return self.detail.run.parent_run_id

    def predictions(self, split: str | None = None) -> list[Any]:
        """Per-sample predictions of the run on ``split`` (default: the evaluation split)."""
        if split is None:
            counts = self.detail.prediction_counts
            if not counts:
                return []
            split = next(iter(counts))
        return self.registry.predictions(self.id, split)

    def __repr__(self) -> str:
        detail = self.detail
        score = detail.metrics.get("green_flare")
        shown = f", green_flare={score:.4f}" if score is not None else ""
        return f"Run({self.id}, {detail.run.recipe}, {detail.run.stage}, {detail.run.status.value}{shown})"
