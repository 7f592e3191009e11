"""Cross-patching between two DPO models (paper E7-E9): the patched sets, the generation job, and the tables.

M1 is one DPO (e.g. the safety DPO), the guide another (e.g. the helpfulness DPO); the patched neurons are
the top-k of one ranking or the neurons shared by the top-k of several (E7's RB-Safety ∩ SHP lists). Every
job also runs k = 0 (the unpatched M1). Table 3 = change of mean cost and reward caused by patching;
Table 10 = mean cost of the unpatched M1, the patched M1 and the guide on each safety set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from safety_neurons.evaluation.metrics import causal_effect
from safety_neurons.files import read_jsonl
from safety_neurons.neurons.sets import Neurons, size, top_k
from safety_neurons.reporting.tables import read_scores


def shared_top(rankings: Sequence[torch.Tensor], k: int) -> Neurons:
    """Neurons in the top-k of every ranking (layers in first-appearance order of the first ranking)."""
    first = top_k(rankings[0], min(k, len(rankings[0])))
    keep = set.intersection(*({tuple(x) for x in r[:k].tolist()} for r in rankings))
    out = {layer: [n for n in ids if (layer, n) in keep] for layer, ids in first.items()}
    return {layer: ids for layer, ids in out.items() if ids}


def cross_sets(rankings: Sequence[torch.Tensor], ks: Sequence[int], fractions: Sequence[float]) -> dict[int, Neurons]:
    """Sweep key k -> patched set: each k of ``ks`` and k = round(f x ranked neurons) for ``fractions``; plus
    k = 0, the unpatched M1."""
    n = min(len(r) for r in rankings)
    sizes = sorted({*ks, *(max(1, round(f * n)) for f in fractions)})
    return {0: {}} | {k: shared_top(rankings, k) for k in sizes}


def cross_long(entries: Sequence[dict]) -> pd.DataFrame:
    """One row per (name, model, dataset, judge, k): mean score of the patched M1, the unpatched M1 (k = 0),
    the guide's own generations, the change caused by patching and C (Eq. 4 with the guide as M2)."""
    records = []
    for e in entries:
        rows = read_jsonl(e["path"])
        guide = float(np.mean(list(read_scores(e["guide_path"]).values())))
        per_k: dict[int, list[float]] = {}
        n_neurons = {}
        for r in rows:
            per_k.setdefault(int(r["k"]), []).append(float(r["score"]))
            n_neurons[int(r["k"])] = r.get("n_neurons", 0)
        base = sum(per_k[0]) / len(per_k[0])
        for k, scores in sorted(per_k.items()):
            mean = sum(scores) / len(scores)
            c = causal_effect(mean, base, guide)
            keys = ("name", "model", "dataset", "judge", "m1", "guide")
            records.append(
                {
                    **{key: e[key] for key in keys},
                    "k": k,
                    "n_neurons": n_neurons[k],
                    "mean": mean,
                    "unpatched": base,
                    "guide_mean": guide,
                    "delta": mean - base,
                    "C": c,
                    "n": len(scores),
                }
            )
    return pd.DataFrame.from_records(records)


def table3(long: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Table 3: per model and direction (entry), the change of each judge's mean caused by patching."""
    sub = long[long["name"].isin(names) & (long["k"] > 0)]
    if sub.empty:
        return pd.DataFrame(columns=["model", "direction", "k", "n_neurons"])
    wide = sub.pivot_table(index=["model", "name", "k", "n_neurons"], columns="judge", values="delta")
    wide.columns = [f"delta_{j}" for j in wide.columns]
    return wide.reset_index().rename(columns={"name": "direction"})


def table10(long: pd.DataFrame, name: str) -> pd.DataFrame:
    """Table 10: mean cost per safety set of the unpatched M1, the patched M1 (each k) and the guide."""
    sub = long[long["name"] == name]
    if sub.empty:
        return pd.DataFrame(columns=["model", "row"])
    rows = []
    for (model, dataset), g in sub.groupby(["model", "dataset"]):
        first = g.iloc[0]
        rows.append({"model": model, "row": f"DPO {first['m1']}", "dataset": dataset, "mean": first["unpatched"]})
        for _, r in g[g["k"] > 0].iterrows():
            rows.append(
                {
                    "model": model,
                    "row": f"DPO {r['m1']} patched (k={r['k']}, {r['n_neurons']} neurons)",
                    "dataset": dataset,
                    "mean": r["mean"],
                }
            )
        rows.append({"model": model, "row": f"DPO {first['guide']}", "dataset": dataset, "mean": first["guide_mean"]})
    out = pd.DataFrame(rows).pivot_table(index=["model", "row"], columns="dataset", values="mean", sort=False)
    return out.reset_index()


def annotate(rows: list[dict], sets: dict[int, Neurons]) -> list[dict]:
    """Generation rows with the size of the set each was patched with (k is the sweep key)."""
    return [r | {"n_neurons": size(sets[int(r["k"])])} for r in rows]
