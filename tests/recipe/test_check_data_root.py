"""``rrg check`` catches a ``data.root`` that does not exist (absolute or relative to the working
directory, as at run time) in one line naming the recipe file and the key, without importing torch,
in well under a second; ``demo`` (the bundled demo set) is accepted without being built."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rrg.cli import cli
from rrg.recipe import Recipe

RECIPE = "schema: 1\nname: ok\nversion: 1\nmodel:\n  family: qwen3_vl\n  id: tiny\ndata:\n  root: {root}\nstage:\n  kind: zero_shot\n"
HINT = "(hint: set data.root to a FLARE organized_dataset folder, or to 'demo' for the bundled demo set)"


@pytest.fixture
def runner(tmp_path, monkeypatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RRG_REGISTRY_URL", raising=False)
    return CliRunner()


def _flare(root: Path) -> Path:
    (root / "validation-public" / "Xray" / "IU_XRay").mkdir(parents=True)
    return root


@pytest.mark.parametrize("root", ["data/organized_dataset", "ABSOLUTE"])
def test_a_missing_data_root_is_one_line_naming_file_and_key(runner, tmp_path, root):
    root = str(tmp_path / "elsewhere" / "organized_dataset") if root == "ABSOLUTE" else root
    Path("recipe.yaml").write_text(RECIPE.format(root=root))
    result = runner.invoke(cli, ["check", "recipe.yaml"])
    assert result.exit_code == 2, result.output
    assert result.stdout == f"recipe.yaml: data.root: folder {tmp_path / root} does not exist {HINT}\n"
    assert result.stderr == "1 of 1 recipes invalid\n"
    assert not Path("rrg.db").exists()


def test_existing_and_demo_roots_pass(runner, tmp_path):
    _flare(tmp_path / "data" / "organized_dataset")
    Path("relative.yaml").write_text(RECIPE.format(root="data/organized_dataset"))
    Path("absolute.yaml").write_text(RECIPE.format(root=tmp_path / "data" / "organized_dataset"))
    Path("demo.yaml").write_text(RECIPE.format(root="demo"))
    result = runner.invoke(cli, ["check", "relative.yaml", "absolute.yaml", "demo.yaml"])
    assert result.exit_code == 0, result.output
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == ["relative.yaml", "absolute.yaml", "demo.yaml"]
    assert result.stdout.count(": ok (ok@1, zero_shot, sha256:") == 3 and result.stderr == "3 recipes valid\n"


def test_a_root_without_the_data_set_is_named(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    Path("recipe.yaml").write_text(RECIPE.format(root="empty"))
    result = runner.invoke(cli, ["check", "recipe.yaml"])
    assert result.exit_code == 2
    assert result.stdout.startswith(f"recipe.yaml: data.root: {tmp_path / 'empty'} has no Xray/IU_XRay data set in any split (hint: ")


def test_set_overrides_the_root_of_every_recipe_checked(runner):
    Path("a.yaml").write_text(RECIPE.format(root="nowhere"))
    Path("b.yaml").write_text(RECIPE.format(root="nowhere").replace("name: ok", "name: other"))
    result = runner.invoke(cli, ["check", "a.yaml", "b.yaml", "--set", "data.root=demo"])
    assert result.exit_code == 0, result.output
    recipe = Recipe.load("a.yaml", overrides=["data.root=demo"])
    assert result.stdout.splitlines()[0] == f"a.yaml: ok (ok@1, zero_shot, sha256:{recipe.short_hash})"
    assert result.stderr == "2 recipes valid\n"


def test_a_real_rrg_process_answers_without_torch_within_a_second(tmp_path):
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(root="/no/such/organized_dataset"))
    script = (
        "import sys\n"
        "from rrg.cli import cli\n"
        "try:\n    cli(['check', 'recipe.yaml'], prog_name='rrg')\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    elapsed = time.perf_counter() - start
    assert result.returncode == 2, result.stderr
    assert result.stdout == f"recipe.yaml: data.root: folder /no/such/organized_dataset does not exist {HINT}\n"
    assert result.stderr == "1 of 1 recipes invalid\nno torch\n"
    assert elapsed < 1.5, elapsed  # a process start plus the check (about 0.25 s here)
    assert not (tmp_path / "rrg.db").exists()
