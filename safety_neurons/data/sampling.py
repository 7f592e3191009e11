"""Prompt sampling: evaluation sets ("200 from the last 600 with seed 42", the authors' ``random.sample``) and
the safeguard's training and test prompts."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

log = logging.getLogger(__name__)


def last_pool_sample(rows: list[dict], n: int, pool: int, seed: int) -> list[dict]:
    """``random.seed(seed); random.sample(rows[-pool:], n)``, in the sampled order; all rows if fewer than n."""
    tail = rows[-pool:]
    return random.Random(seed).sample(tail, min(n, len(tail)))


def training_prompts(rows: Sequence[dict], n_train: int) -> list[dict]:
    """The first ``n_train`` rows (the authors' 5,000 HH-Harmless train prompts); all of them when fewer."""
    if len(rows) < n_train:
        log.warning("only %d safeguard training prompts (%d asked for): using all", len(rows), n_train)
    return list(rows[:n_train])


def sampled_prompts(rows: Sequence[dict], n: int, seed: int) -> list[dict]:
    """``random.seed(seed); random.sample(rows, n)`` over the whole file, in sampled order (D24: not the
    last-600 rule); every row, shuffled, when fewer (logged)."""
    if len(rows) < n:
        log.warning("only %d safeguard test prompts (%d asked for): using all", len(rows), n)
    return random.Random(seed).sample(list(rows), min(n, len(rows)))
