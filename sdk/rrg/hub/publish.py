"""Upload a run's adapter and card to the Hub in one commit, and record the publication.

Order of events, so that a failure leaves nothing half-done in the registry:

1. :func:`rrg.hub.bundle.assemble_bundle` checks the run and writes the folder (no network);
2. privacy rules: data marked ``credentialed`` and runs of a tiny random twin only go to private
   repositories;
3. ``HfApi.create_repo(exist_ok=True, private=...)``, a check that an existing repository has the
   requested visibility, ``create_branch`` for a ``--revision`` other than ``main``, then
   ``HfApi.upload_folder`` with one commit message;
4. only then ``Registry.record_publication``.

Publishing the same run again makes no empty commit: the folder's bytes depend only on the run
record, and ``upload_folder`` drops files whose content the Hub already has; when nothing is left
it makes no commit and returns the branch head. If that commit is already recorded for this run,
no second publication row is written.

The token is never handled here: ``HfApi`` reads it from ``HF_TOKEN`` or ``hf auth login``. Error
messages are built from the exception type and the server's status, never from request headers.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError
from rrg.hub.errors import hub_errors
from rrg.hub.run_record import REPO_ID_HINT, is_hub_id

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry
    from rrg_registry.entities import ModelVersion, Publication

    from rrg.hub.bundle import Bundle

DEFAULT_BRANCH = "main"


class PublishError(RrgError):
    """Publishing was refused or failed; nothing was recorded."""


@dataclass(frozen=True)
class PublishResult:
    """What ``publish_run`` did."""

    repo: str
    revision: str
    """The Hub commit sha holding this run's files."""
    url: str
    new_commit: bool
    """False when the Hub already had exactly these files (no commit was made)."""
    publication: Publication
    recorded: bool
    """False when this run's publication at ``revision`` was already recorded."""
    bundle: Bundle


def check_repo_id(repo: str) -> str:
    if not is_hub_id(repo):
        raise PublishError(
            f"--repo {repo!r} is not a Hub repository id",
            hint=REPO_ID_HINT,
        )
    return repo


def check_visibility(bundle: Bundle, private: bool) -> None:
    """Credentialed data and tiny random twins are only published privately."""
    record = bundle.record
    if private:
        return
    if record.credentialed:
        raise PublishError(
            f"run {record.run_id}: its data ({record.dataset}) are marked credentialed, so it cannot go to a public repository",
            hint="publish with --private (the default)",
        )
    if record.tiny:
        raise PublishError(
            f"run {record.run_id} trained rrg's tiny random-weight twin, a test artifact that is only published privately",
            hint="publish with --private (the default), or train a real base model",
        )


def prepare_publication(
    registry: Registry,
    run_id: str,
    repo: str,
    folder: str | Path,
    *,
    private: bool = True,
    license: str | None = None,
    data_license_id: str | None = None,
    registered_model: ModelVersion | None = None,
) -> Bundle:
    """Everything before the upload, without network: check the repo id, assemble and validate the
    folder in ``folder``, apply the privacy rules (``rrg publish --dry-run`` stops here).
    ``registered_model``: the registered version of the run being published (see
    :func:`registered_run`), named in the card and ``rrg_results.json``."""
    from rrg.hub.bundle import assemble_bundle

    check_repo_id(repo)
    bundle = assemble_bundle(
        registry,
        run_id,
        repo,
        folder,
        license=license,
        data_license_id=data_license_id,
        registered_model=registered_model,
    )
    check_visibility(bundle, private)
    return bundle


def publish_run(
    registry: Registry,
    run_id: str,
    repo: str,
    *,
    private: bool = True,
    revision: str | None = None,
    license: str | None = None,
    data_license_id: str | None = None,
    out_dir: str | Path | None = None,
    api: Any = None,
    registered_model: ModelVersion | None = None,
) -> PublishResult:
    """Assemble, upload and record run ``run_id``'s adapter in Hub repo ``repo``.

    ``revision`` is the branch to commit to (default ``main``; created if missing). ``out_dir``
    keeps the assembled folder (default: a temporary folder, removed afterwards). ``api`` is an
    ``HfApi`` (default: a new one, which finds the token on its own). ``registered_model`` is the
    registered version of the run being published (:func:`registered_run`).
    """
    with tempfile.TemporaryDirectory(prefix="rrg-publish-") as scratch:
        folder = Path(out_dir) if out_dir is not None else Path(scratch) / "bundle"
        bundle = prepare_publication(
            registry,
            run_id,
            repo,
            folder,
            private=private,
            license=license,
            data_license_id=data_license_id,
            registered_model=registered_model,
        )
        commit, url, new_commit = _upload(bundle, private=private, revision=revision, api=api)
    run = bundle.record.detail.run
    recorded = next(
        (
            p
            for p in registry.get_run(run.id).publications
            if p.repo == repo and p.revision == commit
        ),
        None,
    )
    if recorded is not None:
        return PublishResult(repo, commit, recorded.url, new_commit, recorded, False, bundle)
    publication = registry.record_publication(run.id, repo, commit, url)
    return PublishResult(repo, commit, url, new_commit, publication, True, bundle)


def registered_run(registry: Registry, ref: str) -> tuple[str, ModelVersion]:
    """``model:NAME@VERSION`` / ``model:NAME@ALIAS`` -> (the run behind that registered version, the
    version), after checking every registered file against its sha256. A version pulled from the
    Hub has no run here and is refused."""
    from rrg.registered_models import verified

    version = verified(registry, ref, what=f"publishing {ref}")
    if version.run_id is None:
        raise PublishError(
            f"{ref} is {version.ref}, registered from {version.source}, not from a run of this registry",
            hint="it is on the Hub already; publish a version registered from a run (rrg models register NAME --run RUN)",
        )
    return version.run_id, version


def commit_message(bundle: Bundle) -> str:
    record = bundle.record
    score = record.metrics.get("green_flare")
    shown = f", green_flare {score:.4f} on {record.split}" if score is not None else ""
    named = f" as model {record.registered_model.ref}" if record.registered_model is not None else ""
    return f"rrg: adapter of run {record.run_id}{named} ({record.recipe_ref}, {record.stage}{shown})"


def _upload(
    bundle: Bundle, *, private: bool, revision: str | None, api: Any
) -> tuple[str, str, bool]:
    """Create the repo (and branch), upload the folder in one commit; returns (commit, url, new commit?)."""
    from huggingface_hub import HfApi

    api = api if api is not None else HfApi()
    repo = bundle.repo
    branch = revision or DEFAULT_BRANCH
    with hub_errors(f"publishing to {repo}", PublishError):
        repo_url = api.create_repo(repo, repo_type="model", private=private, exist_ok=True)
        if branch != DEFAULT_BRANCH:
            api.create_branch(repo, branch=branch, repo_type="model", exist_ok=True)
        info = api.repo_info(repo, repo_type="model", revision=branch)
        if info.private is not None and bool(info.private) != private:
            actual, wanted = ("private", "public") if info.private else ("public", "private")
            raise PublishError(
                f"{repo} already exists and is {actual}, but a {wanted} publication was asked for",
                hint=f"change its visibility on the Hub, or publish with --{actual}",
            )
        head_before = info.sha
        result = api.upload_folder(
            repo_id=repo,
            folder_path=str(bundle.folder),
            repo_type="model",
            revision=branch,
            commit_message=commit_message(bundle),
        )
    commit = result.oid
    base_url = str(repo_url).rstrip("/") if repo_url else f"https://huggingface.co/{repo}"
    return commit, f"{base_url}/tree/{commit}", commit != head_before
