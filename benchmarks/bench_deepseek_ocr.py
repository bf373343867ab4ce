"""DeepSeek-OCR, native: agreement with the published code and CPU time per sample.

Rebuilds the reference folder of ``shared/tools/deepseek_ocr_reference`` (the published
DeepSeek-OCR with full-size vision towers and a 2-layer, 4-expert decoder; 748M parameters;
weights from the tool's seeded procedure, checked byte-identical), then on it and on the tiny twin:

- the largest logit difference against the published code's logits (recorded by the tool) over
  every position and a fixed 128-id vocabulary subset, and the argmax agreement per position;
- greedy decoding of 10 tokens through rrg's own generation path vs the published ``infer()``'s
  tokens (token-level agreement);
- CPU seconds per sample for Base-mode zero-shot generation (prefill + new tokens), batch 1, and
  the peak resident memory.

The published code's own timings on the same folder (recorded by the tool on this machine) are
printed beside rrg's as the baseline.

    python benchmarks/bench_deepseek_ocr.py [--threads 2] [--new-tokens 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

from deepseek_ocr_reference import REFERENCE, agreement, build_reference_folder, sha256
from PIL import Image
from rrg.generation import generate_reports
from rrg.models import get_family


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def time_generation(family, model, processor, image, new_tokens: int, repeats: int) -> float:
    sample = [{"question": REFERENCE["question"], "images": [image]}]
    generate_reports(model, processor, family, sample, max_new_tokens=new_tokens, batch_size=1)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        generate_reports(model, processor, family, sample, max_new_tokens=new_tokens, batch_size=1)
    return (time.perf_counter() - start) / repeats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    family = get_family("deepseek_ocr")

    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        folder = build_reference_folder(Path(work) / "tiny_model")
        built = time.perf_counter() - start
        identical = sha256(folder / "model.safetensors") == REFERENCE["weights_sha256"]
        print(f"reference folder rebuilt in {built:.1f} s; weights byte-identical to the tool's: {identical}")
        image = Image.open(folder / "image.png").convert("RGB")

        model, processor = family.load(str(folder))
        model.eval()
        found = agreement(family, model, processor, folder)
        n_greedy = len(REFERENCE["greedy_ids"])
        print(f"input ids identical to infer()'s: {found['inputs_identical']} ({found['n_tokens']} tokens, "
              f"{found['n_image_tokens']} image tokens)")
        print(f"logits vs the published code: max |diff| {found['logits_max_abs_diff']:.2e}, mean "
              f"{found['logits_mean_abs_diff']:.2e} over {found['n_tokens']} positions x 128 ids; argmax agreement "
              f"{found['argmax_agreement']:.1%}")
        print(f"greedy tokens vs infer(): {found['greedy_tokens_identical']}/{n_greedy} identical")
        forward = found["forward_seconds"]
        per_sample = time_generation(family, model, processor, image, args.new_tokens, args.repeats)
        baseline = REFERENCE["reference_cpu_seconds"]
        print(f"reference folder (748M params, 1024 px Base mode): forward {forward:.1f} s "
              f"(published code: {baseline['forward']:.1f} s); zero-shot {args.new_tokens} new tokens "
              f"{per_sample:.1f} s/sample (published infer(), 10 tokens: {baseline['infer_generate_10_tokens']:.1f} s); "
              f"peak RSS {peak_rss_gib():.2f} GiB")
        del model

    tiny, tiny_processor = family.load("tiny")
    tiny.eval()
    tiny_image = image.resize((256, 256))
    per_sample_tiny = time_generation(family, tiny, tiny_processor, tiny_image, args.new_tokens, args.repeats * 10)
    print(f"tiny twin ({family.count_parameters(tiny)['total'] / 1e3:.0f}k params, 128 px): "
          f"{per_sample_tiny * 1e3:.1f} ms/sample for {args.new_tokens} new tokens")
    return 0 if identical and found["inputs_identical"] and found["greedy_tokens_identical"] == n_greedy else 1


if __name__ == "__main__":
    raise SystemExit(main())
