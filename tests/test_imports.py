"""``import rrg`` and ``import rrg_registry`` stay light: no torch, transformers or trl."""

import json
import subprocess
import sys

HEAVY = ["torch", "transformers", "trl", "peft", "datasets", "sqlalchemy", "numpy"]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_rrg_is_light():
    loaded = _modules_after("import rrg")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_import_registry_never_pulls_ml_stack():
    loaded = _modules_after("import rrg_registry")
    assert not loaded & {"torch", "transformers", "trl", "peft", "rrg"}


def test_cli_help_is_light():
    loaded = _modules_after(
        "from rrg.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    assert "torch" not in loaded and "transformers" not in loaded
