""".ci/run stops when PostgreSQL does not start, before installing or testing anything (so the
registry suite can never silently run on SQLite alone)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ci_copy(tmp_path: Path, postgres_sh: str) -> Path:
    root = tmp_path / "clone"
    (root / ".ci").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "run", root / ".ci" / "run")
    (root / ".ci" / "postgres.sh").write_text(postgres_sh)
    return root


@pytest.mark.parametrize(
    "postgres_sh",
    ["echo 'initdb: cannot start' >&2; exit 1\n", "exit 0\n"],
    ids=["postgres.sh fails", "postgres.sh prints no URL"],
)
def test_ci_stops_when_postgres_does_not_start(tmp_path: Path, postgres_sh: str) -> None:
    root = _ci_copy(tmp_path, postgres_sh)
    # as in CI, where the variable of the server CI started is in the environment
    env = {**os.environ, "RRG_TEST_POSTGRES_URL": "postgresql://rrg@127.0.0.1:1/outer"}
    result = subprocess.run(["bash", ".ci/run"], cwd=root, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0
    assert not (root / ".venv").exists()  # nothing installed, no test run


def _fake_apt_get(bin_dir: Path) -> None:
    """An apt-get that records its arguments, so .ci/run never runs the real package manager here
    (it installs Chromium when /usr/bin/chromium is missing)."""
    fake = bin_dir / "apt-get"
    fake.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/apt-get.log"\n')
    fake.chmod(0o755)


def test_ci_fails_when_the_slow_selection_collects_nothing(tmp_path: Path) -> None:
    # a fake python3.11 whose venv's pytest passes the default run and collects nothing with -m slow
    root = _ci_copy(tmp_path, "echo 'export RRG_TEST_POSTGRES_URL=postgresql://x RRG_PG_DATADIR=/nowhere'\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_apt_get(bin_dir)
    fake = bin_dir / "python3.11"
    fake.write_text(
        "#!/bin/sh\n"
        "mkdir -p .venv/bin\n"
        "printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/pip\n"
        "printf '#!/bin/sh\\ncase \"$*\" in *slow*) exit 5;; esac\\necho 1 passed\\n' > .venv/bin/python\n"
        "chmod +x .venv/bin/pip .venv/bin/python\n"
    )
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(["bash", ".ci/run"], cwd=root, capture_output=True, text=True, timeout=60, env=env)
    assert "1 passed" in result.stdout  # the default run went through
    assert result.returncode == 5


def test_ci_runs_the_tests_with_chromium_required(tmp_path: Path) -> None:
    # the browser test of the HTML report fails instead of skipping when Chromium is missing in CI
    root = _ci_copy(tmp_path, "echo 'export RRG_TEST_POSTGRES_URL=postgresql://x RRG_PG_DATADIR=/nowhere'\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_apt_get(bin_dir)
    fake = bin_dir / "python3.11"
    fake.write_text(
        "#!/bin/sh\n"
        "mkdir -p .venv/bin\n"
        "printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/pip\n"
        "printf '#!/bin/sh\\necho \"$*: $RRG_REQUIRE_CHROMIUM\" >> required.log\\n' > .venv/bin/python\n"
        "chmod +x .venv/bin/pip .venv/bin/python\n"
    )
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(["bash", ".ci/run"], cwd=root, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert (root / "required.log").read_text().splitlines() == ["-m pytest: 1", "-m pytest -m slow: 1"]
    installs = (bin_dir / "apt-get.log").read_text().splitlines() if (bin_dir / "apt-get.log").exists() else []
    assert installs == ([] if Path("/usr/bin/chromium").exists() else ["update -qq", "install -y -qq chromium"])
