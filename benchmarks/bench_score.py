"""Peak memory and speed of ``rrg score`` on a large pairs file, against the whole-list path.

Builds a JSON Lines pairs file of realistic, mostly distinct texts from the IU X-ray reports
(``../shared/data/iu_xray_reports.jsonl`` beside the checkout by default): each reference is a report's findings or
impression; its prediction is either the same section of another report or a perturbed copy of
the reference (sentences dropped, swapped or borrowed from another report, laterality, severity,
size and negation words changed). Then, each in its own subprocess:

1. on a smaller file (``--compare-mb``, default 20 MB): ``rrg score`` and the whole-list path
   it replaced (``read_pairs`` + ``evaluate()`` on every pair + the per-sample lines written at
   the end), both with ``--per-sample``, alternated ``--repeat`` times; prints pairs/s (wall
   clock and CPU time) and peak RSS of each and the ratios of the best runs, and checks that the
   corpus values agree to 1e-12 and the per-sample files are byte-identical;
2. on the full file (``--size-mb``, default 200 MB, about 560,000 pairs): ``rrg score --json
   --per-sample``; prints pairs/s, peak RSS and its ratio to the 500 MB goal.

Peak RSS is each child's own ``VmHWM`` (``/proc/self/status``, read as it exits; Linux), CPU
time its ``ru_utime + ru_stime`` from ``os.wait4``. The machine may be shared, so the load
average is printed with every figure.

    python benchmarks/bench_score.py                 # 200 MB file, 20 MB comparison
    python benchmarks/bench_score.py --small         # 5 MB file, 2 MB comparison
    python benchmarks/bench_score.py --size-mb 50 --compare-mb 10 --workdir /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "iu_xray_reports.jsonl"
"""The 3,955 IU reports of the project's shared data, beside the checkout (pass --reports elsewhere)."""
GOAL_MB = 500.0
TOLERANCE = 1e-12

_SENTENCE_END = re.compile(r"(?<=\.)\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SWAPS = {
    "left": "right", "right": "left", "mild": "moderate", "moderate": "severe", "small": "large",
    "large": "small", "upper": "lower", "lower": "upper", "stable": "increased", "new": "old",
    "Left": "Right", "Right": "Left", "Mild": "Moderate", "Small": "Large",
}  # fmt: skip
_SWAP_RE = re.compile(r"\b(" + "|".join(_SWAPS) + r")\b")
_NEGATION_RE = re.compile(r"\b(No|no) (?=\w)")


def load_sections(path: Path) -> dict[str, list[str]]:
    """The findings and impression texts of every report, by section."""
    sections: dict[str, list[str]] = {"findings": [], "impression": []}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            report = json.loads(line)
            for key, texts in sections.items():
                if report.get(key):
                    texts.append(report[key])
    return sections


def perturb(text: str, pool: list[str], rng: random.Random) -> str:
    """A plausible wrong report: one to three edits of ``text``."""
    sentences = _SENTENCE_END.split(text)
    for _ in range(rng.randint(1, 3)):
        edit = rng.randrange(6)
        if edit == 0 and len(sentences) > 1:
            del sentences[rng.randrange(len(sentences))]
        elif edit == 1 and len(sentences) > 1:
            i, j = rng.sample(range(len(sentences)), 2)
            sentences[i], sentences[j] = sentences[j], sentences[i]
        elif edit == 2:
            borrowed = _SENTENCE_END.split(rng.choice(pool))
            sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(borrowed))
        elif edit == 3:
            i = rng.randrange(len(sentences))
            sentences[i] = _SWAP_RE.sub(lambda m: _SWAPS[m.group()], sentences[i], count=1)
        elif edit == 4:
            i = rng.randrange(len(sentences))
            sentences[i] = _NEGATION_RE.sub("", sentences[i], count=1)
        else:
            i = rng.randrange(len(sentences))
            sentences[i] = _NUMBER.sub(lambda m: str(rng.randint(1, 9)), sentences[i])
    return " ".join(sentences)


def build_pairs_file(path: Path, size_bytes: int, reports: Path, seed: int = 0) -> int:
    """Write pairs to ``path`` until it holds ``size_bytes``; the number of pairs."""
    sections = load_sections(reports)
    rng = random.Random(seed)
    n = 0
    written = 0
    with path.open("w", encoding="utf-8") as out:
        while written < size_bytes:
            section = "findings" if rng.random() < 0.5 else "impression"
            pool = sections[section]
            reference = rng.choice(pool)
            if rng.random() < 0.25:
                prediction = rng.choice(pool)
            else:
                prediction = perturb(reference, pool, rng)
            line = json.dumps(
                {"id": f"pair-{n:07d}", "prediction": prediction, "reference": reference},
                ensure_ascii=False,
            )
            out.write(line + "\n")
            written += len(line.encode("utf-8")) + 1
            n += 1
    return n


# Every child reports its own peak RSS as it exits: VmHWM, the high-water mark of its own memory
# map. (ru_maxrss would not do: Linux carries the parent's peak over into a child through fork
# and exec.)
REPORT_PEAK = """
    peak = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
    sys.stderr.write(f"\\npeak-kB {peak}\\n")
"""

# The path rrg score took before it streamed: every pair in memory, evaluate() on the whole list,
# the per-sample lines written at the end.
WHOLE_LIST = (
    """
import sys
from rrg.cli.output import dumps_json
from rrg.metrics import evaluate
from rrg.metrics.pairs_file import read_pairs

try:
    pairs, per_sample = sys.argv[1], sys.argv[2]
    records = read_pairs(pairs)
    evaluation = evaluate([r.prediction for r in records], [r.reference for r in records])
    with open(per_sample, "w", encoding="utf-8") as out:
        for record, row in zip(records, evaluation.per_sample):
            out.write(dumps_json({"id": record.id, **row}, indent=None) + "\\n")
    print(dumps_json(evaluation.to_json()))
finally:"""
    + REPORT_PEAK
)

RRG_SCORE = (
    """
import sys
from rrg.cli import main

try:
    main()
finally:"""
    + REPORT_PEAK
)


class Run:
    """One child's figures."""

    def __init__(self, output: dict, wall_s: float, cpu_s: float, peak_mb: float) -> None:
        self.output, self.wall_s, self.cpu_s, self.peak_mb = output, wall_s, cpu_s, peak_mb


def run_child(args: list[str]) -> Run:
    """Run a Python child: its JSON stdout, wall and CPU seconds, and peak RSS."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, *args], stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        errors = stderr.read().decode()
        if child.returncode != 0:
            sys.exit(f"child failed ({child.returncode}): {errors[-2000:]}")
        peak_kb = int(errors.rsplit("peak-kB ", 1)[1])
        cpu = usage.ru_utime + usage.ru_stime
        return Run(json.loads(stdout.read()), wall, cpu, peak_kb / 1024)


def whole_list(pairs: Path, per_sample: Path) -> Run:
    return run_child(["-c", WHOLE_LIST, str(pairs), str(per_sample)])


def rrg_score(pairs: Path, per_sample: Path) -> Run:
    return run_child(
        ["-c", RRG_SCORE, "score", str(pairs), "--json", "--per-sample", str(per_sample)]
    )


def figures(label: str, n: int, run: Run) -> str:
    return (
        f"  {label:22s} {n / run.wall_s:7,.0f} pairs/s wall, {n / run.cpu_s:7,.0f} pairs/s CPU, "
        f"peak RSS {run.peak_mb:6.0f} MB   ({load()})"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def compare_values(streamed: dict, whole: dict) -> float:
    """The largest difference between two ``--json`` outputs; exits if the keys differ."""
    a, b = flatten(streamed), flatten(whole)
    if a.keys() != b.keys():
        sys.exit(f"different keys: {sorted(a.keys() ^ b.keys())}")
    worst = 0.0
    for key, value in a.items():
        if isinstance(value, float) or isinstance(b[key], float):
            worst = max(worst, abs(float(value) - float(b[key])))
        elif value != b[key]:
            sys.exit(f"{key}: {value!r} != {b[key]!r}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200.0, help="size of the large file")
    parser.add_argument(
        "--compare-mb", type=float, default=20.0, help="size of the file both paths score"
    )
    parser.add_argument("--small", action="store_true", help="quick run: 5 MB and 2 MB files")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each path on the comparison file"
    )
    parser.add_argument("--reports", type=Path, default=REPORTS, help="IU X-ray reports JSONL")
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args()
    if args.small:
        args.size_mb, args.compare_mb = 5.0, 2.0

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)

        small = work / f"pairs_{args.compare_mb:g}mb.jsonl"
        n_small = build_pairs_file(small, int(args.compare_mb * 1e6), args.reports)
        print(f"comparison file: {n_small:,} pairs, {small.stat().st_size / 1e6:.1f} MB")
        whole_rows, stream_rows = work / "whole_rows.jsonl", work / "stream_rows.jsonl"
        wholes, streams = [], []
        for _ in range(args.repeat):  # alternated, best kept: the machine may be shared
            wholes.append(whole_list(small, whole_rows))
            print(figures("whole list (evaluate)", n_small, wholes[-1]))
            streams.append(rrg_score(small, stream_rows))
            print(figures("rrg score (streamed)", n_small, streams[-1]))
        whole = min(wholes, key=lambda r: r.wall_s)
        stream = min(streams, key=lambda r: r.wall_s)
        whole_cpu = min(r.cpu_s for r in wholes)
        stream_cpu = min(r.cpu_s for r in streams)
        print(
            f"  streamed / whole list, best of {args.repeat}: speed {whole.wall_s / stream.wall_s:.3f}x"
            f" wall, {whole_cpu / stream_cpu:.3f}x CPU; peak RSS {stream.peak_mb / whole.peak_mb:.3f}x"
        )
        worst = compare_values(stream.output, whole.output)
        same_rows = whole_rows.read_bytes() == stream_rows.read_bytes()
        print(
            f"  largest corpus-value difference {worst:.3g} (limit {TOLERANCE:g}); "
            f"per-sample files identical: {same_rows}"
        )
        if worst > TOLERANCE or not same_rows:
            sys.exit("the streamed values differ from the whole-list values")
        for path in (whole_rows, stream_rows, small):
            path.unlink()

        large = work / f"pairs_{args.size_mb:g}mb.jsonl"
        n_large = build_pairs_file(large, int(args.size_mb * 1e6), args.reports)
        print(f"large file: {n_large:,} pairs, {large.stat().st_size / 1e6:.1f} MB")
        run = rrg_score(large, work / "large_rows.jsonl")
        print(figures("rrg score (streamed)", n_large, run))
        print(
            f"  peak RSS {run.peak_mb:.0f} MB = {run.peak_mb / GOAL_MB:.2f} of the {GOAL_MB:.0f} MB "
            f"goal; {run.wall_s:.0f} s"
        )
        if run.output["n"] != n_large:
            sys.exit(f"rrg score counted {run.output['n']} pairs, the file has {n_large}")


if __name__ == "__main__":
    main()
