"""What this machine offers: CUDA, bf16, bitsandbytes, Unsloth. Read once per plan, never cached globally."""

from __future__ import annotations

import importlib.util
import os
import platform
from dataclasses import dataclass


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

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    def describe(self) -> str:
        if self.cuda:
            mem = f", {self.gpu_memory_gib:.0f} GiB" if self.gpu_memory_gib else ""
            return f"{self.gpu_count}× {self.gpu_name}{mem}"
        return f"CPU ({self.cpu_count} cores, {self.system})"


def detect_hardware() -> Hardware:
    """Probe the machine. Imports torch (plans need it; browsing commands never call this)."""
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
    )


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
