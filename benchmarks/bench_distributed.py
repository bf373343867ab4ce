"""Two CPU processes against one: the demo SFT recipe on its tiny twin through ``rrg run``, once
with ``hardware.processes=2`` (torchrun, gloo, one thread per process) and once in one process with
``training.gradient_accumulation_steps`` doubled, so each optimizer step sees the same samples.

Prints, for every training curve both runs record (``train/loss``, ``train/eval_loss``,
``train/grad_norm``, ...), the largest absolute and relative difference over the steps, whether
the predictions are identical, and each command's wall time (the 2-process one pays torchrun's
start and a second model load). The goal: the curves agree within the tolerance the test suite
asserts (``tests/engine/test_distributed.py``, rtol 1e-5 in fp32) and the registry holds one run
per command.

    python benchmarks/bench_distributed.py
    python benchmarks/bench_distributed.py --steps 16 --samples 256
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
RECIPE = REPO / "recipes" / "demo" / "sft.yaml"
RTOL = 1e-5


def rrg_command() -> list[str]:
    found = shutil.which("rrg", path=str(Path(sys.executable).parent)) or shutil.which("rrg")
    return [found] if found else [sys.executable, "-m", "rrg.cli"]


def run(registry: str, output: Path, overrides: list[str], env: dict[str, str]) -> float:
    command = [*rrg_command(), "run", str(RECIPE), "--registry", registry, "--output-dir", str(output), "--device", "cpu", "--json"]
    for override in overrides:
        command += ["--set", override]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"rrg run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return took


def curves(registry, run_id: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for metric in registry.get_run(run_id).metric_history:
        if metric.step is not None and metric.name.startswith("train/"):
            out.setdefault(metric.name, {})[metric.step] = metric.value
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="Optimizer steps (default 8).")
    parser.add_argument("--samples", type=int, default=128, help="Training samples (default 128).")
    parser.add_argument("--batch", type=int, default=2, help="Per-process batch (default 2).")
    args = parser.parse_args()

    from rrg_registry import Registry

    common = [
        f"data.max_train_samples={args.samples}", "data.max_eval_samples=8", f"training.max_steps={args.steps}",
        f"training.per_device_batch_size={args.batch}", "training.logging_steps=1", f"training.eval_steps={max(1, args.steps // 2)}",
        f"training.save_steps={max(1, args.steps // 2)}", "evaluation.batch_size=2", "evaluation.before_training=false",
        "hardware.num_threads=1",
    ]
    with tempfile.TemporaryDirectory(prefix="rrg-bench-ddp-") as folder:
        root = Path(folder)
        url = f"sqlite:///{root / 'rrg.db'}"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RRG_REGISTRY_URL": url}
        two_s = run(url, root / "runs", [*common, "hardware.processes=2", "training.gradient_accumulation_steps=1", "version=90"], env)
        one_s = run(url, root / "runs", [*common, "training.gradient_accumulation_steps=2", "version=91"], env)
        with Registry.from_url(url) as registry:
            runs = {r.recipe: r.id for r in registry.search_runs()}
            if len(runs) != 2:
                sys.exit(f"expected one run per command, the registry holds {len(runs)}")
            two, one = runs["demo-sft@90"], runs["demo-sft@91"]
            a, b = curves(registry, two), curves(registry, one)
            same_predictions = [p.prediction for p in registry.predictions(two, "validation-public")] == [
                p.prediction for p in registry.predictions(one, "validation-public")
            ]
    load = os.getloadavg()[0]
    print(f"demo SFT, tiny twin, {args.steps} steps of {2 * args.batch} samples; load average {load:.1f}")
    print(f"{'curve':<22}{'steps':>6}{'max |diff|':>14}{'max rel diff':>14}  within rtol {RTOL:g}")
    worst = 0.0
    for name in sorted(set(a) & set(b)):
        steps = sorted(set(a[name]) & set(b[name]))
        if set(a[name]) != set(b[name]):
            print(f"{name:<22} steps differ: {sorted(a[name])} vs {sorted(b[name])}")
            continue
        diffs = [abs(a[name][s] - b[name][s]) for s in steps]
        rels = [d / abs(b[name][s]) if b[name][s] else d for d, s in zip(diffs, steps, strict=True)]
        worst = max(worst, max(rels))
        print(f"{name:<22}{len(steps):>6}{max(diffs):>14.3e}{max(rels):>14.3e}  {'yes' if max(rels) <= RTOL else 'NO'}")
    print(f"predictions identical: {'yes' if same_predictions else 'NO'}")
    print(f"wall: 2 processes {two_s:.1f} s, 1 process (accumulation 2) {one_s:.1f} s, ratio {two_s / one_s:.2f}x")
    print(f"largest relative difference {worst:.3e} (goal <= {RTOL:g}: {'met' if worst <= RTOL else 'NOT met'})")
    return 0 if worst <= RTOL and same_predictions else 1


if __name__ == "__main__":
    sys.exit(main())
