"""``rrg plan`` of every shipped recipe, whole process, in fresh processes: goal at most 3 s.

Recipes: ``recipes/demo/*.yaml`` as written; ``recipes/paper/*/*.yaml`` on their tiny twins
(``--device cpu --set model.id=tiny --set data.root=demo --set data.expect=null``, plus
``model.revision=null`` for DeepSeek-OCR, as the tests plan them); and the paper recipes with
their real Hub ids (``--device cpu --set data.root=demo --set data.expect=null``), whose
parameters are counted where their config is in the Hugging Face cache (offline, nothing is
downloaded). MedGemma's SFT also gets ``data.train=all``: it trains on FLARE data sets the demo
set does not have. A recipe naming a registered dataset (``data.dataset: NAME@latest``) is planned
against a temporary registry in which the demo set is registered under that name, without
``data.root``: the registered version brings its root.

A plan caches what costs seconds to work out (parameter counts of a config on the meta device,
TRL's verdict on a set of training settings; see ``rrg.models.inventory`` and
``rrg.plan.check_trl_config``). So each recipe is timed twice over, in a temporary rrg cache that
holds the demo set and the tiny twins: ``cold``, one run with no plan facts cached (the first plan
of a model and of a set of settings), then ``warm``, the best of ``--repeats`` runs after it. The
goal applies to warm plans. Columns: both times, the speed-up the cache gives (cold/warm; a cold
plan costs what every plan cost before the cache) and warm time over the 3 s goal.

    python benchmarks/bench_plan.py                  # every recipe, best of 5
    python benchmarks/bench_plan.py --repeats 3 --only demo
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
GOAL_SECONDS = 3.0
TINY = ["--device", "cpu", "--set", "model.id=tiny", "--set", "data.root=demo", "--set", "data.expect=null"]
HUB = ["--device", "cpu", "--set", "data.root=demo", "--set", "data.expect=null"]


def rrg_command() -> list[str]:
    found = shutil.which("rrg", path=str(Path(sys.executable).parent)) or shutil.which("rrg")
    return [found] if found else [sys.executable, "-m", "rrg.cli"]


def cases(only: str | None) -> list[tuple[str, list[str]]]:
    """(label, arguments after ``rrg plan``) of every case."""
    found: list[tuple[str, list[str]]] = []
    if only in (None, "demo"):
        found += [(f"demo/{p.name}", [str(p)]) for p in sorted((RECIPES / "demo").glob("*.yaml"))]
    paper = sorted((RECIPES / "paper").glob("*/*.yaml"))
    if only in (None, "paper"):
        for p in paper:
            extra = ["--set", "model.revision=null"] if "deepseek" in p.parent.name else []
            found.append((f"paper/{p.parent.name}/{p.name} (tiny)", [str(p), *on_demo_data(p, TINY), *extra, *demo_training(p)]))
    if only in (None, "hub"):
        found += [(f"paper/{p.parent.name}/{p.name} (Hub id)", [str(p), *on_demo_data(p, HUB), *demo_training(p)]) for p in paper]
    return found


def registered_name(recipe: Path) -> str | None:
    """The registered dataset ``recipe`` reads (``data.dataset: NAME@...``), if any."""
    from rrg.recipe import Recipe

    dataset = Recipe.load(recipe).spec.data.dataset
    return dataset.split("@", 1)[0] if "@" in dataset else None


def on_demo_data(recipe: Path, arguments: list[str]) -> list[str]:
    """``arguments`` for ``recipe``; a registered dataset's recipe keeps its name (registered in
    the bench's registry from the demo set) instead of being pointed at the demo root."""
    if registered_name(recipe) is None:
        return arguments
    out: list[str] = []
    for argument in arguments:
        if argument == "data.root=demo":
            out.pop()  # and its --set
        else:
            out.append(argument)
    return out


def demo_training(recipe: Path) -> list[str]:
    """MedGemma's SFT trains on the FLARE data sets the demo set lacks: on the demo's own ones."""
    return ["--set", "data.train=all"] if "medgemma" in recipe.parent.name and recipe.name == "sft.yaml" else []


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.returncode, (done.stdout + done.stderr).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="Warm runs per recipe; the best counts (default 5).")
    parser.add_argument("--only", choices=["demo", "paper", "hub"], help="One group of recipes.")
    args = parser.parse_args()

    from rrg.data.demo import build_demo
    from rrg.models import FAMILY_NAMES, get_family
    from rrg.paths import cache_dir

    # the demo set and every tiny twin exist before anything is timed (built on first use)
    build_demo()
    for family in FAMILY_NAMES:
        get_family(family).tiny_path()
    work = Path(tempfile.mkdtemp(prefix="rrg-bench-plan-"))
    cache = work / "xdg" / "rrg"
    cache.mkdir(parents=True)
    for part in ("demo", "tiny"):
        (cache / part).symlink_to(cache_dir() / part)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache.parent), "HF_HUB_OFFLINE": "1", "RRG_REGISTRY_URL": f"sqlite:///{work / 'rrg.db'}"}
    names = sorted({name for p in (RECIPES / "paper").glob("*/*.yaml") if (name := registered_name(p))})
    for name in names:  # the demo set under each registered name a recipe reads
        command = [*rrg_command(), "datasets", "register", name, str(build_demo()), "--dataset", "IU_XRay"]
        subprocess.run(command, env=env, check=True, capture_output=True)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    print(f"{'recipe':52s} {'cold':>7s} {'warm':>7s} {'cold/warm':>9s} {'warm/3s':>8s}")
    worst = 0.0
    failed = []
    try:
        for label, arguments in cases(args.only):
            shutil.rmtree(cache / "plan", ignore_errors=True)
            command = [*rrg_command(), "plan", *arguments]
            cold, code, output = timed(command, env)
            if code != 0:
                failed.append(label)
                print(f"{label:52s} exit {code}: {output.splitlines()[-1] if output else ''}")
                continue
            warm = min(timed(command, env)[0] for _ in range(args.repeats))
            worst = max(worst, warm)
            print(f"{label:52s} {cold:6.2f}s {warm:6.2f}s {cold / warm:8.1f}x {warm / GOAL_SECONDS:7.2f}x", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    verdict = "met" if worst <= GOAL_SECONDS and not failed else "not met"
    print(f"goal: every warm plan at most {GOAL_SECONDS:.0f} s: {verdict} (slowest warm {worst:.2f} s{'; failed: ' + ', '.join(failed) if failed else ''})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
