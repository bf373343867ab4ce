"""``rrg publish model:NAME@ALIAS``: publishing a registered model version (the run behind it), its
files checked first; the card and rrg_results.json name the registered version; a version pulled
from the Hub is registered with ``rrg models register --hub`` and is not published again.

Uses the session's real tiny SFT run (``trained_run``) and the in-memory Hub (``fake_hub``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_assertions import assert_one_line_error
from click.testing import CliRunner
from rrg.cli import cli

REPO = "my-org/demo-sft"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def register(registry_url: str, name: str, *args: str) -> dict:
    result = invoke("models", "register", name, *args, "--registry", registry_url, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(request, registry_url: str):
    """The session run's registry on SQLite, or moved into a fresh PostgreSQL schema with
    ``rrg db copy`` (the way a lab moves a personal registry into its team's)."""
    if request.param == "sqlite":
        yield registry_url
        return
    server = os.environ.get("RRG_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("RRG_TEST_POSTGRES_URL is not set (CI sets it; locally: eval \"$(bash .ci/postgres.sh)\")")
    schema = f"rrg_hub_{secrets.token_hex(6)}"
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.make_url(server).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        copied = invoke("db", "copy", registry_url, url)
        assert copied.exit_code == 0, copied.output
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_publishing_a_registered_version_names_it_in_the_card(backend_url, trained_run, fake_hub) -> None:
    from rrg import Registry

    registry_url = backend_url
    register(registry_url, "iu-report", "--run", trained_run.run_id)
    assert invoke("models", "alias", "iu-report@1", "paper", "--registry", registry_url).exit_code == 0

    result = invoke("publish", "model:iu-report@paper", "--repo", REPO, "--registry", registry_url, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["run"], shown["model"], shown["status"]) == (trained_run.run_id, "iu-report@1", "uploaded")

    uploaded = fake_hub.uploaded[shown["revision"]]
    card = uploaded["README.md"].decode()
    assert "- Registered model: `iu-report` version 1 (`model:iu-report@1`" in card
    results = json.loads(uploaded["rrg_results.json"])
    assert results["registered_model"] == {"name": "iu-report", "version": 1}
    assert results["run"]["id"] == trained_run.run_id
    message = dict(fake_hub.calls)["upload_folder"]["commit_message"]
    assert message.startswith(f"rrg: adapter of run {trained_run.run_id} as model iu-report@1 (demo-sft@2, sft")
    with Registry.from_url(registry_url) as registry:
        # the registered files are what went up
        version = registry.get_model_version("iu-report", "paper")
        assert hashlib.sha256(uploaded["adapter_model.safetensors"]).hexdigest() == version.files["adapter_model.safetensors"]
        publications = registry.get_run(trained_run.run_id).publications
    assert [(p.repo, p.revision) for p in publications] == [(REPO, shown["revision"])]
    lineage = invoke("models", "lineage", "iu-report@paper", "--registry", registry_url, "--json")
    steps = [(s["step"], s["ref"]) for s in json.loads(lineage.output)["steps"]]
    assert steps[-1] == ("published", f"{REPO}@{shown['revision']}")


def test_a_run_published_by_id_has_no_registered_model_in_its_card(registry_url, trained_run, tmp_path: Path) -> None:
    register(registry_url, "iu-report", "--run", trained_run.run_id)
    plain = invoke("card", trained_run.run_id, "--registry", registry_url)
    named = invoke("card", "model:iu-report@1", "--registry", registry_url)
    assert plain.exit_code == 0 and named.exit_code == 0, named.output
    assert "Registered model" not in plain.output
    assert "- Registered model: `iu-report` version 1" in named.output
    # the rest of the card is the run's, line for line
    extra = [line for line in named.output.splitlines() if line not in plain.output.splitlines()]
    assert len(extra) == 1 and extra[0].startswith("- Registered model:")

    dry = invoke("publish", "model:iu-report@1", "--repo", REPO, "--dry-run", "--out", str(tmp_path / "b"), "--registry", registry_url)
    assert dry.exit_code == 0, dry.output
    assert json.loads((tmp_path / "b" / "rrg_results.json").read_text())["registered_model"]["version"] == 1


def test_a_changed_registered_file_stops_the_publication(registry_url, registry, trained_run, fake_hub, tmp_path: Path) -> None:
    from rrg.adapters import adapter_files

    # a version whose files are a copy of the run's adapter, so the session's run stays intact
    detail = registry.get_run(trained_run.run_id)
    source = Path([c for c in detail.checkpoints if c.best][-1].path)
    copy = tmp_path / "adapter"
    copy.mkdir()
    for path in source.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    version = registry.register_model_version(
        "copied", base_model="tiny", base_revision=None, source=f"run:{trained_run.run_id}", adapter_path=str(copy),
        files=adapter_files(copy), run_id=trained_run.run_id,
    )
    config = copy / "adapter_config.json"
    config.write_text(config.read_text() + " ")
    now = hashlib.sha256(config.read_bytes()).hexdigest()
    result = invoke("publish", "model:copied@1", "--repo", REPO, "--registry", registry_url)
    assert_one_line_error(result, str(config), version.files["adapter_config.json"], now)
    assert fake_hub.calls == [] and registry.get_run(trained_run.run_id).publications == ()


def test_a_pulled_adapter_registers_and_is_not_published_again(
    registry_url, registry, trained_run, hub_cache, tmp_path: Path
) -> None:
    commit = "1f0c4e8c9a7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e"
    bundle = tmp_path / "bundle"
    dry = invoke("publish", trained_run.run_id, "--repo", "my-org/x", "--dry-run", "--out", str(bundle), "--registry", registry_url)
    assert dry.exit_code == 0, dry.output
    snapshot = hub_cache("my-org/x", bundle, commit)

    data = register(registry_url, "pulled", "--hub", "my-org/x")
    assert (data["source"], data["run_id"], data["base_model"]) == (f"hub:my-org/x@{commit}", None, "tiny")
    assert data["external_model_id"] == registry.get_external_model("my-org/x", commit).id
    assert Path(data["adapter_path"]) == snapshot
    assert data["files"]["adapter_model.safetensors"] == hashlib.sha256((bundle / "adapter_model.safetensors").read_bytes()).hexdigest()
    results = json.loads((bundle / "rrg_results.json").read_text())
    assert data["results"]["green_flare"] == results["evaluation"]["metrics"]["green_flare"]
    assert data["recipe_yaml"] == (bundle / "rrg_recipe.yaml").read_text()

    lineage = json.loads(invoke("models", "lineage", "pulled@1", "--registry", registry_url, "--json").output)
    assert [s["step"] for s in lineage["steps"]] == ["base model", "dataset version", "pulled", "registered"]

    assert_one_line_error(invoke("publish", "model:pulled@1", "--repo", REPO, "--registry", registry_url),
                   f"hub:my-org/x@{commit}", "not from a run")
    assert registry.get_run(trained_run.run_id).publications == ()
