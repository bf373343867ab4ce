"""Download a published adapter, verify it and register it (``rrg pull``, ``model.adapter: hub:...``).

:func:`pull_adapter` calls ``huggingface_hub.snapshot_download``, so files land in the standard
Hugging Face cache (``$HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``) and, with
``HF_HUB_OFFLINE=1``, a cached snapshot is used without any network call. It then checks every
file listed in ``rrg_results.json`` (size and sha256), and records the adapter in the registry as
an external model at the resolved commit, with its ``rrg_recipe.yaml`` when the repository has
one. Repositories not published by rrg (no ``rrg_results.json``) are accepted unverified as long as
they hold a PEFT adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError
from rrg.hub.bundle import ADAPTER_FILES, RECIPE_FILE, RESULTS_FILE
from rrg.hub.errors import hub_errors
from rrg.hub.run_record import REPO_ID_HINT, is_hub_id
from rrg.provenance import file_sha256

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry


class PullError(RrgError):
    """A Hub adapter could not be downloaded, verified or registered."""


@dataclass(frozen=True)
class PulledAdapter:
    """A downloaded, verified and registered Hub adapter."""

    repo: str
    revision: str
    """The commit sha the snapshot was resolved to."""
    path: Path
    """The snapshot folder in the Hugging Face cache."""
    external_model_id: int
    recipe_yaml: str | None
    verified_files: int
    """Files checked against rrg_results.json (0 when the repository has none)."""
    results: dict[str, Any] | None

    @property
    def ref(self) -> str:
        return f"hub:{self.repo}@{self.revision}"


def pull_adapter(
    repo: str,
    revision: str | None = None,
    registry: Registry | None = None,
    *,
    cache_dir: str | Path | None = None,
) -> PulledAdapter:
    """Download ``repo`` at ``revision`` (branch, tag or commit; default the main branch), verify and register it.

    ``registry`` defaults to ``Registry.default()``; ``cache_dir`` to huggingface_hub's cache.
    """
    from huggingface_hub import snapshot_download

    if not is_hub_id(repo):
        raise PullError(
            f"{repo!r} is not a Hub repository id",
            hint=REPO_ID_HINT,
        )
    label = f"{repo}@{revision}" if revision else repo
    with hub_errors(f"pulling {label}", PullError):
        folder = Path(
            snapshot_download(
                repo_id=repo, revision=revision, repo_type="model", cache_dir=cache_dir
            )
        )
    commit = folder.name
    results = verify_snapshot(folder, f"{repo}@{commit}")
    recipe_path = folder / RECIPE_FILE
    recipe_yaml = recipe_path.read_text(encoding="utf-8") if recipe_path.is_file() else None
    if registry is None:
        from rrg_registry import Registry as RegistryClass

        registry = RegistryClass.default()
    external = registry.record_external_model(repo, commit, str(folder), recipe_yaml)
    return PulledAdapter(
        repo=repo,
        revision=commit,
        path=folder,
        external_model_id=external.id,
        recipe_yaml=recipe_yaml,
        verified_files=len(results["files"]) if results else 0,
        results=results,
    )


def verify_snapshot(folder: Path, label: str) -> dict[str, Any] | None:
    """Check that ``folder`` holds a PEFT adapter and that every file matches ``rrg_results.json``.

    Returns the parsed results, or None when the folder has no ``rrg_results.json``.
    """
    for name in ADAPTER_FILES:
        if not (folder / name).is_file():
            raise PullError(
                f"{label} has no {name}, so it is not a PEFT adapter",
                hint="pull a repository published with `rrg publish` or another PEFT adapter",
            )
    results_path = folder / RESULTS_FILE
    if not results_path.is_file():
        return None
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
        files = {name: (entry["size"], entry["sha256"]) for name, entry in results["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PullError(
            f"{label}: {RESULTS_FILE} is not an rrg results file ({exc})",
            hint="re-publish the run with `rrg publish`",
        ) from exc
    redownload = "delete the cached copy (`hf cache rm` or remove the folder) and pull again"
    for name, (size, sha256) in sorted(files.items()):
        path = folder / name
        if Path(name).name != name or not path.is_file():
            raise PullError(
                f"{label}: {name}, listed in {RESULTS_FILE}, is missing", hint=redownload
            )
        if path.stat().st_size != size or file_sha256(path) != sha256:
            raise PullError(
                f"{label}: {name} does not match the sha256 recorded in {RESULTS_FILE}",
                hint=redownload,
            )
    return results
