"""Checkpoints on shared storage (``RRG_ARTIFACTS_URL`` / ``rrg run --artifacts``), against a real
S3 protocol server on loopback (moto's server mode) and a shared folder (``file://``).

Every run is a real tiny-twin SFT run of the engine. "Another machine" is this one with the run's
local folder deleted and an empty artefacts cache: it only has the registry and the storage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import socket
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import (
    STAGE_RECIPES,
    assert_one_line_error,
    load_recipe,
    snapshot,
    stage_overrides,
)
from rrg.cli import cli

pytest.importorskip("s3fs", reason="the s3 extra (s3fs) is part of the dev dependencies")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is part of the dev dependencies")


# ------------------------------------------------------------------------------------ fixtures


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> str:
    """A moto S3 server on a free loopback port for the module's tests."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """A fresh bucket on the server, reached through the standard AWS environment variables only;
    yields a boto3 client to look at (and tamper with) what the runs stored."""
    import boto3
    import s3fs

    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3fs.S3FileSystem.clear_instance_cache()
    client = boto3.client("s3")
    bucket = f"team-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.bucket = bucket
    yield client
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty artefacts cache, as on a machine that never fetched anything."""
    cache = tmp_path / "artifacts-cache"
    monkeypatch.setenv("RRG_ARTIFACTS_CACHE", str(cache))
    return cache


def objects(client, prefix: str) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=client.bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=client.bucket, Key=o["Key"])["Body"].read() for o in listed}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def zero_shot_args(registry, tmp_path: Path, adapter: str, version: int = 1) -> list[str]:
    args = ["run", str(STAGE_RECIPES["zero_shot"]), "--registry", registry.url, "--output-dir", str(tmp_path / "elsewhere"), "--json"]
    for override in stage_overrides("zero_shot", extra=(f"model.adapter={adapter}", f"version={version}")):
        args += ["--set", override]
    return args


def check_stored_folder(client, prefix: str, uploaded: dict) -> tuple[dict[str, bytes], dict[str, dict]]:
    """The folder under ``prefix`` as its plan entry ``uploaded`` records it: a manifest with the
    recorded sha256, file count and bytes, every listed file stored with its sha256 and size.
    Returns the stored objects and the manifest's listing."""
    files = objects(client, prefix)
    manifest = files[uploaded["manifest"]]
    assert sha(manifest) == uploaded["sha256"]
    listed = json.loads(manifest)["files"]
    assert len(listed) == uploaded["files"] and sum(f["size"] for f in listed.values()) == uploaded["bytes"]
    for name, want in listed.items():
        assert sha(files[name]) == want["sha256"] and len(files[name]) == want["size"], name
    return files, listed


def check_stored(client, detail) -> dict[int, dict[str, bytes]]:
    """Every recorded checkpoint of the run is on S3 as recorded: the folder URL in the checkpoint,
    the weights' sha256 and size as for a local run, a manifest whose sha256 the run's plan entry
    holds and whose every file is stored with the sha256 and size it lists."""
    entry = detail.run.plan["artifacts"]
    run_url = f"s3://{client.bucket}/team/{detail.run.id}"
    assert entry["url"] == run_url
    stored = {}
    for checkpoint in detail.checkpoints:
        assert checkpoint.path == f"{run_url}/checkpoints/checkpoint-{checkpoint.step}"
        files, listed = check_stored_folder(
            client, f"team/{detail.run.id}/checkpoints/checkpoint-{checkpoint.step}/", entry["checkpoints"][str(checkpoint.step)]
        )
        weights = files["adapter_model.safetensors"]
        assert (sha(weights), len(weights)) == (checkpoint.sha256, checkpoint.size)
        assert {"optimizer.pt", "trainer_state.json", "adapter_config.json"} <= set(listed)
        stored[checkpoint.step] = files
    return stored


def check_stored_logs(client, detail) -> dict[str, bytes]:
    """The run's tracker logs are on S3 as its plan entry records them; returns the listed files."""
    files, listed = check_stored_folder(client, f"team/{detail.run.id}/logs/", detail.run.plan["artifacts"]["logs"])
    return {name: files[name] for name in listed}


# ------------------------------------------------------------------------------------ S3


def test_sft_checkpoints_on_s3_are_evaluated_and_pulled_from_another_machine(
    rrg_cache_env: Path, registry, tmp_path: Path, s3, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RRG_ARTIFACTS_URL", f"s3://{s3.bucket}/team")
    sft = load_recipe("sft", registry, extra=("evaluation.before_training=false",)).run(registry=registry, output_dir=tmp_path / "runs")
    assert sft.status == "succeeded", sft.error
    detail = sft.detail
    assert [c.step for c in detail.checkpoints] == [2, 4]
    stored = check_stored(s3, detail)
    (best,) = [c for c in detail.checkpoints if c.best]
    # the adapter handed on was uploaded with the processor saved beside it: it loads on its own
    local = tmp_path / "runs" / sft.id / "checkpoints" / f"checkpoint-{best.step}"
    assert {p.name for p in local.iterdir()} == {n for n in stored[best.step] if not n.startswith("rrg-manifest-")}
    assert "tokenizer_config.json" in stored[best.step]

    # another machine: no run folder, an empty cache; the adapter comes from S3
    shutil.rmtree(tmp_path / "runs")
    result = invoke(*zero_shot_args(registry, tmp_path, f"run:{sft.id}"))
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    assert evaluated["status"] == "succeeded"
    zero_shot = registry.get_run(evaluated["id"])
    assert zero_shot.run.adapter == f"run:{sft.id}" and zero_shot.run.parent_run_id == sft.id
    fetched = fresh_cache / detail.run.plan["artifacts"]["checkpoints"][str(best.step)]["sha256"]
    assert (fetched / "adapter_model.safetensors").read_bytes() == stored[best.step]["adapter_model.safetensors"]
    # the same weights and generation settings as the SFT run's own final evaluation
    assert [p.prediction for p in registry.predictions(zero_shot.run.id, "validation-public")] == [
        p.prediction for p in registry.predictions(sft.id, "validation-public")
    ]

    # the SDK's handle gives the same verified local folder
    assert sft.adapter_path == fetched

    # rrg pull RUN: the handed-on adapter, verified (already in the cache)
    pulled = json.loads(invoke("pull", sft.id[:6], "--registry", registry.url, "--json").stdout)
    assert [(p["checkpoint"], p["best"], p["path"], p["adapter_ref"]) for p in pulled] == [
        (f"checkpoint-{best.step}", True, str(fetched), f"run:{sft.id}")
    ]
    every = json.loads(invoke("pull", f"run:{sft.id}", "--all", "--registry", registry.url, "--json").stdout)
    assert [p["checkpoint"] for p in every] == ["checkpoint-2", "checkpoint-4"]
    for row in every:
        folder = Path(row["path"])
        assert {p.name: sha(p.read_bytes()) for p in folder.iterdir()} == {n: sha(b) for n, b in stored[int(row["checkpoint"][11:])].items()}

    # a registered model version of the run keeps the storage URL; on a machine with an empty cache its
    # card (what rrg publish uploads) takes the adapter from the storage, verified against the registered files
    registered = invoke("models", "register", "iu", "--run", sft.id, "--registry", registry.url, "--json")
    assert registered.exit_code == 0, registered.output
    version = registry.get_model_version("iu", 1)
    assert version.adapter_path == best.path
    assert version.files["adapter_model.safetensors"] == sha(stored[best.step]["adapter_model.safetensors"])
    handed_on = fresh_cache / detail.run.plan["artifacts"]["checkpoints"][str(best.step)]["sha256"]
    shutil.rmtree(handed_on)
    for ref in ("model:iu@1", sft.id):
        card = invoke("card", ref, "--registry", registry.url)
        assert card.exit_code == 0, card.output
        assert sft.id in card.output
        assert (handed_on / "adapter_model.safetensors").read_bytes() == stored[best.step]["adapter_model.safetensors"]
        shutil.rmtree(handed_on)
    assert invoke("pull", sft.id, "--registry", registry.url).exit_code == 0

    # a damaged object: refused with one line naming the file, its URL and both hashes; nothing cached
    other = 2 if best.step == 4 else 4
    uploaded = detail.run.plan["artifacts"]["checkpoints"][str(other)]
    shutil.rmtree(fresh_cache / uploaded["sha256"])
    key = f"team/{sft.id}/checkpoints/checkpoint-{other}/adapter_model.safetensors"
    damaged = bytearray(stored[other]["adapter_model.safetensors"])
    damaged[-1] ^= 0xFF
    s3.put_object(Bucket=s3.bucket, Key=key, Body=bytes(damaged))
    listed = json.loads(stored[other][uploaded["manifest"]])["files"]["adapter_model.safetensors"]["sha256"]
    refused = invoke("pull", f"{sft.id}@checkpoint-{other}", "--registry", registry.url)
    assert_one_line_error(
        refused, "adapter_model.safetensors", f"s3://{s3.bucket}/{key}", f"sha256 {sha(bytes(damaged))}", f"lists {listed}"
    )
    assert not (fresh_cache / uploaded["sha256"]).exists()
    assert sorted(p.name for p in fresh_cache.iterdir()) == [detail.run.plan["artifacts"]["checkpoints"][str(best.step)]["sha256"]]
    before = snapshot(registry)
    refused = invoke(*zero_shot_args(registry, tmp_path, f"run:{sft.id}@checkpoint-{other}", version=2))
    assert_one_line_error(refused, "model.adapter: ", "adapter_model.safetensors", sha(bytes(damaged)), listed)
    assert snapshot(registry) == before and not (fresh_cache / uploaded["sha256"]).exists()

    # a replaced manifest: refused against the sha256 the registry recorded
    manifest_key = f"team/{sft.id}/checkpoints/checkpoint-{other}/{uploaded['manifest']}"
    s3.put_object(Bucket=s3.bucket, Key=manifest_key, Body=stored[other][uploaded["manifest"]] + b" ")
    refused = invoke("pull", f"{sft.id}@checkpoint-{other}", "--registry", registry.url)
    assert_one_line_error(refused, f"s3://{s3.bucket}/{manifest_key}", f"the registry recorded {uploaded['sha256']}")
    assert not (fresh_cache / uploaded["sha256"]).exists()


def test_an_upload_cut_off_halfway_records_nothing_and_resume_starts_clean(
    rrg_cache_env: Path, registry, tmp_path: Path, s3, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rrg.artifacts import ArtifactStore
    from rrg.engine import resume_run

    monkeypatch.setenv("RRG_ARTIFACTS_URL", f"s3://{s3.bucket}/team")
    put_file = ArtifactStore.put_file
    sent: list[str] = []

    def cut_off_in_checkpoint_4(self, local: Path, remote: str) -> None:
        if local.parent.name == "checkpoint-4":
            files = [p for p in local.parent.iterdir() if p.is_file()]
            if len(sent) >= len(files) // 2:
                raise KeyboardInterrupt("the machine went away")
            sent.append(local.name)
        put_file(self, local, remote)

    monkeypatch.setattr(ArtifactStore, "put_file", cut_off_in_checkpoint_4)
    recipe = load_recipe("sft", registry, extra=("evaluation.before_training=false", "logging.report_to=[tensorboard]"))
    with pytest.raises(KeyboardInterrupt):
        recipe.run(registry=registry, output_dir=tmp_path / "runs")
    (summary,) = registry.search_runs()
    detail = registry.get_run(summary.id)
    assert detail.run.status.value == "interrupted"
    assert [c.step for c in detail.checkpoints] == [2]  # checkpoint-4 never recorded
    assert set(detail.run.plan["artifacts"]["checkpoints"]) == {"2"}
    check_stored(s3, detail)
    prefix = f"team/{summary.id}/checkpoints/checkpoint-4/"
    partial = objects(s3, prefix)
    assert sent and set(partial) == set(sent)  # half the files, no manifest
    assert not any(name.startswith("rrg-manifest-") for name in partial)
    first_logs = set(check_stored_logs(s3, detail))  # uploaded with checkpoint-2
    assert any(name.startswith("tensorboard/events.out.tfevents.") for name in first_logs)

    # another machine resumes: checkpoint-2 comes from S3; the leftovers of checkpoint-4 are not trusted
    monkeypatch.setattr(ArtifactStore, "put_file", put_file)
    s3.put_object(Bucket=s3.bucket, Key=prefix + "adapter_model.safetensors", Body=b"left by the cut-off upload")
    shutil.rmtree(tmp_path / "runs")
    resumed = resume_run(summary.id, registry=registry)
    assert resumed.status == "succeeded", resumed.error
    detail = registry.get_run(summary.id)
    assert [c.step for c in detail.checkpoints] == [2, 4]
    stored = check_stored(s3, detail)
    uploaded = detail.run.plan["artifacts"]["checkpoints"]["4"]
    assert set(stored[4]) == set(json.loads(stored[4][uploaded["manifest"]])["files"]) | {
        n for n in stored[4] if n.startswith("rrg-manifest-")
    }
    assert (fresh_cache / detail.run.plan["artifacts"]["checkpoints"]["2"]["sha256"]).is_dir()  # fetched to resume
    # the logs of the first machine were put back before training went on: the final upload lists both
    final_logs = set(check_stored_logs(s3, detail))
    assert first_logs < final_logs
    assert len([n for n in final_logs if n.startswith("tensorboard/events.out.tfevents.")]) == 2
    assert Path(detail.run.plan["artifacts"]["local"]) == tmp_path / "runs" / summary.id
    best = [c for c in detail.checkpoints if c.best]
    assert len(best) == 1


def test_tracker_logs_reach_the_storage_and_are_pulled_from_another_machine(
    rrg_cache_env: Path, registry, tmp_path: Path, s3, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("RRG_ARTIFACTS_URL", f"s3://{s3.bucket}/team")
    extra = ("evaluation.before_training=false", "logging.report_to=[tensorboard]")
    sft = load_recipe("sft", registry, extra=extra).run(registry=registry, output_dir=tmp_path / "runs")
    assert sft.status == "succeeded", sft.error
    local = tmp_path / "runs" / sft.id / "logs"
    written = {p.relative_to(local).as_posix(): sha(p.read_bytes()) for p in local.rglob("*") if p.is_file()}
    assert any(name.startswith("tensorboard/events.out.tfevents.") for name in written)
    # the final upload, after the trackers closed their files: what the run wrote, as it wrote it
    assert {name: sha(data) for name, data in check_stored_logs(s3, sft.detail).items()} == written

    # another machine: no run folder, an empty cache
    shutil.rmtree(tmp_path / "runs")
    result = invoke("pull", sft.id[:8], "--logs", "--registry", registry.url, "--json")
    assert result.exit_code == 0, result.output
    pulled = json.loads(result.stdout)
    uploaded = sft.detail.run.plan["artifacts"]["logs"]
    assert (pulled["run"], pulled["files"], pulled["bytes"]) == (sft.id, uploaded["files"], uploaded["bytes"])
    assert pulled["url"] == f"s3://{s3.bucket}/team/{sft.id}/logs"
    folder = Path(pulled["path"])
    assert {p.relative_to(folder).as_posix(): sha(p.read_bytes()) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("rrg-manifest-")} == written
    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [m.step for m in sft.detail.metric_history if m.name == "train/loss"]

    # a damaged log file: one line naming it; nothing cached
    shutil.rmtree(folder)
    name = next(n for n in written if n.startswith("tensorboard/"))
    key = f"team/{sft.id}/logs/{name}"
    s3.put_object(Bucket=s3.bucket, Key=key, Body=b"not an event file")
    refused = invoke("pull", sft.id, "--logs", "--registry", registry.url)
    assert_one_line_error(refused, f"s3://{s3.bucket}/{key}", f"sha256 {sha(b'not an event file')}", f"lists {written[name]}")
    assert not folder.exists()

    # a run that reported to no tracker uploaded none; --logs takes a run alone
    plain = load_recipe("sft", registry, extra=("evaluation.before_training=false", "version=90")).run(registry=registry, output_dir=tmp_path / "runs")
    assert plain.status == "succeeded", plain.error
    assert "logs" not in plain.detail.run.plan["artifacts"]
    refused = invoke("pull", plain.id, "--logs", "--registry", registry.url)
    assert_one_line_error(refused, f"run {plain.id} (", "uploaded no tracker logs", "logging.report_to")
    for args in ((f"{sft.id}@checkpoint-2", "--logs"), (sft.id, "--logs", "--all"), ("org/name", "--logs")):
        result = invoke("pull", *args, "--registry", registry.url)
        assert result.exit_code == 2 and "--logs takes a run alone" in result.output


def test_a_storage_failing_mid_run_is_one_line_and_keeps_the_logs_recorded_before(
    rrg_cache_env: Path, registry, tmp_path: Path, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoint-4's upload fails, and so does the logs upload the failed run then tries: the run
    ends failed with the storage error as its one line (no warning beside it); the logs manifest
    recorded with checkpoint-2 stays valid on the storage."""
    from rrg.artifacts import ArtifactStore

    put_file = ArtifactStore.put_file
    broken = []

    def quota_from_checkpoint_4(self, local: Path, remote: str) -> None:
        if local.parent.name == "checkpoint-4" or broken:
            broken.append(local.name)
            raise OSError("quota exceeded")
        put_file(self, local, remote)

    monkeypatch.setattr(ArtifactStore, "put_file", quota_from_checkpoint_4)
    args = ["run", str(STAGE_RECIPES["sft"]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"), "--json"]
    for override in stage_overrides("sft", extra=("evaluation.before_training=false", "logging.report_to=[tensorboard]")):
        args += ["--set", override]
    result = invoke(*args, "--artifacts", f"s3://{s3.bucket}/team")
    assert_one_line_error(result, "checkpoint-4", f"s3://{s3.bucket}/team/", "quota exceeded")
    (summary,) = registry.search_runs()
    detail = registry.get_run(summary.id)
    assert detail.run.status.value == "failed" and [c.step for c in detail.checkpoints] == [2]
    assert any(name.startswith("tensorboard/") for name in check_stored_logs(s3, detail))
    assert len(broken) > 1  # the failed run did try to upload its logs once more


def test_a_storage_that_cannot_be_written_is_one_line_before_the_run_is_created(
    rrg_cache_env: Path, registry, tmp_path: Path, s3
) -> None:
    before = snapshot(registry)
    args = ["run", str(STAGE_RECIPES["sft"]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs")]
    for override in stage_overrides("sft"):
        args += ["--set", override]
    result = invoke(*args, "--artifacts", "s3://no-such-bucket-here/team")
    assert_one_line_error(result, "artifacts URL s3://no-such-bucket-here/team: cannot write there", "AWS_")
    assert snapshot(registry) == before and not (tmp_path / "runs").exists()
    result = invoke(*args, "--artifacts", "nosuchscheme://x/y", "--dry-run")
    assert_one_line_error(result, "artifacts URL nosuchscheme://x/y")


def test_pull_names_what_it_cannot_fetch(registry, tmp_path: Path, fresh_cache: Path) -> None:
    version = registry.record_recipe("demo-sft", 2, "0" * 64, "name: demo-sft\n")
    local = registry.create_run(version.id, "sft", "qwen2_5_vl", "tiny")
    registry.start_run(local.id)
    for step in (2, 4):
        registry.record_checkpoint(local.id, step, str(tmp_path / "runs" / local.id / f"checkpoint-{step}"), "a" * 64, 10, best=step == 4)
    registry.finish_run(local.id, "succeeded")
    zero_shot = registry.create_run(version.id, "zero_shot", "qwen2_5_vl", "tiny")

    result = invoke("pull", local.id[:8], "--registry", registry.url)
    assert_one_line_error(result, f"run {local.id} (demo-sft@2) kept checkpoint-4 on one machine's disk", "not on shared storage", "--artifacts")
    result = invoke("pull", zero_shot.id, "--registry", registry.url)
    assert_one_line_error(result, f"run {zero_shot.id} (demo-sft@2, zero_shot) recorded no checkpoint")
    result = invoke("pull", f"{local.id}@checkpoint-9", "--registry", registry.url)
    assert_one_line_error(result, "recorded no checkpoint-9 (recorded: checkpoint-2, checkpoint-4)")
    result = invoke("pull", f"{local.id}@checkpoint-2", "--all", "--registry", registry.url)
    assert result.exit_code == 2 and "not both" in result.output
    result = invoke("pull", local.id, "--logs", "--registry", registry.url)
    assert_one_line_error(result, f"run {local.id} (demo-sft@2) kept its files on one machine's disk, not on shared storage", "--artifacts")
    assert not fresh_cache.exists()


# ------------------------------------------------------------------------------------ shared folder


def test_a_shared_folder_url_holds_the_checkpoints_grpo_starts_from(
    rrg_cache_env: Path, registry, tmp_path: Path, fresh_cache: Path
) -> None:
    shared = tmp_path / "team-share"
    args = ["run", str(STAGE_RECIPES["sft"]), "--registry", registry.url, "--output-dir", str(tmp_path / "runs"), "--json"]
    for override in stage_overrides("sft", extra=("evaluation.before_training=false",)):
        args += ["--set", override]
    result = invoke(*args, "--artifacts", shared.as_uri())
    assert result.exit_code == 0, result.output
    sft = json.loads(result.stdout)
    detail = registry.get_run(sft["id"])
    entry = detail.run.plan["artifacts"]
    assert entry["url"] == f"{shared.as_uri()}/{sft['id']}"
    for checkpoint in detail.checkpoints:
        folder = shared / sft["id"] / "checkpoints" / f"checkpoint-{checkpoint.step}"
        assert checkpoint.path == folder.as_uri()
        manifest = folder / entry["checkpoints"][str(checkpoint.step)]["manifest"]
        assert sha(manifest.read_bytes()) == entry["checkpoints"][str(checkpoint.step)]["sha256"]
        for name, want in json.loads(manifest.read_text())["files"].items():
            assert sha((folder / name).read_bytes()) == want["sha256"]
    assert sft["adapter"] == next(c.path for c in detail.checkpoints if c.best)

    # GRPO from that run on another machine: the run folder is gone, the adapter comes from the share
    shutil.rmtree(tmp_path / "runs")
    grpo = load_recipe("grpo", registry, extra=(f"stage.init_from={sft['id']}", "evaluation.before_training=false")).run(
        registry=registry, output_dir=tmp_path / "grpo-runs"
    )
    assert grpo.status == "succeeded", grpo.error
    assert grpo.parent_id == sft["id"]
    best = next(c for c in detail.checkpoints if c.best)
    assert (fresh_cache / entry["checkpoints"][str(best.step)]["sha256"] / "adapter_config.json").is_file()
    # a local run (no URL) of GRPO records local folders, as before
    assert all(not c.path.startswith("file://") and Path(c.path).is_dir() for c in grpo.checkpoints)


def test_a_plain_folder_path_is_a_file_url_and_a_folder_round_trips(tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rrg.artifacts import ArtifactStore, Manifest, artifacts_url, fetch_folder
    from rrg.errors import RrgError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RRG_ARTIFACTS_URL", "team-share/")
    url = artifacts_url()
    assert url == (tmp_path / "team-share").as_uri()
    assert artifacts_url("s3://bucket/prefix/") == "s3://bucket/prefix"
    monkeypatch.setenv("RRG_ARTIFACTS_URL", "")
    assert artifacts_url() is None

    folder = tmp_path / "checkpoint-7"
    (folder / "sub").mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "sub" / "extra.json").write_text("{}")
    store = ArtifactStore(f"{url}/run")
    store.check_writable()
    uploaded = store.upload_folder(folder, "checkpoints/checkpoint-7")
    remote = tmp_path / "team-share" / "run" / "checkpoints" / "checkpoint-7"
    assert sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file()) == sorted(
        ["adapter_model.safetensors", "sub/extra.json", uploaded.manifest]
    )
    assert Manifest.from_bytes((remote / uploaded.manifest).read_bytes(), "x").files == {
        "adapter_model.safetensors": (sha(b"weights"), 7),
        "sub/extra.json": (sha(b"{}"), 2),
    }
    fetched = fetch_folder(uploaded.url, uploaded.manifest, uploaded.sha256, what="test")
    assert fetched == fresh_cache / uploaded.sha256 and (fetched / "sub" / "extra.json").read_text() == "{}"

    # a cached copy changed on disk is not trusted: fetched again
    (fetched / "adapter_model.safetensors").write_bytes(b"changed")
    assert (fetch_folder(uploaded.url, uploaded.manifest, uploaded.sha256, what="test") / "adapter_model.safetensors").read_bytes() == b"weights"

    # a folder whose upload was cut off before its manifest: nothing to fetch, nothing cached
    shutil.rmtree(fresh_cache)
    (remote / uploaded.manifest).unlink()
    with pytest.raises(RrgError, match=f"test: manifest {uploaded.url}/{uploaded.manifest} is missing"):
        fetch_folder(uploaded.url, uploaded.manifest, uploaded.sha256, what="test")
    assert not fresh_cache.exists()
