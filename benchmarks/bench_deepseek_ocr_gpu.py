"""DeepSeek-OCR, native, on a CUDA GPU: bf16 agreement with the published code, and the cost of the
study's settings at full size.

1. The reference folder of ``shared/tools/deepseek_ocr_reference`` (rebuilt as in
   ``bench_deepseek_ocr.py``) in fp32 (TF32 off) and in bf16 on the GPU: largest logit difference
   against the published code's fp32 CPU logits, argmax agreement over all positions, and greedy
   token agreement with the published ``infer()``.
2. The published DeepSeek-OCR configuration at full size (12 decoder layers, 64 routed experts,
   top-6, 2 shared; 3.3B parameters) with random bf16 weights: Base-mode zero-shot generation
   (batch 8, ``--new-tokens`` each; a random model never stops early) in samples per second, and
   the study's LoRA SFT step (r=16, α=32 on q,k,v,o,gate,up,down including every expert, batch 1,
   a 1,024 px radiograph and a 300-token answer, gradient checkpointing) in seconds per step, with
   peak GPU memory for each.

    python benchmarks/bench_deepseek_ocr_gpu.py [--new-tokens 256] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

from deepseek_ocr_reference import REFERENCE, agreement, build_reference_folder, sha256
from PIL import Image
from rrg.models import get_family

DEVICE = "cuda"

FULL_SIZE = {  # the published config.json's language model
    "num_hidden_layers": 12,
    "n_routed_experts": 64,
    "num_experts_per_tok": 6,
    "n_shared_experts": 2,
    "intermediate_size": 6848,
    "moe_intermediate_size": 896,
}


def _device_name() -> str:
    return torch.cuda.get_device_name() if DEVICE == "cuda" else "CPU"


def _sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _peak() -> int:
    return torch.cuda.max_memory_allocated() if DEVICE == "cuda" else 0


def _reset_peak() -> None:
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def reference_agreement(folder: Path, dtype: torch.dtype, report: dict) -> None:
    family = get_family("deepseek_ocr")
    model, processor = family.load(str(folder), dtype=dtype, device=DEVICE)
    found = agreement(family, model.eval(), processor, folder, device=DEVICE)
    name = str(dtype).removeprefix("torch.")
    report[f"reference_{name}"] = found
    print(f"reference folder, {name} on {_device_name()}: max |logit diff| {found['logits_max_abs_diff']:.2e} "
          f"(mean {found['logits_mean_abs_diff']:.2e}), argmax agreement {found['argmax_agreement']:.1%}, "
          f"greedy tokens {found['greedy_tokens_identical']}/{len(REFERENCE['greedy_ids'])}", flush=True)
    del model
    if DEVICE == "cuda":
        torch.cuda.empty_cache()


def full_size(folder: Path, new_tokens: int, steps: int, report: dict) -> None:
    from peft import LoraConfig, get_peft_model
    from rrg.models.deepseek_ocr_native.configuration import DeepseekOcrConfig
    from rrg.models.deepseek_ocr_native.modeling import DeepseekOcrForCausalLM

    family = get_family("deepseek_ocr")
    processor = family._load_processor(str(folder), revision=None, trust_remote_code=False)
    config = DeepseekOcrConfig.from_pretrained(str(folder), **FULL_SIZE)
    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = DeepseekOcrForCausalLM._from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    for key, value in family.generation_defaults.items():
        setattr(model.generation_config, key, value)
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    image = Image.open(folder / "image.png").convert("RGB")
    question = "Write the findings section of the radiology report."

    model.eval()
    batch = 8
    prompts = [family.prompt_text(processor, question, 1)] * batch
    inputs = family.processor_inputs(processor, prompts, [[image]] * batch).to(DEVICE)
    _reset_peak()
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=8, do_sample=False, min_new_tokens=8)  # warm-up
        _sync()
        start = time.perf_counter()
        out = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        _sync()
    elapsed = time.perf_counter() - start
    generated = out.shape[1] - inputs["input_ids"].shape[1]
    report["full_size_generation"] = {
        "parameters": params, "batch": batch, "new_tokens": generated,
        "samples_per_second": batch / elapsed, "seconds_per_sample": elapsed / batch,
        "peak_memory_gib": _peak() / 2**30,
    }
    print(f"full size ({params / 1e9:.2f}B params, bf16): zero-shot batch {batch} x {generated} new tokens in "
          f"{elapsed:.1f} s = {elapsed / batch:.2f} s/sample; peak {gib(_peak())}", flush=True)

    target = family.lora_target_modules(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=target))
    peft_model.train()
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=2e-4)
    answer = " ".join(["The heart size is normal and the lungs are clear without focal consolidation."] * 20)
    text = family.prompt_text(processor, question, 1) + answer + processor.tokenizer.eos_token
    train = family.processor_inputs(processor, [text], [[image]], padding_side="right").to(DEVICE)
    labels = train["input_ids"].masked_fill(train["input_ids"] == config.image_token_id, -100)
    _reset_peak()
    times = []
    for _ in range(steps + 1):
        _sync()
        start = time.perf_counter()
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            loss = peft_model(**train, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync()
        times.append(time.perf_counter() - start)
    step = sum(times[1:]) / steps
    report["full_size_sft_step"] = {
        "tokens": int(train["input_ids"].shape[1]), "trainable_parameters": trainable,
        "seconds_per_step": step, "peak_memory_gib": _peak() / 2**30,
        "loss": float(loss.detach()),
    }
    print(f"full size LoRA SFT step ({train['input_ids'].shape[1]} tokens, {trainable / 1e6:.1f}M trainable): "
          f"{step:.3f} s/step; peak {gib(_peak())}; loss {float(loss.detach()):.3f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--device", default="cuda", help="cuda (the figures); cpu only checks that the script runs")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("this benchmark needs a CUDA GPU (bench_deepseek_ocr.py measures the CPU)", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report: dict = {"device": _device_name(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as work:
        folder = build_reference_folder(Path(work) / "tiny_model")
        report["weights_byte_identical"] = sha256(folder / "model.safetensors") == REFERENCE["weights_sha256"]
        print(f"reference folder rebuilt; weights byte-identical to the tool's: {report['weights_byte_identical']}", flush=True)
        reference_agreement(folder, torch.float32, report)
        reference_agreement(folder, torch.bfloat16, report)
        full_size(folder, args.new_tokens, args.steps, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
