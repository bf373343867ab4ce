"""Batched vs one-at-a-time greedy generation on a family's tiny twin.

Generates reports for the same samples (region questions like the benchmark's, two synthetic
views each) once in batches and once in a batch-1 loop, with the same ``max_new_tokens``,
prints samples per second for both and the speed-up, and checks that both produce identical
text (greedy decoding must not depend on left padding).

    python benchmarks/bench_generation.py                 # every family
    python benchmarks/bench_generation.py --family qwen3_vl --samples 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from PIL import Image
from rrg.generation import generate_reports
from rrg.models import FAMILY_NAMES, get_family

QUESTIONS = (
    "Write the part of the radiology report that describes the heart.",
    "Write the part of the radiology report that describes the lungs.",
    "Write the part of the radiology report that describes the pleura.",
    "Write the part of the radiology report that describes the mediastinum.",
    "Write the part of the radiology report that describes the bones.",
    "Write the findings section of the radiology report.",
    "Write the impression of the radiology report.",
)


def synthetic_view(seed: int, lateral: bool) -> Image.Image:
    """A grey chest-film-like image: thorax ellipse, darker lungs, noise."""
    rng = np.random.default_rng(seed)
    height, width = 128, 112 if lateral else 128
    ys, xs = np.mgrid[0:height, 0:width]
    thorax = ((ys - height / 2) / (0.45 * height)) ** 2 + (
        (xs - width / 2) / (0.42 * width)
    ) ** 2 < 1
    lungs = ((ys - height / 2) / (0.3 * height)) ** 2 + (
        (np.abs(xs - width / 2) - 0.2 * width) / (0.12 * width)
    ) ** 2 < 1
    pixels = 30 + 160 * thorax - 90 * (lungs & ~lateral) + rng.normal(0, 10, size=(height, width))
    return Image.fromarray(np.clip(pixels, 0, 255).astype("uint8"), mode="L").convert("RGB")


def make_samples(count: int) -> list[dict]:
    return [
        {
            "question": QUESTIONS[i % len(QUESTIONS)],
            "images": [
                synthetic_view(2 * i, lateral=False),
                synthetic_view(2 * i + 1, lateral=True),
            ],
        }
        for i in range(count)
    ]


def bench(family_name: str, samples: list[dict], batch_size: int, max_new_tokens: int) -> dict:
    import torch

    torch.manual_seed(0)
    family = get_family(family_name)
    model, processor = family.load("tiny")
    generate_reports(
        model, processor, family, samples[:2], max_new_tokens=4, batch_size=2
    )  # warm-up

    start = time.perf_counter()
    batched = generate_reports(
        model, processor, family, samples, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    single = generate_reports(
        model, processor, family, samples, max_new_tokens=max_new_tokens, batch_size=1
    )
    single_s = time.perf_counter() - start
    mismatches = sum(a != b for a, b in zip(batched, single))
    return {
        "family": family_name,
        "batched_sps": len(samples) / batched_s,
        "single_sps": len(samples) / single_s,
        "speedup": single_s / batched_s,
        "mismatches": mismatches,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--family", choices=FAMILY_NAMES, action="append", help="repeatable; default: all"
    )
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args(argv)

    samples = make_samples(args.samples)
    print(
        f"{args.samples} samples, 2 images each, max_new_tokens={args.max_new_tokens}, batch size {args.batch_size}"
    )
    print(
        f"{'family':<14} {'batched s/s':>12} {'batch-1 s/s':>12} {'speed-up':>9} {'identical':>10}"
    )
    failed = False
    for name in args.family or FAMILY_NAMES:
        row = bench(name, samples, args.batch_size, args.max_new_tokens)
        identical = "yes" if row["mismatches"] == 0 else f"no ({row['mismatches']})"
        failed |= row["mismatches"] > 0
        print(
            f"{row['family']:<14} {row['batched_sps']:>12.1f} {row['single_sps']:>12.1f} "
            f"{row['speedup']:>8.1f}× {identical:>10}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
