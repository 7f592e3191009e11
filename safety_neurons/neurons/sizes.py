"""How many neurons a set has: plain arithmetic, shared by the rules (at parse time, without torch) and the
baseline stage."""

from __future__ import annotations


def top_fraction_k(ranking: str, n_layers_ranked: int, d_mlp: int, fraction: float) -> int:
    """The k whose top-k set is the baseline's "top fraction": per layer round(fraction * d_mlp) neurons of every
    ranked layer (``per_layer``), or round(fraction * all ranked neurons) (``global``)."""
    if ranking == "per_layer":
        return n_layers_ranked * round(fraction * d_mlp)
    return round(fraction * n_layers_ranked * d_mlp)
