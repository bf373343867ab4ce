"""Report metrics: green_flare, bleu4_flare, bleu4, ce, rouge_l, radgraph_f1.

``evaluate`` scores predictions against references with several metrics at once; the per-metric
modules hold the functions themselves:

* :mod:`rrg.metrics.green_flare`: the FLARE 2025 lexical seven-component score (the "GREEN" of
  the FLARE baselines and the study, not the LLM-judged GREEN of Ostmeier et al.);
* :mod:`rrg.metrics.bleu`: ``bleu4_flare`` (FLARE's per-sample BLEU) and ``bleu4`` (sacreBLEU);
* :mod:`rrg.metrics.clinical_efficacy`: ``ce`` and ``ce_category``;
* :mod:`rrg.metrics.rouge`: ``rouge_l``;
* :mod:`rrg.metrics.radgraph_f1`: RadGraph F1 (needs model weights);
* :mod:`rrg.metrics.registry`: the metrics by name, and how to add one (``green_llm``).

Importing this package is cheap: numpy, sacrebleu, rouge-score and radgraph are imported by the
functions that use them.
"""

from __future__ import annotations

from rrg.metrics import green_flare
from rrg.metrics.bleu import bleu4, bleu4_flare
from rrg.metrics.clinical_efficacy import ce, ce_category, ce_pair
from rrg.metrics.evaluation import STUDY_TRUNCATE_CHARS, Evaluation, evaluate, truncate
from rrg.metrics.registry import (
    DEFAULT_METRICS,
    METRIC_NAMES,
    METRICS,
    MetricRegistry,
    MetricSpec,
    MetricValues,
)
from rrg.metrics.rouge import rouge_l, rouge_l_pairs

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "METRIC_NAMES",
    "STUDY_TRUNCATE_CHARS",
    "Evaluation",
    "MetricRegistry",
    "MetricSpec",
    "MetricValues",
    "bleu4",
    "bleu4_flare",
    "ce",
    "ce_category",
    "ce_pair",
    "evaluate",
    "green_flare",
    "rouge_l",
    "rouge_l_pairs",
    "truncate",
]
