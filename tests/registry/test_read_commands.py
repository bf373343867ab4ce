"""The registry a command reads: commands that only read never create a registry; they say where
none was found and how to point at one. Commands that write still create it. ``rrg check`` and
``rrg recipe show`` take ``--registry`` for ``name@version`` references; ``rrg recipe versions``
lists the recipe versions a registry holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rrg.cli import cli
from rrg_registry import Registry
from rrg_registry.errors import NotFound
from rrg_registry.store.schema import HEAD_REVISION

HINT = "(hint: point at one with --registry URL or RRG_REGISTRY_URL; `rrg run` creates one)"

READ_COMMANDS = [
    ["runs", "list"],
    ["runs", "show", "abc123"],
    ["runs", "reap"],
    ["compare", "abc123", "def456"],
    ["table", "--layout", "study"],
    ["components"],
    ["db", "current"],
    ["recipe", "versions"],
    ["recipe", "show", "demo-sft@1"],
    ["plan", "demo-sft@1"],
]

RECIPE = "schema: 1\nname: {name}\nversion: {version}\nmodel:\n  family: qwen3_vl\n  id: tiny\ndata:\n  root: demo\nstage:\n  kind: zero_shot\n"


@pytest.fixture
def runner(tmp_path, monkeypatch) -> CliRunner:
    """A CLI runner in an empty folder, with no RRG_REGISTRY_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RRG_REGISTRY_URL", raising=False)
    return CliRunner()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_in_the_wrong_folder_creates_nothing(runner, tmp_path, command):
    result = runner.invoke(cli, command)
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: no registry at {tmp_path.resolve() / 'rrg.db'} {HINT}\n"
    assert _files(tmp_path) == []


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_missing_registry_named_by_flag_or_environment_is_named(runner, tmp_path, monkeypatch, command):
    (tmp_path / "data").mkdir()
    flagged = runner.invoke(cli, [*command, "--registry", "data/team.db"])
    assert flagged.exit_code == 2
    assert flagged.output == f"Error: no registry at {tmp_path.resolve() / 'data' / 'team.db'} {HINT}\n"
    monkeypatch.setenv("RRG_REGISTRY_URL", f"sqlite:///{tmp_path}/data/env.db")
    from_env = runner.invoke(cli, command)
    assert from_env.exit_code == 2
    assert from_env.output == f"Error: no registry at {tmp_path.resolve() / 'data' / 'env.db'} {HINT}\n"
    assert _files(tmp_path) == ["data"] and _files(tmp_path / "data") == []


def test_a_writing_command_still_creates_the_registry(runner, tmp_path):
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert result.output == f"registry upgraded from empty to {HEAD_REVISION}\n"
    assert (tmp_path / "rrg.db").is_file()
    listed = runner.invoke(cli, ["runs", "list", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output) == []
    assert runner.invoke(cli, ["db", "current"]).output == f"revision {HEAD_REVISION} (this rrg needs {HEAD_REVISION}): up to date\n"


def test_from_url_create_false(tmp_path):
    missing = tmp_path / "none.db"
    with pytest.raises(NotFound, match=r"^no registry at "):
        Registry.from_url(f"sqlite:///{missing}", create=False)
    with pytest.raises(NotFound):
        Registry.default(environ={"RRG_REGISTRY_URL": str(missing)}, create=False)
    assert not missing.exists()
    Registry.from_url(str(missing)).close()  # create=True (the default) creates it
    with Registry.from_url(str(missing), create=False) as registry:
        assert registry.search_runs() == []
    with Registry.from_url("sqlite://", create=False) as in_memory:
        assert in_memory.search_runs() == []


def test_server_urls_are_not_checked_for_a_file(tmp_path, monkeypatch):
    from rrg_registry.registry import require_existing_registry

    monkeypatch.chdir(tmp_path)
    # no connection is made: a server database exists by definition
    require_existing_registry("postgresql://rrg@db.example/rrg")
    require_existing_registry("sqlite:///:memory:")
    require_existing_registry("sqlite:///file:x.db?mode=ro&uri=true")
    assert _files(tmp_path) == []


@pytest.fixture
def recorded(registry_url, registry, factory):
    """A registry holding demo-sft@1 (two runs), demo-sft@2 (none) and zs@1 (one run)."""
    texts = {(n, v): RECIPE.format(name=n, version=v) for n, v in (("demo-sft", 1), ("demo-sft", 2), ("zs", 1))}
    versions = {key: factory.recipe(*key, yaml_text=text) for key, text in texts.items()}
    factory.run("demo-sft@1")
    factory.run("demo-sft@1", status="succeeded")
    factory.run("zs@1", stage="zero_shot")
    return registry_url, versions


def test_recipe_versions_lists_what_the_registry_holds(runner, recorded):
    url, versions = recorded
    result = runner.invoke(cli, ["recipe", "versions", "--registry", url, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["recipe"], r["name"], r["version"], r["runs"]) for r in rows] == [
        ("demo-sft@1", "demo-sft", 1, 2), ("demo-sft@2", "demo-sft", 2, 0), ("zs@1", "zs", 1, 1)]
    assert all(list(r) == ["recipe", "name", "version", "hash", "recorded", "runs"] for r in rows)
    first = versions[("demo-sft", 1)]
    assert rows[0]["hash"] == first.hash[:12] and rows[0]["recorded"] == first.created_at.isoformat()
    one = json.loads(runner.invoke(cli, ["recipe", "versions", "demo-sft", "--registry", url, "--json"]).output)
    assert [r["recipe"] for r in one] == ["demo-sft@1", "demo-sft@2"]
    csv_lines = runner.invoke(cli, ["recipe", "versions", "zs", "--registry", url, "--csv"]).output.splitlines()
    assert csv_lines[0] == "recipe,name,version,hash,recorded,runs"
    assert csv_lines[1].startswith(f"zs@1,zs,1,{versions[('zs', 1)].hash[:12]},") and csv_lines[1].endswith(",1")
    table = runner.invoke(cli, ["recipe", "versions", "--registry", url], env={"COLUMNS": "200"}).output
    assert "Recorded recipe versions" in table and first.hash[:12] in table
    assert "no recorded versions of nope" in runner.invoke(cli, ["recipe", "versions", "nope", "--registry", url]).output


def test_show_and_check_read_name_at_version_from_registry_flag(runner, recorded):
    url, _ = recorded
    shown = runner.invoke(cli, ["recipe", "show", "zs@1", "--registry", url, "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["name"] == "zs"
    Path("child.yaml").write_text("extends: demo-sft@2\nname: child\nversion: 1\n")
    checked = runner.invoke(cli, ["check", "child.yaml", "--registry", url])
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith("child.yaml: ok (child@1, zero_shot, sha256:")
    without = runner.invoke(cli, ["check", "child.yaml"])
    assert without.exit_code == 2
    assert without.output == f"Error: no registry at {Path.cwd().resolve() / 'rrg.db'} {HINT}\n"
    assert not Path("rrg.db").exists()


def test_a_dry_run_records_nothing_and_creates_no_registry(runner, tmp_path, monkeypatch) -> None:
    # a zero-shot recipe on the demo set: planned and checked against an empty registry in memory
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = tmp_path / "zs.yaml"
    recipe.write_text(RECIPE.format(name="zs", version=1))
    result = runner.invoke(cli, ["run", str(recipe), "--dry-run", "--set", "data.max_eval_samples=2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "dry run: nothing was recorded"
    assert not (tmp_path / "rrg.db").exists()
