"""Value vectors in vocabulary space (E4, paper Table 9): the top tokens of ``lm_head(norm(W_down[:, i]))``.

Neuron i of layer l writes ``a_i * W_down[:, i]`` into the residual stream; projecting that column through
the model's own final norm and unembedding (as the authors' ``neuron2word.py``) shows which tokens it promotes.
Base weights only: (IA)3 adapters rescale activations, not the value vectors.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from safety_neurons.files import atomic_text
from safety_neurons.neurons.hooks import down_weight, final_norm, neuron_sites

SEPARATOR = " | "  # "|" inside a token is always escaped, so an unescaped one only ever separates tokens
_ESCAPES = {"\\": "\\\\", "|": "\\|", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f", "\v": "\\v"}


@torch.no_grad()
def value_logits(model: torch.nn.Module, layer: int, neurons: list[int]) -> torch.Tensor:
    """Logits [len(neurons), vocab] of the site's weight columns (down_proj's) of ``neurons`` in ``layer`` (float32)."""
    columns = down_weight(neuron_sites(model)[layer])[:, neurons].T  # [n, d_model]
    return model.get_output_embeddings()(final_norm(model)(columns)).float()


def shown(token: str) -> str:
    """A decoded token with backslash, "|" and control whitespace escaped (the paper writes newline as ``\\n``)."""
    out = "".join(_ESCAPES.get(c, c) for c in token)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in out)


def top_tokens(model: torch.nn.Module, tokenizer, ranking: torch.Tensor, n: int = 10, t: int = 20) -> list[dict]:
    """For the first ``n`` neurons of ``ranking`` [N, 2], the ``t`` tokens with the highest value-vector logits.

    Rows: layer, neuron, rank (1-based), token_ids, tokens (each id decoded alone), logits; only ids the
    tokenizer knows are considered (an unembedding may be padded beyond the vocabulary, as Qwen2.5's is).
    """
    if not 0 < n <= len(ranking):
        raise ValueError(f"n = {n} neurons requested from a ranking of {len(ranking)}")
    rows = []
    for rank, (layer, neuron) in enumerate(ranking[:n].tolist(), start=1):
        logits = value_logits(model, layer, [neuron])[0, : len(tokenizer)]
        values, ids = logits.topk(t)
        rows.append(
            {
                "layer": layer,
                "neuron": neuron,
                "rank": rank,
                "token_ids": ids.tolist(),
                "tokens": [tokenizer.decode([i]) for i in ids.tolist()],
                "logits": values.tolist(),
            }
        )
    return rows


def write_csv(rows: list[dict], path: str | Path) -> None:
    """Table 9 as CSV: [model,] rank, vector (``v^{layer}_{neuron}``), layer, neuron, escaped tokens joined by " | ".

    The model column appears when the rows carry a ``model`` key (one table for several models).
    """
    lead = ["model"] if any("model" in r for r in rows) else []
    with atomic_text(path) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([*lead, "rank", "vector", "layer", "neuron", "tokens"])
        for r in rows:
            tokens = SEPARATOR.join(shown(tok) for tok in r["tokens"])
            vector = f"v^{r['layer']}_{r['neuron']}"
            w.writerow([*(r.get(c, "") for c in lead), r["rank"], vector, r["layer"], r["neuron"], tokens])
