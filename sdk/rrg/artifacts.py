"""A run's checkpoints on shared storage: any fsspec URL (``s3://bucket/prefix`` through s3fs, a
shared folder as ``file:///mnt/team/rrg`` or a plain path).

With an artefacts URL (``rrg run --artifacts URL`` or ``$RRG_ARTIFACTS_URL``) a training run
uploads each checkpoint folder as it is saved to ``<URL>/<run id>/checkpoints/checkpoint-<step>/``:
its files first, then a manifest (every file's relative path, sha256 and size) named after its
own sha256, ``rrg-manifest-<sha256[:16]>.json``. Only once the manifest is written does the run
record the manifest (its name and sha256 under the ``artifacts`` entry of the run's plan) and then
the checkpoint (``checkpoints.path`` is the folder's URL, ``sha256``/``size`` those of the weights
file, as for a local run). An upload cut off halfway leaves files without a manifest the registry
knows: no checkpoint is recorded for it, and the next upload of that step empties the folder first.
A run with tracker logs (``logging.report_to``) uploads its ``logs/`` folder the same way to
``<URL>/<run id>/logs/`` after each checkpoint and when it ends, recorded as the entry's ``logs``
once the manifest is written; ``rrg pull RUN --logs`` fetches them.

Fetching (a ``run:<id>`` adapter, a GRPO ``init_from``, ``rrg pull RUN``, resuming elsewhere)
downloads into ``$RRG_ARTIFACTS_CACHE`` (default ``<rrg cache>/artifacts``), in a folder named
after the manifest's sha256. The manifest must have the sha256 the registry recorded and every
file the sha256 its manifest lists; a folder is renamed into place only once every file checked,
so the cache never holds an unverified copy under its final name.

Credentials and endpoints are the storage library's own: for S3 the standard AWS environment
variables and files (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``) as botocore reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrg.errors import MissingDependencyError, RrgError
from rrg.provenance import file_sha256

ARTIFACTS_ENV = "RRG_ARTIFACTS_URL"
CACHE_ENV = "RRG_ARTIFACTS_CACHE"
PLAN_KEY = "artifacts"
"""The entry of a run's recorded plan that says where its artefacts are and which manifests hold."""
LOGS_FOLDER = "logs"
"""Where a run's tracker logs (the plan's ``logging.folder``) go under its artefacts URL."""
MANIFEST_PREFIX = "rrg-manifest-"
MANIFEST_FORMAT = 1
STORE_HINT = "check the URL, the bucket and the AWS_* credentials/endpoint (S3) or the folder's permissions"


def is_url(path: str) -> bool:
    """True for a recorded location on storage (``scheme://...``), False for a local path."""
    return "://" in path


def artifacts_url(given: str | None = None) -> str | None:
    """The artefacts URL of a run: ``given`` (``rrg run --artifacts``), else ``$RRG_ARTIFACTS_URL``,
    else None (a local run). A plain path becomes a ``file://`` URL of its absolute form."""
    url = given if given is not None else os.environ.get(ARTIFACTS_ENV)
    if url is None or not url.strip():
        return None
    url = url.strip().rstrip("/")
    if not is_url(url):
        return Path(url).expanduser().resolve().as_uri()
    return url


def require_store(given: str | None = None) -> str | None:
    """The artefacts URL of a training run (:func:`artifacts_url`), checked writable; None for a local run."""
    url = artifacts_url(given)
    if url is not None:
        ArtifactStore(url).check_writable()
    return url


def artifacts_cache() -> Path:
    """Where fetched artefacts are kept: ``$RRG_ARTIFACTS_CACHE``, else ``<rrg cache>/artifacts``."""
    from rrg.paths import cache_dir

    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else cache_dir() / "artifacts"


def _filesystem(url: str, what: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path in it; an unknown scheme or a missing driver
    (s3fs for ``s3://``) is one line."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        extra = " (pip install 'rrg-sdk[s3]')" if scheme in ("s3", "s3a") else ""
        raise MissingDependencyError(f"{what} {url}: no driver for {scheme}:// installed ({exc})", hint=f"install its fsspec driver{extra}") from None
    except ValueError as exc:
        raise RrgError(f"{what} {url}: {exc}", hint="use s3://bucket/prefix, file:///shared/folder or a folder path") from None


# ------------------------------------------------------------------------------------ manifests


@dataclass(frozen=True)
class Manifest:
    """The files of an uploaded folder: relative path (``/``-separated) -> (sha256, size)."""

    files: dict[str, tuple[str, int]]

    def to_bytes(self) -> bytes:
        files = {name: {"sha256": sha, "size": size} for name, (sha, size) in sorted(self.files.items())}
        return json.dumps({"format": MANIFEST_FORMAT, "files": files}, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        try:
            parsed = json.loads(data)
            files = {str(name): (str(entry["sha256"]), int(entry["size"])) for name, entry in parsed["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RrgError(f"manifest {where} is not an rrg manifest ({exc})", hint="re-upload the run's folder") from None
        for name in files:
            if name.startswith("/") or ".." in name.split("/"):
                raise RrgError(f"manifest {where} names a file outside its folder: {name!r}", hint="re-upload the run's folder")
        return cls(files)

    @classmethod
    def of_folder(cls, folder: Path) -> Manifest:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(MANIFEST_PREFIX))
        return cls({p.relative_to(folder).as_posix(): (file_sha256(p), p.stat().st_size) for p in files})

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files.values())


def manifest_name(sha256: str) -> str:
    return f"{MANIFEST_PREFIX}{sha256[:16]}.json"


@dataclass(frozen=True)
class Uploaded:
    """A folder on storage with its manifest written: what the run's plan entry records of it."""

    url: str
    manifest: str
    sha256: str
    files: int
    bytes: int
    listing: Manifest

    def entry(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "sha256": self.sha256, "files": self.files, "bytes": self.bytes}


# ------------------------------------------------------------------------------------ uploading


class ArtifactStore:
    """One run's folder on storage, ``<artefacts URL>/<run id>``."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = _filesystem(self.url, "artifacts URL")

    def check_writable(self) -> None:
        """Write and remove a small object, so a wrong bucket, credentials or endpoint is one line
        before the run is created rather than a failed run at its first checkpoint."""
        probe = posixpath.join(self.root, f".rrg-write-check-{uuid.uuid4().hex}")
        try:
            self._ensure_parent(probe)
            self.fs.pipe_file(probe, b"rrg\n")
            self.fs.rm_file(probe)
        except Exception as exc:  # botocore, aiohttp, OSError: whatever the driver raises
            raise RrgError(f"artifacts URL {self.url}: cannot write there ({_reason(exc)})", hint=STORE_HINT) from None

    def _ensure_parent(self, path: str) -> None:
        if getattr(self.fs, "local_file", False):  # object stores have no folders to make
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)

    def put_file(self, local: Path, remote: str) -> None:
        """Upload one file (the unit an interrupted upload stops between)."""
        self._ensure_parent(remote)
        self.fs.put_file(str(local), remote)

    def upload_folder(self, folder: Path, relative: str, *, keep: Manifest | None = None) -> Uploaded:
        """Upload every file of ``folder`` to ``<url>/<relative>/``, then its manifest.

        A first upload (``keep`` None) empties that place first, so files left by an upload cut
        off halfway never mix with these. ``keep`` is the manifest of an upload of the same folder
        already recorded: its files stay in place (and valid for the recorded manifest) and only
        new or changed files are sent, before the new manifest beside the old one."""
        remote = posixpath.join(self.root, relative)
        url = f"{self.url}/{relative}"
        manifest = Manifest.of_folder(folder)
        try:
            if keep is None and self.fs.exists(remote):
                self.fs.rm(remote, recursive=True)
            for name, entry in manifest.files.items():
                if keep is not None and keep.files.get(name) == entry:
                    continue
                self.put_file(folder / name, posixpath.join(remote, name))
            data = manifest.to_bytes()
            sha = hashlib.sha256(data).hexdigest()
            target = posixpath.join(remote, manifest_name(sha))
            self._ensure_parent(target)
            self.fs.pipe_file(target, data)  # last: the folder is complete once this exists
        except Exception as exc:
            raise RrgError(f"uploading {folder} to {url} failed ({_reason(exc)})", hint=STORE_HINT) from exc
        finally:
            self.fs.invalidate_cache()
        return Uploaded(url=url, manifest=manifest_name(sha), sha256=sha, files=len(manifest.files), bytes=manifest.total_bytes, listing=manifest)


    def read_manifest(self, relative: str, name: str) -> Manifest | None:
        """The manifest ``name`` of the folder ``<url>/<relative>/`` as stored, or None when it
        cannot be read (then everything is uploaded again)."""
        try:
            self.fs.invalidate_cache()
            return Manifest.from_bytes(self.fs.cat_file(posixpath.join(self.root, relative, name)), f"{self.url}/{relative}/{name}")
        except Exception:  # missing, unreadable, not a manifest: nothing to keep
            return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# ------------------------------------------------------------------------------------ the plan entry


def plan_entry(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``artifacts`` entry of a run's recorded plan, or None for a local run."""
    entry = (plan or {}).get(PLAN_KEY)
    return entry if isinstance(entry, dict) else None


def new_plan_entry(run_url: str, run_dir: Path) -> dict[str, Any]:
    return {"url": run_url, "local": str(run_dir), "checkpoints": {}}


# ------------------------------------------------------------------------------------ fetching


def fetch_checkpoint(registry: Any, run_id: str, checkpoint: Any, *, what: str) -> Path:
    """The verified local copy of a recorded checkpoint whose ``path`` is a URL (downloaded into
    the cache unless a verified copy is there already)."""
    detail = registry.get_run(run_id)
    entry = plan_entry(detail.run.plan) or {}
    uploaded = (entry.get("checkpoints") or {}).get(str(checkpoint.step))
    if uploaded is None:
        raise RrgError(
            f"{what}: checkpoint-{checkpoint.step} of run {run_id} is recorded at {checkpoint.path} without a manifest",
            hint="its upload never finished; name another checkpoint or rerun the recipe",
        )
    folder = fetch_folder(checkpoint.path, uploaded["manifest"], uploaded["sha256"], what=what)
    from rrg.train.callbacks import weights_file

    weights = weights_file(folder)
    if weights is None or file_sha256(weights) != checkpoint.sha256:
        found = file_sha256(weights) if weights is not None else "no weights file"
        raise RrgError(
            f"{what}: checkpoint-{checkpoint.step} of run {run_id} at {checkpoint.path}: weights sha256 {found} "
            f"is not the recorded {checkpoint.sha256}",
            hint="the stored copy is not the checkpoint the run recorded; name another checkpoint or rerun the recipe",
        )
    return folder


def fetch_folder(url: str, manifest: str, sha256: str, *, what: str) -> Path:
    """Download the folder at ``url`` whose manifest ``manifest`` has ``sha256`` into the cache,
    verified; returns the cached folder. A mismatch is one line naming the file, its URL and both
    sha256, and leaves nothing in the cache."""
    cache = artifacts_cache()
    target = cache / sha256
    if target.is_dir() and _cached_copy_intact(target, manifest, sha256):
        return target
    fs, root = _filesystem(url, what)
    manifest_url = f"{url}/{manifest}"
    try:
        fs.invalidate_cache()
        data = fs.cat_file(posixpath.join(root, manifest))
    except FileNotFoundError:
        raise RrgError(f"{what}: manifest {manifest_url} is missing", hint="the stored copy was removed; re-upload it or rerun the recipe") from None
    except Exception as exc:
        raise RrgError(f"{what}: cannot read {manifest_url} ({_reason(exc)})", hint=STORE_HINT) from None
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise RrgError(
            f"{what}: manifest {manifest_url} has sha256 {found}, the registry recorded {sha256}",
            hint="the stored copy was changed after the run recorded it; restore it or rerun the recipe",
        )
    listed = Manifest.from_bytes(data, manifest_url)
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{sha256[:16]}-", suffix=".partial", dir=cache))
    try:
        for name, (want, size) in listed.files.items():
            local = partial / name
            local.parent.mkdir(parents=True, exist_ok=True)
            file_url = f"{url}/{name}"
            try:
                fs.get_file(posixpath.join(root, name), str(local))
            except FileNotFoundError:
                raise RrgError(f"{what}: {file_url} is missing (listed in {manifest})", hint="the stored copy is incomplete; re-upload it or rerun the recipe") from None
            except Exception as exc:
                raise RrgError(f"{what}: cannot download {file_url} ({_reason(exc)})", hint=STORE_HINT) from None
            got = file_sha256(local)
            if got != want:
                raise RrgError(
                    f"{what}: {name} at {file_url} has sha256 {got}, its manifest lists {want}",
                    hint="the stored copy is damaged or was changed; restore it from a machine holding the run's folder, or rerun the recipe",
                )
        (partial / manifest).write_bytes(data)
        if target.exists():  # an unverifiable copy, or one a concurrent fetch finished
            shutil.rmtree(target, ignore_errors=True)
        try:
            partial.rename(target)
        except OSError:
            if not (target.is_dir() and _cached_copy_intact(target, manifest, sha256)):
                raise
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _cached_copy_intact(folder: Path, manifest: str, sha256: str) -> bool:
    """A cached folder still holds its manifest with ``sha256`` and every file as listed."""
    try:
        data = (folder / manifest).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            return False
        listed = Manifest.from_bytes(data, str(folder / manifest))
        return all(
            (folder / name).is_file() and (folder / name).stat().st_size == size and file_sha256(folder / name) == sha
            for name, (sha, size) in listed.files.items()
        )
    except (OSError, RrgError):
        return False


# ------------------------------------------------------------------------------------ rrg pull


@dataclass(frozen=True)
class Pulled:
    """A checkpoint of a run fetched and verified."""

    run_id: str
    step: int
    best: bool
    url: str
    path: Path
    files: int
    bytes: int

    @property
    def ref(self) -> str:
        return f"run:{self.run_id}" if self.best else f"run:{self.run_id}@checkpoint-{self.step}"


@dataclass(frozen=True)
class PulledLogs:
    """A run's tracker logs fetched and verified."""

    run_id: str
    url: str
    path: Path
    files: int
    bytes: int


def pull_logs(registry: Any, run_ref: str) -> PulledLogs:
    """Fetch and verify the tracker logs (``logging.report_to``: TensorBoard event files, W&B
    offline runs, trackio) a run uploaded to its artefacts URL."""
    run_id = registry.resolve_run_id(run_ref)
    run = registry.get_run(run_id).run
    what = f"run {run_id}"
    entry = plan_entry(run.plan)
    if entry is None:
        folders = (run.plan or {}).get("logs")
        where = f" ({', '.join(sorted(folders.values()))})" if isinstance(folders, dict) and folders else ""
        raise RrgError(
            f"{what} ({run.recipe}) kept its files on one machine's disk{where}, not on shared storage",
            hint=f"run with --artifacts URL (or ${ARTIFACTS_ENV}) so its artefacts reach the team",
        )
    logs = entry.get("logs")
    if logs is None:
        raise RrgError(
            f"{what} ({run.recipe}, {run.stage}) uploaded no tracker logs",
            hint="a recipe with logging.report_to (tensorboard, wandb, trackio) writes them; rrg runs show RUN holds its metrics either way",
        )
    url = f"{entry['url']}/{LOGS_FOLDER}"
    folder = fetch_folder(url, logs["manifest"], logs["sha256"], what=what)
    return PulledLogs(run_id, url, folder, logs["files"], logs["bytes"])


def pull_run(registry: Any, run_ref: str, *, step: int | None = None, every: bool = False) -> list[Pulled]:
    """Fetch and verify a run's checkpoints from its artefacts URL: the one it handed on (its best),
    checkpoint ``step``, or ``every`` recorded checkpoint."""
    run_id = registry.resolve_run_id(run_ref)
    detail = registry.get_run(run_id)
    run = detail.run
    what = f"run {run_id}"
    checkpoints = sorted(detail.checkpoints, key=lambda c: c.step)
    if not checkpoints:
        raise RrgError(f"{what} ({run.recipe}, {run.stage}) recorded no checkpoint", hint="pull an sft or grpo run")
    if step is not None:
        chosen = [c for c in checkpoints if c.step == step]
        if not chosen:
            recorded = ", ".join(f"checkpoint-{c.step}" for c in checkpoints)
            raise RrgError(f"{what} ({run.recipe}) recorded no checkpoint-{step} (recorded: {recorded})", hint="name a recorded checkpoint")
    elif every:
        chosen = checkpoints
    else:
        chosen = [c for c in checkpoints if c.best][-1:]
        if not chosen:
            raise RrgError(f"{what} ({run.recipe}) is {run.status.value} and handed on no adapter", hint="name a checkpoint: RUN@checkpoint-STEP, or pass --all")
    entry = plan_entry(run.plan) or {}
    pulled = []
    for checkpoint in chosen:
        if not is_url(checkpoint.path):
            raise RrgError(
                f"{what} ({run.recipe}) kept checkpoint-{checkpoint.step} on one machine's disk ({checkpoint.path}), not on shared storage",
                hint=f"run with --artifacts URL (or ${ARTIFACTS_ENV}) so its artefacts reach the team",
            )
        folder = fetch_checkpoint(registry, run_id, checkpoint, what=what)
        uploaded = entry["checkpoints"][str(checkpoint.step)]
        pulled.append(Pulled(run_id, checkpoint.step, checkpoint.best, checkpoint.path, folder, uploaded["files"], uploaded["bytes"]))
    return pulled
