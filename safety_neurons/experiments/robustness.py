"""How stable the identified neurons are: top-k overlap and Spearman correlation between rankings (E5 across
training seeds, E6 across preference DPOs; definitions of D14, docs/decisions.md), their heatmaps, and the neurons
two top-k lists share (E7's patch set)."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from safety_neurons.files import atomic_path  # noqa: E402
from safety_neurons.neurons.change_scores import load_scores  # noqa: E402
from safety_neurons.neurons.sets import Neurons  # noqa: E402

COLUMNS = ["a", "b", "k", "overlap", "spearman"]


def _check_k(ranking: torch.Tensor, k: int, source: str = "ranking") -> None:
    """Fail unless 1 <= k <= the number of ranked neurons."""
    if not 0 < k <= len(ranking):
        raise ValueError(f"{source}: k = {k} is outside 1..{len(ranking)} (its number of ranked neurons)")


def _top(ranking: torch.Tensor, k: int) -> set[tuple[int, int]]:
    """The (layer, neuron) pairs of the first k ranks."""
    _check_k(ranking, k)
    return set(map(tuple, ranking[:k].tolist()))


def overlap(rank_a: torch.Tensor, rank_b: torch.Tensor, k: int) -> float:
    """|A ∩ B| / k of the two top-k sets (D14)."""
    return len(_top(rank_a, k) & _top(rank_b, k)) / k


def rank_correlation(
    scores_a: torch.Tensor, scores_b: torch.Tensor, rank_a: torch.Tensor, rank_b: torch.Tensor, k: int
) -> float:
    """Spearman correlation of the two change-score vectors over the union of the top-k sets (D14)."""
    if scores_a.shape != scores_b.shape:
        raise ValueError(f"change-score shapes differ: {tuple(scores_a.shape)} vs {tuple(scores_b.shape)}")
    union = torch.tensor(sorted(_top(rank_a, k) | _top(rank_b, k)))
    a, b = (s.double()[union[:, 0], union[:, 1]].numpy() for s in (scores_a, scores_b))
    return float(spearmanr(a, b).statistic)


def pairwise(named_files: dict[str, str | Path], k: int) -> pd.DataFrame:
    """Overlap and Spearman at ``k`` for every unordered pair of change-score files, in the given order."""
    loaded = {}
    for name, path in named_files.items():
        loaded[name] = load_scores(path)
        _check_k(loaded[name][1], k, str(path))
    rows = []
    for a, b in itertools.combinations(named_files, 2):
        (sa, ra), (sb, rb) = loaded[a], loaded[b]
        if sa.shape != sb.shape:
            raise ValueError(
                f"{named_files[a]} and {named_files[b]}: change-score shapes {tuple(sa.shape)} and "
                f"{tuple(sb.shape)} differ (different models?)"
            )
        rows.append([a, b, k, overlap(ra, rb, k), rank_correlation(sa, sb, ra, rb, k)])
    return pd.DataFrame(rows, columns=COLUMNS)


def matrix(df: pd.DataFrame, names: list[str], value: str) -> pd.DataFrame:
    """The square symmetric ``value`` matrix over ``names`` (diagonal 1) from ``pairwise`` rows, for a heatmap."""
    m = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    seen = set()
    for a, b, v in df[["a", "b", value]].itertuples(index=False):
        if a in m.index and b in m.index:
            m.loc[a, b] = m.loc[b, a] = v
            seen.add(frozenset((a, b)))
    missing = [p for p in itertools.combinations(names, 2) if frozenset(p) not in seen]
    if missing:
        raise ValueError(f"no {value} for the pairs {missing}")
    return m


def plot_heatmap(matrix: pd.DataFrame, path: str | Path, title: str) -> None:
    """A labelled heatmap of one square matrix, values printed in the cells; written atomically."""
    plot_heatmaps({title: matrix}, path, "")


def plot_heatmaps(matrices: dict[str, pd.DataFrame], path: str | Path, title: str) -> None:
    """One heatmap panel per named matrix (Fig. 3a / Fig. 11: one per model) on a shared colour scale."""
    vmin = min(0.0, *(float(np.nanmin(m.to_numpy(dtype=float))) for m in matrices.values()))
    n = max(map(len, matrices.values()))
    fig, axes = plt.subplots(1, len(matrices), figsize=((1.5 + 0.7 * n) * len(matrices), 1.2 + 0.6 * n), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items(), strict=True):
        image = _draw(ax, m, vmin)
        ax.set_title(name, fontsize=9)
        fig.colorbar(image, ax=ax)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def _draw(ax, matrix: pd.DataFrame, vmin: float):
    """Draw a matrix on ``ax`` with its labels and cell values; returns the image for a colour bar."""
    values, n = matrix.to_numpy(dtype=float), len(matrix)
    image = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=1.0)
    ax.set_xticks(range(n), matrix.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), matrix.index, fontsize=8)
    for i, j in np.ndindex(values.shape):
        color = "white" if values[i, j] < (vmin + 1.0) / 2 else "black"
        ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    return image


def intersection(rank_a: torch.Tensor, rank_b: torch.Tensor, k: int) -> Neurons:
    """Neurons in both top-k lists (E7's patch set), ids sorted, layers in order of first appearance in ``rank_a``."""
    shared = _top(rank_a, k) & _top(rank_b, k)
    out: dict[int, list[int]] = {}
    for layer, neuron in rank_a[:k].tolist():
        if (layer, neuron) in shared:
            out.setdefault(layer, []).append(neuron)
    return {layer: sorted(ids) for layer, ids in out.items()}
