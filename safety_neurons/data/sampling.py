"""Evaluation prompt sampling: "200 from the last 600 with seed 42" (the authors' ``random.sample``)."""

from __future__ import annotations

import random


def last_pool_sample(rows: list[dict], n: int, pool: int, seed: int) -> list[dict]:
    """``random.seed(seed); random.sample(rows[-pool:], n)``, in the sampled order; all rows if fewer than n."""
    tail = rows[-pool:]
    return random.Random(seed).sample(tail, min(n, len(tail)))
