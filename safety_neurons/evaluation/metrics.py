"""The paper's summary statistics: causal effect C (Eq. 4), general-ability change, paired t-test, CIs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

# ΔGen averages these; perplexity is excluded (docs/decisions.md#metrics)
GENERAL_FOR_DELTA = ("gsm8k", "bbh", "mmlu", "tqa")


def _mean(values: float | Sequence[float] | np.ndarray, name: str) -> float:
    """A benchmark-level mean from a mean or per-prompt values; empty or non-finite input is an error."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError(f"causal_effect: {name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"causal_effect: {name} holds non-finite values")
    return float(arr.mean())


def causal_effect(
    patched: float | Sequence[float],
    unpatched: float | Sequence[float],
    guide: float | Sequence[float],
) -> float:
    """C = (F(patched M1) - F(M1)) / (F(M2) - F(M1)) over benchmark means (Eq. 4); 1.0 = M2's safety fully
    restored. Per-prompt arrays are averaged first. NaN when M1 and M2 have the same mean (C undefined)."""
    p, u, g = _mean(patched, "patched"), _mean(unpatched, "unpatched"), _mean(guide, "guide")
    return (p - u) / (g - u) if g != u else math.nan


def bootstrap_c(scores: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """C (Eq. 4) of each bootstrap draw of prompt rows. ``scores``: [n prompts, 3] = patched, unpatched and
    guide score of the same prompt; ``draws``: [B, n] row indices. NaN where a draw's M1 and M2 means agree."""
    means = scores[draws].mean(axis=1)
    gap = means[:, 2] - means[:, 1]
    return np.divide(means[:, 0] - means[:, 1], gap, out=np.full(len(gap), np.nan), where=gap != 0)


def delta_gen(patched: dict[str, float], unpatched: dict[str, float]) -> float:
    """Mean change of GSM8K, BBH, MMLU and TruthfulQA accuracy caused by patching (Table 1's ΔGen)."""
    missing = [b for b in GENERAL_FOR_DELTA if b not in patched or b not in unpatched]
    if missing:
        raise ValueError(f"delta_gen: missing benchmarks {missing}")
    return float(np.mean([patched[b] - unpatched[b] for b in GENERAL_FOR_DELTA]))


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Paired t-test (scipy ``ttest_rel``) of per-prompt scores of the same prompts: (t, two-sided p)."""
    if len(a) != len(b):
        raise ValueError(f"paired_ttest: {len(a)} vs {len(b)} values; pairs must match")
    if len(a) < 2:
        raise ValueError("paired_ttest needs at least two pairs")
    res = stats.ttest_rel(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return float(res.statistic), float(res.pvalue)


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its t-based confidence interval (half-width 0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return float(arr.mean()), 0.0
    half = stats.t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size)
    return float(arr.mean()), float(half)
