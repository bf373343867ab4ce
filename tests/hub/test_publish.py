"""rrg publish: what huggingface_hub is handed, idempotence, failures, privacy rules, token hygiene."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from rrg.cli import cli
from rrg.errors import RrgError
from rrg.hub.publish import PublishError, publish_run

from .conftest import FAKE_TOKEN

REPO = "my-org/demo-sft"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def http_error(cls: type, status: int, message: str, server_message: str | None = None):
    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    response = httpx2.Response(status, request=request, headers={"x-request-id": "req-1"})
    return cls(message, response=response, server_message=server_message)


def test_upload_hands_the_hub_the_right_arguments(registry, trained_run, fake_hub) -> None:
    result = publish_run(registry, trained_run.run_id, REPO)
    calls = {name: kwargs for name, kwargs in fake_hub.calls}
    assert calls["create_repo"] == {
        "repo_id": REPO,
        "private": True,
        "repo_type": "model",
        "exist_ok": True,
    }
    upload = calls["upload_folder"]
    assert (
        upload["repo_id"] == REPO
        and upload["revision"] == "main"
        and upload["repo_type"] == "model"
    )
    assert upload["commit_message"].startswith(
        f"rrg: adapter of run {trained_run.run_id} (demo-sft@2, sft, green_flare "
    )
    uploaded = fake_hub.uploaded[result.revision]
    assert set(uploaded) == {f.name for f in result.bundle.files}
    assert result.new_commit and result.recorded
    publications = registry.get_run(trained_run.run_id).publications
    assert [(p.repo, p.revision, p.url) for p in publications] == [
        (REPO, result.revision, f"https://huggingface.co/{REPO}/tree/{result.revision}")
    ]


def test_publishing_twice_makes_no_commit_and_no_second_row(
    registry, trained_run, fake_hub
) -> None:
    first = publish_run(registry, trained_run.run_id, REPO)
    second = publish_run(registry, trained_run.run_id, REPO)
    assert second.revision == first.revision
    assert not second.new_commit and not second.recorded
    assert fake_hub.repos[REPO].branches["main"] == ["0" * 40, first.revision]
    assert len(registry.get_run(trained_run.run_id).publications) == 1


def test_files_already_on_the_hub_are_recorded_once_without_a_commit(
    registry, trained_run, fake_hub, tmp_path
) -> None:
    """Another registry published the same run: the Hub has the files, so no commit; this registry records it once."""
    import shutil

    from rrg import Registry

    first = publish_run(registry, trained_run.run_id, REPO)
    fresh = tmp_path / "fresh.db"
    shutil.copyfile(trained_run.database, fresh)
    with Registry.from_url(f"sqlite:///{fresh}") as other:
        second = publish_run(other, trained_run.run_id, REPO)
        third = publish_run(other, trained_run.run_id, REPO)
        assert [p.revision for p in other.get_run(trained_run.run_id).publications] == [
            first.revision
        ]
    assert (second.revision, second.new_commit, second.recorded) == (first.revision, False, True)
    assert (third.new_commit, third.recorded) == (False, False)
    assert fake_hub.repos[REPO].branches["main"] == ["0" * 40, first.revision]


def test_branch_revision_is_created_and_used(registry, trained_run, fake_hub) -> None:
    result = publish_run(registry, trained_run.run_id, REPO, revision="v1")
    assert ("create_branch", {"repo_id": REPO, "branch": "v1", "exist_ok": True}) in fake_hub.calls
    assert fake_hub.repos[REPO].branches["v1"][-1] == result.revision
    assert fake_hub.repos[REPO].branches["main"] == ["0" * 40]


def test_tiny_runs_and_credentialed_data_stay_private(registry, trained_run, fake_hub) -> None:
    with pytest.raises(PublishError, match="tiny random-weight twin"):
        publish_run(registry, trained_run.run_id, REPO, private=False)
    assert fake_hub.calls == []  # refused before any network call


def test_an_existing_public_repo_is_not_used_for_a_private_publication(
    registry, trained_run, fake_hub
) -> None:
    from .conftest import FakeRepo

    fake_hub.repos[REPO] = FakeRepo(private=False)
    with pytest.raises(PublishError, match="already exists and is public"):
        publish_run(registry, trained_run.run_id, REPO)
    assert not any(name == "upload_folder" for name, _ in fake_hub.calls)
    assert registry.get_run(trained_run.run_id).publications == ()


@pytest.mark.parametrize(
    ("where", "error", "expected"),
    [
        (
            "upload_folder",
            lambda: http_error(
                HfHubHTTPError,
                401,
                "401 Client Error: Unauthorized",
                "Invalid credentials in Authorization header",
            ),
            "Error: publishing to my-org/demo-sft: the Hub answered HTTP 401 (Invalid credentials in Authorization header) (hint: log in with `hf auth login` or set HF_TOKEN to a token with write access)",
        ),
        (
            "create_repo",
            lambda: http_error(
                RepositoryNotFoundError, 404, "404 Client Error: Repository Not Found"
            ),
            "Error: publishing to my-org/demo-sft: repository not found, or no access to it (HTTP 404) (hint: log in with `hf auth login` or set HF_TOKEN to a token with write access)",
        ),
        (
            "upload_folder",
            lambda: httpx2.ConnectError("[Errno 111] Connection refused"),
            "Error: publishing to my-org/demo-sft: cannot reach the Hub (ConnectError) (hint: check the network connection and retry)",
        ),
        (
            "create_repo",
            lambda: ConnectionError("network is down"),
            "Error: publishing to my-org/demo-sft: cannot reach the Hub (ConnectionError) (hint: check the network connection and retry)",
        ),
    ],
)
def test_hub_failures_print_one_line_and_record_nothing(
    registry_url, trained_run, fake_hub, where, error, expected
) -> None:
    from rrg import Registry

    fake_hub.fail[where] = error()
    result = invoke("publish", trained_run.run_id, "--repo", REPO, "--registry", registry_url)
    assert result.exit_code == 2
    assert result.output.strip() == expected
    with Registry.from_url(registry_url) as registry:
        assert registry.get_run(trained_run.run_id).publications == ()


def test_cli_publish_then_again(registry_url, trained_run, fake_hub) -> None:
    first = invoke(
        "publish", trained_run.run_id, "--repo", REPO, "--registry", registry_url, "--json"
    )
    assert first.exit_code == 0, first.output
    shown = json.loads(first.output)
    assert shown["status"] == "uploaded" and shown["private"] is True and shown["repo"] == REPO
    again = json.loads(
        invoke(
            "publish", trained_run.run_id, "--repo", REPO, "--registry", registry_url, "--json"
        ).output
    )
    assert again["status"] == "unchanged: already published at this commit"
    assert again["revision"] == shown["revision"]


def test_cli_public_tiny_run_is_refused(registry_url, trained_run, fake_hub) -> None:
    result = invoke(
        "publish", trained_run.run_id, "--repo", REPO, "--public", "--registry", registry_url
    )
    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: run {trained_run.run_id} trained rrg's tiny random-weight twin"
    )
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "repo", ["not a repo", "my-org/demo--sft", "my-org/demo..sft", "my-org/demo.git"]
)
def test_cli_bad_repo_id(registry_url, trained_run, repo) -> None:
    """huggingface_hub's own repo id rules apply before anything is assembled or uploaded."""
    for extra in (["--dry-run"], []):
        result = invoke(
            "publish", trained_run.run_id, "--repo", repo, "--registry", registry_url, *extra
        )
        assert result.exit_code == 2
        assert result.output.startswith(f"Error: --repo {repo!r} is not a Hub repository id")


def test_dry_run_lists_the_folder_without_network(
    registry_url, trained_run, tmp_path, monkeypatch
) -> None:
    from huggingface_hub import HfApi

    def no_network(*args, **kwargs):
        raise AssertionError("--dry-run must not call the Hub")

    for name in ("create_repo", "upload_folder", "repo_info", "create_branch"):
        monkeypatch.setattr(HfApi, name, no_network)
    out = tmp_path / "bundle"
    dry_run = ["publish", trained_run.run_id, "--repo", REPO, "--dry-run", "--out", str(out)]
    result = invoke(*dry_run, "--registry", registry_url, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["card"] == str(out.resolve() / "README.md") and shown["private"] is True
    assert {row["file"] for row in shown["files"]} == {p.name for p in out.iterdir()}
    for row in shown["files"]:
        assert row["bytes"] == (out / row["file"]).stat().st_size and len(row["sha256"]) == 64
    table = invoke(*dry_run, "--registry", registry_url)
    assert table.exit_code == 0, table.output
    assert (
        f"card: {out.resolve() / 'README.md'}" in table.output
        and "adapter_model.safetensors" in table.output
    )


def test_dry_run_out_in_an_unwritable_place_is_one_line(
    registry_url, trained_run, tmp_path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = invoke(
        "publish",
        trained_run.run_id,
        "--repo",
        REPO,
        "--dry-run",
        "--out",
        str(blocker / "bundle"),
        "--registry",
        registry_url,
    )
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: cannot create the folder {blocker / 'bundle'}: ")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("marked_by", ["recipe", "registered dataset version"])
def test_credentialed_data_refuse_public_and_per_sample_text(tmp_path, fake_hub, marked_by) -> None:
    """Credentialed data, marked so by the recipe's data.credentialed or by the registered dataset
    version the recipe named (which the plan resolved and recorded)."""
    from rrg import Registry
    from rrg.hub.bundle import assemble_bundle

    from .conftest import COMPONENTS_SFT, record_trained_run

    by_recipe = marked_by == "recipe"
    with Registry.from_url(f"sqlite:///{tmp_path}/r.db") as registry:
        run_id = record_trained_run(
            registry,
            tmp_path / "runs",
            "paper/qwen3-vl-4b/sft",
            overrides=["data.credentialed=true"] if by_recipe else [],
            plan_data=None if by_recipe else {"dataset": "IU_XRay", "credentialed": True, "license": "CC-BY-NC-ND-4.0"},
            components=COMPONENTS_SFT,
            metrics={"green_flare": 0.7, "bleu4_flare": 0.05, "ce": 0.8},
        )
        with pytest.raises(PublishError, match="marked credentialed"):
            publish_run(registry, run_id, REPO, private=False)
        assert fake_hub.calls == []
        bundle = assemble_bundle(registry, run_id, REPO, tmp_path / "b")
        card = (bundle.folder / "README.md").read_text()
        assert "Example outputs" not in card and "Normal cardiac contours." not in card
        assert "no per-sample text" in card
        for f in bundle.files:
            assert b"Normal cardiac contours." not in (bundle.folder / f.name).read_bytes()
        assert publish_run(registry, run_id, REPO).recorded  # privately it goes


def test_the_token_appears_nowhere(registry_url, trained_run, fake_hub, tmp_path, caplog) -> None:
    """HF_TOKEN is set to a recognisable fake: neither the DB, the outputs, the logs, the card nor the
    uploaded files may contain it, on success or failure."""
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "bundle"
    outputs = [
        invoke(
            "-vv",
            "publish",
            trained_run.run_id,
            "--repo",
            REPO,
            "--registry",
            registry_url,
            "--out",
            str(out),
        ).output,
        invoke("card", trained_run.run_id, "--registry", registry_url).output,
    ]
    fake_hub.fail["upload_folder"] = http_error(
        HfHubHTTPError,
        401,
        f"401 Client Error (token {FAKE_TOKEN} rejected)",
        f"bad token {FAKE_TOKEN}",
    )
    failed = invoke(
        "publish", trained_run.run_id, "--repo", "my-org/other", "--registry", registry_url
    )
    assert failed.exit_code == 2
    outputs.append(failed.output)
    for text in outputs:
        assert FAKE_TOKEN not in text
    assert FAKE_TOKEN not in caplog.text
    assert FAKE_TOKEN.encode() not in Path(registry_url.removeprefix("sqlite:///")).read_bytes()
    for path in out.iterdir():
        assert FAKE_TOKEN.encode() not in path.read_bytes()
    for contents in fake_hub.uploaded.values():
        for data in contents.values():
            assert FAKE_TOKEN.encode() not in data


def test_publish_errors_are_rrg_errors() -> None:
    assert issubclass(PublishError, RrgError)


def test_the_fake_hub_keeps_hfapis_real_signatures(fake_hub) -> None:
    from huggingface_hub import HfApi

    api = HfApi()
    with pytest.raises(TypeError, match="privte"):
        api.create_repo("org/name", privte=True)
    with pytest.raises(TypeError):
        api.upload_folder(repo_id="org/name")  # folder_path is required
    api.create_repo("org/name", private=True, exist_ok=True)
    assert fake_hub.calls[-1] == ("create_repo", {"repo_id": "org/name", "private": True, "repo_type": None, "exist_ok": True})
