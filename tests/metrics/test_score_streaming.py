"""``rrg score`` streams: the corpus values of ``evaluate()``, today's per-sample lines, no partial
output on a late bad line, and a peak memory that does not grow with the file."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rrg.cli import cli
from rrg.cli.output import dumps_json
from rrg.metrics import evaluate, green_flare, streaming
from rrg.metrics.pairs_file import count_lines, iter_pairs, read_pairs
from rrg.metrics.sample_pairs import REPORTS
from rrg.metrics.streaming import ExactSum, RunningStats, StreamingEvaluator, evaluate_stream

TOLERANCE = 1e-12


def iu_texts() -> list[str]:
    """The distinct findings and impression sections of the bundled IU X-ray reports."""
    texts: dict[str, None] = {}
    for line in REPORTS.read_text(encoding="utf-8").splitlines():
        report = json.loads(line)
        for key in ("findings", "impression"):
            if report.get(key):
                texts[report[key]] = None
    return list(texts)


def iu_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` pairs of real IU texts: mostly another report's section, some identical, some a
    sentence short, a few empty predictions."""
    texts = iu_texts()
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        reference = rng.choice(texts)
        kind = rng.random()
        if kind < 0.6:
            prediction = rng.choice(texts)
        elif kind < 0.75:
            prediction = reference
        elif kind < 0.98:
            sentences = reference.split(". ")
            prediction = ". ".join(sentences[1:] or sentences)
        else:
            prediction = ""
        pairs.append((prediction, reference))
    return pairs


def write_pairs(path: Path, pairs: list[tuple[str, str]], ids: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i, (prediction, reference) in enumerate(pairs):
            record = {"prediction": prediction, "reference": reference}
            if ids and i % 3:
                record["id"] = f"s{i}" if i % 2 else i * 10
            out.write(json.dumps(record) + "\n")
    return path


def assert_same_corpus(streamed, whole) -> None:
    """Every corpus value equal to 1e-12, every count, key, order and string exactly."""
    assert streamed.metrics == whole.metrics
    assert list(streamed.summary) == list(whole.summary)
    assert streamed.summary["n"] == whole.summary["n"]
    for key, value in whole.summary.items():
        assert math.isclose(streamed.summary[key], value, rel_tol=0, abs_tol=TOLERANCE), key
    assert list(streamed.details) == list(whole.details)
    if "green_flare" in whole.details:
        got, want = streamed.details["green_flare"], whole.details["green_flare"]
        assert list(got) == list(want)
        for key, value in want.items():
            if key == "most_missed_entities":
                assert list(got[key].items()) == list(value.items())  # counts and tie order
            else:
                assert math.isclose(got[key], value, rel_tol=0, abs_tol=TOLERANCE), key
    for name in ("bleu4", "radgraph_f1"):
        if name in whole.details:
            assert streamed.details[name] == whole.details[name]
    assert streamed.to_json().keys() == whole.to_json().keys()


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    return iu_pairs(1500)


@pytest.mark.parametrize("chunk", [1, 64, 1000, 5000])
def test_streamed_corpus_values_equal_evaluate(pairs, chunk):
    predictions, references = [p for p, _ in pairs], [r for _, r in pairs]
    whole = evaluate(predictions, references)
    stream = StreamingEvaluator()
    for start in range(0, len(pairs), chunk):
        stream.add(predictions[start : start + chunk], references[start : start + chunk])
    streamed = stream.result()
    assert streamed.n == 1500
    assert_same_corpus(streamed, whole)
    # and green_flare's aggregate is the reference's, on the whole list
    results = green_flare.score_pairs(predictions, references)
    assert streamed.details["green_flare"].keys() == green_flare.aggregate(results).keys()


def test_truncation_and_scorer_renewal_keep_the_values(pairs, monkeypatch):
    # a green_flare scorer that may cache only 150 texts is replaced many times over the stream
    monkeypatch.setattr(streaming, "GREEN_FLARE_CACHE_TEXTS", 150)
    predictions, references = [p for p, _ in pairs], [r for _, r in pairs]
    whole = evaluate(predictions, references, truncate_chars=120)
    streamed = evaluate_stream(
        [_Pair(p, r) for p, r in pairs], truncate_chars=120, chunk_pairs=50, rows=False
    )
    assert streamed.truncate_chars == 120
    assert_same_corpus(streamed, whole)


def test_radgraph_f1_streams_with_one_scorer(pairs, monkeypatch):
    from rrg.metrics import radgraph_f1

    annotated: list[int] = []

    def annotator(texts):
        annotated.append(len(texts))
        out = {}
        for i, text in enumerate(texts):
            words = sorted({w.strip(".,").lower() for w in text.split()} - {""})[:6]
            out[str(i)] = {
                "text": text,
                "entities": {
                    str(k): {"tokens": w, "label": "Observation::definitely present",
                             "start_ix": k, "end_ix": k, "relations": []}
                    for k, w in enumerate(words)
                },
            }  # fmt: skip
        return out

    scorers = []

    class FakeRadGraph(radgraph_f1.RadGraphF1):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, annotator=annotator, **kwargs)
            scorers.append(self)

    monkeypatch.setattr(radgraph_f1, "RadGraphF1", FakeRadGraph)
    predictions, references = [p for p, _ in pairs[:400]], [r for _, r in pairs[:400]]
    whole = evaluate(predictions, references, ["radgraph_f1", "ce"])
    scorers.clear()
    stream = StreamingEvaluator(["radgraph_f1", "ce"])
    rows = []
    for start in range(0, 400, 100):
        rows += stream.add(predictions[start : start + 100], references[start : start + 100])
    assert len(scorers) == 2  # one for the availability check, one for the whole stream
    assert_same_corpus(stream.result(), whole)
    assert rows == whole.per_sample


class _Pair:
    def __init__(self, prediction: str, reference: str) -> None:
        self.prediction, self.reference = prediction, reference


def run(*args: str):
    return CliRunner().invoke(cli, ["score", *args])


def test_per_sample_file_equals_the_whole_list_output(pairs, tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_PAIRS", 128)
    path = write_pairs(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "rows.jsonl"
    result = run(str(path), "--json", "--per-sample", str(out))
    assert result.exit_code == 0, result.output

    # today's output: every pair read, evaluate() on the list, one line per pair at the end
    records = read_pairs(path)
    whole = evaluate([r.prediction for r in records], [r.reference for r in records])
    expected = "".join(
        dumps_json({"id": r.id, **row}, indent=None) + "\n"
        for r, row in zip(records, whole.per_sample, strict=True)
    )
    assert out.read_text(encoding="utf-8") == expected
    data = json.loads(result.stdout)
    assert data["n"] == 1500
    for name in ("bleu4_flare", "bleu4", "ce", "rouge_l"):
        assert math.isclose(data[name], whole.summary[name], rel_tol=0, abs_tol=TOLERANCE)
    assert math.isclose(
        data["green_flare"]["overall"], whole.summary["green_flare"], rel_tol=0, abs_tol=TOLERANCE
    )
    assert sorted(os.listdir(tmp_path)) == ["pairs.jsonl", "rows.jsonl"]  # no temporary left


def test_bad_line_late_leaves_no_per_sample_file(pairs, tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_PAIRS", 100)
    path = write_pairs(tmp_path / "pairs.jsonl", pairs)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"prediction": "No effusion.", "reference": 7}\n')
    out = tmp_path / "rows.jsonl"
    result = run(str(path), "--per-sample", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path}:1501: field 'reference' must be a string, got number"
        ' (hint: one JSON object per line: {"id": ..., "prediction": "...", "reference": "..."})\n'
    )
    assert result.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["pairs.jsonl"]  # no rows file, no temporary

    # an existing per-sample file is left as it was
    out.write_text("earlier rows\n", encoding="utf-8")
    result = run(str(path), "--per-sample", str(out))
    assert result.exit_code == 2
    assert out.read_text(encoding="utf-8") == "earlier rows\n"
    assert sorted(os.listdir(tmp_path)) == ["pairs.jsonl", "rows.jsonl"]


def test_per_sample_file_that_cannot_be_completed_is_one_line(tmp_path, monkeypatch):
    import errno

    path = write_pairs(tmp_path / "pairs.jsonl", iu_pairs(5))
    out = tmp_path / "rows.jsonl"

    def full_disk(source, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    result = run(str(path), "--per-sample", str(out), "--metrics", "ce")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {out}: cannot write the per-sample file (No space left on device)"
    )
    assert result.stderr.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["pairs.jsonl"]


def test_sigterm_while_scoring_leaves_no_per_sample_file(tmp_path):
    path = write_pairs(tmp_path / "pairs.jsonl", iu_pairs(20_000))
    out = tmp_path / "rows.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", "from rrg.cli import main; main()", "score", str(path),
         "--per-sample", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    assert stderr == "Interrupted: stopped by signal 15\n"
    assert stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["pairs.jsonl"]


def test_per_sample_file_keeps_the_umask_mode(tmp_path):
    path = write_pairs(tmp_path / "pairs.jsonl", iu_pairs(5))
    out = tmp_path / "rows.jsonl"
    old = os.umask(0o022)
    try:
        assert run(str(path), "--per-sample", str(out), "--metrics", "ce").exit_code == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_progress_on_a_terminal_counts_pairs_and_lines(tmp_path, monkeypatch):
    from rrg.cli import score as score_command

    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal
    monkeypatch.setattr(score_command, "PROGRESS_MIN_PAIRS", 100)
    monkeypatch.setattr(streaming, "CHUNK_PAIRS", 40)
    path = write_pairs(tmp_path / "pairs.jsonl", iu_pairs(120))
    result = run(str(path), "--metrics", "ce", "--json")
    assert result.exit_code == 0, result.output
    assert "scoring: 120 pairs" in result.stderr and "line 120/120" in result.stderr
    assert json.loads(result.stdout)["n"] == 120

    small = write_pairs(tmp_path / "small.jsonl", iu_pairs(99))
    result = run(str(small), "--metrics", "ce", "--json")
    assert result.exit_code == 0
    assert result.stderr == ""  # fewer lines than PROGRESS_MIN_PAIRS: no bar


def test_reader_yields_pairs_before_reaching_a_bad_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(
        b'{"prediction": "a", "reference": "b"}\r\n'
        b'\r\n'
        b'{"id": "x", "prediction": "c", "reference": "d"}\r'
        b'{"prediction": "e", "reference": "f"}\n'
        b"not json\n"
    )  # fmt: skip
    reader = iter_pairs(path)
    first = next(reader)
    assert (first.id, first.prediction, first.line) == (0, "a", 1)
    assert [(p.id, p.line) for p in (next(reader), next(reader))] == [("x", 3), (2, 4)]
    with pytest.raises(Exception, match=rf"{path}:5: not valid JSON"):
        next(reader)
    assert count_lines(path) == 4  # "\n" ends a line (progress only)


def test_tokenized_warning_once_over_the_stream(caplog):
    predictions = ["There is no effusion ."] * 300
    references = ["No effusion."] * 300
    stream = StreamingEvaluator(["bleu4"])
    with caplog.at_level(logging.WARNING, logger="sacrebleu"):
        for start in range(0, 300, 60):  # no chunk has 100 such lines, the stream has 300
            stream.add(predictions[start : start + 60], references[start : start + 60])
    messages = [r.getMessage() for r in caplog.records if r.name == "sacrebleu"]
    assert messages[0] == "That's 100 lines that end in a tokenized period ('.')"
    assert len(messages) == 3
    assert stream.result().summary["bleu4"] == pytest.approx(
        evaluate(predictions, references, ["bleu4"]).summary["bleu4"], abs=TOLERANCE
    )


def test_exact_sum_and_running_stats():
    rng = random.Random(3)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-20, 20) for _ in range(5000)]
    total = ExactSum()
    stats = RunningStats()
    for start in range(0, len(values), 333):
        total.add(values[start : start + 333])
    assert total.value == math.fsum(values)  # exactly rounded, whatever the chunking

    scores = [rng.random() for _ in range(5000)] + [0.3] * 5000
    for start in range(0, len(scores), 777):
        stats.add(scores[start : start + 777])
    array = np.array(scores)
    assert stats.mean == math.fsum(scores) / len(scores)
    assert math.isclose(stats.std, float(np.std(array)), rel_tol=0, abs_tol=1e-15)
    assert (stats.minimum, stats.maximum) == (min(scores), max(scores))

    constant = RunningStats()
    for _ in range(10):
        constant.add([0.1] * 1000)
    assert constant.std < 1e-15  # no cancellation into a spurious spread


def test_recurring_cache_keeps_what_recurs_within_its_budget():
    computed: list[str] = []

    def compute(key: str) -> str:
        computed.append(key)
        return key.upper()

    cache = streaming.RecurringCache(compute, budget=3)
    assert [cache(k) for k in ("a", "b", "c", "a", "b")] == ["A", "B", "C", "A", "B"]
    assert computed == ["a", "b", "c"]  # room left: every value kept
    assert cache("d") == "D" and cache("d") == "D"  # full: kept from its second sighting
    assert computed == ["a", "b", "c", "d", "d"]
    assert len(cache) == 3
    cache("d"), cache("a"), cache("b")  # "c" was the least recently used, so it went
    assert computed == ["a", "b", "c", "d", "d"]
    cache("c")
    assert computed[-1] == "c"

    sized = streaming.RecurringCache(compute, budget=10, size=len)
    sized("x" * 8)
    sized("y" * 11), sized("y" * 11)  # larger than the whole budget: never kept
    assert len(sized) == 1 and computed.count("y" * 11) == 2


def test_peak_memory_does_not_follow_the_file(tmp_path):
    """50,000 pairs (the whole-list path needs about 600 MB for them): peak RSS stays well under
    the 500 MB goal."""
    texts = iu_texts()
    rng = random.Random(7)
    path = tmp_path / "large.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(50_000):
            reference = rng.choice(texts)
            # distinct predictions: a real section with one of its words replaced
            words = reference.split()
            words[rng.randrange(len(words))] = rng.choice(("left", "right", "mild", f"n{i}"))
            out.write(json.dumps({"id": i, "prediction": " ".join(words), "reference": reference}))
            out.write("\n")
    rows = tmp_path / "rows.jsonl"
    # The child reports its own peak RSS as it exits: VmHWM, the high-water mark of its own
    # memory map. (ru_maxrss would not do: Linux carries the parent's peak over into a child
    # through fork and exec, and this test process may be larger than the child.)
    script = (
        "import sys\n"
        "from rrg.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()\n"
        "    print(int(status[0]), file=sys.stderr)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, "score", str(path), "--json", "--per-sample", str(rows),
         "--metrics", "green_flare,bleu4_flare,ce"],
        check=False,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    peak_mb = int(child.stderr.splitlines()[-1]) / 1024  # VmHWM is in kB
    assert json.loads(child.stdout)["n"] == 50_000
    assert sum(1 for _ in rows.open(encoding="utf-8")) == 50_000
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"
