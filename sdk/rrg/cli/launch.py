"""``rrg launch``: the command that starts a recipe's processes, or a SLURM script that does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import click

from rrg.cli.recipe import set_option
from rrg.cli.registry_option import registry_url_option
from rrg.cli.run import device_option


@click.command("launch")
@click.argument("recipe_ref", metavar="RECIPE")
@set_option
@device_option
@click.option("--output-dir", type=click.Path(file_okay=False), default="rrg_runs", show_default=True, help="Where checkpoints and adapters go (a folder per run; shared by the machines).")
@click.option("--slurm", is_flag=True, help="Write an sbatch script (one task per machine, torchrun in each) instead of printing the command.")
@click.option("--script", "script_path", type=click.Path(dir_okay=False), default=None, help="Where the sbatch script goes. Default: rrg-NAME-vVERSION.sbatch here.")
@click.option("--partition", default=None, help="SLURM partition (#SBATCH --partition).")
@click.option("--time", "time_limit", default=None, help="SLURM time limit, e.g. 12:00:00 (#SBATCH --time).")
@click.option("--account", default=None, help="SLURM account (#SBATCH --account).")
@click.option("--qos", default=None, help="SLURM quality of service (#SBATCH --qos).")
@click.option("--cpus-per-task", type=click.IntRange(min=1), default=None, help="CPUs for each machine's task (#SBATCH --cpus-per-task).")
@click.option("--port", type=click.IntRange(1024, 65535), default=29500, show_default=True, help="Rendezvous port on the job's first machine.")
@click.option("--submit", is_flag=True, help="Submit the script with sbatch once written (RRG_REGISTRY_URL must be set: the job records there).")
@registry_url_option
def launch(
    recipe_ref: str, overrides: tuple[str, ...], device: str | None, output_dir: str, slurm: bool, script_path: str | None,
    partition: str | None, time_limit: str | None, account: str | None, qos: str | None, cpus_per_task: int | None, port: int,
    submit: bool, registry_url: str,
) -> None:
    """Start RECIPE's processes (hardware.gpus or processes per machine × hardware.nodes).

    \b
    Without --slurm: print the torchrun command for this machine (the one `rrg run` runs itself;
    with hardware.nodes above 1, the command for every machine). With --slurm: write an sbatch
    script for a cluster, planned for the GPUs the recipe asks for, not this login machine's;
    --submit hands it to sbatch. The job records in the registry RRG_REGISTRY_URL names in its
    environment: use one server (PostgreSQL) every machine reaches.

    \b
    Examples:
      rrg launch recipes/paper/qwen3-vl-4b/sft.yaml --set hardware.gpus=4
      rrg launch recipes/paper/qwen3-vl-4b/sft.yaml --slurm --set hardware.gpus=4 --set hardware.nodes=2 \\
          --partition gpu --time 12:00:00 --submit
    """
    from rrg.cli.recipe import _RegistryOnDemand
    from rrg.launch import LaunchError, SlurmOptions, WorkerArgs, cluster_hardware, print_launch_text, slurm_script, write_atomic
    from rrg.plan import resolve_plan
    from rrg.recipe import Recipe

    recipe = Recipe.load(recipe_ref, overrides=overrides, registry=_RegistryOnDemand(registry_url))
    worker = WorkerArgs(recipe_ref, overrides, device, output_dir)
    if not slurm:
        for name, value in (("--partition", partition), ("--time", time_limit), ("--account", account), ("--qos", qos), ("--cpus-per-task", cpus_per_task), ("--script", script_path)):
            if value is not None:
                raise LaunchError(f"{name} is an option of the SLURM script", hint="add --slurm, or leave it out")
        if submit:
            raise LaunchError("--submit hands a SLURM script to sbatch", hint="add --slurm")
        plan = resolve_plan(recipe, device=device)
        click.echo(print_launch_text(plan, worker))
        return
    plan = resolve_plan(recipe, device=device, hardware=cluster_hardware(recipe, device), elsewhere=True)
    options = SlurmOptions(partition=partition, time=time_limit, account=account, qos=qos, cpus_per_task=cpus_per_task, port=port)
    text = slurm_script(plan, worker, options)
    sbatch = shutil.which("sbatch") if submit else None
    if submit:
        if not os.environ.get("RRG_REGISTRY_URL"):
            raise LaunchError(
                "--submit: RRG_REGISTRY_URL is not set, and the job records in the registry it names",
                hint="export RRG_REGISTRY_URL=postgresql+psycopg://USER@HOST/DB (a registry every machine reaches), then submit",
            )
        if sbatch is None:
            raise LaunchError("--submit: sbatch is not on PATH", hint="run it on the cluster's login machine, or submit the script there yourself")
    path = Path(script_path or f"rrg-{plan.recipe.replace('@', '-v')}.sbatch")
    write_atomic(path, text)
    click.echo(f"wrote {path}")
    if submit:
        done = subprocess.run([sbatch, str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[0]
            raise LaunchError(f"sbatch {path}: {reason}", hint="the script is written; fix the SLURM options and submit it with sbatch")
        click.echo(done.stdout.strip())
