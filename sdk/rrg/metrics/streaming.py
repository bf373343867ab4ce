"""Scoring a stream of pairs in bounded memory, with the corpus values of :func:`evaluate`.

:func:`~rrg.metrics.evaluation.evaluate` keeps every prediction, reference and per-pair row in
memory, which suits the engine (a validation set). ``rrg score`` reads files of any size, so it
scores pairs in chunks and folds each chunk into running corpus statistics:

* means (``green_flare`` and its components, ``severity_correlation``, ``ce``, ``rouge_l``,
  ``radgraph_f1``, the per-order precisions of ``bleu4_flare``) from an exact running sum
  (``math.fsum`` partials, so the sum is exactly rounded however long the stream);
* the population standard deviations of the green_flare aggregate by combining per-chunk sums
  of squared deviations (Chan, Golub and LeVeque's pairwise update), minima and maxima;
* integer totals for the entity statistics and ``bleu4_flare``'s brevity penalty, and one
  running :class:`~collections.Counter` for ``most_missed_entities`` (updated in pair order, so
  ties come out in the same order as in :func:`~rrg.metrics.green_flare.aggregate`);
* sacreBLEU's sufficient statistics (hypothesis and reference lengths, matched and total n-gram
  counts) for the corpus ``bleu4``, summed and turned into a score once at the end, as
  ``BLEU.corpus_score`` does on the whole list.

The result equals :func:`evaluate` on the whole list to within floating-point rounding (well
under 1e-12), and the per-pair rows are the same. Memory is bounded by one chunk
(:data:`CHUNK_PAIRS` pairs) and by the caches that keep recurring references as fast as on a
whole list: green_flare's per-text analyses live in a
:class:`~rrg.metrics.green_flare.GreenFlareScorer` that is replaced once it has seen
:data:`GREEN_FLARE_CACHE_TEXTS` distinct texts (or :data:`GREEN_FLARE_CACHE_CHARS` characters);
bleu4_flare's n-gram counts, ce's categories and rouge_l's per-pair values are kept in
:class:`RecurringCache` objects within :data:`BLEU4_FLARE_CACHE_TOKENS` tokens and
:data:`RECURRING_CACHE_ENTRIES` entries.

>>> stream = StreamingEvaluator(["green_flare", "ce"])
>>> _ = stream.add(["No pneumothorax."], ["Pneumothorax."])
>>> _ = stream.add(["Heart size normal."], ["Heart size normal."])
>>> result = stream.result()
>>> result.n, result.summary["ce"]
(2, 1.0)
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from rrg.errors import RrgError
from rrg.metrics.evaluation import Evaluation, truncate
from rrg.metrics.registry import DEFAULT_METRICS, METRICS, MetricValues

__all__ = [
    "BLEU4_FLARE_CACHE_TOKENS",
    "CHUNK_PAIRS",
    "GREEN_FLARE_CACHE_CHARS",
    "GREEN_FLARE_CACHE_TEXTS",
    "RECURRING_CACHE_ENTRIES",
    "ExactSum",
    "RecurringCache",
    "RunningStats",
    "StreamingEvaluator",
    "evaluate_stream",
]

CHUNK_PAIRS = 1024
"""Pairs scored together by :func:`evaluate_stream` (and per progress update of ``rrg score``)."""

GREEN_FLARE_CACHE_TEXTS = 50_000
"""Distinct texts one green_flare scorer analyses (and caches) before a fresh one replaces it."""

GREEN_FLARE_CACHE_CHARS = 10_000_000
"""Characters of distinct text one green_flare scorer caches before a fresh one replaces it."""

BLEU4_FLARE_CACHE_TOKENS = 300_000
"""Tokens of recurring texts whose n-gram counts bleu4_flare keeps across chunks (about
0.4 kB each)."""

RECURRING_CACHE_ENTRIES = 20_000
"""Recurring texts (ce categories) and pairs (rouge_l values) kept across chunks."""


# --------------------------------------------------------------------------------------------
# Running statistics
# --------------------------------------------------------------------------------------------


class ExactSum:
    """The exact sum of a stream of floats, kept as non-overlapping partials.

    After every :meth:`add`, ``partials`` sum exactly (in real arithmetic) to the sum of every
    value added; :attr:`value` is that sum correctly rounded, what ``math.fsum`` gives on the
    whole stream at once.
    """

    __slots__ = ("partials",)

    def __init__(self) -> None:
        self.partials: list[float] = []

    def add(self, values: Iterable[float]) -> None:
        terms = [*self.partials, *values]
        partials: list[float] = []
        while True:
            # the rounded remainder; each round takes the next 53 bits, so a few rounds suffice
            total = math.fsum(terms)
            if total == 0.0:
                break
            partials.append(total)
            if not math.isfinite(total):
                break
            terms.append(-total)
        self.partials = partials

    @property
    def value(self) -> float:
        return math.fsum(self.partials)


class RunningStats:
    """Count, exactly rounded mean, population standard deviation, minimum and maximum of a
    stream of floats, fed a chunk at a time.

    The standard deviation combines each chunk's sum of squared deviations from its own mean
    with the running one (Chan, Golub and LeVeque), which keeps it as accurate as the two-pass
    ``numpy.std`` of the whole stream.
    """

    __slots__ = ("count", "maximum", "minimum", "squares", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = ExactSum()
        self.squares = 0.0  # sum of squared deviations from the running mean
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, values: Sequence[float]) -> None:
        import numpy as np

        m = len(values)
        if m == 0:
            return
        chunk = np.asarray(values, dtype=np.float64)
        chunk_mean = math.fsum(values) / m
        deviations = chunk - chunk_mean
        chunk_squares = float(np.dot(deviations, deviations))
        if self.count:
            delta = chunk_mean - self.mean
            chunk_squares += delta * delta * (self.count * m / (self.count + m))
        self.squares += chunk_squares
        self.count += m
        self.total.add(values)
        self.minimum = min(self.minimum, float(chunk.min()))
        self.maximum = max(self.maximum, float(chunk.max()))

    @property
    def mean(self) -> float:
        return self.total.value / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        return math.sqrt(self.squares / self.count) if self.count else 0.0


# --------------------------------------------------------------------------------------------
# One accumulator per metric
# --------------------------------------------------------------------------------------------


class _MetricStream(Protocol):
    def add(
        self, predictions: list[str], references: list[str], rows: list[dict[str, Any]] | None
    ) -> None:
        """Score one chunk; write the per-pair values into ``rows`` when given."""

    def values(self) -> MetricValues:
        """The corpus values over every chunk so far (``per_sample`` is ``None``)."""


class _GreenFlareStream:
    """green_flare: the values of :func:`rrg.metrics.green_flare.aggregate`, kept running."""

    def __init__(self) -> None:
        from rrg.metrics import green_flare

        self._gf = green_flare
        self._stats = {key: RunningStats() for key in green_flare.SCORE_KEYS}
        self._ref_entities = 0
        self._gen_entities = 0
        self._matched_types = 0
        self._missed: Counter[str] = Counter()
        self._scorer: Any = None
        self._seen: set[str] = set()
        self._seen_chars = 0

    def _scorer_for(self, texts: Iterable[str]) -> Any:
        """The scorer for a chunk made of ``texts``: the current one, or a fresh one when the
        texts it would have cached pass the budget."""
        new = [t for t in dict.fromkeys(texts) if t not in self._seen]
        chars = sum(map(len, new))
        if (
            self._scorer is None
            or len(self._seen) + len(new) > GREEN_FLARE_CACHE_TEXTS
            or self._seen_chars + chars > GREEN_FLARE_CACHE_CHARS
        ):
            self._scorer = self._gf.GreenFlareScorer()
            self._seen = set()
            self._seen_chars = 0
            new = list(dict.fromkeys(texts))
            chars = sum(map(len, new))
        self._seen.update(new)
        self._seen_chars += chars
        return self._scorer

    def add(
        self, predictions: list[str], references: list[str], rows: list[dict[str, Any]] | None
    ) -> None:
        scorer = self._scorer_for([*predictions, *references])
        results = [scorer.score(p, r) for p, r in zip(predictions, references, strict=True)]
        for key, stats in self._stats.items():
            stats.add([getattr(r, key) for r in results])
        for r in results:
            details = r.entity_details
            self._ref_entities += details.total_ref_entities
            self._gen_entities += details.total_gen_entities
            self._matched_types += details.matched_entity_types
            self._missed.update(details.missed_entity_types)
        if rows is not None:
            keys = (*self._gf.COMPONENTS, "severity_correlation")
            for row, r in zip(rows, results, strict=True):
                row["green_flare"] = r.overall
                for key in keys:
                    row[key] = getattr(r, key)
                row["entity_details"] = r.entity_details.as_dict()

    def aggregate(self) -> dict[str, Any]:
        """What :func:`~rrg.metrics.green_flare.aggregate` gives on every result so far."""
        out: dict[str, Any] = {}
        for key, stats in self._stats.items():
            if stats.count:
                out[f"{key}_mean"] = stats.mean
                out[f"{key}_std"] = stats.std
                out[f"{key}_min"] = stats.minimum
                out[f"{key}_max"] = stats.maximum
            else:
                for stat in ("mean", "std", "min", "max"):
                    out[f"{key}_{stat}"] = 0.0
        n = self._stats["overall"].count
        if n:
            out["avg_ref_entities"] = self._ref_entities / n
            out["avg_gen_entities"] = self._gen_entities / n
            out["avg_matched_types"] = self._matched_types / n
            if self._missed:
                out["most_missed_entities"] = dict(self._missed.most_common(5))
        return out

    def values(self) -> MetricValues:
        aggregate = self.aggregate()
        summary = {"green_flare": aggregate["overall_mean"]}
        for key in (*self._gf.COMPONENTS, "severity_correlation"):
            summary[key] = aggregate[f"{key}_mean"]
        return MetricValues(summary, None, {"green_flare": aggregate})


class RecurringCache:
    """Values computed from keys (texts, pairs of texts), kept across chunks for keys that
    recur, within ``budget`` units (``size`` of each value, 1 by default).

    Until the budget is used up every value is kept, as a per-call cache over the whole list
    would. After that a new key's value is kept only from its second sighting on, in place of
    the least recently used: references that come back throughout a long stream stay cached
    while one-off predictions pass through. Keys seen once are remembered as bits of a 1 MiB
    hash bitmap (a collision only admits a key one sighting early), cleared after ``max_seen``
    keys.
    """

    _SEEN_BITS = 1 << 23

    def __init__(
        self,
        compute: Callable[[Any], Any],
        budget: int,
        size: Callable[[Any], int] | None = None,
        max_seen: int = 1_000_000,
    ) -> None:
        self._compute = compute
        self._size = size
        self._budget = budget
        self._max_seen = max_seen
        self._values: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._used = 0
        self._seen = bytearray(self._SEEN_BITS >> 3)
        self._seen_count = 0

    def __len__(self) -> int:
        return len(self._values)

    def __call__(self, key: Any) -> Any:
        found = self._values.get(key)
        if found is not None:
            self._values.move_to_end(key)
            return found[0]
        value = self._compute(key)
        size = 1 if self._size is None else self._size(value)
        if self._used + size > self._budget:
            bit = hash(key) & (self._SEEN_BITS - 1)
            mask = 1 << (bit & 7)
            if not self._seen[bit >> 3] & mask:
                if self._seen_count >= self._max_seen:
                    self._seen = bytearray(self._SEEN_BITS >> 3)
                    self._seen_count = 0
                self._seen[bit >> 3] |= mask
                self._seen_count += 1
                return value
            if size > self._budget:
                return value
            while self._used + size > self._budget:
                _, (_, dropped) = self._values.popitem(last=False)
                self._used -= dropped
        self._values[key] = (value, size)
        self._used += size
        return value


class _Bleu4FlareStream:
    """bleu4_flare: per-order sums of the per-sample precisions and the corpus token totals,
    combined as :func:`rrg.metrics.bleu.bleu4_flare` combines them."""

    def __init__(self) -> None:
        from rrg.metrics.bleu import MAX_ORDER, _NgramCounts

        self._order = MAX_ORDER
        self._precisions = [ExactSum() for _ in range(self._order)]
        self._count = 0
        self._pred_tokens = 0
        self._ref_tokens = 0
        # n-gram counts take about 0.4 kB a token
        self._counts = RecurringCache(
            lambda text: _NgramCounts(text, self._order),
            BLEU4_FLARE_CACHE_TOKENS,
            size=lambda counts: counts.length + 4,
        )

    def add(
        self, predictions: list[str], references: list[str], rows: list[dict[str, Any]] | None
    ) -> None:
        counts = self._counts
        per_order: list[list[float]] = [[] for _ in range(self._order)]
        for p, r in zip(predictions, references, strict=True):
            pred, ref = counts(p), counts(r)
            self._pred_tokens += pred.length
            self._ref_tokens += ref.length
            for n in range(self._order):
                pred_ngrams = pred.counts[n]
                if not pred_ngrams:
                    per_order[n].append(0.0)
                    continue
                ref_ngrams = ref.counts[n]
                overlap = sum(
                    min(pred_ngrams[g], ref_ngrams[g])
                    for g in pred_ngrams.keys() & ref_ngrams.keys()
                )
                per_order[n].append(overlap / (pred.length - n))
        for total, values in zip(self._precisions, per_order, strict=True):
            total.add(values)
        self._count += len(predictions)

    def score(self) -> float:
        if self._pred_tokens > self._ref_tokens:
            brevity_penalty = 1.0
        elif self._pred_tokens == 0:
            brevity_penalty = 0.0
        else:
            brevity_penalty = math.exp(1 - self._ref_tokens / self._pred_tokens)
        log_precisions = []
        for total in self._precisions:
            mean = total.value / self._count if self._count else 0.0
            if mean <= 0:
                return 0.0
            log_precisions.append(math.log(mean))
        if not log_precisions:
            return 0.0
        return brevity_penalty * math.exp(sum(log_precisions) / len(log_precisions))

    def values(self) -> MetricValues:
        return MetricValues({"bleu4_flare": self.score()})


class _Bleu4Stream:
    """bleu4: sacreBLEU's segment statistics summed over the stream, scored once at the end."""

    TOKENIZED_WARNING_LINES = 100
    """sacreBLEU warns once when this many hypotheses end in a tokenized period (" .")."""

    def __init__(self) -> None:
        from sacrebleu.metrics import BLEU

        # force=True only silences the per-call warning about tokenized input (the signature is
        # the same): this stream counts those lines over the whole corpus and warns once, as
        # BLEU().corpus_score on the whole list does
        self._metric = BLEU(force=True)
        self._stats: list[int] | None = None
        self._tokenized_lines = 0

    def add(
        self, predictions: list[str], references: list[str], rows: list[dict[str, Any]] | None
    ) -> None:
        if not predictions:
            return
        self._metric._check_corpus_score_args(predictions, [references])
        before = self._tokenized_lines
        self._tokenized_lines += sum(1 for p in predictions if p.endswith(" ."))
        if before < self.TOKENIZED_WARNING_LINES <= self._tokenized_lines:
            _warn_tokenized()
        segments = self._metric._extract_corpus_statistics(predictions, [references])
        chunk = [sum(column) for column in zip(*segments, strict=True)]
        if self._stats is None:
            self._stats = chunk
        else:
            self._stats = [a + b for a, b in zip(self._stats, chunk, strict=True)]

    def values(self) -> MetricValues:
        if self._stats is None:  # no pairs: as bleu4_with_signature
            score, signature = 0.0, ""
        else:
            score = self._metric._compute_score_from_stats(self._stats).score / 100.0
            signature = str(self._metric.get_signature())
        return MetricValues(
            {"bleu4": score},
            details={"bleu4": {"signature": signature, "scale": "0-1 (sacreBLEU score / 100)"}},
        )


def _warn_tokenized() -> None:
    """sacreBLEU's own warning about input that looks tokenized, on its logger."""
    import logging

    logger = logging.getLogger("sacrebleu")
    logger.warning("That's 100 lines that end in a tokenized period ('.')")
    logger.warning(
        "It looks like you forgot to detokenize your test data, which may hurt your score."
    )
    logger.warning(
        "If you insist your data is detokenized, or don't care, you can suppress this message "
        "with the `force` parameter."
    )


class _CeStream:
    """ce: the mean category agreement, with the categories per pair."""

    def __init__(self) -> None:
        from rrg.metrics.clinical_efficacy import ce_category

        self._total = ExactSum()
        self._count = 0
        self._category = RecurringCache(ce_category, RECURRING_CACHE_ENTRIES)

    def add(
        self, predictions: list[str], references: list[str], rows: list[dict[str, Any]] | None
    ) -> None:
        from rrg.metrics.clinical_efficacy import _agreement

        category = self._category
        values = []
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            cp, cr = category(p), category(r)
            value = _agreement(cp, cr)
            values.append(value)
            if rows is not None:
                rows[i].update({"ce": value, "ce_prediction": cp, "ce_reference": cr})
        self._total.add(values)
        self._count += len(values)

    def values(self) -> MetricValues:
        return MetricValues({"ce": self._total.value / self._count if self._count else 0.0})


class _MeanOfPairsStream:
    """A metric whose corpus value is the mean of its per-pair values (``rouge_l``,
    ``radgraph_f1``)."""

    def __init__(
        self,
        name: str,
        score_pairs: Callable[[list[str], list[str]], list[float]],
        details: dict[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._score_pairs = score_pairs
        self._details = details or {}
        self._total = ExactSum()
        self._count = 0

    def add(
        self, predictions: list[str], references: list[str], rows: list[dict[str, Any]] | None
    ) -> None:
        values = self._score_pairs(predictions, references)
        self._total.add(values)
        self._count += len(values)
        if rows is not None:
            for row, value in zip(rows, values, strict=True):
                row[self._name] = value

    def values(self) -> MetricValues:
        mean = self._total.value / self._count if self._count else 0.0
        return MetricValues({self._name: mean}, None, self._details)


def _rouge_l_stream() -> _MetricStream:
    from rouge_score import rouge_scorer

    # rrg.metrics.rouge.rouge_l_pairs, with its per-call cache of (prediction, reference)
    # values kept across chunks for pairs that recur
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    value = RecurringCache(
        lambda pair: scorer.score(pair[1], pair[0])["rougeL"].fmeasure, RECURRING_CACHE_ENTRIES
    )

    def score_pairs(predictions: list[str], references: list[str]) -> list[float]:
        return [value(pair) for pair in zip(predictions, references, strict=True)]

    return _MeanOfPairsStream("rouge_l", score_pairs)


def _radgraph_f1_stream() -> _MetricStream:
    from rrg.metrics.radgraph_f1 import RadGraphF1

    scorer = RadGraphF1()  # one model for the whole stream, loaded on the first chunk
    return _MeanOfPairsStream("radgraph_f1", scorer.score_pairs, {"radgraph_f1": scorer.config()})


STREAMS: dict[str, Callable[[], _MetricStream]] = {
    "green_flare": _GreenFlareStream,
    "bleu4_flare": _Bleu4FlareStream,
    "bleu4": _Bleu4Stream,
    "ce": _CeStream,
    "rouge_l": _rouge_l_stream,
    "radgraph_f1": _radgraph_f1_stream,
}
"""The built-in metrics by name, each as a factory of its running accumulator."""


# --------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------


class _Pair(Protocol):
    @property
    def prediction(self) -> str: ...

    @property
    def reference(self) -> str: ...


P = TypeVar("P", bound=_Pair)


class StreamingEvaluator:
    """Scores pairs a chunk at a time with the built-in metrics; :meth:`result` gives the
    :class:`~rrg.metrics.evaluation.Evaluation` that :func:`evaluate` would give on every pair
    added, except that ``per_sample`` is empty (:meth:`add` returns each chunk's rows instead).

    Raises before anything is scored when a metric is unknown or cannot run here (the same
    one-line errors as :func:`evaluate`).
    """

    def __init__(
        self, metrics: Sequence[str] = DEFAULT_METRICS, truncate_chars: int | None = None
    ) -> None:
        specs = METRICS.check(list(metrics))
        for spec in specs:
            if spec.name not in STREAMS:
                raise RrgError(
                    f"metric {spec.name!r} has no streaming form",
                    hint=f"stream one of {', '.join(STREAMS)}, or score in memory with evaluate()",
                )
        if truncate_chars is not None and truncate_chars < 0:
            raise ValueError(f"truncate_chars must be >= 0, got {truncate_chars}")
        self.metrics = tuple(spec.name for spec in specs)
        self.truncate_chars = truncate_chars
        self.n = 0
        self._streams = {name: STREAMS[name]() for name in self.metrics}

    def add(
        self, predictions: Sequence[str], references: Sequence[str], *, rows: bool = True
    ) -> list[dict[str, Any]]:
        """Score one chunk of pairs; the per-pair rows (as ``Evaluation.per_sample`` has them),
        or an empty list with ``rows=False``."""
        if len(predictions) != len(references):
            raise ValueError(
                f"{len(predictions)} predictions but {len(references)} references; they must pair up"
            )
        preds = [truncate(p, self.truncate_chars) for p in predictions]
        refs = list(references)
        out: list[dict[str, Any]] | None = [{} for _ in preds] if rows else None
        from rrg.metrics.green_flare import collector_paused

        with collector_paused():
            for stream in self._streams.values():
                stream.add(preds, refs, out)
        self.n += len(preds)
        return out if out is not None else []

    def consume(
        self,
        pairs: Iterable[P],
        *,
        chunk_pairs: int | None = None,
        on_chunk: Callable[[list[P], list[dict[str, Any]]], None] | None = None,
        rows: bool = True,
    ) -> Evaluation:
        """:meth:`add` ``pairs`` (objects with ``prediction`` and ``reference``, e.g.
        :class:`~rrg.metrics.pairs_file.ReportPair`) ``chunk_pairs`` (default
        :data:`CHUNK_PAIRS`) at a time, then :meth:`result`.

        ``on_chunk(chunk, rows)`` receives each chunk and its per-pair rows (empty with
        ``rows=False``) as soon as they are scored; nothing of a chunk is kept after it.
        """
        if chunk_pairs is None:
            chunk_pairs = CHUNK_PAIRS
        if chunk_pairs < 1:
            raise ValueError(f"chunk_pairs must be >= 1, got {chunk_pairs}")
        chunk: list[P] = []

        def flush() -> None:
            chunk_rows = self.add(
                [p.prediction for p in chunk], [p.reference for p in chunk], rows=rows
            )
            if on_chunk is not None:
                on_chunk(chunk, chunk_rows)

        for pair in pairs:
            chunk.append(pair)
            if len(chunk) >= chunk_pairs:
                flush()
                chunk = []
        if chunk:
            flush()
        return self.result()

    def result(self) -> Evaluation:
        """The corpus values of every pair added so far."""
        summary: dict[str, float] = {"n": self.n}
        details: dict[str, Any] = {}
        for stream in self._streams.values():
            values = stream.values()
            summary.update(values.summary)
            details.update(values.details)
        return Evaluation(
            metrics=self.metrics,
            summary=summary,
            per_sample=[],
            details=details,
            truncate_chars=self.truncate_chars,
        )


def evaluate_stream(
    pairs: Iterable[P],
    metrics: Sequence[str] = DEFAULT_METRICS,
    truncate_chars: int | None = None,
    *,
    chunk_pairs: int | None = None,
    on_chunk: Callable[[list[P], list[dict[str, Any]]], None] | None = None,
    rows: bool = True,
) -> Evaluation:
    """:func:`evaluate` for a stream of pairs (objects with ``prediction`` and ``reference``),
    in bounded memory: the same corpus values, ``per_sample`` empty; each chunk's rows go to
    ``on_chunk`` instead (see :meth:`StreamingEvaluator.consume`)."""
    evaluator = StreamingEvaluator(metrics, truncate_chars)
    return evaluator.consume(pairs, chunk_pairs=chunk_pairs, on_chunk=on_chunk, rows=rows)
