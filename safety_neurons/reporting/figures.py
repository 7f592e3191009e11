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

from safety_neurons.evaluation.metrics import bootstrap_c, causal_effect, mean_ci  # noqa: E402
from safety_neurons.files import (
    atomic_path,  # noqa: E402
    read_jsonl,  # noqa: E402
)
from safety_neurons.neurons.change_scores import load_scores  # noqa: E402
from safety_neurons.reporting.tables import interval, read_scores  # noqa: E402

CURVE_KEYS = ("model", "m1", "kind", "dataset")


def _per_k(path: str | Path) -> dict[int, dict[str, float]]:
    """k -> {prompt id: score} of one patching sweep; it must hold k = 0, the unpatched M1 of Eq. 4."""
    per_k: dict[int, dict[str, float]] = {}
    for r in read_jsonl(path):
        per_k.setdefault(int(r["k"]), {})[r["id"]] = float(r["score"])
    if 0 not in per_k:
        raise ValueError(f"{path}: no k = 0 rows (the unpatched M1 of Eq. 4)")
    return per_k


def effect_curves(entries: Sequence[dict], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """C at every k, averaged over the training seeds of each curve (entries: model, seed, m1, kind, dataset,
    path, guide_path; optional n_neurons adds k as a share). The 95% interval is a bootstrap over prompts:
    the same resampled prompt ids for patched, unpatched (k = 0) and guide (the DPO) in every seed."""
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault(tuple(e[key] for key in CURVE_KEYS), []).append(e)
    rng, records = np.random.default_rng(seed), []
    for key, runs in groups.items():
        sweeps = [_per_k(e["path"]) for e in runs]
        guides = [read_scores(e["guide_path"]) for e in runs]
        ids = sorted(set.intersection(*(set(s[0]) & set(g) for s, g in zip(sweeps, guides, strict=True))))
        if not ids:
            raise ValueError(f"{runs[0]['path']}: no prompt ids shared with its guide {runs[0]['guide_path']}")
        draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
        for k in sorted(set.intersection(*(set(s) for s in sweeps))):
            arrays = [np.array([[s[k][i], s[0][i], g[i]] for i in ids]) for s, g in zip(sweeps, guides, strict=True)]
            c = np.mean([causal_effect(a[:, 0], a[:, 1], a[:, 2]) for a in arrays])
            boot = np.mean([bootstrap_c(a, draws) for a in arrays], axis=0)
            lo, hi = interval(boot)
            n = runs[0].get("n_neurons")
            records.append(
                dict(zip(CURVE_KEYS, key, strict=True))
                | {"k": k, "share": k / n if n else np.nan, "C": c, "C_lo": lo, "C_hi": hi, "seeds": len(runs)}
            )
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
    random neurons, or a source name). Bands: the curves' own C_lo/C_hi (a bootstrap over prompts) when
    present, else a 95% t interval over training seeds. A top axis gives k as a share of the ranked neurons."""
    models, m1s = list(dict.fromkeys(curves["model"])), list(dict.fromkeys(curves["m1"]))
    fig, axes = plt.subplots(len(models), len(m1s), figsize=(3.6 * len(m1s), 2.8 * len(models)), squeeze=False)
    for (r, model), (c, m1) in itertools.product(enumerate(models), enumerate(m1s)):
        ax, sub = axes[r][c], curves[(curves.model == model) & (curves.m1 == m1)]
        for kind, g in sub.groupby("kind", sort=False):
            xs, means, lo, hi = _band(g, x)
            ax.plot(xs, means, STYLES.get(kind, "-"), ms=3, label=LABELS.get(kind, kind))
            ax.fill_between(xs, lo, hi, alpha=0.2)
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{model} {m1}", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        known = sub[(sub["k"] > 0) & sub["share"].notna()] if x == "k" and "share" in sub else sub.iloc[:0]
        if len(known):  # share / k = 1 / ranked neurons
            per_k = float(known["share"].iloc[0] / known["k"].iloc[0])
            top = ax.secondary_xaxis("top", functions=(lambda k, f=per_k: 100 * k * f, lambda p, f=per_k: p / f / 100))
            top.set_xlabel("% of ranked neurons", fontsize=7)
            top.tick_params(labelsize=6)
    axes[0][0].set_ylabel("causal effect C")
    axes[0][0].legend(fontsize=6)
    _save(fig, path)


def _band(g: pd.DataFrame, x: str) -> tuple[np.ndarray, ...]:
    """x, mean C and the band's lower and upper edges of one line."""
    if "C_lo" in g:
        g = g.sort_values(x)
        return g[x].to_numpy(), g["C"].to_numpy(), g["C_lo"].to_numpy(), g["C_hi"].to_numpy()
    stats_ = [(xv, *mean_ci(v.tolist())) for xv, v in g.groupby(x)["C"]]
    xs, means, halves = (np.array(a) for a in zip(*stats_, strict=True))
    return xs, means, means - halves, means + halves


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
