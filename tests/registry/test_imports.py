"""The registry stays light to import: no database layer until a registry is opened, never the ML stack."""

from __future__ import annotations

import json
import subprocess
import sys

ML_STACK = {"torch", "transformers", "trl", "peft", "rrg"}


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_registry_names_load_without_the_database_layer():
    loaded = _modules_after("from rrg_registry import Registry, RunSummary, RunStatus, RegistryError")
    assert not loaded & {"sqlalchemy", "sqlmodel", "alembic", "numpy"}
    assert not loaded & ML_STACK


def test_opening_a_registry_never_imports_alembic_or_the_ml_stack(tmp_path):
    # an up-to-date database is checked without Alembic; migrating is what needs it
    subprocess.run([sys.executable, "-c", f"from rrg_registry import Registry; Registry.from_url('{tmp_path}/r.db')"],
                   check=True)
    loaded = _modules_after(
        f"from rrg_registry import Registry\nr = Registry.from_url('{tmp_path}/r.db')\nr.search_runs(sort='green_flare')"
    )
    assert "sqlalchemy" in loaded
    assert not loaded & (ML_STACK | {"alembic", "numpy"})


def test_browsing_commands_do_not_import_torch(tmp_path):
    from rrg_registry import Registry

    Registry.from_url(f"{tmp_path}/r.db").close()  # a registry to browse (reading never creates one)
    loaded = _modules_after(
        "from rrg.cli import cli\n"
        f"cli.main(['runs', 'list', '--registry', '{tmp_path}/r.db'], standalone_mode=False)"
    )
    assert not loaded & {"torch", "transformers", "trl", "peft"}
