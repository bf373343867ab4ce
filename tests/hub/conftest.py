"""Fixtures for the Hub tests: no network, ever.

- Every test runs with ``HF_HUB_OFFLINE=1`` and a Hugging Face cache/home under ``tmp_path``
  (environment and huggingface_hub's import-time constants both), and a recognisable fake
  ``HF_TOKEN``.
- ``trained_run``: one real tiny SFT run (demo recipe, 20 steps) per session; ``registry`` is a
  per-test copy of its SQLite file, so tests that publish do not see each other's rows.
- ``recorded_lineage``: an SFT → GRPO pair of Qwen3-VL-4B runs recorded directly in a registry
  (no training), for cards of real base models.
- ``fake_hub``: ``HfApi.create_repo``/``create_branch``/``repo_info``/``upload_folder`` replaced by
  an in-memory Hub that makes a commit only when the uploaded content changes.
- ``populate_hub_cache``: writes a folder into the cache exactly as ``snapshot_download`` lays it
  out (``models--org--name/{blobs,snapshots/<commit>,refs/<branch>}``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FAKE_TOKEN = "hf_rrgFAKEtoken0123456789abcdefLEAKCHECK"
DEMO_OVERRIDES = [
    "training.max_steps=20",
    "training.eval_steps=10",
    "training.save_steps=10",
    "data.max_train_samples=64",
    "data.max_eval_samples=16",
    "evaluation.before_training=false",
]


@pytest.fixture(autouse=True)
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cut the Hub off and point its cache into ``tmp_path``; returns the hub cache folder."""
    from huggingface_hub import constants

    hf_home = tmp_path / "hf-home"
    cache = hf_home / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(hf_home / "token"))
    return cache


@dataclass(frozen=True)
class TrainedRun:
    """The session's real tiny SFT run: its registry file and id."""

    database: Path
    run_id: str
    root: Path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    from rrg import Recipe, Registry

    root = tmp_path_factory.mktemp("hub-run")
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        with Registry.from_url(f"sqlite:///{root}/rrg.db") as registry:
            run = Recipe.load("demo/sft", overrides=DEMO_OVERRIDES).run(
                registry=registry, output_dir=root / "runs"
            )
            assert run.status == "succeeded", run.error
            run_id = run.id
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    return TrainedRun(database=root / "rrg.db", run_id=run_id, root=root)


@pytest.fixture
def registry_url(trained_run: TrainedRun, tmp_path: Path) -> str:
    """A private copy of the session run's registry."""
    copy = tmp_path / "rrg.db"
    shutil.copyfile(trained_run.database, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def registry(registry_url: str):
    from rrg import Registry

    with Registry.from_url(registry_url) as opened:
        yield opened


# -- runs recorded without training ------------------------------------------------------------

PACKAGE_VERSIONS = {
    "python": "3.11.7",
    "rrg-sdk": "0.1.0",
    "peft": "0.21.2",
    "transformers": "5.24.0",
    "trl": "1.16.0",
}
COMPONENTS_SFT = {
    "entity_matching": 0.767,
    "location_accuracy": 0.538,
    "negation_handling": 0.980,
    "temporal_accuracy": 0.894,
    "measurement_accuracy": 0.997,
    "clinical_significance": 0.566,
    "structure_completeness": 0.770,
    "severity_correlation": 0.41,
    "overall": 0.769,
}
COMPONENTS_GRPO = {
    "entity_matching": 0.813,
    "location_accuracy": 0.564,
    "negation_handling": 0.977,
    "temporal_accuracy": 0.898,
    "measurement_accuracy": 0.996,
    "clinical_significance": 0.625,
    "structure_completeness": 0.767,
    "severity_correlation": 0.44,
    "overall": 0.793,
}


def write_fake_adapter(folder: Path, base: str) -> Path:
    """An adapter folder as a transformers checkpoint leaves it, trainer state included."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(
        f'{{"base_model_name_or_path": "{base}", "peft_type": "LORA", "r": 16}}\n'
    )
    (folder / "adapter_model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (folder / "tokenizer.json").write_text('{"version": "1.0"}\n')
    (folder / "tokenizer_config.json").write_text("{}\n")
    (folder / "chat_template.jinja").write_text("{{ messages }}\n")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
        (folder / name).write_bytes(b"pickle")
    (folder / "trainer_state.json").write_text("{}\n")
    (folder / "README.md").write_text("---\nbase_model: /local/path\n---\nPEFT's own card\n")
    return folder


def record_trained_run(
    registry: Any,
    root: Path,
    recipe_name: str,
    *,
    overrides: list[str] = (),
    parent_run_id: str | None = None,
    components: dict[str, float],
    metrics: dict[str, float],
    before: dict[str, float] | None = None,
    plan_data: dict[str, Any] | None = None,
) -> str:
    """Record a succeeded trained run of a shipped recipe, with a fake adapter on disk.
    ``plan_data``: the ``data`` part of its recorded plan (what the plan resolved the data to)."""
    from rrg import Recipe

    recipe = Recipe.load(recipe_name, overrides=list(overrides))
    spec = recipe.spec
    version = registry.record_recipe(recipe.name, recipe.version, recipe.hash, recipe.to_yaml())
    datasets = [
        registry.record_dataset(spec.data.dataset, spec.data.train_split, "a" * 64, 7817),
        registry.record_dataset(spec.data.dataset, spec.data.eval_split, "b" * 64, 1945),
    ]
    run = registry.create_run(
        version.id,
        spec.stage.kind,
        spec.model.family,
        spec.model.id,
        model_revision=spec.model.revision,
        seed=spec.seed,
        host="test",
        package_versions=PACKAGE_VERSIONS,
        plan={
            "model": {
                "family": spec.model.family,
                "id": spec.model.id,
                "source": spec.model.id,
                "trust_remote_code": False,
            },
            **({"data": plan_data} if plan_data is not None else {}),
        },
        parent_run_id=parent_run_id,
        adapter=f"run:{parent_run_id}" if parent_run_id else None,
        datasets=datasets,
    )
    registry.start_run(run.id)
    adapter = write_fake_adapter(root / run.id / "checkpoint-100", spec.model.id)
    checkpoint = registry.record_checkpoint(run.id, 100, str(adapter), "c" * 64, 100, 0.5, True)
    if before:
        registry.log_metrics(
            run.id,
            {f"before/{k}": v for k, v in before.items()},
            split=spec.data.eval_split,
            n=1945,
        )
    predictions = [
        {
            "sample_id": f"IU_XRay/{spec.data.eval_split}/{i}",
            "question": "Write the part of the radiology report that describes the heart.",
            "prediction": "Heart size within normal limits.",
            "reference": "Normal cardiac contours.",
            "scores": {"green_flare": 0.8},
        }
        for i in range(5)
    ]
    registry.record_evaluation(
        run.id,
        spec.data.eval_split,
        metrics,
        components=components,
        predictions=predictions,
        checkpoint_id=checkpoint.id,
        n=1945,
        status="succeeded",
    )
    return run.id


@dataclass(frozen=True)
class RecordedLineage:
    registry_url: str
    sft_id: str
    grpo_id: str


@pytest.fixture
def recorded_lineage(tmp_path: Path) -> RecordedLineage:
    """Qwen3-VL-4B SFT → GRPO, recorded directly (no weights)."""
    from rrg import Registry

    url = f"sqlite:///{tmp_path}/lineage.db"
    with Registry.from_url(url) as registry:
        sft = record_trained_run(
            registry,
            tmp_path / "runs",
            "paper/qwen3-vl-4b/sft",
            components=COMPONENTS_SFT,
            metrics={"green_flare": 0.769, "bleu4_flare": 0.050, "ce": 0.843, "rouge_l": 0.31},
            before={"green_flare": 0.695, "bleu4_flare": 0.003, "ce": 0.327},
        )
        grpo = record_trained_run(
            registry,
            tmp_path / "runs",
            "paper/qwen3-vl-4b/grpo",
            parent_run_id=sft,
            components=COMPONENTS_GRPO,
            metrics={"green_flare": 0.793, "bleu4_flare": 0.066, "ce": 0.836, "rouge_l": 0.33},
            before={"green_flare": 0.769, "bleu4_flare": 0.050, "ce": 0.843},
        )
    return RecordedLineage(registry_url=url, sft_id=sft, grpo_id=grpo)


# -- an in-memory Hub --------------------------------------------------------------------------


@dataclass
class FakeRepo:
    private: bool
    branches: dict[str, list[str]] = field(default_factory=lambda: {"main": ["0" * 40]})
    files: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"0" * 40: {".gitattributes": "x"}}
    )


@dataclass
class FakeHub:
    """What ``HfApi`` would do, for the four calls ``rrg publish`` makes; records every call."""

    repos: dict[str, FakeRepo] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploaded: dict[str, dict[str, bytes]] = field(default_factory=dict)
    fail: dict[str, BaseException] = field(default_factory=dict)

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            raise self.fail[name]

    def create_repo(
        self,
        api: Any,
        repo_id: str,
        *,
        token=None,
        private=None,
        repo_type=None,
        exist_ok=False,
        **kwargs: Any,
    ):
        from huggingface_hub import RepoUrl

        self.calls.append(
            (
                "create_repo",
                {
                    "repo_id": repo_id,
                    "private": private,
                    "repo_type": repo_type,
                    "exist_ok": exist_ok,
                },
            )
        )
        self._maybe_fail("create_repo")
        if repo_id not in self.repos:
            self.repos[repo_id] = FakeRepo(private=bool(private))
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_branch(
        self, api: Any, repo_id: str, *, branch: str, repo_type=None, exist_ok=False, **kwargs: Any
    ) -> None:
        self.calls.append(
            ("create_branch", {"repo_id": repo_id, "branch": branch, "exist_ok": exist_ok})
        )
        repo = self.repos[repo_id]
        repo.branches.setdefault(branch, list(repo.branches["main"]))

    def repo_info(self, api: Any, repo_id: str, *, revision=None, repo_type=None, **kwargs: Any):
        from huggingface_hub.hf_api import ModelInfo

        self.calls.append(("repo_info", {"repo_id": repo_id, "revision": revision}))
        repo = self.repos[repo_id]
        return ModelInfo(
            id=repo_id, private=repo.private, sha=repo.branches[revision or "main"][-1]
        )

    def upload_folder(
        self,
        api: Any,
        *,
        repo_id: str,
        folder_path,
        commit_message=None,
        revision=None,
        repo_type=None,
        **kwargs: Any,
    ):
        from huggingface_hub import CommitInfo

        self.calls.append(
            (
                "upload_folder",
                {
                    "repo_id": repo_id,
                    "folder_path": str(folder_path),
                    "commit_message": commit_message,
                    "revision": revision,
                    "repo_type": repo_type,
                },
            )
        )
        self._maybe_fail("upload_folder")
        repo = self.repos[repo_id]
        branch = revision or "main"
        head = repo.branches[branch][-1]
        contents = {
            p.name: p.read_bytes() for p in sorted(Path(folder_path).iterdir()) if p.is_file()
        }
        new_files = dict(repo.files[head])
        new_files.update(
            {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
        )
        if new_files == repo.files[head]:  # what upload_folder does: no changed file, no commit
            commit = head
        else:
            commit = hashlib.sha1(
                repr(sorted(new_files.items())).encode() + head.encode()
            ).hexdigest()
            repo.files[commit] = new_files
            repo.branches[branch].append(commit)
            self.uploaded[commit] = contents
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{commit}",
            commit_message=commit_message or "",
            commit_description="",
            oid=commit,
        )


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """``FakeHub`` behind ``HfApi``'s real signatures: a call the Hub client would reject (a
    misspelt or unknown argument, a missing one) fails here with the same ``TypeError``."""
    import inspect

    from huggingface_hub import HfApi

    hub = FakeHub()
    for name in ("create_repo", "create_branch", "repo_info", "upload_folder"):

        def fake(self, *args, _method=getattr(hub, name), _signature=inspect.signature(getattr(HfApi, name)), **kwargs):
            _signature.bind(self, *args, **kwargs)
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(HfApi, name, fake)
    return hub


# -- the Hugging Face cache layout -------------------------------------------------------------


def populate_hub_cache(
    cache: Path, repo: str, folder: Path, commit: str, ref: str = "main"
) -> Path:
    """Lay ``folder`` out in ``cache`` as ``snapshot_download`` does: blobs named by content hash,
    ``snapshots/<commit>/<file>`` symlinks to them, ``refs/<ref>`` holding the commit. Returns the
    snapshot folder."""
    storage = cache / ("models--" + repo.replace("/", "--"))
    blobs = storage / "blobs"
    snapshot = storage / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        if path.suffix == ".safetensors":  # LFS files: the blob is named by the sha256
            blob_name = hashlib.sha256(data).hexdigest()
        else:  # regular files: by their git blob sha1
            blob_name = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        (blobs / blob_name).write_bytes(data)
        link = snapshot / path.name
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(Path("..") / ".." / "blobs" / blob_name)
    refs = storage / "refs"
    refs.mkdir(exist_ok=True)
    (refs / ref).write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(offline_hub: Path) -> Callable[[str, Path, str], Path]:
    """``hub_cache(repo, folder, commit)``: put ``folder`` into this test's HF cache."""
    return lambda repo, folder, commit, ref="main": populate_hub_cache(
        offline_hub, repo, folder, commit, ref
    )
