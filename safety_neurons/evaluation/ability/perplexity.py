"""Wikitext-2 perplexity as the authors compute it (``src/ppl.py``; docs/decisions.md#general-ability-benchmarks).

The '\\n\\n'-joined test text is tokenized once (the tokenizer's BOS at the very start), cut into
non-overlapping windows of ``window`` tokens (the last one shorter), each scored on its own;
PPL = exp(unweighted mean over windows of the window's mean NLL). A window longer than the model's positions
is an error rather than clamped: PPL depends on the window, so a silent change would make numbers incomparable.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from safety_neurons.evaluation.ability.scoring import mean

if TYPE_CHECKING:  # the model wrapper imports torch; the protocols and their options do not
    from safety_neurons.evaluation.ability.lm import EvalLM


def windows(ids: list[int], window: int, bos_id: int | None = None) -> list[tuple[int, list[int]]]:
    """(start, ids) of each window; with ``bos_id`` its first token is overwritten by BOS (the authors' Gemma
    rule). A 1-token tail predicts nothing (NaN in the authors' code) and is dropped."""
    out = []
    for start in range(0, len(ids), window):
        w = ids[start : start + window]
        if bos_id is not None:
            w = [bos_id] + w[1:]
        if len(w) > 1:
            out.append((start, w))
    return out


def _text(items: list[dict]) -> str:
    """The one joined text the 'wikitext' loader writes."""
    if len(items) != 1 or "text" not in items[0]:
        raise ValueError(f"wikitext: expected one record with the joined 'text' (loader 'wikitext'), got {len(items)}")
    return items[0]["text"]


def run(lm: EvalLM, items: list[dict], *, window: int = 4096, force_bos: bool = False) -> dict:
    """Perplexity of M1 (statically patched per window) on the text; per_item = one entry per window."""
    if window > lm.max_positions:
        raise ValueError(f"wikitext: window {window} exceeds the model's {lm.max_positions} positions (set window)")
    bos = lm.tokenizer.bos_token_id if force_bos else None
    if force_bos and bos is None:
        raise ValueError("wikitext: force_bos needs a tokenizer with a BOS token")
    ids = lm.tokenizer(_text(items), add_special_tokens=True)["input_ids"]
    per_item = []
    for start, w in windows(ids, window, bos):
        nll = -float(lm.token_logprobs([w])[0].mean())
        per_item.append({"id": f"window_{start}", "start": start, "n_tokens": len(w), "nll": nll})
    mean_nll = mean([p["nll"] for p in per_item])
    return {
        "metric": "perplexity",
        "value": math.exp(mean_nll),
        "n": len(per_item),
        "mean_nll": mean_nll,
        "n_tokens": len(ids),
        "per_item": per_item,
    }
