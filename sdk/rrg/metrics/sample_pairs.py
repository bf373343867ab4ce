"""The bundled demo pairs for ``rrg score`` (``sdk/rrg/assets/sample_pairs.jsonl``).

Built deterministically from the bundled IU X-ray reports (``sdk/rrg/data/iu_xray_reports.jsonl``),
using whole report sections verbatim (the text is CC BY-NC-ND 4.0: no edits). Each pair plays a
generated report against a reference and has a ``kind`` saying what kind of "prediction" it is:

* ``identical``: the reference itself (a perfect output);
* ``near_impression``: the most similar *other* impression in the collection (a good output);
* ``near_findings``: the most similar other findings section (a plausible full report);
* ``random_impression``: the impression of a random other report (an unrelated output);
* ``findings_for_impression``: the same study's findings scored against its impression (right
  content, wrong section and length).

Regenerate with ``python -m rrg.metrics.sample_pairs`` (the test suite checks the shipped file
is exactly what this produces).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["SAMPLE_PAIRS", "build_sample_pairs", "write_sample_pairs"]

SAMPLE_PAIRS = Path(__file__).resolve().parent.parent / "assets" / "sample_pairs.jsonl"
REPORTS = Path(__file__).resolve().parent.parent / "data" / "iu_xray_reports.jsonl"

# pairs per kind, in file order
KIND_COUNTS: dict[str, int] = {
    "identical": 20,
    "near_impression": 50,
    "near_findings": 50,
    "random_impression": 50,
    "findings_for_impression": 30,
}

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _nearest(index: int, texts: list[str], words: list[frozenset[str]]) -> int:
    """The other text most similar to ``texts[index]`` (word Jaccard), not equal to it; ties to
    the lowest index."""
    best, best_score = -1, -1.0
    for j, w in enumerate(words):
        if j == index or texts[j] == texts[index]:
            continue
        score = _jaccard(words[index], w)
        if score > best_score:
            best, best_score = j, score
    return best


def build_sample_pairs(reports_path: Path = REPORTS, seed: int = 0) -> list[dict[str, Any]]:
    """The demo pairs (200 with the default :data:`KIND_COUNTS`), deterministic for a seed."""
    reports = [
        json.loads(line) for line in reports_path.read_text(encoding="utf-8").splitlines() if line
    ]
    reports = [r for r in reports if r.get("findings") and r.get("impression")]
    rng = random.Random(seed)
    order = list(range(len(reports)))
    rng.shuffle(order)
    picks = iter(order)

    impressions = [r["impression"] for r in reports]
    findings = [r["findings"] for r in reports]
    impression_words = [_words(t) for t in impressions]
    findings_words = [_words(t) for t in findings]

    def take(n: int) -> Iterable[int]:
        for _ in range(n):
            yield next(picks)

    pairs: list[dict[str, Any]] = []

    def add(kind: str, pred: tuple[int, str], ref: tuple[int, str]) -> None:
        source = {
            "prediction": f"{reports[pred[0]]['uid']}/{pred[1]}",
            "reference": f"{reports[ref[0]]['uid']}/{ref[1]}",
        }
        text = {"impression": impressions, "findings": findings}
        pairs.append(
            {
                "id": f"{kind}-{sum(1 for p in pairs if p['kind'] == kind):03d}",
                "kind": kind,
                "prediction": text[pred[1]][pred[0]],
                "reference": text[ref[1]][ref[0]],
                "source": source,
            }
        )

    for i in take(KIND_COUNTS["identical"]):
        section = "findings" if len(pairs) % 2 else "impression"
        add("identical", (i, section), (i, section))
    for i in take(KIND_COUNTS["near_impression"]):
        add(
            "near_impression",
            (_nearest(i, impressions, impression_words), "impression"),
            (i, "impression"),
        )
    for i in take(KIND_COUNTS["near_findings"]):
        add("near_findings", (_nearest(i, findings, findings_words), "findings"), (i, "findings"))
    for i in take(KIND_COUNTS["random_impression"]):
        j = rng.randrange(len(reports) - 1)
        j = j + 1 if j >= i else j
        add("random_impression", (j, "impression"), (i, "impression"))
    for i in take(KIND_COUNTS["findings_for_impression"]):
        add("findings_for_impression", (i, "findings"), (i, "impression"))
    return pairs


def render(pairs: list[dict[str, Any]]) -> str:
    """The JSON Lines text of ``pairs`` (one compact object per line, UTF-8)."""
    return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)


def write_sample_pairs(
    path: Path = SAMPLE_PAIRS, reports_path: Path = REPORTS, seed: int = 0
) -> Path:
    """Write the demo pairs to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(build_sample_pairs(reports_path, seed)), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_sample_pairs())
