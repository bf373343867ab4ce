"""The README's main job, timed: the demo recipes run by ``rrg run`` in a fresh registry.

Runs ``rrg run recipes/demo/zero-shot.yaml``, ``rrg run recipes/demo/sft.yaml`` and
``rrg run recipes/demo/grpo.yaml`` (GRPO starts from that SFT run) one after another, each as a
child process in a temporary folder with a new SQLite registry, and prints for each: wall time,
the child's peak resident memory (from ``wait4``), and green_flare read back from the registry
(for SFT and GRPO also the starting model's score measured in the same run, ``before/``).

Goals for the SFT demo on two CPU cores: at most 10 minutes, at most 4 GB of memory, and a
green_flare clearly above the zero-shot floor.

    python benchmarks/bench_demo.py                     # zero-shot, SFT, GRPO
    python benchmarks/bench_demo.py --only sft          # just the main job
    python benchmarks/bench_demo.py --fresh-cache       # also build the demo set and tiny twin
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
STAGES = {"zero-shot": "zero-shot.yaml", "sft": "sft.yaml", "grpo": "grpo.yaml"}
GOALS = {"wall_seconds": 600.0, "peak_rss_gib": 4.0}


def rrg_command() -> list[str]:
    found = shutil.which("rrg", path=str(Path(sys.executable).parent)) or shutil.which("rrg")
    return [found] if found else [sys.executable, "-m", "rrg.cli"]


def run_child(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, float, float]:
    """Exit status, wall seconds and peak RSS (GiB) of one child process."""
    started = time.perf_counter()
    with open(log, "wb") as out:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, time.perf_counter() - started, usage.ru_maxrss / 2**20  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(STAGES), action="append", help="Run only these demos (repeatable; grpo needs sft).")
    parser.add_argument("--fresh-cache", action="store_true", help="Use an empty rrg cache (builds the demo set and the tiny twin).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (registry, adapters, logs).")
    args = parser.parse_args()
    stages = args.only or list(STAGES)
    if "grpo" in stages and "sft" not in stages:
        parser.error("--only grpo needs --only sft too (GRPO starts from the SFT run)")

    work = Path(tempfile.mkdtemp(prefix="rrg-bench-demo-"))
    env = {**os.environ, "RRG_REGISTRY_URL": f"sqlite:///{work / 'rrg.db'}", "HF_HUB_OFFLINE": "1"}
    if args.fresh_cache:
        env["XDG_CACHE_HOME"] = str(work / "cache")
    results = []
    try:
        for stage in stages:
            recipe = REPO / "recipes" / "demo" / STAGES[stage]
            log = work / f"{stage}.log"
            code, seconds, rss = run_child([*rrg_command(), "run", str(recipe)], work, env, log)
            if code != 0:
                print(f"{stage}: rrg run exited with {code}; last lines of {log}:", file=sys.stderr)
                print("\n".join(log.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
                args.keep = True
                return 1
            results.append((stage, seconds, rss))
        report(work, results)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(work: Path, results: list[tuple[str, float, float]]) -> None:
    from rrg_registry import Registry

    with Registry.from_url(f"sqlite:///{work / 'rrg.db'}") as registry:
        runs = {r.stage: registry.get_run(r.id) for r in registry.search_runs()}
        print(f"{'demo':<10} {'wall':>7} {'peak RSS':>9} {'green_flare':>12} {'before':>8} {'bleu4_flare':>12} {'ce':>6}  steps")
        for stage, seconds, rss in results:
            detail = runs[stage.replace("-", "_")]
            metrics = detail.metrics
            before = metrics.get("before/green_flare")
            best = [c for c in detail.checkpoints if c.best]
            steps = f"{best[-1].step}" if best else "-"
            shown_before = "-" if before is None else f"{before:.4f}"
            print(
                f"{stage:<10} {seconds:>6.0f}s {rss:>6.2f} GiB {metrics['green_flare']:>12.4f} "
                f"{shown_before:>8} {metrics['bleu4_flare']:>12.4f} {metrics['ce']:>6.3f}  {steps}"
            )
            if stage == "grpo":
                terms = {t: metrics.get(f"train/reward_terms/{t}") for t in ("clinical", "format", "rouge")}
                print("           last reward terms: " + ", ".join(f"{k} {v:.3f}" for k, v in terms.items() if v is not None))
    sft = next((r for r in results if r[0] == "sft"), None)
    if sft is not None:
        ok = sft[1] <= GOALS["wall_seconds"] and sft[2] <= GOALS["peak_rss_gib"]
        print(f"sft goals (<= {GOALS['wall_seconds'] / 60:.0f} min, <= {GOALS['peak_rss_gib']:.0f} GiB): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
