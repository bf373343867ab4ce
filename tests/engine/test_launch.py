"""Several processes, on paper: the schema keys (hardware.gpus, processes, nodes, strategy) in the
plan, the torchrun command of ``rrg run --print-launch`` / ``rrg launch``, and the SLURM script of
``rrg launch --slurm`` with hostile names, checked by ``bash -n`` and run against a fake ``srun``,
``scontrol`` and ``sbatch`` on PATH."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import STAGE_RECIPES
from rrg.cli import cli
from rrg.errors import MissingDependencyError, RrgError
from rrg.hardware import Hardware, cpu_only
from rrg.plan import PlanError, resolve_plan
from rrg.recipe import Recipe
from rrg.recipe.errors import RecipeError

SFT = STAGE_RECIPES["sft"]
HOSTILE = "it's a \"test\" $(touch pwned) `touch pwned2` ; rm -rf x"


def gpu_machine(gpus: int = 2, **facts) -> Hardware:
    return replace(cpu_only(), cuda=True, gpu_count=gpus, gpu_name="NVIDIA H100", gpu_memory_gib=80.0, bf16=True, **facts)


def load(*overrides: str, stage: str = "sft") -> Recipe:
    return Recipe.load(STAGE_RECIPES[stage], overrides=["data.root=demo", *overrides])


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


# ---------------------------------------------------------------- schema and plan


def test_new_keys_leave_every_shipped_recipe_hash_alone(rrg_cache_env: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    for path in sorted((repo / "recipes").rglob("*.yaml")):
        recipe = Recipe.load(path) if "base" not in path.name else None
        if recipe is None:
            continue
        hardware = recipe.to_dict()["hardware"]
        assert not {"processes", "nodes", "strategy"} & set(hardware), path
        spelled = Recipe.load(path, overrides=["hardware.nodes=1", "hardware.strategy=ddp", "hardware.processes=null"])
        assert spelled.hash == recipe.hash, path


def test_processes_on_the_cpu_plan_a_torchrun_launch(rrg_cache_env: Path) -> None:
    plan = resolve_plan(load("hardware.processes=2"), hardware=cpu_only())
    assert plan.launch is not None
    assert (plan.launch.launcher, plan.launch.world_size, plan.launch.processes_per_node, plan.launch.nodes) == ("torchrun", 2, 2, 1)
    assert (plan.launch.strategy, plan.launch.backend) == ("ddp", "gloo")
    assert any(note.startswith("2 processes (one machine, ddp over gloo") for note in plan.notes)
    assert resolve_plan(load(), hardware=cpu_only()).launch is None
    four = resolve_plan(load("hardware.processes=2", "hardware.nodes=2"), hardware=cpu_only())
    assert (four.launch.world_size, four.launch.nodes) == (4, 2)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (("hardware.gpus=2",), "hardware.gpus"),  # accelerator: cpu in the demo recipes
        (("hardware.strategy=fsdp",), "hardware.strategy"),
        (("hardware.accelerator=h100", "hardware.processes=2"), "hardware.processes"),
        (("hardware.accelerator=auto", "hardware.gpus=2", "hardware.processes=2"), "hardware.processes"),
    ],
)
def test_contradictions_are_refused_at_load(overrides: tuple[str, ...], key: str, rrg_cache_env: Path) -> None:
    with pytest.raises(RecipeError) as caught:
        load(*overrides)
    assert key in str(caught.value)


def test_gpu_plans(rrg_cache_env: Path) -> None:
    auto = ("hardware.accelerator=auto", "hardware.precision=fp32")  # TRL checks bf16 against this machine's real hardware
    plan = resolve_plan(load(*auto, "hardware.gpus=2"), hardware=gpu_machine(2))
    assert (plan.device, plan.gpus, plan.launch.world_size, plan.launch.backend) == ("cuda", 2, 2, "nccl")
    assert "fsdp" not in plan.trainer and "deepspeed" not in plan.trainer

    fsdp = resolve_plan(load(*auto, "hardware.gpus=2", "hardware.strategy=fsdp"), hardware=gpu_machine(2))
    assert fsdp.trainer["fsdp"] is True and fsdp.trainer["fsdp_config"]["state_dict_type"] == "FULL_STATE_DICT"

    with pytest.raises(PlanError, match=r"hardware.gpus: 4 GPUs per machine, and .* has 2"):
        resolve_plan(load(*auto, "hardware.gpus=4"), hardware=gpu_machine(2))
    with pytest.raises(PlanError, match="hardware.processes: 2 is for CPU runs"):
        resolve_plan(load(*auto, "hardware.processes=2"), hardware=gpu_machine(2))
    with pytest.raises(PlanError, match="hardware.strategy: fsdp shards training over processes, and this run has one"):
        resolve_plan(load(*auto, "hardware.strategy=fsdp"), hardware=gpu_machine(2))
    with pytest.raises(PlanError, match="hardware.strategy: fsdp needs CUDA GPUs; this run is on the CPU"):
        resolve_plan(load(*auto, "hardware.strategy=fsdp", "hardware.processes=2"), hardware=cpu_only())
    forced = resolve_plan(load(*auto, "hardware.gpus=2", "hardware.strategy=fsdp"), device="cpu", hardware=cpu_only())
    assert forced.launch is None and "--device cpu: hardware.strategy fsdp → ddp" in forced.notes


def test_unsloth_vllm_qlora_and_deepspeed_in_several_processes(rrg_cache_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auto = ("hardware.accelerator=auto", "hardware.precision=fp32", "hardware.backend=auto", "hardware.gpus=2")
    machine = gpu_machine(2, unsloth=True, bitsandbytes=True, vllm=True)
    one = resolve_plan(load(*auto[:3]), hardware=machine)
    assert one.backend == "unsloth"
    fallback = resolve_plan(load(*auto), hardware=machine)
    assert fallback.backend == "transformers"
    assert "hardware.backend auto: transformers + PEFT (Unsloth trains in one process; this run has 2)" in fallback.notes
    with pytest.raises(PlanError, match="hardware.backend: unsloth trains in one process"):
        resolve_plan(load(*auto, "hardware.backend=unsloth"), hardware=machine)
    with pytest.raises(PlanError, match="hardware.generation: vllm runs in one process"):
        resolve_plan(load(*auto, "hardware.backend=transformers", "hardware.generation=vllm", "adapter.modules_to_save=[]"), hardware=machine)
    qlora = ("adapter.kind=qlora", "adapter.bits=4")
    assert resolve_plan(load(*auto, *qlora), hardware=machine).adapter.kind == "qlora"
    with pytest.raises(PlanError, match="adapter.kind: qlora: hardware.strategy fsdp would shard the 4-bit base weights"):
        resolve_plan(load(*auto, *qlora, "hardware.strategy=fsdp"), hardware=machine)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="hardware.strategy: deepspeed_zero3 needs the deepspeed package"):
        resolve_plan(load(*auto, "hardware.strategy=deepspeed_zero3"), hardware=machine)


# ---------------------------------------------------------------- the command


def test_print_launch_prints_the_torchrun_command(rrg_cache_env: Path, tmp_path: Path) -> None:
    result = invoke("run", str(SFT), "--set", "data.root=demo", "--set", "hardware.processes=2", "--set", f"description={HOSTILE}",
                    "--registry", "my.db", "--print-launch")
    assert result.exit_code == 0, result.output
    argv = shlex.split(result.output)
    assert argv[:8] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc-per-node", "2"]
    assert argv[8:12] == ["-m", "rrg.launch", "run", str(SFT.resolve())]
    assert argv[12:18] == ["--set", "data.root=demo", "--set", "hardware.processes=2", "--set", f"description={HOSTILE}"]
    assert argv[18:] == ["--output-dir", str(tmp_path / "rrg_runs"), "--registry", f"sqlite:///{tmp_path / 'my.db'}"]
    assert not (tmp_path / "my.db").exists() and not (tmp_path / "pwned").exists()

    single = invoke("run", str(SFT), "--set", "data.root=demo", "--print-launch", "--registry", "postgresql+psycopg://u:secret@h/db")
    assert single.exit_code == 0 and "secret" not in single.output
    assert shlex.split(single.output)[:4] == [sys.executable, "-m", "rrg.launch", "run"]

    nodes = invoke("launch", str(SFT), "--set", "data.root=demo", "--set", "hardware.processes=2", "--set", "hardware.nodes=3")
    assert nodes.exit_code == 0, nodes.output
    comment, command = nodes.output.strip().splitlines()
    assert comment.startswith("# on each of the 3 machines")
    assert '--rdzv-endpoint "${MASTER_ADDR:?}:${MASTER_PORT:-29500}" --rdzv-id "${RRG_RDZV_ID:?}"' in command
    assert "--nnodes 3 --rdzv-backend c10d" in command


def test_run_refuses_more_machines_than_one(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    recipe = load("hardware.processes=2", "hardware.nodes=2", "data.max_eval_samples=2", stage="zero_shot")
    with pytest.raises(RrgError, match=r"hardware.nodes 2: `rrg run` starts the processes of one machine"):
        recipe.run(registry=registry, output_dir=tmp_path / "runs")
    assert registry.search_runs() == []  # refused before the run was created


# ---------------------------------------------------------------- SLURM


def fake_tools(folder: Path) -> Path:
    """``srun``, ``scontrol`` and ``sbatch`` that record what they were handed (one argument a line, NUL-free)."""
    folder.mkdir()
    record = 'for word in "$@"; do printf "%s\\0" "$word"; done > "$FAKE_LOG.$(basename "$0")"\n'
    (folder / "srun").write_text("#!/bin/bash\n" + record)
    (folder / "sbatch").write_text("#!/bin/bash\n" + record + 'echo "Submitted batch job 4242"\n')
    (folder / "scontrol").write_text('#!/bin/bash\n[ "$1 $2" = "show hostnames" ] && printf "node-a\\nnode-b\\n"\n')
    for tool in ("srun", "sbatch", "scontrol"):
        (folder / tool).chmod(0o755)
    return folder


def recorded(log: Path, tool: str) -> list[str]:
    return Path(f"{log}.{tool}").read_bytes().decode().split("\0")[:-1]


def test_slurm_script_quotes_hostile_names(rrg_cache_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "it's $(touch pwned) `x` \"q\""
    folder.mkdir()
    recipe = folder / "my recipe $(touch pwned3).yaml"
    recipe.write_text(SFT.read_text().replace("extends: base.yaml", f"extends: {json.dumps(str(SFT.parent / 'base.yaml'))}"))
    output = tmp_path / "out $(touch pwned4) 'x'"
    script = tmp_path / "job.sbatch"
    args = ["launch", str(recipe), "--slurm", "--set", "data.root=demo", "--set", "hardware.processes=2", "--set", "hardware.nodes=2",
            "--set", f"description={HOSTILE}", "--output-dir", str(output), "--partition", "cpu", "--time", "2:00:00",
            "--account", "proj-1", "--cpus-per-task", "4", "--script", str(script)]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    text = script.read_text()
    assert "#SBATCH --nodes=2\n" in text and "#SBATCH --partition=cpu\n" in text and "#SBATCH --account=proj-1\n" in text
    assert "#SBATCH --cpus-per-task=4\n" in text and "--gpus-per-node" not in text
    subprocess.run(["bash", "-n", str(script)], check=True)

    tools = fake_tools(tmp_path / "bin")
    log = tmp_path / "log"
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "FAKE_LOG": str(log), "SLURM_JOB_NODELIST": "node-[a-b]",
           "SLURM_JOB_ID": "777", "RRG_REGISTRY_URL": "postgresql+psycopg://rrg@db/rrg"}
    done = subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    argv = recorded(log, "srun")
    assert argv[:2] == ["--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    launched = argv[2:]
    assert launched[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert launched[launched.index("--rdzv-endpoint") + 1] == "node-a:29500"
    assert launched[launched.index("--rdzv-id") + 1] == "777"
    assert launched[launched.index("--nnodes") + 1] == "2" and launched[launched.index("--nproc-per-node") + 1] == "2"
    worker = launched[launched.index("rrg.launch") + 1:]
    assert worker[:2] == ["run", str(recipe)]
    assert f"description={HOSTILE}" in worker and worker[worker.index("--output-dir") + 1] == str(output)
    assert not list(tmp_path.rglob("pwned*")) and not (tmp_path / "x").exists()

    without_registry = {k: v for k, v in env.items() if k != "RRG_REGISTRY_URL"}
    refused = subprocess.run(["bash", str(script)], env=without_registry, cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0 and "RRG_REGISTRY_URL" in refused.stderr

    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("RRG_REGISTRY_URL", raising=False)
    unset = invoke(*args, "--submit")
    assert unset.exit_code == 2 and "RRG_REGISTRY_URL is not set" in unset.output
    monkeypatch.setenv("RRG_REGISTRY_URL", "postgresql+psycopg://rrg@db/rrg")
    submitted = invoke(*args, "--submit")
    assert submitted.exit_code == 0, submitted.output
    assert "Submitted batch job 4242" in submitted.output and recorded(log, "sbatch") == [str(script)]


def test_slurm_gpu_script_and_refusals(rrg_cache_env: Path, tmp_path: Path) -> None:
    script = tmp_path / "gpu.sbatch"
    gpu = ["--set", "data.root=demo", "--set", "hardware.accelerator=h100", "--set", "hardware.precision=auto", "--set", "hardware.gpus=4",
           "--set", "hardware.nodes=2", "--set", "hardware.strategy=fsdp"]
    result = invoke("launch", str(SFT), "--slurm", *gpu, "--script", str(script))
    assert result.exit_code == 0, result.output  # planned for the cluster's GPUs, not this machine's
    text = script.read_text()
    assert "#SBATCH --gpus-per-node=4\n" in text and "--nproc-per-node 4" in text and "OMP_NUM_THREADS" not in text
    subprocess.run(["bash", "-n", str(script)], check=True)

    hostile = invoke("launch", str(SFT), "--slurm", *gpu, "--script", str(tmp_path / "bad.sbatch"), "--partition", "gpu\n#SBATCH --x")
    assert hostile.exit_code == 2 and "--partition" in hostile.output and len(hostile.output.strip().splitlines()) == 1
    assert not (tmp_path / "bad.sbatch").exists()
    bad_time = invoke("launch", str(SFT), "--slurm", *gpu, "--script", str(tmp_path / "bad.sbatch"), "--time", "1 day")
    assert bad_time.exit_code == 2 and "(hint: give the time as SLURM writes it (e.g. --time 12:00:00))" in bad_time.output
    no_slurm = invoke("launch", str(SFT), "--set", "data.root=demo", "--partition", "gpu")
    assert no_slurm.exit_code == 2 and "--partition is an option of the SLURM script" in no_slurm.output
