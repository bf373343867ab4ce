"""What this machine offers: CUDA, bf16, bitsandbytes, Unsloth, vLLM. Read once per plan, never cached globally."""

from __future__ import annotations

import importlib.util
import os
import platform
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Hardware:
    """The accelerator facts a plan is resolved against."""

    cuda: bool
    gpu_count: int
    gpu_name: str | None
    gpu_memory_gib: float | None
    bf16: bool
    bitsandbytes: bool
    unsloth: bool
    cpu_count: int
    system: str
    vllm: bool = False

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    def describe(self) -> str:
        if self.cuda:
            mem = f", {self.gpu_memory_gib:.0f} GiB" if self.gpu_memory_gib else ""
            return f"{self.gpu_count}× {self.gpu_name}{mem}"
        return f"CPU ({self.cpu_count} cores, {self.system})"


def detect_hardware() -> Hardware:
    """Probe the machine. Imports torch (browsing commands never call this), except where no GPU
    torch could use can be present (:func:`cuda_impossible`): importing torch takes seconds."""
    if cuda_impossible():
        return replace(
            cpu_only(),
            bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
            unsloth=importlib.util.find_spec("unsloth") is not None,
            vllm=importlib.util.find_spec("vllm") is not None,
        )
    import torch

    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else None
    memory = torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None
    return Hardware(
        cuda=cuda,
        gpu_count=torch.cuda.device_count() if cuda else 0,
        gpu_name=name,
        gpu_memory_gib=memory,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        unsloth=importlib.util.find_spec("unsloth") is not None,
        cpu_count=os.cpu_count() or 1,
        system=f"{platform.system()} {platform.machine()}",
        vllm=importlib.util.find_spec("vllm") is not None,
    )


def cuda_impossible() -> bool:
    """Whether this machine certainly has no GPU for ``torch.cuda``: macOS, or Linux with neither
    the NVIDIA driver loaded (``/proc/driver/nvidia``, visible in containers too), WSL's GPU
    bridge (``/dev/dxg``) nor AMD's ROCm device (``/dev/kfd``). Elsewhere torch is asked."""
    system = platform.system()
    if system == "Darwin":
        return True
    if system == "Linux":
        return not any(os.path.exists(path) for path in ("/proc/driver/nvidia", "/dev/dxg", "/dev/kfd"))
    return False


def cpu_only() -> Hardware:
    """The facts of a machine without an accelerator (for tests and `--device cpu`)."""
    return Hardware(
        cuda=False,
        gpu_count=0,
        gpu_name=None,
        gpu_memory_gib=None,
        bf16=False,
        bitsandbytes=False,
        unsloth=False,
        cpu_count=os.cpu_count() or 1,
        system=f"{platform.system()} {platform.machine()}",
    )
