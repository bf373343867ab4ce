"""Start a run of several processes: the torchrun command, the SLURM script, the worker's context.

A plan with :attr:`~rrg.plan.Plan.launch` (``hardware.gpus``/``processes`` above 1, or
``hardware.nodes``) runs as ``world_size`` processes, each running the same ``rrg run`` under
torchrun (``python -m torch.distributed.run``): on the CPU over gloo, on GPUs over NCCL, one
process per GPU. torchrun serves both (``accelerate launch --cpu`` starts one process unless MPI
is set up), and ``hardware.strategy`` reaches the trainer through TRL's own config (``fsdp``,
``deepspeed``), recorded with the plan, so the command is the same for every strategy.

Every process plans, reads the data and trains; only the main process (global rank 0) writes to
the registry. The run is either created before the launch by ``rrg run`` (its id handed down in
``RRG_RUN_ID``) or, when the command was started by hand or by SLURM, created by the main process
and its id broadcast to the others.

``python -m rrg.launch ARGS`` runs the ``rrg`` command line: what torchrun starts in each process.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    from rrg.plan import Plan, PlanLaunch

RUN_ID_ENV = "RRG_RUN_ID"
"""The run a launched process records into, created by the ``rrg run`` that launched it."""

WORKER_MODULE = "rrg.launch"
"""What torchrun runs in each process (``python -m rrg.launch run ...``: the ``rrg`` command line)."""

DEFAULT_PORT = 29500
"""The rendezvous port on the first machine of a multi-machine run."""


class LaunchError(RrgError):
    """A run of several processes cannot be started as asked."""


@dataclass(frozen=True)
class ShellWord:
    """A word of a shell command left unquoted on purpose: it expands a variable of the job
    (``"$MASTER_ADDR:$MASTER_PORT"``) and is written by rrg, never taken from a recipe."""

    text: str


Word = str | ShellWord


def shell_join(words: Sequence[Word]) -> str:
    """One shell line: every plain word quoted with :func:`shlex.quote`, :class:`ShellWord`\\ s as written."""
    return " ".join(w.text if isinstance(w, ShellWord) else shlex.quote(w) for w in words)


# -------------------------------------------------------------------- the processes' point of view


def launched_world_size() -> int:
    """Processes in the job this process belongs to (torchrun's ``WORLD_SIZE``); 1 when it was not launched."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def is_launched() -> bool:
    """Whether this process is one of several started by torchrun (or another launcher setting
    ``RANK`` and ``WORLD_SIZE``)."""
    return "RANK" in os.environ and launched_world_size() > 1


def check_launched_world(plan: Plan, where: Any) -> None:
    """The job this process belongs to has as many processes as the plan asks for."""
    world = launched_world_size()
    wanted = plan.launch.world_size if plan.launch is not None else 1
    if world != wanted:
        raise LaunchError(
            f"{where}: the plan asks for {wanted} process{'es' if wanted != 1 else ''} (hardware.gpus/processes × nodes), "
            f"and this process was launched as one of {world}",
            hint="start it with `rrg run` (which launches the processes) or the command of `rrg run --print-launch`",
        )


# -------------------------------------------------------------------- the command


@dataclass(frozen=True)
class WorkerArgs:
    """What each launched process runs: ``rrg run RECIPE`` with the same overrides and outputs."""

    recipe: str
    overrides: tuple[str, ...] = ()
    device: str | None = None
    output_dir: str = "rrg_runs"
    extra: tuple[str, ...] = field(default=())

    def argv(self) -> list[str]:
        """``run RECIPE --set ... --output-dir DIR`` (a recipe file and the output folder made absolute,
        so the command runs from any folder). The registry comes from ``RRG_REGISTRY_URL``."""
        recipe = self.recipe
        if Path(recipe).is_file():
            recipe = str(Path(recipe).resolve())
        words = ["run", recipe]
        for override in self.overrides:
            words += ["--set", override]
        if self.device is not None:
            words += ["--device", self.device]
        words += ["--output-dir", str(Path(self.output_dir).resolve()), *self.extra]
        return words


def registry_words(url: str) -> list[str]:
    """``--registry URL`` for a printed command when ``url`` is a SQLite file (made absolute, so the
    command runs from any folder); nothing for a database server, whose URL may carry a password:
    the processes read it from ``RRG_REGISTRY_URL``."""
    from rrg_registry.registry import resolve_url

    url = resolve_url(url, environ={})
    if "://" not in url:  # a bare file path
        return ["--registry", f"sqlite:///{Path(url).resolve()}"]
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return []
    return ["--registry", f"sqlite:///{Path(url[len('sqlite:///'):]).resolve()}"]


def torchrun_argv(
    launch: PlanLaunch,
    worker: Sequence[str],
    *,
    python: str | None = None,
    rendezvous: Sequence[Word] | None = None,
) -> list[Word]:
    """The torchrun command starting ``launch.processes_per_node`` processes on one machine, each
    running ``python -m rrg.launch WORKER...``.

    One machine: ``--standalone`` (a free local port, no rendezvous server). Several: the c10d
    rendezvous ``rendezvous`` gives (``--rdzv-endpoint HOST:PORT --rdzv-id ID``), the same on every
    machine; by default the job's ``$MASTER_ADDR``, ``$MASTER_PORT`` and ``$RRG_RDZV_ID``.
    """
    words: list[Word] = [python or sys.executable, "-m", "torch.distributed.run"]
    if launch.nodes == 1:
        words += ["--standalone", "--nnodes", "1"]
    else:
        words += ["--nnodes", str(launch.nodes), "--rdzv-backend", "c10d"]
        words += list(
            rendezvous
            or [
                "--rdzv-endpoint",
                ShellWord(f'"${{MASTER_ADDR:?}}:${{MASTER_PORT:-{DEFAULT_PORT}}}"'),
                "--rdzv-id",
                ShellWord('"${RRG_RDZV_ID:?}"'),
            ]
        )
    words += ["--nproc-per-node", str(launch.processes_per_node), "-m", WORKER_MODULE, *worker]
    return words


def print_launch_text(plan: Plan, worker: WorkerArgs, *, python: str | None = None) -> str:
    """What ``rrg run --print-launch`` prints: the command (on every machine, for several)."""
    if plan.launch is None:
        return shell_join([python or sys.executable, "-m", WORKER_MODULE, *worker.argv()])
    command = shell_join(torchrun_argv(plan.launch, worker.argv(), python=python))
    if plan.launch.nodes == 1:
        return command
    return (
        f"# on each of the {plan.launch.nodes} machines, with MASTER_ADDR (the first machine's address), "
        f"MASTER_PORT and RRG_RDZV_ID (any id, the same everywhere) set, and RRG_REGISTRY_URL naming one shared registry:\n"
        + command
    )


def run_launched(plan: Plan, worker: WorkerArgs, run_id: str, *, environment: dict[str, str] | None = None, python: str | None = None) -> int:
    """Start the processes of ``plan`` on this machine and wait for them; returns torchrun's exit
    status. They record into ``run_id`` (``RRG_RUN_ID``), already created by the caller;
    ``environment`` is added to theirs (the registry URL goes there, never on a command line).

    Ctrl-C reaches torchrun and its processes from the terminal (and is passed on when it reaches
    only this process); this waits for them to end before handing the interrupt on."""
    import signal
    import subprocess

    if plan.launch is None or plan.launch.nodes != 1:
        raise LaunchError(
            f"{plan.recipe}: hardware.nodes {plan.launch.nodes if plan.launch else 1}: `rrg run` starts the processes of one machine",
            hint="submit it with `rrg launch RECIPE --slurm`, or run the command of `rrg run --print-launch` on every machine",
        )
    env = {**os.environ, **(environment or {}), RUN_ID_ENV: run_id}
    if plan.device == "cpu" and plan.num_threads:
        env["OMP_NUM_THREADS"] = str(plan.num_threads)
    argv = [w if isinstance(w, str) else w.text for w in torchrun_argv(plan.launch, worker.argv(), python=python)]
    process = subprocess.Popen(argv, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


# -------------------------------------------------------------------- SLURM

SLURM_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+,=@/-]*$")
"""What an ``#SBATCH`` option value may hold: sbatch reads those lines itself, without a shell, so
a value there cannot be quoted and is checked instead."""

SLURM_TEMPLATE = """#!/bin/bash
# {{ recipe_ref }}: {{ world_size }} process{{ "es" if world_size != 1 else "" }} ({{ nodes }} machine{{ "s" if nodes != 1 else "" }} x {{ per_node }}, {{ strategy }}), written by `rrg launch --slurm`.
# The registry is the one RRG_REGISTRY_URL names in the job's environment (sbatch passes on the
# submitting shell's); artefacts go where RRG_ARTIFACTS_URL says, when set.
#SBATCH --job-name={{ job_name }}
#SBATCH --nodes={{ nodes }}
#SBATCH --ntasks-per-node=1
{% if gpus %}#SBATCH --gpus-per-node={{ gpus }}
{% endif %}{% if cpus_per_task %}#SBATCH --cpus-per-task={{ cpus_per_task }}
{% endif %}{% for option in sbatch_options %}#SBATCH {{ option }}
{% endfor %}#SBATCH --output=rrg-%x-%j.out

set -euo pipefail
: "${RRG_REGISTRY_URL:?set RRG_REGISTRY_URL to the shared registry (e.g. postgresql+psycopg://...) before sbatch}"
export RRG_REGISTRY_URL
cd {{ workdir | quote }}
{% if omp_threads %}export OMP_NUM_THREADS={{ omp_threads }}
{% endif %}MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
MASTER_PORT={{ port }}
export MASTER_ADDR MASTER_PORT

srun --ntasks-per-node=1 --kill-on-bad-exit=1 \\
  {{ command }}
"""


@dataclass(frozen=True)
class SlurmOptions:
    """``rrg launch --slurm`` options that become ``#SBATCH`` lines (None: the cluster's default)."""

    partition: str | None = None
    time: str | None = None
    account: str | None = None
    qos: str | None = None
    cpus_per_task: int | None = None
    port: int = DEFAULT_PORT

    def sbatch_options(self) -> list[str]:
        options = []
        examples = {"partition": "gpu", "time": "12:00:00", "account": "proj123", "qos": "normal"}
        for name in examples:
            value = getattr(self, name)
            if value is None:
                continue
            if not SLURM_VALUE.match(value):
                raise LaunchError(
                    f"--{name} {value!r}: sbatch reads #SBATCH lines without a shell, so the value must be letters, digits and ._:+,=@/-",
                    hint=f"give the {name} as SLURM writes it (e.g. --{name} {examples[name]})",
                )
            options.append(f"--{name}={value}")
        return options


def slurm_script(plan: Plan, worker: WorkerArgs, options: SlurmOptions, *, python: str | None = None, workdir: str | None = None) -> str:
    """The sbatch script running ``plan``: one task per machine, each starting torchrun, which
    starts the machine's processes; the c10d rendezvous on the first machine of the allocation
    (``$SLURM_JOB_NODELIST``) with the job id as rendezvous id. Every value that comes from the
    recipe, the command line or a path is shell-quoted; the ``#SBATCH`` values are checked."""
    import jinja2

    from rrg.plan import PlanLaunch

    launch = plan.launch or PlanLaunch(nodes=1, processes_per_node=1, world_size=1, strategy="ddp", backend="gloo" if plan.device == "cpu" else "nccl")
    rendezvous: list[Word] = ["--rdzv-endpoint", ShellWord('"$MASTER_ADDR:$MASTER_PORT"'), "--rdzv-id", ShellWord('"$SLURM_JOB_ID"')]
    words = torchrun_argv(launch, worker.argv(), python=python, rendezvous=rendezvous)
    environment = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["quote"] = shlex.quote
    template = environment.from_string(SLURM_TEMPLATE)
    return template.render(
        recipe_ref=plan.recipe,
        job_name=_job_name(plan.recipe),
        world_size=launch.world_size,
        nodes=launch.nodes,
        per_node=launch.processes_per_node,
        strategy=launch.strategy,
        gpus=launch.processes_per_node if plan.device == "cuda" else None,
        cpus_per_task=options.cpus_per_task,
        sbatch_options=options.sbatch_options(),
        workdir=workdir or os.getcwd(),
        omp_threads=plan.num_threads or (1 if plan.device == "cpu" else None),
        port=int(options.port),
        command=shell_join(words),
    )


def _job_name(recipe_ref: str) -> str:
    """``name@version`` as a job name sbatch accepts (recipe names are already ``[a-z0-9._-]``)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", recipe_ref.replace("@", "-v"))
    return f"rrg-{name}"


def cluster_hardware(recipe: Any, device: str | None = None) -> Any:
    """The machines a SLURM job gets, as a plan sees them: the recipe's GPUs per machine (the
    login machine running ``rrg launch`` may have none), bf16, and the optional packages installed
    here (the job runs the same environment); the CPU for a CPU recipe (``accelerator: cpu``,
    ``hardware.processes``) or ``--device cpu``. Each process plans again on its own machine."""
    import importlib.util
    import platform
    from dataclasses import replace

    from rrg.hardware import Hardware, cpu_only

    hardware = recipe.spec.hardware
    if device == "cpu" or hardware.accelerator == "cpu" or hardware.processes is not None:
        return replace(cpu_only(), system="SLURM machines (CPU)")
    named = {"a100": "NVIDIA A100", "h100": "NVIDIA H100", "h200": "NVIDIA H200"}.get(hardware.accelerator, "NVIDIA GPU")
    return Hardware(
        cuda=True,
        gpu_count=hardware.gpus or 1,
        gpu_name=named,
        gpu_memory_gib=None,
        bf16=True,
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        unsloth=importlib.util.find_spec("unsloth") is not None,
        cpu_count=os.cpu_count() or 1,
        system=f"SLURM machines ({platform.system()})",
        vllm=importlib.util.find_spec("vllm") is not None,
    )


def write_atomic(path: Path, text: str, mode: int = 0o755) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never a partial file."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main() -> None:
    """``python -m rrg.launch ARGS``: the ``rrg`` command line (what torchrun starts)."""
    from rrg.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
