"""A registry rrg cannot write now: a write lock held past the busy timeout, a read-only file, a
read-only mount, a read-only connection. Writes end in one line saying which and what to do
(``RegistryLocked``, ``RegistryReadOnly``); browsing (runs list, runs show, compare) still works
and skips marking stale runs."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rrg.cli import cli
from rrg_registry import Registry, RegistryLocked, RegistryReadOnly, UserError
from rrg_registry.store import engine as engines

from .conftest import POSTGRES_URL, Factory, hours_ago

READ_ONLY_HINT = (
    "browsing (runs list, runs show, compare) still works; to record, give --registry / "
    "RRG_REGISTRY_URL a registry you can write"
)


def rrg(url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--registry", url])


def _populate(url: str, clock) -> dict[str, str]:
    """Two finished runs with metrics and one running run silent for two hours (stale)."""
    with Registry.from_url(url) as registry:
        factory = Factory(registry)
        first = factory.run(status="succeeded", metrics={"green_flare": 0.7})
        second = factory.run(status="succeeded", metrics={"green_flare": 0.8})
        clock(hours_ago(2))
        stale = factory.run(status="running")
        clock(None)
    return {"first": first.id, "second": second.id, "stale": stale.id}


def outcomes(url: str, runs: dict[str, str]) -> dict:
    """What browsing and writing do on the registry at ``url`` (run in a child process too)."""
    out: dict = {}
    with Registry.from_url(url) as registry:
        out["listed"] = sorted(r.id for r in registry.search_runs())
        out["reaped"] = registry.reap_stale_runs(strict=False)
        out["stale status"] = registry.get_run(runs["stale"]).run.status.value
        out["compared"] = [r.id for r in registry.compare([runs["first"], runs["second"]]).runs]
        writes = {
            "create_run": lambda: registry.create_run(1, "sft", "qwen3_vl", "tiny"),
            "strict reap": lambda: registry.reap_stale_runs(),
        }
        for name, write in writes.items():
            try:
                write()
                out[name] = "written"
            except UserError as error:
                out[name] = f"{type(error).__name__}: {error}"
    commands = {
        "runs list": ["runs", "list", "--json"],
        "runs show": ["runs", "show", runs["first"], "--json"],
        "compare": ["compare", runs["first"], runs["second"], "--json"],
        "runs reap": ["runs", "reap", "--older-than", "60"],
        "db upgrade": ["db", "upgrade"],
    }
    for name, args in commands.items():
        result = rrg(url, *args)
        if result.exit_code == 0 and "--json" in args:
            data = json.loads(result.output)
            if name == "runs list":
                shown = sorted([row["id"], row["status"]] for row in data)
            elif name == "runs show":
                shown = data["run"]["id"]
            else:
                shown = [row["id"] for row in data["runs"]]
            out[name] = [0, shown]
        elif result.exit_code == 1 and result.exception is not None:
            out[name] = [1, "".join(traceback.format_exception(result.exception))]
        else:
            out[name] = [result.exit_code, result.output]
    return out


def _assert_browsable_not_writable(out: dict, runs: dict[str, str], url: str, reason: str) -> None:
    message = f"cannot write the registry at {url}: {reason} (hint: {READ_ONLY_HINT})"
    ids = sorted(runs.values())
    assert out["listed"] == ids
    assert out["reaped"] == [] and out["stale status"] == "running"
    assert out["compared"] == [runs["first"], runs["second"]]
    assert out["create_run"] == f"RegistryReadOnly: {message}"
    assert out["strict reap"] == f"RegistryReadOnly: {message}"
    listed = sorted([run_id, "running" if run_id == runs["stale"] else "succeeded"] for run_id in ids)
    assert out["runs list"] == [0, listed]
    assert out["runs show"] == [0, runs["first"]]
    assert out["compare"] == [0, [runs["first"], runs["second"]]]
    assert out["runs reap"] == [2, f"Error: {message}\n"]
    assert out["db upgrade"] == [2, f"Error: {message}\n"]


@pytest.fixture
def sqlite_registry(tmp_path, migrated_sqlite_template) -> Path:
    path = tmp_path / "registry.db"
    shutil.copyfile(migrated_sqlite_template, path)
    return path


# -- a write lock held past the busy timeout ---------------------------------------------------


def test_a_write_lock_held_past_the_busy_timeout_is_one_line(sqlite_registry, clock, monkeypatch):
    url = f"sqlite:///{sqlite_registry}"
    runs = _populate(url, clock)
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 200)
    message = (
        f"the registry at {url} is locked: another process has held its write lock for over 0.2 s "
        "(hint: try again when it has finished writing; an open transaction in another program, "
        "such as a sqlite3 shell, holds the lock too)"
    )
    holder = sqlite3.connect(sqlite_registry, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer that does not finish
    try:
        with Registry.from_url(url) as registry:
            with pytest.raises(RegistryLocked) as caught:
                registry.create_run(1, "sft", "qwen3_vl", "tiny")
            assert str(caught.value) == message
            with pytest.raises(RegistryLocked):
                registry.reap_stale_runs()
            assert registry.reap_stale_runs(strict=False) == []  # browsing goes on without marking
            assert sorted(r.id for r in registry.search_runs()) == sorted(runs.values())
        reap = rrg(url, "runs", "reap")
        assert reap.exit_code == 2, reap.output
        assert reap.output == f"Error: {message}\n"
        listed = rrg(url, "runs", "list", "--json")
        assert listed.exit_code == 0, listed.output
        assert {row["id"]: row["status"] for row in json.loads(listed.output)}[runs["stale"]] == "running"
    finally:
        holder.close()
    with Registry.from_url(url) as registry:
        assert registry.reap_stale_runs() == [runs["stale"]]


# -- a read-only file --------------------------------------------------------------------------

# Starts as root (the interpreter may live where nobody cannot read, e.g. under /root), loads the
# test module and runs every check once on a writable copy so all imports are done, then drops to
# nobody and runs the checks on the read-only registry.
CHILD = textwrap.dedent(
    """
    import importlib, json, os, sys

    tests_folder, module, warm_url, url, runs, uid, gid = sys.argv[1:8]
    sys.path.insert(0, tests_folder)
    checks = importlib.import_module(module)
    checks.outcomes(warm_url, json.loads(runs))
    os.setgroups([])
    os.setgid(int(gid))
    os.setuid(int(uid))
    assert os.geteuid() != 0
    print(json.dumps(checks.outcomes(url, json.loads(runs))))
    """
)


@pytest.fixture
def shared_folder() -> Path:
    """A folder everyone can read and nobody but root can write (tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="rrg-read-only-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user (CI runs as root)")
def test_a_read_only_file_browses_and_refuses_writes_in_one_line(shared_folder, tmp_path, clock, migrated_sqlite_template):
    path = shared_folder / "registry.db"
    shutil.copyfile(migrated_sqlite_template, path)
    url = f"sqlite:///{path}"
    runs = _populate(url, clock)
    assert sorted(p.name for p in shared_folder.iterdir()) == ["registry.db"]
    path.chmod(0o644)
    content = path.read_bytes()
    warm = tmp_path / "warm.db"
    shutil.copyfile(path, warm)
    nobody = pwd.getpwnam("nobody")

    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(__file__).parents[1]), __name__, f"sqlite:///{warm}", url, json.dumps(runs),
         str(nobody.pw_uid), str(nobody.pw_gid)],
        capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout)
    _assert_browsable_not_writable(out, runs, url, "the file is not writable by this user")
    assert path.read_bytes() == content
    assert sorted(p.name for p in shared_folder.iterdir()) == ["registry.db"]


# -- a read-only mount -------------------------------------------------------------------------


@pytest.fixture
def read_only_mount(tmp_path) -> tuple[Path, Path]:
    """(a writable folder, the same folder bind-mounted read-only)."""
    source, target = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    target.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True, capture_output=True)
        yield source, target
    finally:
        subprocess.run(["umount", str(target)], check=True, capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount (CI runs as root)")
def test_a_read_only_mount_browses_and_refuses_writes_in_one_line(read_only_mount, clock, migrated_sqlite_template):
    source, target = read_only_mount
    shutil.copyfile(migrated_sqlite_template, source / "registry.db")
    runs = _populate(f"sqlite:///{source / 'registry.db'}", clock)
    content = (source / "registry.db").read_bytes()
    url = f"sqlite:///{target / 'registry.db'}"

    out = outcomes(url, runs)

    _assert_browsable_not_writable(out, runs, url, "it is on a read-only file system")
    assert (source / "registry.db").read_bytes() == content
    assert sorted(p.name for p in source.iterdir()) == ["registry.db"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount (CI runs as root)")
def test_a_new_registry_on_a_read_only_mount_is_one_line(read_only_mount):
    url = f"sqlite:///{read_only_mount[1] / 'rrg.db'}"
    result = rrg(url, "db", "upgrade")
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: cannot create the registry at {url}: it is on a read-only file system "
        f"(hint: {READ_ONLY_HINT})\n"
    )


# -- a read-only connection (SQLite mode=ro, PostgreSQL default_transaction_read_only) ---------


def test_a_read_only_connection_browses_and_refuses_writes_in_one_line(registry_url, empty_database, clock):
    runs = _populate(registry_url, clock)
    if empty_database.dialect == "sqlite":
        url = f"sqlite:///file:{sa.make_url(registry_url).database}?mode=ro&uri=true"
        reason = "attempt to write a readonly database"
    else:
        url = sa.make_url(POSTGRES_URL).update_query_dict(
            {"options": f"-csearch_path={empty_database.schema} -cdefault_transaction_read_only=on"}
        ).render_as_string(hide_password=False)
        reason = "cannot execute UPDATE in a read-only transaction"
    with Registry.from_url(url) as registry:
        assert sorted(r.id for r in registry.search_runs()) == sorted(runs.values())
        assert registry.reap_stale_runs(strict=False) == []
        assert registry.get_run(runs["stale"]).run.status.value == "running"
        with pytest.raises(RegistryReadOnly) as caught:
            registry.reap_stale_runs()
        shown = registry.url
    assert str(caught.value) == f"cannot write the registry at {shown}: {reason} (hint: {READ_ONLY_HINT})"
    listed = rrg(url, "runs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)) == 3
    reap = rrg(url, "runs", "reap")
    assert reap.exit_code == 2 and reap.output.count("\n") == 1, reap.output
    assert reap.output.startswith(f"Error: cannot write the registry at {shown}: ")
