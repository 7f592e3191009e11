"""The paper's figures: Fig. 2 (causal effect vs number of patched neurons) and Fig. 5 (where the top
neurons live and how change scores are distributed). Curves are also written as CSV next to the plots."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from safety_neurons.evaluation.metrics import causal_effect, mean_ci  # noqa: E402
from safety_neurons.files import (
    atomic_path,  # noqa: E402
    read_jsonl,  # noqa: E402
)
from safety_neurons.neurons.change_scores import load_scores  # noqa: E402
from safety_neurons.reporting.tables import read_scores  # noqa: E402


def effect_curves(entries: Sequence[dict]) -> pd.DataFrame:
    """C at every k of each patching file (one entry: model, seed, m1, kind, dataset, path, guide_path);
    the unpatched M1 is the same file's k = 0, the guide the DPO's scores on the same prompts."""
    records = []
    for e in entries:
        per_k: dict[int, list[float]] = {}
        for r in read_jsonl(e["path"]):
            per_k.setdefault(int(r["k"]), []).append(float(r["score"]))
        if 0 not in per_k:
            raise ValueError(f"{e['path']}: no k = 0 rows (the unpatched M1 of Eq. 4)")
        guide = list(read_scores(e["guide_path"]).values())
        for k, scores in sorted(per_k.items()):
            c = causal_effect(scores, per_k[0], guide)
            records.append({**{key: e[key] for key in ("model", "seed", "m1", "kind", "dataset")}, "k": k, "C": c})
    return pd.DataFrame.from_records(records)


def window_curves(entries: Sequence[dict]) -> pd.DataFrame:
    """C of each window [start, start + width) of a ranking (E12): the window file's rows carry the start as
    their k; the unpatched M1 is k = 0 of the same variant's top-k sweep, the guide the DPO's scores."""
    records = []
    for e in entries:
        unpatched = list(read_scores(e["unpatched_path"], 0).values())
        guide = list(read_scores(e["guide_path"]).values())
        per_start: dict[int, list[float]] = {}
        for r in read_jsonl(e["path"]):
            per_start.setdefault(int(r["k"]), []).append(float(r["score"]))
        for start, scores in sorted(per_start.items()):
            c = causal_effect(scores, unpatched, guide)
            keys = ("model", "seed", "m1", "dataset", "width")
            records.append({**{key: e[key] for key in keys}, "kind": "window", "start": start, "C": c})
    return pd.DataFrame.from_records(records)


LABELS = {"top": "safety neurons", "random": "random neurons"}
STYLES = {"top": "-o", "random": "--s"}


def plot_effect_curves(curves: pd.DataFrame, path: str | Path, x: str = "k", xlabel: str = "patched neurons k") -> None:
    """Fig. 2 and its kin: one panel per model x M1, one line per ``kind`` (top = safety neurons, random =
    random neurons, or a source name); mean and 95% CI over training seeds when there are several."""
    models, m1s = list(dict.fromkeys(curves["model"])), list(dict.fromkeys(curves["m1"]))
    fig, axes = plt.subplots(len(models), len(m1s), figsize=(3.6 * len(m1s), 2.8 * len(models)), squeeze=False)
    for (r, model), (c, m1) in itertools.product(enumerate(models), enumerate(m1s)):
        ax, sub = axes[r][c], curves[(curves.model == model) & (curves.m1 == m1)]
        for kind, g in sub.groupby("kind", sort=False):
            stats_ = [(xv, *mean_ci(v.tolist())) for xv, v in g.groupby(x)["C"]]
            xs, means, halves = (np.array(a) for a in zip(*stats_, strict=True))
            ax.plot(xs, means, STYLES.get(kind, "-"), ms=3, label=LABELS.get(kind, kind))
            ax.fill_between(xs, means - halves, means + halves, alpha=0.2)
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{model} {m1}", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
    axes[0][0].set_ylabel("causal effect C")
    axes[0][0].legend(fontsize=6)
    _save(fig, path)


def plot_neuron_distributions(score_files: dict[str, str | Path], top: float, path: str | Path) -> None:
    """Fig. 5: per model, layer histogram of the top ``top`` fraction of ranked neurons (upper row) and the
    histogram of all change scores (lower row, log counts)."""
    fig, axes = plt.subplots(2, len(score_files), figsize=(3.2 * len(score_files), 5.5), squeeze=False)
    for col, (model, f) in enumerate(score_files.items()):
        scores, ranking = load_scores(f)
        scores = scores.double()
        n_top = max(1, round(top * len(ranking)))
        layers = ranking[:n_top, 0].numpy()
        n_layers = scores.shape[0]
        axes[0][col].bar(range(n_layers), np.bincount(layers, minlength=n_layers))
        axes[0][col].set_title(f"{model}: top {n_top} neurons", fontsize=9)
        axes[0][col].set_xlabel("layer")
        ranked = scores[ranking[:, 0], ranking[:, 1]].numpy()
        axes[1][col].hist(ranked, bins=50, log=True)
        axes[1][col].set_xlabel("change score")
    axes[0][0].set_ylabel("neurons")
    axes[1][0].set_ylabel("neurons (log)")
    _save(fig, path)


def plot_safeguard(accuracy: pd.DataFrame, deployment: pd.DataFrame, path: str | Path) -> None:
    """Fig. 10b / Fig. 4: upper row, accuracy vs k per neuron set (dotted: majority class) per guarded model;
    lower row, mean cost of all prompts vs the prompts the guard accepts, per test set."""
    both = pd.concat([accuracy[["model", "guarded"]], deployment[["model", "guarded"]]])
    panels = list(both.drop_duplicates().itertuples(index=False))
    fig, axes = plt.subplots(2, len(panels), figsize=(3.4 * len(panels), 6), squeeze=False)
    for col, (model, guarded) in enumerate(panels):
        ax = axes[0][col]
        sub = accuracy[(accuracy.model == model) & (accuracy.guarded == guarded)]
        if sub.empty:  # every training set had one label class (safeguard_eval warned)
            ax.text(0.5, 0.5, "no two-class\ntraining set", ha="center", va="center", transform=ax.transAxes)
        else:
            for neurons, g in sub.groupby("neurons", sort=False):
                ax.plot(g["k"], g["accuracy"], "-o" if neurons == "safety" else "--", ms=3, label=neurons)
            ax.plot(sub["k"], sub["majority"], ":", color="grey", label="majority")
            ax.set_xscale("log")
        ax.set_title(f"{model} {guarded}", fontsize=9)
        ax.set_xlabel("neurons k")
        d = deployment[(deployment.model == model) & (deployment.guarded == guarded)]
        xs = np.arange(len(d))
        axes[1][col].bar(xs - 0.2, d["mean_cost_all"], 0.4, label="no guard")
        if "mean_cost_accepted" in d:  # absent when the guard could not be trained (one label class)
            axes[1][col].bar(xs + 0.2, d["mean_cost_accepted"], 0.4, label="guarded")
        axes[1][col].set_xticks(xs, d["dataset"], rotation=30, fontsize=7)
    axes[0][0].set_ylabel("accuracy")
    if axes[0][0].get_legend_handles_labels()[0]:  # no curves when no set had two label classes
        axes[0][0].legend(fontsize=6)
    axes[1][0].set_ylabel("mean cost")
    axes[1][0].legend(fontsize=6)
    _save(fig, path)


def _save(fig, path: str | Path) -> None:
    """Write a figure atomically (a half-written PNG never looks complete)."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip("."))
    plt.close(fig)
