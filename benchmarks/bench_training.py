"""rrg's training overhead: the same tiny-twin SFT and GRPO steps through ``rrg run`` and through a
plain TRL script, per-step time and peak memory of each.

(a) ``rrg run recipes/demo/sft.yaml`` (then ``grpo.yaml``, from that SFT run) with ``--set``
overrides for a fixed number of steps, ``--device cpu``, in a temporary SQLite registry: rrg's own
command line (``rrg.cli.main``), run in the child.
(b) A plain TRL script with the same settings (:func:`plain_trl`): the TRL config is
``resolve_plan(recipe).trainer`` (the very ``SFTConfig`` / ``GRPOConfig`` values rrg passes), the
same tiny model folder, the same data rows, prompts and collator (rrg's dataset rows in TRL's
conversational format, TRL's own collator), the same ``LoraConfig`` (SFT) or starting adapter
(GRPO: the SFT run's, loaded trainable) and the same reward functions; no registry, no callbacks
of rrg's, TRL's own log printing left on.

Each runs in a fresh child process, in which ``Trainer.train`` is timed from inside (wall and CPU
seconds, :func:`time_trainer_train`): the training loop alone, not model loading, data reading or
rrg's evaluations before and after. Per-step figures are the best of ``--repeats`` runs of each,
alternating which goes first. CPU seconds per step show the work done when other processes share
the cores (wall time then varies by tens of percent from run to run). Peak RSS is the child's
(``wait4``): rrg's includes its evaluation and scoring after training. Goal: rrg at most 1.1x
plain TRL.

Minor page faults per step (``ru_minflt`` over ``Trainer.train``) count memory mapped afresh
inside the loop, where an overhead outside Python shows first, as the one rrg had did:
CPython 3.11 maps a 16 KiB frame-stack chunk whenever a call does not fit in the current one and
unmaps it when the call returns, so a loop straddling a chunk boundary faults at every crossing
(3,800 crossings per GRPO step through ``rrg run``, 1.3-1.6x the plain script's step time, before
rrg ran its loops on one large chunk; see ``rrg.callstack``). Where the boundary falls depends on
the depth of the caller, so a plain script can be hit too, more or less than rrg.

``--profile`` also runs rrg once per stage under cProfile and prints the time spent in rrg's
training callbacks (registry writes per log step, checkpoint hashing, heartbeat, progress display).

    python benchmarks/bench_training.py                   # SFT and GRPO, 2 repeats
    python benchmarks/bench_training.py --only sft --repeats 3 --profile
    python benchmarks/bench_training.py --threads 1       # on a machine others share
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "recipes" / "demo"
GOAL_RATIO = 1.1
EVAL = ["data.max_eval_samples=16", "evaluation.batch_size=16", "evaluation.before_training=false"]
OVERRIDES = {
    # the demo's own batch (16), one evaluation and one checkpoint inside the measured loop
    "sft": [*EVAL, "data.max_train_samples=640", "training.max_steps=40", "training.eval_steps=20", "training.save_steps=20", "training.logging_steps=5"],
    # the demo's own batch (4 prompts x 2 generations), a checkpoint inside the loop; no policy
    # scoring along the way (training.eval_steps past the end), which plain TRL has no equivalent of
    "grpo": [*EVAL, "data.max_train_samples=128", "training.max_steps=16", "training.save_steps=8", "training.eval_steps=1000", "training.logging_steps=2"],
}
RECIPES = {"sft": DEMO / "sft.yaml", "grpo": DEMO / "grpo.yaml"}


def rrg_command() -> list[str]:
    found = shutil.which("rrg", path=str(Path(sys.executable).parent)) or shutil.which("rrg")
    return [found] if found else [sys.executable, "-m", "rrg.cli"]


def run_child(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, float]:
    """Exit status and peak RSS (GiB) of one child process."""
    with open(log, "wb") as out:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 2**20  # KiB on Linux


def fail(what: str, log: Path) -> None:
    print(f"{what} failed; last lines of {log}:", file=sys.stderr)
    print("\n".join(log.read_text(errors="replace").splitlines()[-25:]), file=sys.stderr)
    raise SystemExit(1)


def overrides(stage: str) -> list[str]:
    """The stage's overrides, with ``hardware.num_threads`` when ``RRG_BENCH_THREADS`` sets it."""
    threads = os.environ.get("RRG_BENCH_THREADS")
    return [*OVERRIDES[stage], *([f"hardware.num_threads={threads}"] if threads else [])]


def run_side(side: str, stage: str, work: Path, env: dict[str, str], tag: str) -> dict[str, float]:
    """One child process: ``rrg run`` (rrg's own command line, ``rrg.cli.main``) or the plain TRL
    script, each with :func:`time_trainer_train` timing ``Trainer.train`` from inside."""
    log = work / f"{side}-{stage}-{tag}.log"
    result = work / f"{side}-{stage}-{tag}.json"
    if side == "rrg":
        sets = [arg for o in overrides(stage) for arg in ("--set", o)]
        arguments = ["run", str(RECIPES[stage]), "--device", "cpu", *sets, "--output-dir", str(work / "runs")]
    else:
        arguments = [stage, str(work)]
    command = [sys.executable, __file__, "--child", side, "--result", str(result), "--", *arguments]
    code, rss = run_child(command, work, env, log)
    if code != 0 or not result.is_file():
        fail(f"{'rrg run' if side == 'rrg' else 'plain TRL'} {stage}", log)
    timed = json.loads(result.read_text())
    return {
        "seconds_per_step": timed["wall"] / timed["steps"],
        "cpu_seconds_per_step": timed["cpu"] / timed["steps"],
        "steps": timed["steps"],
        "faults_per_step": timed["faults"] / timed["steps"],
        "peak_rss_gib": rss,
    }


def time_trainer_train(result_file: Path) -> None:
    """Time every ``transformers.Trainer.train`` call of this process (wall and CPU seconds, the
    steps taken), written to ``result_file``: the training loop alone, the same way for both sides."""
    import transformers.trainer

    train = transformers.trainer.Trainer.train

    def timed_train(self, *args, **kwargs):
        import resource

        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return train(self, *args, **kwargs)
        finally:
            timing = {
                "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "steps": self.state.global_step,
                "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
            }
            result_file.write_text(json.dumps(timing))

    transformers.trainer.Trainer.train = timed_train


# ---------------------------------------------------------------- the plain TRL script


def plain_trl(stage: str, work: Path) -> None:
    """The stage's steps with TRL alone, from the settings rrg's plan resolves and the rows rrg
    reads (``prepare_run``: the plan, the data, the starting adapter; nothing is recorded)."""
    from rrg.engine import prepare_run
    from rrg.models import get_family
    from rrg.recipe import Recipe
    from rrg_registry import Registry
    from transformers import set_seed

    recipe = Recipe.load(RECIPES[stage], overrides=overrides(stage))
    with Registry.from_url(os.environ["RRG_REGISTRY_URL"]) as registry:
        prepared = prepare_run(recipe, registry=registry, device="cpu")
    plan = prepared.plan
    family = get_family(plan.model.family)
    if plan.num_threads:
        import torch

        torch.set_num_threads(plan.num_threads)
    set_seed(plan.seed)
    model, processor = family.load("tiny", dtype=plan.dtype, device="cpu")
    output_dir = work / f"plain-{stage}-checkpoints"
    if stage == "sft":
        from peft import LoraConfig
        from rrg.train.datasets import sft_dataset
        from trl import SFTConfig, SFTTrainer

        adapter = plan.adapter
        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(output_dir=str(output_dir), **plan.trainer),
            train_dataset=sft_dataset(prepared.train.dataset, family),
            eval_dataset=sft_dataset(prepared.evaluation.dataset, family),
            processing_class=processor,
            peft_config=LoraConfig(
                r=adapter.r, lora_alpha=adapter.alpha, lora_dropout=adapter.dropout, target_modules=adapter.target_modules,
                modules_to_save=adapter.modules_to_save or None, bias="none", task_type="CAUSAL_LM",
            ),
        )
    else:
        from peft import PeftModel
        from rrg.train.datasets import grpo_dataset
        from rrg.train.grpo import reward_functions
        from trl import GRPOConfig, GRPOTrainer

        model = PeftModel.from_pretrained(model, str(prepared.parent.path), is_trainable=True)
        rewards = reward_functions(plan)
        config = GRPOConfig(output_dir=str(output_dir), **plan.trainer)
        config.reward_weights = rewards.weights
        trainer = GRPOTrainer(
            model=model, reward_funcs=rewards.functions, args=config, train_dataset=grpo_dataset(prepared.train.dataset, family), processing_class=processor
        )
    trainer.train()


# ---------------------------------------------------------------- profile of rrg's callbacks


def profile_rrg(stage: str, work: Path, env: dict[str, str]) -> None:
    """rrg's run of ``stage`` once under cProfile: the time inside its training callbacks, the
    registry writes they make, and the trainer's loop."""
    import pstats

    profile = work / f"rrg-{stage}.prof"
    log = work / f"rrg-{stage}-profile.log"
    sets = [arg for o in overrides(stage) for arg in ("--set", o)]
    command = [sys.executable, "-m", "cProfile", "-o", str(profile), rrg_command()[0], "run", str(RECIPES[stage]), "--device", "cpu", *sets, "--output-dir", str(work / "runs")]
    code, _ = run_child(command, work, env, log)
    if code != 0:
        fail(f"rrg run {stage} under cProfile", log)
    stats = pstats.Stats(str(profile)).stats
    wanted = {
        ("trainer.py", "_inner_training_loop"): "transformers' training loop (all of it)",
        ("callbacks.py", "on_log"): "on_log: registry write of the logged values, progress display",
        ("callbacks.py", "on_save"): "on_save: sha256 of the checkpoint's weights, checkpoint row",
        ("callbacks.py", "on_step_end"): "on_step_end: heartbeat check, progress display, scoring check",
        ("engine.py", "heartbeat"): "heartbeats (registry writes)",
    }
    print(f"\nrrg run {stage} under cProfile (seconds, cumulative; the profiler slows everything down):")
    for (file, line, function), (_, calls, _, cumulative, _) in sorted(stats.items(), key=lambda item: -item[1][3]):
        for (name, method), label in wanted.items():
            if file.endswith(name) and function == method and ("rrg" in file or name == "trainer.py"):
                print(f"  {cumulative:8.3f}  {label}  ({calls} calls) [{Path(file).name}:{line}]")


# ---------------------------------------------------------------- driver


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sft", "grpo"], help="Measure one stage (grpo runs an rrg SFT first, unmeasured).")
    parser.add_argument("--repeats", type=int, default=2, help="Runs of each side; the best is reported (default 2).")
    parser.add_argument("--profile", action="store_true", help="Also run rrg once per stage under cProfile and print the time in its callbacks.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (registry, logs, checkpoints).")
    parser.add_argument("--threads", type=int, help="hardware.num_threads of both sides (default: torch's own); 1 on a shared machine.")
    parser.add_argument("--child", choices=["rrg", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("arguments", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        time_trainer_train(args.result)
        if args.child == "plain":
            plain_trl(args.arguments[0], Path(args.arguments[1]))
            return 0
        from rrg.cli import main as rrg_main

        sys.argv = ["rrg", *args.arguments]
        rrg_main()
        return 0

    work = Path(tempfile.mkdtemp(prefix="rrg-bench-training-"))
    if args.threads:
        os.environ["RRG_BENCH_THREADS"] = str(args.threads)  # read by overrides(), here and in the plain script
    env = {**os.environ, "RRG_REGISTRY_URL": f"sqlite:///{work / 'rrg.db'}", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    stages = [args.only] if args.only else ["sft", "grpo"]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores; torch threads: {args.threads or 'default'})")
    started = time.perf_counter()
    rows = []
    try:
        if stages == ["grpo"]:
            run_side("rrg", "sft", work, env, "parent")  # the starting adapter of both GRPO sides
        for stage in stages:
            best: dict[str, dict[str, float]] = {}
            for repeat in range(args.repeats):
                order = ("rrg", "plain") if repeat % 2 == 0 else ("plain", "rrg")
                for side in order:
                    measured = run_side(side, stage, work, env, str(repeat))
                    print(
                        f"  {stage} {side:5s} run {repeat + 1}: {measured['seconds_per_step']:.3f} s/step "
                        f"(CPU {measured['cpu_seconds_per_step']:.3f}, {measured['faults_per_step']:.0f} page faults) over {measured['steps']} steps, peak RSS {measured['peak_rss_gib']:.2f} GiB",
                        flush=True,
                    )
                    kept = best.get(side, measured)
                    best[side] = {key: min(measured[key], kept[key]) for key in ("seconds_per_step", "cpu_seconds_per_step", "faults_per_step", "peak_rss_gib")}
            rows.append((stage, best["rrg"], best["plain"]))
        if args.profile:
            for stage in stages:
                profile_rrg(stage, work, env)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nbest of {args.repeats} (wall {time.perf_counter() - started:.0f} s; load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(
        f"{'stage':6s} {'rrg s/step':>11s} {'TRL s/step':>11s} {'ratio':>6s}   {'rrg CPU':>8s} {'TRL CPU':>8s} {'ratio':>6s}"
        f"   {'faults/step rrg':>15s} {'TRL':>6s}   {'rrg RSS':>8s} {'TRL RSS':>8s} {'ratio':>6s}"
    )
    worst = 0.0
    for stage, rrg, plain in rows:
        ratios = {key: rrg[key] / plain[key] for key in ("seconds_per_step", "cpu_seconds_per_step", "peak_rss_gib")}
        worst = max(worst, ratios["seconds_per_step"], ratios["peak_rss_gib"])
        print(
            f"{stage:6s} {rrg['seconds_per_step']:11.3f} {plain['seconds_per_step']:11.3f} {ratios['seconds_per_step']:6.2f}x"
            f"   {rrg['cpu_seconds_per_step']:8.3f} {plain['cpu_seconds_per_step']:8.3f} {ratios['cpu_seconds_per_step']:6.2f}x"
            f"   {rrg['faults_per_step']:15.0f} {plain['faults_per_step']:6.0f}"
            f"   {rrg['peak_rss_gib']:7.2f}G {plain['peak_rss_gib']:7.2f}G {ratios['peak_rss_gib']:6.2f}x"
        )
    print(f"goal: rrg at most {GOAL_RATIO}x plain TRL: {'met' if worst <= GOAL_RATIO else 'not met'} (worst ratio {worst:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
