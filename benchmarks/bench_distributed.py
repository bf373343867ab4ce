"""Two CPU processes against one: the demo SFT recipe on its tiny twin through ``rrg run``, once
with ``hardware.processes=2`` (torchrun, gloo, one thread per process) and once in one process with
``training.gradient_accumulation_steps`` doubled, so each optimizer step sees the same samples.

Prints, for every value both runs log, the largest absolute and relative difference over the
steps, whether the predictions are identical, and each command's wall time (the 2-process one pays
torchrun's start and a second model load). The goal applies to the training curves
(:data:`CURVES`: loss, validation loss, gradient norm, learning rate, tokens seen): they agree
within the tolerance the test suite asserts (``tests/engine/test_distributed.py``, rtol 1e-5 in
fp32), the predictions are identical, and the registry holds one run per command. The other
values are shown without a goal: timings, and TRL's token accuracy and entropy, which each process
computes on its own micro-batch and the logs average over processes, while one process averages
them over its accumulated micro-batches (a different mean of the same tokens).

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
CURVES = ("train/loss", "train/eval_loss", "train/grad_norm", "train/learning_rate", "train/num_tokens", "train/eval_num_tokens", "train/train_loss")
"""The training curves the goal applies to."""


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
    worst = 0.0
    steps_differ = False
    others = sorted((set(a) & set(b)) - set(CURVES))
    for title, names in (("training curve", [n for n in CURVES if n in a and n in b]), ("other logged value", others)):
        print(f"{title:<34}{'steps':>6}{'max |diff|':>12}{'max rel diff':>14}" + (f"  within rtol {RTOL:g}" if title == "training curve" else ""))
        for name in names:
            steps = sorted(set(a[name]) & set(b[name]))
            if set(a[name]) != set(b[name]):
                print(f"{name:<34} steps differ: {sorted(a[name])} vs {sorted(b[name])}")
                steps_differ = steps_differ or name in CURVES
                continue
            diffs = [abs(a[name][s] - b[name][s]) for s in steps]
            rels = [d / abs(b[name][s]) if b[name][s] else d for d, s in zip(diffs, steps, strict=True)]
            line = f"{name:<34}{len(steps):>6}{max(diffs):>12.3e}{max(rels):>14.3e}"
            if name in CURVES:
                worst = max(worst, max(rels))
                line += f"  {'yes' if max(rels) <= RTOL else 'NO'}"
            print(line)
    print(f"predictions identical: {'yes' if same_predictions else 'NO'}")
    print(f"wall: 2 processes {two_s:.1f} s, 1 process (accumulation 2) {one_s:.1f} s, ratio {two_s / one_s:.2f}x")
    met = worst <= RTOL and same_predictions and not steps_differ
    print(f"training curves: largest relative difference {worst:.3e} (goal <= {RTOL:g}, predictions identical: {'met' if met else 'NOT met'})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
