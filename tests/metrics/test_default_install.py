"""Every shipped metric and every shipped recipe's scorer, in a default install (``pip install
rrg-sdk``, no extras): a result, or one line with a hint and exit 2, never a traceback.

The dev install carries the ``radgraph`` and ``dev`` extras, so a default install is simulated:
each check runs in a subprocess whose ``sitecustomize`` hides every installed distribution that
rrg-sdk's base requirements do not pull in (radgraph, appdirs, requests, ...), both from import
and from ``importlib.metadata``, as if it had never been installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from rrg.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[2]
SHIPPED_RECIPES = sorted(
    [*(REPO / "recipes" / "demo").glob("*.yaml"), *(REPO / "recipes" / "paper").glob("**/*.yaml")]
)
PAIRS = [
    ("No acute cardiopulmonary abnormality.", "No acute cardiopulmonary process."),
    ("Small left pleural effusion.", "Moderate left pleural effusion with atelectasis."),
]
RADGRAPH_HINT = "pip install 'rrg-sdk[radgraph]'"

SITECUSTOMIZE = '''
"""Hide the distributions named in RRG_TEST_HIDE_* from import and from importlib.metadata."""
import json, os, re, sys
import importlib.metadata as _md

_MODULES = set(json.loads(os.environ["RRG_TEST_HIDE_MODULES"]))
_DISTRIBUTIONS = set(json.loads(os.environ["RRG_TEST_HIDE_DISTRIBUTIONS"]))


class _Hidden:
    def __init__(self, finder):
        self._finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _MODULES:
            return None
        find = getattr(self._finder, "find_spec", None)
        return find(name, path, target) if find is not None else None

    def find_distributions(self, context=_md.DistributionFinder.Context()):
        find = getattr(self._finder, "find_distributions", None)
        if find is None:
            return iter(())
        return (
            d for d in find(context)
            if re.sub(r"[-_.]+", "-", d.metadata["Name"] or "").lower() not in _DISTRIBUTIONS
        )

    def __getattr__(self, name):
        return getattr(self._finder, name)


sys.meta_path[:] = [_Hidden(finder) for finder in sys.meta_path]
'''


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _default_install() -> set[str]:
    """The distributions ``pip install rrg-sdk`` brings: its base requirements, transitively."""
    seen: set[str] = set()
    todo = ["rrg-sdk"]
    while todo:
        name = _normalise(todo.pop())
        if name in seen:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


@pytest.fixture(scope="module")
def default_install_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a subprocess that sees only a default install, offline, empty caches."""
    keep = _default_install()
    installed = {_normalise(d.metadata["Name"]) for d in metadata.distributions()}
    hidden_distributions = sorted(installed - keep)
    hidden_modules = sorted(
        module
        for module, owners in metadata.packages_distributions().items()
        if all(_normalise(owner) not in keep for owner in owners)
    )
    assert {"radgraph", "appdirs"} <= set(hidden_modules)  # the dev install has them: hide them
    folder = tmp_path_factory.mktemp("default-install")
    (folder / "site").mkdir()
    (folder / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(folder / "site"), os.environ.get("PYTHONPATH")])),
        RRG_TEST_HIDE_MODULES=json.dumps(hidden_modules),
        RRG_TEST_HIDE_DISTRIBUTIONS=json.dumps(hidden_distributions),
        HF_HUB_OFFLINE="1",
        HF_HOME=str(folder / "hf"),
        XDG_CACHE_HOME=str(folder / "cache"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    return env


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text(
        "".join(json.dumps({"prediction": p, "reference": r}) + "\n" for p, r in PAIRS),
        encoding="utf-8",
    )
    return path


def assert_hint_line(text: str, *parts: str) -> str:
    """``text`` is one error line with a hint (and no traceback)."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text and "(hint: " in lines[0], text
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_the_simulation_hides_radgraph(default_install_env: dict[str, str]) -> None:
    probe = (
        "import importlib.util, importlib.metadata as m\n"
        "print(importlib.util.find_spec('radgraph'), importlib.util.find_spec('appdirs'))\n"
        "try:\n    m.version('radgraph')\nexcept m.PackageNotFoundError:\n    print('no metadata')\n"
        "import rrg.metrics\nprint('rrg imports')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=default_install_env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["None None", "no metadata", "rrg imports"]


@pytest.mark.parametrize("metric", METRIC_NAMES)
def test_rrg_score_of_each_metric_is_a_result_or_one_line(
    metric: str, default_install_env: dict[str, str], pairs_file: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from rrg.cli import main; main()", "score", str(pairs_file), "--metrics", metric, "--json"],
        env=default_install_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode == 0:
        result = json.loads(done.stdout)
        value = result[metric]["overall"] if metric == "green_flare" else result[metric]
        assert result["n"] == len(PAIRS) and 0.0 <= value <= 1.0, done.stdout
        assert metric not in ("radgraph_f1", "green_llm")  # these cannot run in a default install
    else:
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        line = assert_hint_line(done.stderr, "Error: ", metric)
        if metric == "radgraph_f1":
            assert "'radgraph' package, which is not installed" in line and RADGRAPH_HINT in line


RECIPE_SCORERS = r'''
import json, sys, traceback
from types import SimpleNamespace

from rrg.errors import RrgError
from rrg.metrics import evaluate
from rrg.recipe import Recipe
from rrg.train.grpo import reward_functions

predictions, references = map(list, zip(*json.loads(sys.argv[1])))
out = {}
for path in sys.argv[2:]:
    spec = Recipe.load(path).spec
    jobs = {
        f"evaluation.metrics {metric}": (lambda metric=metric: evaluate(predictions, references, [metric]).summary[metric])
        for metric in spec.evaluation.metrics
    }
    if spec.stage.kind == "grpo":
        def reward(spec=spec):
            built = reward_functions(SimpleNamespace(reward=spec.reward.model_dump(mode="json")))
            return built.functions[0](completions=predictions, reference=references)
        jobs[f"reward.clinical_scorer {spec.reward.clinical_scorer}"] = reward
    for key, job in jobs.items():
        try:
            out[f"{path} {key}"] = {"result": job()}
        except RrgError as error:
            out[f"{path} {key}"] = {"error": error.format_message()}
        except Exception:
            out[f"{path} {key}"] = {"traceback": traceback.format_exc()}
print(json.dumps(out))
'''


def test_each_shipped_recipes_scorers_give_a_result_or_one_line(default_install_env: dict[str, str], tmp_path: Path) -> None:
    assert SHIPPED_RECIPES and any("grpo" in p.name for p in SHIPPED_RECIPES)
    done = subprocess.run(
        [sys.executable, "-c", RECIPE_SCORERS, json.dumps(PAIRS), *map(str, SHIPPED_RECIPES)],
        env=default_install_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcomes = json.loads(done.stdout)
    tracebacks = {key: value["traceback"] for key, value in outcomes.items() if "traceback" in value}
    assert not tracebacks, "\n".join(f"{key}:\n{text}" for key, text in tracebacks.items())
    scorers = set()
    for key, outcome in outcomes.items():
        scorers.add(key.rsplit(" ", 1)[1])
        if "error" in outcome:
            assert_hint_line(outcome["error"], RADGRAPH_HINT)  # only radgraph_f1 needs more
            assert key.endswith("radgraph_f1"), key
        else:
            values = outcome["result"]
            values = values if isinstance(values, list) else [values]
            assert all(isinstance(v, float) for v in values), (key, values)
    # the study's GRPO reward is among them, and every metric a recipe names was tried
    assert "radgraph_f1" in scorers and {"green_flare", "bleu4_flare", "ce"} <= scorers
    paper_grpo = f"{REPO / 'recipes/paper/qwen3-vl-4b/grpo.yaml'} reward.clinical_scorer radgraph_f1"
    assert "error" in outcomes[paper_grpo]
