"""Generation-time activation contrasting (paper Eq. 3): change scores of every MLP neuron, and the ranking.

M1 (or M2) generates greedily; M1 and M2 are then teacher-forced on the same tokens, and each neuron's score is
the RMS over the selected token positions of the difference of its activations. Sums of squares are
accumulated batch by batch, so memory does not grow with the number of prompts or tokens.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from safety_neurons.data.formats import adds_special_tokens, prompt_text
from safety_neurons.files import atomic_path
from safety_neurons.neurons.decoding import cached_step, decode_new, encode_batch, greedy_loop, start_positions
from safety_neurons.neurons.hooks import Recorder, hooked, mlp_width
from safety_neurons.neurons.policies import Policy, as_policy

TOKEN_TYPES = ("completion", "prompt", "prompt_last")
GENERATORS = ("m1", "m2")


@dataclass
class ChangeScores:
    """Scores [L, d_mlp] plus each model's activation mean/std over the same tokens (the authors' output)."""

    scores: torch.Tensor
    m1_mean: torch.Tensor
    m1_std: torch.Tensor
    m2_mean: torch.Tensor
    m2_std: torch.Tensor
    n_tokens: int
    n_prompts: int


class _Moments:
    """Running float64 sums of x, x**2 per neuron for M1, M2 and of (a1 - a2)**2."""

    def __init__(self, n_layers: int, d_mlp: int, device):
        z = lambda: torch.zeros(n_layers, d_mlp, dtype=torch.float64, device=device)  # noqa: E731
        self.sq_diff, self.s1, self.ss1, self.s2, self.ss2 = z(), z(), z(), z(), z()
        self.n = 0

    def add(self, layer: int, a1: torch.Tensor, a2: torch.Tensor) -> None:
        a1, a2 = a1.double(), a2.double()
        self.sq_diff[layer] += (a1 - a2).square().sum(0)
        self.s1[layer] += a1.sum(0)
        self.ss1[layer] += a1.square().sum(0)
        self.s2[layer] += a2.sum(0)
        self.ss2[layer] += a2.square().sum(0)

    def result(self, n_prompts: int) -> ChangeScores:
        if self.n == 0:
            raise ValueError("no token was selected: every completion was empty")

        def std(s, ss):
            return (ss / self.n - (s / self.n).square()).clamp(min=0).sqrt().float().cpu()

        return ChangeScores(
            (self.sq_diff / self.n).sqrt().float().cpu(),
            (self.s1 / self.n).float().cpu(),
            std(self.s1, self.ss1),
            (self.s2 / self.n).float().cpu(),
            std(self.s2, self.ss2),
            self.n,
            n_prompts,
        )


def _sequences(
    gen: Policy, tok, texts: list[str], token_type: str, max_new_tokens: int, special: bool, device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, attention mask and selected-position mask of one batch (left padded).

    For ``completion`` the generator's greedy completion is decoded (special tokens skipped, so EOS drops out)
    and re-tokenized after the prompt, as in the authors' code.
    """
    prompt_ids = [tok(t, add_special_tokens=special)["input_ids"] for t in texts]
    if token_type == "completion":
        ids, mask = encode_batch(tok, texts, special, device)
        with hooked(gen.model) as hooks:
            hooks.set(gen.scales)
            new = greedy_loop(cached_step(gen.model), ids, mask, max_new_tokens, tok.eos_token_id, tok.pad_token_id)
        completions = [tok(c, add_special_tokens=False)["input_ids"] for c in decode_new(tok, ids, new)]
    else:
        completions = [[] for _ in texts]
    seqs = [p + c for p, c in zip(prompt_ids, completions, strict=True)]
    width = max(map(len, seqs))
    input_ids = torch.full((len(seqs), width), tok.pad_token_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), width), dtype=torch.long)
    select = torch.zeros((len(seqs), width), dtype=torch.bool)
    for row, (p, c) in enumerate(zip(prompt_ids, completions, strict=True)):
        start = width - len(p) - len(c)
        input_ids[row, start:] = torch.tensor(p + c)
        attn[row, start:] = 1
        if token_type == "completion":
            select[row, width - len(c) :] = True
        elif token_type == "prompt":
            select[row, start : start + len(p)] = True
        else:
            select[row, start + len(p) - 1] = True
    return input_ids.to(device), attn.to(device), select.to(device)


def change_score_stats(
    m1,
    m2,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int,
    token_type: str,
    generator: str = "m1",
    batch_size: int = 20,
    chat_format: str = "tulu",
) -> ChangeScores:
    """Change scores S[l, i] = RMS over selected tokens of a_M1 - a_M2, with per-model activation moments.

    ``m1``/``m2``: a ``Policy`` or a causal LM; ``prompts``: user requests (stripped and wrapped in the chat
    format); ``token_type``: completion | prompt | prompt_last; ``generator``: which model writes the tokens.
    """
    if token_type not in TOKEN_TYPES or generator not in GENERATORS:
        raise ValueError(f"token_type must be one of {TOKEN_TYPES} and generator one of {GENERATORS}")
    p1, p2 = as_policy(m1, "m1"), as_policy(m2, "m2")
    device = next(p1.model.parameters()).device
    n_layers, d_mlp = mlp_width(p1.model)
    special = adds_special_tokens(chat_format)
    moments = _Moments(n_layers, d_mlp, device)
    for i in range(0, len(prompts), batch_size):
        texts = [prompt_text(p.strip(), tokenizer, chat_format) for p in prompts[i : i + batch_size]]
        ids, attn, select = _sequences(
            p1 if generator == "m1" else p2, tokenizer, texts, token_type, max_new_tokens, special, device
        )
        moments.n += int(select.sum())
        _contrast(p1, p2, ids, attn, select, moments)
    return moments.result(len(prompts))


@torch.no_grad()
def _contrast(p1: Policy, p2: Policy, ids, attn, select, moments: _Moments) -> None:
    """Teacher-force both policies on the same tokens and accumulate the selected activations' moments."""
    first = Recorder(lambda x: x[select].float())
    with hooked(p1.model) as hooks:
        hooks.set(p1.scales, first)
        p1.model(input_ids=ids, attention_mask=attn, position_ids=start_positions(attn), logits_to_keep=1)

    def contrast(layer: int, x: torch.Tensor) -> None:
        moments.add(layer, first.acts.pop(layer), x[select].float())

    with hooked(p2.model) as hooks:
        hooks.set(p2.scales, contrast)
        p2.model(input_ids=ids, attention_mask=attn, position_ids=start_positions(attn), logits_to_keep=1)


def change_scores(
    m1, m2, tokenizer, prompts: list[str], *, max_new_tokens: int, token_type: str, **kwargs
) -> torch.Tensor:
    """Change scores [n_layers, d_mlp] of M1 vs M2 on ``prompts`` (see ``change_score_stats``)."""
    return change_score_stats(
        m1, m2, tokenizer, prompts, max_new_tokens=max_new_tokens, token_type=token_type, **kwargs
    ).scores


def rank(scores: torch.Tensor, exclude_layers: list[int] | tuple[int, ...] = ()) -> torch.Tensor:
    """(layer, neuron) pairs [N, 2] by descending score, excluded layers left out; ties by position."""
    if not torch.isfinite(scores).all():
        raise ValueError("change scores contain NaN or inf; refusing to rank them")
    keep = torch.ones_like(scores, dtype=torch.bool)
    keep[list(exclude_layers)] = False
    flat, kept = scores.double().flatten(), torch.nonzero(keep.flatten()).flatten()
    order = kept[torch.argsort(flat[kept], descending=True, stable=True)]
    d_mlp = scores.shape[1]
    return torch.stack([order // d_mlp, order % d_mlp], dim=1)


def select_prompts(rows: list[dict], n: int, selection: str, seed: int) -> list[str]:
    """Neuron-finding prompts: the first n rows (authors' code) or a seeded random n (the paper's text)."""
    if selection == "first":
        chosen = rows[:n]
    else:
        chosen = [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))]
    return [prompt_of(r) for r in chosen]


def prompt_of(row: dict) -> str:
    """The user request of a normalized record: prompt sets' ``prompt``, else the first user message of a
    preference (``prompt_messages``) or chat (``messages``) record, so any of them can find neurons (E13)."""
    if "prompt" in row:
        return row["prompt"]
    messages = row.get("prompt_messages") or row.get("messages") or []
    for m in messages:
        if m["role"] == "user":
            return m["content"]
    raise ValueError(f"record {row.get('id')!r} has no prompt or user message")


def skewness(x: torch.Tensor) -> float:
    """Sample skewness of all scores (the paper reports 6.99 for Llama2)."""
    x = x.double().flatten()
    return float(((x - x.mean()) ** 3).mean() / x.std(unbiased=False) ** 3)


SUMMARY_KS = (20000,)  # the paper's k, reported beside the fractions when a model has that many neurons
SUMMARY_FRACTIONS = (0.01, 0.05, 0.1)
SUMMARY_THRESHOLDS = (0.035, 0.1)  # the paper's common threshold and its "S > 0.1" count (E11)


def summary(stats: ChangeScores, ranking: torch.Tensor) -> dict:
    """Per-layer counts of the top 1/5/10% (and top-20,000) neurons, score distribution facts, token counts."""
    ks = sorted({max(1, round(f * len(ranking))) for f in SUMMARY_FRACTIONS} | set(SUMMARY_KS))
    layers = {str(k): dict(sorted(Counter(ranking[:k, 0].tolist()).items())) for k in ks if k <= len(ranking)}
    return {
        "n_prompts": stats.n_prompts,
        "n_tokens": stats.n_tokens,
        "n_ranked": len(ranking),
        "max_score": float(stats.scores.max()),
        "skewness": skewness(stats.scores),
        **{f"n_above_{t}": int((stats.scores > t).sum()) for t in SUMMARY_THRESHOLDS},
        "top_k_layers": layers,
    }


def save(stats: ChangeScores, ranking: torch.Tensor, path: str | Path, metadata: dict) -> None:
    """Scores, ranking and activation moments as safetensors (atomic), metadata as string fields."""
    from safetensors.torch import save_file

    tensors = {
        "scores": stats.scores,
        "ranking": ranking.to(torch.int32),
        "m1_mean": stats.m1_mean,
        "m1_std": stats.m1_std,
        "m2_mean": stats.m2_mean,
        "m2_std": stats.m2_std,
    }
    with atomic_path(path) as tmp:
        save_file(
            {k: v.contiguous() for k, v in tensors.items()},
            str(tmp),
            metadata={k: json.dumps(v) for k, v in metadata.items()},
        )


def load_scores(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores [L, d_mlp] and ranking [N, 2] saved by ``save``, checked: finite scores, ranked ids inside them."""
    from safety_neurons.files import ArtifactError, load_tensors

    t = load_tensors(path)
    if "scores" not in t:
        raise ArtifactError(f"{path}: not a neuron score file (no 'scores')")
    scores, ranking = t["scores"], _ranking(t, path)
    if not torch.isfinite(scores).all():
        raise ArtifactError(f"{path}: scores hold NaN or inf; delete the file and rerun its stage")
    if len(ranking) and not (ranking < torch.tensor(scores.shape)).all():
        raise ArtifactError(f"{path}: the ranking's (layer, neuron) pairs do not fit the {tuple(scores.shape)} scores")
    return scores, ranking


def _ranking(tensors: dict, path: str | Path) -> torch.Tensor:
    """A file's ranking [N, 2] of non-negative (layer, neuron) ids."""
    from safety_neurons.files import ArtifactError

    ranking = tensors.get("ranking")
    if ranking is None or ranking.ndim != 2 or ranking.shape[1] != 2 or (ranking < 0).any():
        raise ArtifactError(f"{path}: no (layer, neuron) ranking [N, 2] in this file")
    return ranking.long()


def load_ranking(path: str | Path) -> torch.Tensor:
    """The (layer, neuron) ranking [N, 2] saved by ``save``."""
    from safety_neurons.files import load_tensors

    return _ranking(load_tensors(path), path)
