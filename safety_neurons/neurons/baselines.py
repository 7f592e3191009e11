"""Baseline neuron rankings (paper §4.1, B.3; D10, docs/decisions.md): Pruning (Wanda) and SN-Tune.

Both read one model's neurons, the neuron site's (``down_proj``'s) inputs after its (IA)3 scaling, over every
real token (BOS included, pads not) of calibration texts, in one streaming pass of per-neuron sums, and combine
them with that site's weights W [d_model, d_mlp]. Assumptions (D10; neither paper fixes them):

- ``wanda`` (Wei et al. 2024): the Wanda score of W_ij is |W_ij| * ||X_j||_2 over all calibration tokens; for
  ``down_proj`` input feature j is neuron j. A neuron scores agg_i |W_ij| * ||X_j||_2 (``sum``: the column's
  summed Wanda scores; or ``max``). X after the (IA)3 scale l equals Wanda on the merged W diag(l) with plain X.
  Data: HH-Harmless pairs as prompt turns + chosen response. Model: the DPO policy.
- ``sn_tune`` (Zhao et al. 2025): a neuron's contribution at a token is |a_j| * ||W[:, j]||_2 (the norm of its
  residual-stream write), averaged over all calibration tokens (their per-input thresholding is not
  reproduced). Data: any configured prompt set as user turns (the circuit-breakers set is not in the workflow).
  Model: whichever policy is given; the DPO policy is meant (the aligned model, as Zhao et al.).
- ``per_layer`` ranking (the paper's "top 5% per MLP layer"): see ``rank_per_layer``; ``global``: ``neurons.rank``.

Files use the change-score layout (``neurons.save``), so ``neuron_sets`` and patching read them as neuron
variants; both moment slots hold the calibration model's activation mean/std.
"""

from __future__ import annotations

import torch

from safety_neurons.data.formats import adds_special_tokens, prompt_text, render
from safety_neurons.neurons.change_scores import ChangeScores, rank
from safety_neurons.neurons.decoding import start_positions
from safety_neurons.neurons.hooks import down_weight, mlp_width, neuron_sites
from safety_neurons.neurons.policies import Policy, as_policy

METHODS = ("wanda", "sn_tune")
AGGS = ("sum", "max")
RANKINGS = ("global", "per_layer")


class _Sums:
    """Float64 per-neuron sums of a, a**2 and |a| over the calibration tokens."""

    def __init__(self, n_layers: int, d_mlp: int, device):
        z = lambda: torch.zeros(n_layers, d_mlp, dtype=torch.float64, device=device)  # noqa: E731
        self.s, self.ss, self.sabs = z(), z(), z()
        self.n = 0

    def add(self, layer: int, a: torch.Tensor) -> None:
        a = a.double()
        self.s[layer] += a.sum(0)
        self.ss[layer] += a.square().sum(0)
        self.sabs[layer] += a.abs().sum(0)

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.s / self.n
        return mean.float().cpu(), (self.ss / self.n - mean.square()).clamp(min=0).sqrt().float().cpu()


def calibration_text(row: dict, tokenizer, chat_format: str) -> str:
    """A preference row as its prompt turns plus the chosen response (Wei et al.'s safety data); a prompt row
    as one user turn ready for generation."""
    if "chosen" in row:
        messages = row["prompt_messages"] + [{"role": "assistant", "content": row["chosen"]}]
        return render(messages, tokenizer, chat_format)
    return prompt_text(row["prompt"].strip(), tokenizer, chat_format)


def _encode(tokenizer, texts: list[str], special: bool, max_length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask, each text cut to its first ``max_length`` tokens."""
    tokenizer.padding_side = "left"
    enc = tokenizer(
        texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length, add_special_tokens=special
    )
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)


def activation_sums(model, tokenizer, texts: list[str], *, batch_size: int, max_length: int, special: bool) -> _Sums:
    """Per-neuron sums over every real token (BOS included, pads not) of ``texts``, batch by batch."""
    pol = as_policy(model, "calibration")
    device = next(pol.model.parameters()).device
    sums = _Sums(*mlp_width(pol.model), device)
    for i in range(0, len(texts), batch_size):
        _accumulate(pol, sums, *_encode(tokenizer, texts[i : i + batch_size], special, max_length, device))
    return sums


@torch.no_grad()
def _accumulate(pol: Policy, sums: _Sums, ids: torch.Tensor, attn: torch.Tensor) -> None:
    """One forward pass of a batch, adding its real tokens' activations to ``sums``."""
    real = attn.bool()
    sums.n += int(real.sum())
    with pol.active(lambda layer, x: sums.add(layer, x[real].float())) as m:
        m(input_ids=ids, attention_mask=attn, position_ids=start_positions(attn), logits_to_keep=1)


def down_weights(model) -> list[torch.Tensor]:
    """Per layer, the weight [d_model, d_mlp] that reads the neurons (a merged copy's for LoRA)."""
    return [down_weight(site).detach() for site in neuron_sites(model)]


def wanda_scores(sums: _Sums, weights: list[torch.Tensor], agg: str) -> torch.Tensor:
    """Neuron j of layer l: ||X_j||_2 * (sum or max over i of |W_ij|), i.e. the column's Wanda scores aggregated."""
    if agg not in AGGS:
        raise ValueError(f"agg must be one of {AGGS}, got {agg!r}")
    col = torch.stack([w.float().abs().sum(0) if agg == "sum" else w.float().abs().amax(0) for w in weights])
    return (sums.ss.sqrt() * col.double()).float().cpu()


def sn_tune_scores(sums: _Sums, weights: list[torch.Tensor]) -> torch.Tensor:
    """Neuron j of layer l: mean over tokens of |a_j| * ||W[:, j]||_2, its mean write into the residual stream."""
    col = torch.stack([w.float().norm(dim=0) for w in weights])
    return (sums.sabs / sums.n * col.double()).float().cpu()


def baseline_stats(
    model,
    tokenizer,
    texts: list[str],
    *,
    method: str,
    agg: str = "sum",
    batch_size: int = 20,
    max_length: int = 2048,
    chat_format: str = "tulu",
) -> ChangeScores:
    """Baseline scores [n_layers, d_mlp] of ``model`` (a ``Policy`` or a causal LM) on rendered ``texts``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    pol = as_policy(model, "calibration")
    sums = activation_sums(
        pol, tokenizer, texts, batch_size=batch_size, max_length=max_length, special=adds_special_tokens(chat_format)
    )
    if sums.n == 0:
        raise ValueError("no calibration token: every text was empty")
    weights = down_weights(pol.model)
    scores = wanda_scores(sums, weights, agg) if method == "wanda" else sn_tune_scores(sums, weights)
    mean, std = sums.mean_std()
    return ChangeScores(scores, mean, std, mean.clone(), std.clone(), sums.n, len(texts))  # safetensors: no sharing


def rank_per_layer(scores: torch.Tensor, exclude_layers: list[int] | tuple[int, ...] = ()) -> torch.Tensor:
    """(layer, neuron) pairs [N, 2] ordered by within-layer rank, then score (descending), then layer id, so for
    every m the first m * (kept layers) rows are exactly each kept layer's top m; excluded layers left out."""
    if not torch.isfinite(scores).all():
        raise ValueError("baseline scores contain NaN or inf; refusing to rank them")
    kept = torch.tensor([layer for layer in range(scores.shape[0]) if layer not in set(exclude_layers)])
    s = scores[kept].double()
    order = torch.argsort(s, dim=1, descending=True, stable=True)  # [L', d]: neuron at each within-layer rank
    by_score = torch.argsort(s.gather(1, order).T, dim=1, descending=True, stable=True)  # [d, L']
    return torch.stack([kept[by_score].flatten(), order.T.gather(1, by_score).flatten()], dim=1)


def rank_baseline(scores: torch.Tensor, exclude_layers: list[int] | tuple[int, ...], ranking: str) -> torch.Tensor:
    """The ranking of a baseline: ``global`` (by score, as ``neurons.rank``) or ``per_layer`` (``rank_per_layer``)."""
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
    return rank(scores, exclude_layers) if ranking == "global" else rank_per_layer(scores, exclude_layers)
