"""``rrg run`` and ``rrg plan``: run a recipe, or show what running it would do."""

from __future__ import annotations

import time
from typing import Any, Self

import click

from rrg.cli.output import dumps_json, format_cell, format_number
from rrg.cli.recipe import set_option
from rrg.cli.registry_option import registry_url_option

device_option = click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default=None,
    help="Force the device. --device cpu runs a GPU recipe on the CPU (tiny models): bf16, 4-bit, "
    "8-bit AdamW and Unsloth become their CPU equivalents, listed in the plan's notes.",
)

SUMMARY_METRICS = ("green_flare", "bleu4_flare", "bleu4", "ce", "rouge_l", "radgraph_f1")


def _load(recipe_ref: str, overrides: tuple[str, ...], registry: Any) -> Any:
    from rrg.recipe import Recipe

    return Recipe.load(recipe_ref, overrides=overrides, registry=registry)


@click.command("plan")
@click.argument("recipe_ref", metavar="RECIPE")
@set_option
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@registry_url_option
def plan(recipe_ref: str, overrides: tuple[str, ...], device: str | None, as_json: bool, registry_url: str) -> None:
    """Show what RECIPE would do on this machine, without loading any weights.

    \b
    Backend, precision, optimizer, LoRA targets and trainable parameters, data sizes,
    generation settings, the TRL config and a memory estimate.

    \b
    Examples:
      rrg plan recipes/demo/sft.yaml
      rrg plan recipes/paper/qwen3-vl-4b/grpo.yaml --device cpu --set data.root=demo --json
    """
    from rrg.cli.recipe import _RegistryOnDemand
    from rrg.plan import resolve_plan

    # the registry is read only for a name@version recipe, and never created
    registry = _RegistryOnDemand(registry_url)
    resolved = resolve_plan(_load(recipe_ref, overrides, registry), device=device, registry=registry)
    if as_json:
        click.echo(resolved.to_json())
        return
    print_plan(resolved)


def print_plan(resolved: Any) -> None:
    """The plan as a few short rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = Table(title=f"plan: {resolved.recipe} ({resolved.stage})", show_header=False)
    head.add_column("key", style="bold")
    head.add_column("value", overflow="fold")
    model = resolved.model
    rows: list[tuple[str, Any]] = [
        ("recipe hash", resolved.recipe_hash[:12]),
        ("hardware", resolved.hardware),
        ("device / backend", f"{resolved.device} / {resolved.backend}"),
        ("precision", resolved.precision),
        ("optimizer", resolved.optimizer),
        ("model", f"{model.family}: {model.id}" + (f" @ {model.revision}" if model.revision else "")),
        ("loaded from", model.source),
        ("starting adapter", model.init_adapter or resolved.init_from),
    ]
    if resolved.adapter is not None:
        a = resolved.adapter
        rows += [
            ("adapter", f"{a.kind} r={a.r} alpha={a.alpha:g} dropout={a.dropout:g}" + (f" {a.bits}-bit {a.quant_type}" if a.bits else "")),
            ("LoRA targets", a.target_modules if isinstance(a.target_modules, str) else ", ".join(a.target_modules)),
            ("modules saved", ", ".join(a.modules_to_save) or None),
        ]
    if resolved.parameters is not None:
        p = resolved.parameters
        share = f" ({100 * p.trainable / p.total:.2f}%)" if p.total and p.trainable is not None else ""
        rows += [
            ("parameters", f"{p.total:,}" if p.total is not None else p.note),
            ("trainable", f"{p.trainable:,}{share}" if p.trainable is not None else None),
            ("LoRA layers", p.lora_modules),
        ]
    d = resolved.data
    rows += [
        ("data", f"{d.dataset} ({d.category}) at {d.root}" + (f", registered {d.dataset_version}" if d.dataset_version else "")),
        ("train", f"{d.train_split}: {d.train_size} samples" if d.train_split else None),
        *(
            (f"  {t.dataset}", f"{t.category}, {t.size} samples" + (f" × weight {t.weight:g}" if t.weight != 1 else "") + f" ({', '.join(t.task_types)})")
            for t in (d.train_datasets if d.train_datasets and len(d.train_datasets) > 1 else [])
        ),
        ("evaluate", f"{d.eval_split}: {d.eval_size} samples"),
    ]
    g = resolved.generation
    rows.append(
        ("generation", f"{'greedy' if g['greedy'] else str(g['num_beams']) + ' beams'}, {g['max_new_tokens']} new tokens, batch {g['batch_size']}, truncate {g['truncate_chars']}")
    )
    rows.append(("metrics", ", ".join(g["metrics"])))
    if resolved.memory is not None:
        m = resolved.memory
        rows.append(("memory (est.)", f"{m.total_gib:.2f} GiB = weights {m.weights_gib:.2f} + trainable {m.trainable_gib:.2f} + activations {m.activations_gib:.2f}"))
    for key, value in rows:
        if value is not None:
            head.add_row(key, format_cell(value))
    console.print(head)
    if resolved.trainer:
        trainer = Table(title="TRL config (" + ("SFTConfig" if resolved.stage == "sft" else "GRPOConfig") + ")", show_header=False)
        trainer.add_column("key", style="bold")
        trainer.add_column("value")
        for key, value in resolved.trainer.items():
            trainer.add_row(key, format_cell(value))
        console.print(trainer)
    if resolved.reward:
        r = resolved.reward
        console.print(
            f"reward = clip({r['clinical']:g}·{r['clinical_scorer']} + {r['format']:g}·format + {r['rouge']:g}·rouge_l, {r['clip']})"
        )
    for note in resolved.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


class _Progress:
    """One rich progress display for the phases of a run, in a terminal: each phase a bar that
    ends done (not ``0/?``), training and generation with their rate and time left."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.phase = ""

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish()
        self.progress.__exit__(*exc)

    def _finish(self) -> None:
        """Show the phase that ended as done: its steps, or 1/1 for a phase without a count."""
        if self.task is None:
            return
        task = next((t for t in self.progress.tasks if t.id == self.task), None)
        done = max(int(task.completed), 1) if task is not None else 1
        self.progress.update(self.task, total=done, completed=done)
        self.progress.stop_task(self.task)

    def on_phase(self, phase: str) -> None:
        self._finish()
        self.phase = phase
        self.task = self.progress.add_task(phase, total=None, info="")

    def on_train_step(self, step: int, total: int, logs: dict[str, float]) -> None:
        info = "  ".join(f"{k} {format_number(v, k)}" for k, v in logs.items())
        self.progress.update(self.task, completed=step, total=total or None, info=info)

    def on_generate(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total, info="")


PLAIN_PROGRESS_SECONDS = 30.0
"""How often a run writes a progress line when its output is not a terminal."""


class _PlainProgress:
    """Progress for logs (a pipe, a file, ``nohup``, CI): one line when each phase starts, and while
    a phase counts steps or samples a line at most every ``PLAIN_PROGRESS_SECONDS``: done/total,
    the latest logged values, the rate and the time left."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.phase = ""
        self.phase_started = self.started
        self.last_line = 0.0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._line("done")

    def _line(self, text: str) -> None:
        print(f"[{_clock(time.monotonic() - self.started)}] {text}", file=self.stream, flush=True)

    def on_phase(self, phase: str) -> None:
        self.phase, self.phase_started, self.last_line = phase, time.monotonic(), time.monotonic()
        self._line(phase)

    def _count(self, done: int, total: int, unit: str, info: str = "") -> None:
        now = time.monotonic()
        if now - self.last_line < PLAIN_PROGRESS_SECONDS and not (total and done >= total):
            return
        self.last_line = now
        elapsed = max(now - self.phase_started, 1e-9)
        rate = done / elapsed
        parts = [f"{self.phase}: {unit} {done}/{total}" if total else f"{self.phase}: {unit} {done}"]
        if info:
            parts.append(info)
        parts.append(f"{rate:.3g} {unit}s/s")
        if total and rate > 0 and done < total:
            parts.append(f"eta {_clock((total - done) / rate)}")
        self._line(", ".join(parts))

    def on_train_step(self, step: int, total: int, logs: dict[str, float]) -> None:
        info = " ".join(f"{k} {format_number(v, k)}" for k, v in logs.items())
        self._count(step, total, "step", info)

    def on_generate(self, done: int, total: int) -> None:
        self._count(done, total, "sample")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def progress_for(console: Any) -> Any:
    """The live display in a terminal, plain lines anywhere else."""
    return _Progress(console) if console.is_terminal else _PlainProgress(console.file)


@click.command("run")
@click.argument("recipe_ref", metavar="RECIPE")
@set_option
@device_option
@click.option("--dry-run", is_flag=True, help="Plan and check everything (data, parent run), then stop: nothing is recorded.")
@click.option("--output-dir", type=click.Path(file_okay=False), default="rrg_runs", show_default=True, help="Where checkpoints and adapters go (a folder per run).")
@click.option(
    "--artifacts", "artifacts", default=None, metavar="URL",
    help="Upload checkpoints and the adapter under URL/<run id>/ (s3://bucket/prefix, file:///shared/folder, a folder) and record them there. Default: $RRG_ARTIFACTS_URL, else local only.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the finished run as JSON (no progress display).")
@click.option(
    "--print-launch", is_flag=True,
    help="Print the command that starts the run's processes (torchrun, for hardware.gpus/processes/nodes above 1; on every machine for several), then stop.",
)
@registry_url_option
def run(
    recipe_ref: str, overrides: tuple[str, ...], device: str | None, dry_run: bool, output_dir: str, artifacts: str | None, as_json: bool,
    print_launch: bool, registry_url: str,
) -> None:
    """Run RECIPE (zero-shot evaluation, SFT or GRPO) and record it in the registry.

    \b
    Examples:
      rrg run recipes/demo/sft.yaml
      rrg run recipes/demo/sft.yaml --set training.max_steps=100 --set version=2
      rrg run recipes/paper/qwen3-vl-4b/sft.yaml --dry-run
      rrg run recipes/demo/sft.yaml --artifacts s3://team-bucket/rrg
      rrg run recipes/demo/sft.yaml --set hardware.processes=2 --print-launch

    
    A recipe asking for several processes (hardware.gpus or hardware.processes above 1) is
    started again under torchrun, one process per GPU (or CPU process); the main process records
    the one run. hardware.nodes above 1: see `rrg launch --slurm`.
    """
    from rrg.cli.recipe import _RegistryOnDemand

    # A bad recipe is answered before anything heavy is imported or any registry file is made;
    # a registry is opened here only if the recipe names name@version.
    recipe = _load(recipe_ref, overrides, _RegistryOnDemand(registry_url))
    if print_launch:
        from rrg.launch import WorkerArgs, print_launch_text, registry_words
        from rrg.plan import resolve_plan

        plan = resolve_plan(recipe, device=device)
        extra = (*registry_words(registry_url), *(("--artifacts", artifacts) if artifacts else ()))
        click.echo(print_launch_text(plan, WorkerArgs(recipe_ref, overrides, device, output_dir, extra=extra)))
        return
    import os

    from rrg.launch import RUN_ID_ENV, is_launched

    # A launched process: only the main one shows progress, and it prints the outcome only when
    # no `rrg run` waits to print it (a command started by hand or by SLURM).
    launched = is_launched()
    main_process = not launched or os.environ.get("RANK") == "0"
    reports = main_process and not (launched and RUN_ID_ENV in os.environ)

    from rich.console import Console

    from rrg.engine import RunEvents, prepare_run, run_recipe
    from rrg.logs import quiet_libraries

    console = Console(stderr=True)
    # rrg draws its own progress: no library bars (dataset maps while preparing), no deprecations
    with quiet_libraries(), _registry_for(registry_url, dry_run) as registry:
        # Everything a user can get wrong fails here, as one line, before any progress display.
        prepared = prepare_run(recipe, registry=registry, device=device)
        if prepared.plan.stage != "zero_shot":
            from rrg.artifacts import require_store

            require_store(artifacts)
        if dry_run:
            print_plan(prepared.plan)
            parent = prepared.parent or prepared.init_adapter
            if parent is not None:
                click.echo(f"starts from: {parent.label} ({parent.path})")
            click.echo("dry run: nothing was recorded")
            return
        if as_json or not main_process:
            finished = run_recipe(recipe, registry=registry, device=device, output_dir=output_dir, prepared=prepared, artifacts=artifacts)
            if as_json and reports:
                click.echo(dumps_json(_run_json(finished)))
            return
        with progress_for(console) as progress:
            events = RunEvents(on_phase=progress.on_phase, on_train_step=progress.on_train_step, on_generate=progress.on_generate)
            finished = run_recipe(recipe, registry=registry, device=device, output_dir=output_dir, events=events, prepared=prepared, artifacts=artifacts)
        if reports:
            print_summary(finished)


@click.command("resume")
@click.argument("run_ref", metavar="RUN")
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the finished run as JSON (no progress display).")
@registry_url_option
def resume(run_ref: str, device: str | None, as_json: bool, registry_url: str) -> None:
    """Continue an interrupted or failed SFT/GRPO RUN from its last valid checkpoint, as the same run.

    Its recipe comes from the registry, its data must be unchanged (same fingerprints) and the
    checkpoint's weights must have the sha256 recorded. Optimizer, scheduler, random state and
    position in the data continue from the checkpoint; the run's history up to it is kept.

    \b
    Examples:
      rrg runs list --status interrupted
      rrg resume 3f2a9c1e
    """
    from rich.console import Console
    from rrg_registry import Registry

    from rrg.engine import RunEvents, resume_run

    with Registry.from_url(registry_url) as registry:  # resume_run keeps the libraries quiet
        if as_json:
            finished = resume_run(run_ref, registry=registry, device=device)
            click.echo(dumps_json(_run_json(finished)))
            return
        with progress_for(Console(stderr=True)) as progress:
            events = RunEvents(on_phase=progress.on_phase, on_train_step=progress.on_train_step, on_generate=progress.on_generate)
            finished = resume_run(run_ref, registry=registry, device=device, events=events)
        print_summary(finished)


def _registry_for(url: str, dry_run: bool) -> Any:
    """The registry a run records in; a dry run records nothing, so where the registry does not
    exist yet it checks against an empty one in memory instead of creating the file."""
    from rrg_registry import NotFound, Registry
    from rrg_registry.registry import require_existing_registry

    if dry_run:
        try:
            require_existing_registry(url)
        except NotFound:  # no registry there yet: nothing to look up in it
            return Registry.from_url("sqlite://")
    return Registry.from_url(url)


def _run_json(finished: Any) -> dict[str, Any]:
    detail = finished.detail
    best = [c for c in detail.checkpoints if c.best]
    return {
        "id": finished.id,
        "recipe": detail.run.recipe,
        "stage": detail.run.stage,
        "model": detail.run.model_family,
        "status": detail.run.status.value,
        "metrics": dict(detail.metrics),
        "green_flare_components": detail.components[-1].values() if detail.components else None,
        "adapter": best[-1].path if best else None,
    }


def reward_terms(detail: Any) -> dict[str, tuple[float, float]]:
    """A GRPO run's reward terms (``train/reward_terms/<term>``): first and last logged mean."""
    prefix = "train/reward_terms/"
    steps: dict[str, list[tuple[int, float]]] = {}
    for metric in detail.metric_history:
        if metric.name.startswith(prefix):
            steps.setdefault(metric.name[len(prefix):], []).append((metric.step or 0, metric.value))
    return {name: (min(values)[1], max(values)[1]) for name, values in steps.items()}


def print_summary(finished: Any) -> None:
    """The final table: the run's scores, before vs after training when both were measured."""
    from rich.console import Console
    from rich.table import Table

    from rrg.metrics.green_flare import COMPONENTS

    detail = finished.detail
    metrics = detail.metrics
    has_before = any(k.startswith("before/") for k in metrics)
    table = Table(title=f"run {finished.id}: {detail.run.recipe} ({detail.run.stage}, {detail.run.model_family}) {detail.run.status.value}")
    table.add_column("metric")
    if has_before:
        table.add_column("before training", justify="right")
        table.add_column("after training", justify="right")
        table.add_column("change", justify="right")
    else:
        table.add_column("value", justify="right")
    names = [m for m in SUMMARY_METRICS if m in metrics] + [c for c in COMPONENTS if c in metrics or f"before/{c}" in metrics]
    components = detail.components[-1].values() if detail.components else {}
    for name in names:
        after = metrics.get(name, components.get(name))
        label = name if name in SUMMARY_METRICS else f"  {name}"
        if has_before:
            before = metrics.get(f"before/{name}")
            change = None if before is None or after is None else after - before
            table.add_row(label, format_cell(before), format_cell(after), "-" if change is None else f"{change:+.4f}")
        else:
            table.add_row(label, format_cell(after))
    if not has_before:
        for name in COMPONENTS:
            if name in components and name not in names:
                table.add_row(f"  {name}", format_cell(components[name]))
    console = Console()
    console.print(table)
    terms = reward_terms(detail)
    if terms:
        console.print("reward terms, first → last logged step: " + ", ".join(f"{name} {first:.3f} → {last:.3f}" for name, (first, last) in terms.items()))
    best = [c for c in detail.checkpoints if c.best]
    if best:
        console.print(f"adapter: {best[-1].path}")
    extras = [f"{k} {metrics[k]:.3g}" for k in ("wall_seconds", "peak_rss_gib", "generation_samples_per_second") if k in metrics]
    if extras:
        console.print("  ".join(extras))
    console.print(f"browse: rrg runs show {finished.id}")
