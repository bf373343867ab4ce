"""The registry under load: 8 writer processes recording runs while 2 reader processes browse.

Each writer records ``--runs`` runs from start to finish through :class:`rrg_registry.Registry`,
as the engine does: create, start, ``--steps`` training steps of 5 metrics each (500 metric rows
per writer with the defaults), a checkpoint and a heartbeat every 10 steps, then an evaluation
(metrics, the seven green_flare components, ``--samples`` predictions) that finishes the run.
Each reader loops over what the browsing commands ask: ``Registry.search_runs`` (the 20 best
succeeded runs by green_flare), ``Registry.compare`` of the first and the last of them (with its
paired bootstrap), and the same through :class:`rrg_registry.read.RegistryReader` (``search_runs``,
``compare``, ``run_detail``).

Three phases on one registry per backend: the writers alone (which also fills the registry, so the
readers always have finished runs to compare), the writers again (new runs) with the readers, then
the readers alone on the idle registry, as many rounds as under load: the baseline, on the data
the second phase ended with.

Printed per backend (SQLite in WAL mode; PostgreSQL too when ``--postgres URL`` or
``RRG_TEST_POSTGRES_URL`` is given, in a schema of its own that is dropped afterwards):

* writes/s, alone and with the readers: metric rows/s, runs/s and write calls/s (each call one
  transaction), the p50/p99 of one write call, and how many writes were rerun after losing a race
  (:mod:`rrg_registry.store.retry`);
* p50/p99 latency of each reader query while the writers run and on the idle registry, and their
  ratio (under load / idle);
* the machine's load average before and after, since it may be shared.

    .venv/bin/python benchmarks/bench_registry_load.py [--writers 8] [--readers 2] [--runs 2] [--steps 50]
                                                       [--postgres postgresql+psycopg://USER@HOST/DB]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import secrets
import tempfile
import time
from pathlib import Path

METRICS = ("train/loss", "train/learning_rate", "train/grad_norm", "train/reward", "train/eval_loss")
CHECKPOINT_EVERY = 10
COMPONENTS = {
    "entity_matching": 0.8, "location_accuracy": 0.6, "negation_handling": 0.97, "temporal_accuracy": 0.9,
    "measurement_accuracy": 0.99, "clinical_significance": 0.6, "structure_completeness": 0.8,
}
QUERIES = ("Registry.search_runs", "Registry.compare", "RegistryReader.search_runs", "RegistryReader.compare",
           "RegistryReader.run_detail")
TIMEOUT_S = 1800


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


class _Counter(logging.Handler):
    """Counts the retries the store logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _writer(url: str, index: int, options: dict, barrier, out) -> None:
    from rrg_registry import Registry

    retries = _Counter()
    logger = logging.getLogger("rrg_registry.store.retry")
    logger.addHandler(retries)
    logger.setLevel(logging.DEBUG)
    latencies: list[float] = []

    def timed(call, *args, **kwargs):
        started = time.perf_counter()
        result = call(*args, **kwargs)
        latencies.append(time.perf_counter() - started)
        return result

    try:
        with Registry.from_url(url) as registry:
            barrier.wait(timeout=TIMEOUT_S)
            began = time.time()
            recipe = timed(registry.record_recipe, "bench-load", 1, "b" * 64, "schema: 1\nname: bench-load\nversion: 1\n")
            dataset = timed(registry.record_dataset, "bench-data", "test", "d" * 64, options["samples"])
            rows = 0
            for r in range(options["runs"]):
                run = timed(registry.create_run, recipe.id, "sft", "qwen3_vl", f"writer-{index}",
                            seed=options["phase"], tags=["bench", f"writer-{index}"], datasets=[dataset])
                timed(registry.start_run, run.id)
                for step in range(1, options["steps"] + 1):
                    values = {name: ((index * 131 + r * 31 + step * 7 + j) % 997) / 997 for j, name in enumerate(METRICS)}
                    timed(registry.log_metrics, run.id, values, "train", step=step)
                    rows += len(values)
                    if step % CHECKPOINT_EVERY == 0:
                        timed(registry.record_checkpoint, run.id, step, f"/checkpoints/{run.id}/{step}", f"{step:064x}",
                              step * 1000, eval_loss=values["train/eval_loss"], best=step == options["steps"])
                        timed(registry.heartbeat, run.id)
                scores = [((index * 17 + r * 5 + k * 3) % 101) / 101 for k in range(options["samples"])]
                predictions = [{"sample_id": f"s{k:04d}", "prediction": f"report {k}", "reference": f"reference {k}",
                                "scores": {"green_flare": scores[k]}} for k in range(options["samples"])]
                timed(registry.record_evaluation, run.id, "test", {"green_flare": sum(scores) / len(scores)},
                      COMPONENTS, predictions, status="succeeded")
                rows += 1
            out.put({"writer": index, "began": began, "ended": time.time(), "rows": rows, "runs": options["runs"],
                     "latencies": latencies, "retries": retries.count})
    except BaseException as error:  # noqa: BLE001 - reported by the parent
        out.put({"writer": index, "error": f"{type(error).__name__}: {error}"})


def _reader(url: str, index: int, iterations: int | None, barrier, stop, out) -> None:
    from rrg_registry import Registry
    from rrg_registry.read import RegistryReader

    samples: dict[str, list[float]] = {name: [] for name in QUERIES}

    def timed(name, call, *args, **kwargs):
        started = time.perf_counter()
        result = call(*args, **kwargs)
        samples[name].append(time.perf_counter() - started)
        return result

    def untimed(name, call, *args, **kwargs):
        return call(*args, **kwargs)

    def browse(time_it) -> None:
        runs = time_it("Registry.search_runs", registry.search_runs, tag="bench", status="succeeded",
                       sort="green_flare", limit=20)
        if len(runs) >= 2:
            time_it("Registry.compare", registry.compare, [runs[0].id, runs[-1].id])
        rows = time_it("RegistryReader.search_runs", reader.search_runs, tag="bench", status="succeeded",
                       sort="green_flare", limit=20)
        if len(rows) >= 2:
            time_it("RegistryReader.compare", reader.compare, [rows[0]["id"], rows[-1]["id"]])
            time_it("RegistryReader.run_detail", reader.run_detail, rows[0]["id"])

    try:
        with Registry.from_url(url) as registry, RegistryReader.open(url) as reader:
            browse(untimed)  # a first round loads what the queries import (numpy for the bootstrap)
            barrier.wait(timeout=TIMEOUT_S)
            done = 0
            while True:
                last = stop.is_set()
                browse(timed)
                done += 1
                if (iterations is not None and done >= iterations) or (iterations is None and last):
                    break
        out.put({"reader": index, "iterations": done, "samples": samples})
    except BaseException as error:  # noqa: BLE001
        out.put({"reader": index, "error": f"{type(error).__name__}: {error}"})


def _collect(out, count: int) -> list[dict]:
    results = [out.get(timeout=TIMEOUT_S) for _ in range(count)]
    failed = [r["error"] for r in results if "error" in r]
    if failed:
        raise SystemExit(f"{len(failed)} process(es) failed: {failed[:3]}")
    return results


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _write_phase(context, url: str, options: dict, phase: int, readers: int, stop, out) -> tuple[list[dict], list[dict]]:
    """``options["writers"]`` writers recording runs of batch ``phase``, with ``readers`` readers."""
    barrier = context.Barrier(options["writers"] + readers)
    writers = [context.Process(target=_writer, args=(url, i, {**options, "phase": phase}, barrier, out))
               for i in range(options["writers"])]
    reading = [context.Process(target=_reader, args=(url, i, None, barrier, stop, out)) for i in range(readers)]
    for process in writers + reading:
        process.start()
    written = _collect(out, len(writers))
    stop.set()
    read = _collect(out, len(reading))
    for process in writers + reading:
        process.join()
    stop.clear()
    return written, read


def _write_figures(written: list[dict]) -> dict:
    seconds = max(w["ended"] for w in written) - min(w["began"] for w in written)
    latencies = [x for w in written for x in w["latencies"]]
    return {
        "seconds": seconds,
        "rows": sum(w["rows"] for w in written),
        "runs": sum(w["runs"] for w in written),
        "transactions": len(latencies),
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "retries": sum(w["retries"] for w in written),
    }


def measure(url: str, options: dict) -> dict:
    """Three phases on one registry: the writers alone (which also fills it, so the readers always
    have finished runs with predictions to compare), the writers again with the readers, then the
    readers alone on the idle registry (the baseline: the data the second phase ended with, no
    writers)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    stop = context.Event()
    alone, _ = _write_phase(context, url, options, 1, 0, stop, out)
    with_readers, loaded = _write_phase(context, url, options, 2, options["readers"], stop, out)

    iterations = max(options["min_idle"], max(r["iterations"] for r in loaded))
    barrier = context.Barrier(options["readers"])
    idle_readers = [context.Process(target=_reader, args=(url, i, iterations, barrier, stop, out))
                    for i in range(options["readers"])]
    for process in idle_readers:
        process.start()
    idle = _collect(out, len(idle_readers))
    for process in idle_readers:
        process.join()
    return {
        "alone": _write_figures(alone),
        "with_readers": _write_figures(with_readers),
        "loaded": {q: [x for r in loaded for x in r["samples"][q]] for q in QUERIES},
        "idle": {q: [x for r in idle for x in r["samples"][q]] for q in QUERIES},
    }


def report(name: str, figures: dict) -> None:
    print(f"{name}:")
    for label, key in (("writers alone", "alone"), ("with readers", "with_readers")):
        w = figures[key]
        s = w["seconds"]
        print(f"  {label:<14} {w['rows']:,} metric rows in {s:.1f} s = {w['rows'] / s:,.0f} rows/s; "
              f"{w['runs']} runs = {w['runs'] / s:.2f} runs/s; {w['transactions']:,} write calls = "
              f"{w['transactions'] / s:,.0f}/s (p50 {w['p50'] * 1000:.1f} ms, p99 {w['p99'] * 1000:.1f} ms); "
              f"rerun after losing a race: {w['retries']}")
    print(f"  {'reader query':<28}{'idle p50/p99 ms':>20}{'under load p50/p99 ms':>26}{'ratio p50/p99':>16}")
    everything = {"loaded": [], "idle": []}
    for query in (*QUERIES, "all queries"):
        if query == "all queries":
            loaded, idle = everything["loaded"], everything["idle"]
        else:
            loaded, idle = figures["loaded"][query], figures["idle"][query]
            everything["loaded"] += loaded
            everything["idle"] += idle
        if not loaded or not idle:
            continue
        i50, i99 = _percentile(idle, 0.5) * 1000, _percentile(idle, 0.99) * 1000
        l50, l99 = _percentile(loaded, 0.5) * 1000, _percentile(loaded, 0.99) * 1000
        print(f"  {query:<28}{f'{i50:.1f} / {i99:.1f}':>20}{f'{l50:.1f} / {l99:.1f}':>26}"
              f"{f'{l50 / i50:.1f}x / {l99 / i99:.1f}x':>16}   (n={len(idle)}/{len(loaded)})")


def _postgres_schema(base: str):
    import sqlalchemy as sa

    schema = f"rrg_bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2, help="runs per writer")
    parser.add_argument("--steps", type=int, default=50, help=f"training steps per run ({len(METRICS)} metric rows each)")
    parser.add_argument("--samples", type=int, default=100, help="predictions per evaluation")
    parser.add_argument("--min-idle", type=int, default=30, help="reader loops on the idle registry, at least")
    parser.add_argument("--postgres", default=os.environ.get("RRG_TEST_POSTGRES_URL"),
                        help="a PostgreSQL database to measure as well (default: $RRG_TEST_POSTGRES_URL)")
    args = parser.parse_args()
    options = {"writers": args.writers, "readers": args.readers, "runs": args.runs, "steps": args.steps,
               "samples": args.samples, "min_idle": args.min_idle}
    from rrg_registry import Registry

    print(f"load average {load_average()}")
    print(f"{args.writers} writers x {args.runs} runs x {args.steps} steps x {len(METRICS)} metrics "
          f"(= {args.runs * args.steps * len(METRICS)} metric rows per writer), a checkpoint and a heartbeat every "
          f"{CHECKPOINT_EVERY} steps, {args.samples} predictions per run; {args.readers} readers")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'load.db'}"
        Registry.from_url(url).close()
        report("SQLite (WAL)", measure(url, options))
    print(f"load average {load_average()}")
    if args.postgres:
        url, drop = _postgres_schema(args.postgres)
        try:
            Registry.from_url(url).close()
            report("PostgreSQL", measure(url, options))
        finally:
            drop()
        print(f"load average {load_average()}")
    else:
        print("PostgreSQL: not measured (give --postgres URL or set RRG_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
