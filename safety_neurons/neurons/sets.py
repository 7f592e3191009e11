"""Neuron sets read by patching: top-k of a ranking, windows of ranks, and matched random baselines; and the
set algebra in feature order (layers ascending, ids ascending) that the safeguard's feature columns follow."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # rankings are tensors; the set algebra itself needs no torch (the config check imports it)
    import torch

Neurons = dict[int, list[int]]


def from_ranks(ranking: torch.Tensor, start: int, stop: int) -> Neurons:
    """The neurons at ranks [start, stop) of a ranking [N, 2], grouped by layer (ids sorted; layers in the
    order they first appear in the ranking, like the authors' ``Counter``)."""
    if not 0 <= start <= stop:
        raise ValueError(f"bad rank range [{start}, {stop})")
    if stop > len(ranking):
        raise ValueError(f"rank {stop} exceeds the {len(ranking)} ranked neurons")
    out: dict[int, list[int]] = {}
    for layer, neuron in ranking[start:stop].tolist():
        out.setdefault(layer, []).append(neuron)
    return {layer: sorted(ids) for layer, ids in out.items()}  # layers in order of first appearance


def top_k(ranking: torch.Tensor, k: int) -> Neurons:
    """The k highest-ranked neurons."""
    return from_ranks(ranking, 0, k)


def window(ranking: torch.Tensor, start: int, width: int) -> Neurons:
    """Ranks [start, start + width): the sliding-window experiment (E12)."""
    return from_ranks(ranking, start, start + width)


def window_sets(ranking: torch.Tensor, starts: list[int], width: int) -> dict[str, Neurons]:
    """Windows [start, start + width) for every start whose window fits in the ranking (E12's sweep)."""
    return {str(start): window(ranking, start, width) for start in starts if start + width <= len(ranking)}


def layer_counts(neurons: Neurons) -> dict[int, int]:
    """How many neurons each layer holds."""
    return {layer: len(ids) for layer, ids in neurons.items() if ids}


def random_like(neurons: Neurons, d_mlp: int, seed: int, disjoint: bool = False) -> Neurons:
    """Random neurons with the same per-layer counts (the paper's baseline), seeded; optionally disjoint."""
    rng = random.Random(seed)
    out = {}
    for layer, n in layer_counts(neurons).items():  # the authors' order: first appearance in the ranking
        pool = sorted(set(range(d_mlp)) - set(neurons[layer])) if disjoint else range(d_mlp)
        if n > len(pool):
            raise ValueError(f"layer {layer}: cannot draw {n} disjoint neurons from {len(pool)}")
        out[layer] = sorted(rng.sample(pool, n))
    return out


def size(neurons: Neurons) -> int:
    """Total number of neurons in a set."""
    return sum(map(len, neurons.values()))


def sweep_sets(ranking: torch.Tensor, ks: list[int], d_mlp: int, seed: int, disjoint: bool) -> dict:
    """For each k: the top-k set and a random set with its per-layer counts (each drawn with ``seed``)."""
    out: dict[str, dict] = {"top": {}, "random": {}}
    for k in ks:
        top = top_k(ranking, min(k, len(ranking)))
        out["top"][str(k)] = top
        out["random"][str(k)] = random_like(top, d_mlp, seed, disjoint)
    return out


def canonical(neurons: Mapping[int, Iterable[int]]) -> Neurons:
    """A neuron set in feature order: layers ascending, ids ascending and unique; empty layers dropped."""
    by_layer = {int(layer): sorted({int(i) for i in ids}) for layer, ids in neurons.items()}
    return {layer: ids for layer, ids in sorted(by_layer.items()) if ids}


def union(*sets: Mapping[int, Iterable[int]]) -> Neurons:
    """Every neuron of several sets, in feature order."""
    out: dict[int, set[int]] = {}
    for s in sets:
        for layer, ids in s.items():
            out.setdefault(int(layer), set()).update(int(i) for i in ids)
    return canonical(out)


def pairs(neurons: Mapping[int, Iterable[int]]) -> np.ndarray:
    """The (layer, neuron) pair of each feature column [n_features, 2], in feature order."""
    flat = [(layer, i) for layer, ids in canonical(neurons).items() for i in ids]
    return np.array(flat, dtype=np.int64).reshape(-1, 2)


def from_pairs(flat: Iterable[tuple[int, int]]) -> Neurons:
    """A neuron set from (layer, neuron) pairs, in feature order."""
    out: dict[int, list[int]] = {}
    for layer, i in flat:
        out.setdefault(int(layer), []).append(int(i))
    return canonical(out)


def outside(neurons: Mapping[int, Iterable[int]], n_layers: int, d_mlp: int) -> list[tuple[int, int, int]]:
    """(layer, lowest id, highest id) of every layer of a set that does not fit a model of this shape."""
    return [
        (layer, ids[0], ids[-1])
        for layer, ids in canonical(neurons).items()
        if not (0 <= layer < n_layers and 0 <= ids[0] <= ids[-1] < d_mlp)
    ]
