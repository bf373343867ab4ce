"""Paired significance test for two runs scored on the same samples.

The paired bootstrap resamples sample indices with replacement (the same indices for both runs),
so per-sample correlation between the runs is kept. For ``B`` resamples of the per-sample
differences ``d = b - a``:

* the confidence interval is the percentile interval of the resampled mean differences;
* the two-sided p-value for "no difference" uses the bootstrap distribution shifted to mean zero:
  ``p = (1 + #{|mean_i - mean(d)| >= |mean(d)|}) / (B + 1)``.

Identical scores give ``p = 1``; a run better on every sample gives ``p = 1 / (B + 1)``.
numpy is imported inside the function so importing the registry stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95
_CHUNK = 500


@dataclass(frozen=True)
class BootstrapResult:
    """The outcome of :func:`paired_bootstrap`."""

    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    resamples: int
    seed: int


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> BootstrapResult:
    """Paired bootstrap of ``mean(b - a)``: percentile CI and two-sided p-value.

    ``a[i]`` and ``b[i]`` are the scores of the same sample. Deterministic for a given ``seed``.
    """
    import numpy as np

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired scores need two equal-length vectors, got {x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError(f"a paired bootstrap needs at least 2 samples, got {x.size}")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    diff = y - x
    n = diff.size
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # Differences within floating-point noise of the observed mean count as "as extreme".
    tolerance = 1e-12 * max(1.0, abs(observed))
    extreme = int(np.count_nonzero(np.abs(means - observed) >= abs(observed) - tolerance))
    p_value = (1 + extreme) / (resamples + 1)
    return BootstrapResult(
        n=n,
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        mean_difference=observed,
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        p_value=min(1.0, p_value),
        resamples=resamples,
        seed=seed,
    )
