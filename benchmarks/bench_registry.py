"""Registry speed: fill a SQLite registry with 10,000 runs and 500,000 metric rows, then time
what a user waits for, in fresh processes (best and median of ``--repeat`` runs each, with the
load average of the machine printed, since it may be shared):

* ``rrg runs list --sort green_flare --limit 20``   (goal: <= 0.3 s)
* ``rrg runs show <id>``                            (goal: <= 0.3 s)
* ``rrg compare <id> <id>``                         (goal: <= 0.3 s)
* ``rrg datasets list``, ``rrg datasets show NAME`` (goal: <= 0.3 s; the demo set registered, 100 of
  the runs linked to it)
* ``python -c "import rrg"``                        (goal: <= 0.3 s)

Each browsing command is also timed, interleaved with it, on the same file named as
``sqlite:///file:PATH?uri=true``: a URL the light read path (:mod:`rrg_registry.read`) leaves to
``Registry.from_url``, so the registry is opened in full (SQLAlchemy, SQLModel, pydantic) as the
Python API and the other commands open it; both must print the same. The figure printed is that
baseline's ratio to the command.

Baseline against MLflow (when it is installed): the same runs and metric rows logged into an
MLflow SQLite tracking store with ``MlflowClient.create_run`` + ``log_batch`` (one batch of 50
metrics per run), then ``mlflow.search_runs(order_by=["metrics.green_flare DESC"], max_results=20)``
timed the same way (fresh process) and warm (in-process). Goal: rrg >= 5x faster.

The registry is filled by bulk inserts into the migrated schema (sqlite3 ``executemany``), not
through per-row API calls; MLflow is filled through its client, which takes a few minutes for
10,000 runs (``--mlflow-runs`` makes it smaller; the figure printed says which size was used).

    .venv/bin/python benchmarks/bench_registry.py [--runs 10000] [--mlflow-runs 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

STAGES = ("zero_shot", "sft", "grpo")
FAMILIES = ("deepseek_ocr", "qwen2_5_vl", "qwen3_vl", "medgemma")
METRICS = ("green_flare", "bleu4_flare", "ce", "rouge_l", "radgraph_f1",
           "eval_loss", "train_loss", "learning_rate", "grad_norm", "reward")
STEPS = (100, 200, 300, 400, 500)  # 10 names x 5 steps = 50 metric rows per run


def synthetic_runs(count: int, seed: int = 0) -> list[dict]:
    """``count`` runs with 50 metric rows each (value per (name, step)), deterministic."""
    rng = random.Random(seed)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    ids: set[str] = set()
    runs = []
    for i in range(count):
        run_id = secrets.token_hex(4)
        while run_id in ids:
            run_id = secrets.token_hex(4)
        ids.add(run_id)
        created = start + timedelta(minutes=i)
        metrics = {(name, step): rng.random() for name in METRICS for step in STEPS}
        runs.append({
            "id": run_id, "recipe": i % 50, "stage": STAGES[i % 3], "family": FAMILIES[i % 4],
            "created": created, "ended": created + timedelta(minutes=30), "metrics": metrics,
        })
    return runs


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def fill_registry(path: Path, runs: list[dict]) -> float:
    """Create the registry by migrating, then bulk insert; returns seconds spent."""
    from rrg_registry import Registry

    t0 = time.perf_counter()
    Registry.from_url(f"sqlite:///{path}").close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    now = _ts(datetime.now(UTC))
    with con:
        con.executemany(
            "INSERT INTO recipe_versions (id, name, version, hash, yaml_text, created_at) VALUES (?, ?, 1, ?, ?, ?)",
            [(r + 1, f"bench-{r}", f"{r:064x}", f"name: bench-{r}\nversion: 1\n", now) for r in range(50)],
        )
        con.executemany(
            "INSERT INTO runs (id, recipe_version_id, stage, model_family, model_id, status, package_versions, "
            "created_at, started_at, ended_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, 'succeeded', '{}', ?, ?, ?, ?)",
            [(r["id"], r["recipe"] + 1, r["stage"], r["family"], f"org/{r['family']}", _ts(r["created"]),
              _ts(r["created"]), _ts(r["ended"]), _ts(r["ended"])) for r in runs],
        )
        con.executemany("INSERT INTO run_tags (run_id, tag) VALUES (?, 'bench')", [(r["id"],) for r in runs])
        metric_rows, latest_rows = [], []
        metric_id = 0
        for r in runs:
            for step in STEPS:
                for name in METRICS:
                    metric_id += 1
                    metric_rows.append((metric_id, r["id"], "validation", name, r["metrics"][(name, step)], 1945, step, _ts(r["ended"])))
                    if step == STEPS[-1]:
                        latest_rows.append((r["id"], name, r["metrics"][(name, step)], "validation", metric_id))
        con.executemany(
            "INSERT INTO metrics (id, run_id, split, name, value, n, step, logged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            metric_rows,
        )
        con.executemany(
            "INSERT INTO latest_metrics (run_id, name, value, split, metric_id) VALUES (?, ?, ?, ?, ?)", latest_rows
        )
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - t0


def fill_mlflow(uri: str, runs: list[dict]) -> tuple[str, float]:
    """Log the runs into an MLflow tracking store through its client; returns (experiment id, seconds)."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    t0 = time.perf_counter()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench")
    for r in runs:
        run = client.create_run(experiment, start_time=int(r["created"].timestamp() * 1000),
                                tags={"stage": r["stage"], "model": r["family"]})
        ts = int(r["ended"].timestamp() * 1000)
        client.log_batch(run.info.run_id, metrics=[Metric(name, r["metrics"][(name, step)], ts, step)
                                                   for step in STEPS for name in METRICS],
                         tags=[RunTag("bench", "1")])
    return experiment, time.perf_counter() - t0


GOAL_S = 0.3
"""Whole-process goal of each browsing command and of ``import rrg``."""


def time_commands(commands: list[list[str]], repeat: int, env: dict | None = None) -> list[list[float]]:
    """Wall-clock seconds of each command in a fresh process, ``repeat`` times each (after one
    warm-up run each), the commands taking turns so that a change in the machine's load falls on
    all of them alike."""
    for argv in commands:
        subprocess.run(argv, check=True, capture_output=True, env=env)
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for argv, seconds in zip(commands, times):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=env)
            seconds.append(time.perf_counter() - t0)
    return times


def time_command(argv: list[str], repeat: int, env: dict | None = None) -> list[float]:
    """Wall-clock seconds of ``argv`` in a fresh process, ``repeat`` times (after one warm-up run)."""
    return time_commands([argv], repeat, env)[0]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def line(label: str, times: list[float], goal: float | None = None) -> str:
    best, median = min(times), statistics.median(times)
    verdict = "" if goal is None else (
        f"  {best / goal:4.2f}x the {goal:.1f} s goal" + ("  ok" if best <= goal else "  OVER GOAL")
    )
    return f"  {label:<62} best {best:7.4f} s   median {median:7.4f} s{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--mlflow-runs", type=int, default=None, help="Runs logged into MLflow (default: --runs; 0 skips MLflow).")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    mlflow_runs = args.runs if args.mlflow_runs is None else args.mlflow_runs

    python = sys.executable
    rrg_script = str(Path(python).parent / "rrg")
    rrg = [rrg_script] if os.path.exists(rrg_script) else [python, "-c", "from rrg.cli import main; main()"]
    env = {**os.environ, "COLUMNS": "160"}

    with tempfile.TemporaryDirectory(prefix="rrg-bench-") as tmp:
        tmp_path = Path(tmp)
        runs = synthetic_runs(args.runs)
        db = tmp_path / "registry.db"
        seconds = fill_registry(db, runs)
        print(f"rrg registry: {len(runs):,} runs, {len(runs) * len(METRICS) * len(STEPS):,} metric rows, "
              f"filled in {seconds:.1f} s (bulk insert) -> {db.stat().st_size / 1e6:.0f} MB")
        url = f"sqlite:///{db}"
        best = max(runs, key=lambda r: r["metrics"][("green_flare", STEPS[-1])])

        subprocess.run([*rrg, "datasets", "register", "bench-iu", "demo", "--dataset", "IU_XRay", "--registry", url],
                       check=True, capture_output=True, env=env)
        con = sqlite3.connect(db)
        with con:  # 100 runs read it: what `datasets show` lists, with the best green_flare per model and stage
            con.executemany("UPDATE runs SET dataset_version_id = 1 WHERE id = ?", [(r["id"],) for r in runs[::max(1, len(runs) // 100)][:100]])
        con.close()

        full_url = f"sqlite:///file:{db}?uri=true"  # the same file, opened through Registry.from_url
        second = sorted(runs, key=lambda r: r["metrics"][("green_flare", STEPS[-1])])[-2]
        commands = {
            "list": ("rrg runs list --sort green_flare --limit 20", ["runs", "list", "--sort", "green_flare", "--limit", "20"]),
            "show": (f"rrg runs show {best['id']}", ["runs", "show", best["id"]]),
            "compare": (f"rrg compare {best['id']} {second['id']}", ["compare", best["id"], second["id"]]),
            "list_json": ("rrg runs list --where green_flare>0.9 --stage sft --sort ce --json",
                          ["runs", "list", "--where", "green_flare>0.9", "--stage", "sft", "--sort", "ce", "--limit", "20",
                           "--json"]),
            "datasets_list": ("rrg datasets list", ["datasets", "list"]),
            "datasets_show": ("rrg datasets show bench-iu", ["datasets", "show", "bench-iu"]),
        }

        print(f"\nfresh process (what a user waits for), {args.repeat} runs each; {load()}:")
        results = {}
        results["import"] = time_command([python, "-c", "import rrg"], args.repeat)
        print(line("python -c 'import rrg'", results["import"], GOAL_S))
        for key, (label, argv) in commands.items():
            outputs = [subprocess.run([*rrg, *argv, "--registry", u], check=True, capture_output=True, text=True,
                                      env=env).stdout for u in (url, full_url)]
            assert outputs[0] == outputs[1], f"{label}: the light read path printed something else"
            fast, full = time_commands([[*rrg, *argv, "--registry", url], [*rrg, *argv, "--registry", full_url]],
                                       args.repeat, env)
            results[key] = fast
            print(line(label, fast, GOAL_S))
            print(f"  {'  the registry opened in full (SQLAlchemy, SQLModel, pydantic)':<62} best {min(full):7.4f} s"
                  f"   median {statistics.median(full):7.4f} s  {min(full) / min(fast):4.1f}x slower")
        print(f"  ({load()})")

        from rrg_registry import Registry

        with Registry.from_url(url) as registry:
            top = registry.search_runs(sort="green_flare", limit=20)
            assert top[0].id == best["id"], "the top run is not the one with the highest green_flare"
            warm = []
            for _ in range(args.repeat * 4):
                t0 = time.perf_counter()
                registry.search_runs(sort="green_flare", limit=20)
                warm.append(time.perf_counter() - t0)
        from rrg_registry.read import RegistryReader

        with RegistryReader.open(url) as reader:
            assert reader.light and reader.search_runs(sort="green_flare", limit=20)[0]["id"] == best["id"]
            light = []
            for _ in range(args.repeat * 4):
                t0 = time.perf_counter()
                reader.search_runs(sort="green_flare", limit=20)
                light.append(time.perf_counter() - t0)
        print("\nwarm, in-process:")
        print(line("Registry.search_runs(sort='green_flare', limit=20)", warm))
        print(line("RegistryReader.search_runs(sort='green_flare', limit=20)", light))

        if mlflow_runs <= 0:
            return
        try:
            import mlflow  # noqa: F401
        except ImportError:
            print("\nMLflow is not installed: no baseline")
            return
        import logging

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        mlflow_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        subset = runs[:mlflow_runs]
        experiment, seconds = fill_mlflow(mlflow_uri, subset)
        print(f"\nMLflow baseline: {len(subset):,} runs, {len(subset) * len(METRICS) * len(STEPS):,} metric rows, "
              f"logged in {seconds:.0f} s with MlflowClient.create_run + log_batch")
        query = (f"import mlflow; mlflow.set_tracking_uri({mlflow_uri!r}); "
                 f"mlflow.search_runs(experiment_ids=[{experiment!r}], order_by=['metrics.green_flare DESC'], max_results=20)")
        fresh = time_command([python, "-c", query], args.repeat, {**env, "MLFLOW_LOGGING_LEVEL": "WARNING"})
        print(line("fresh: mlflow.search_runs(order_by=['metrics.green_flare DESC'], 20)", fresh))
        print(f"  rrg runs list --sort green_flare --limit 20 is {min(fresh) / min(results['list']):.1f}x faster (best of each)")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=mlflow_uri)
        client.search_runs([experiment], order_by=["metrics.green_flare DESC"], max_results=20)
        mlflow_warm = []
        for _ in range(args.repeat * 4):
            t0 = time.perf_counter()
            client.search_runs([experiment], order_by=["metrics.green_flare DESC"], max_results=20)
            mlflow_warm.append(time.perf_counter() - t0)
        print(line("warm: MlflowClient.search_runs(order_by=green_flare DESC, 20)", mlflow_warm))
        scale = "" if len(subset) == len(runs) else f" (MLflow holds {len(subset):,} runs, rrg {len(runs):,})"
        print(f"\nspeed-up, fresh process: {min(fresh) / min(results['list']):.1f}x; "
              f"warm: {statistics.median(mlflow_warm) / statistics.median(warm):.1f}x{scale} (goal: >= 5x)")


if __name__ == "__main__":
    main()
