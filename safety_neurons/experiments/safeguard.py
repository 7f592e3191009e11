"""Safeguard (paper §6, E10): predict from the guarded model's activations at the last prompt token whether its
greedy response will be harmful, before generating it.

Features are the neuron site's input activations (down_proj's; after the policy's (IA)3 scaling) at the last prompt
token, in one fixed order: layers ascending, neuron ids ascending within a layer (the authors concatenate in
ranking order; a logistic regression does not depend on the column order). One forward pass records the union of
every neuron set a sweep needs (``recording_set``); ``columns`` then picks any set's features out of that matrix.
"""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from safety_neurons.data.formats import adds_special_tokens, prompt_text
from safety_neurons.files import atomic_path
from safety_neurons.neurons.decoding import encode_batch, start_positions
from safety_neurons.neurons.hooks import Recorder, mlp_width
from safety_neurons.neurons.policies import Policy, as_policy
from safety_neurons.neurons.sets import Neurons, canonical, from_pairs, outside, pairs, random_like, top_k, union

log = logging.getLogger(__name__)
BASELINES = ("rn_same", "rn_last", "rn_all")  # the random sets beside the safety neurons (Fig. 10b)
CURVE_COLUMNS = ("k", "neurons", "seed", "train", "accuracy", "majority", "converged")
Dataset = tuple[np.ndarray, np.ndarray]  # features [n, n_features], labels [n] in {0, 1}


# ------------------------------------------------------------------------------------------------ features


def columns(recorded: Mapping[int, Iterable[int]], subset: Mapping[int, Iterable[int]]) -> np.ndarray:
    """Column indices, in ``subset``'s feature order, of its neurons in a matrix recorded for ``recorded``."""
    position = {pair: c for c, pair in enumerate(map(tuple, pairs(recorded).tolist()))}
    wanted = list(map(tuple, pairs(subset).tolist()))
    missing = [p for p in wanted if p not in position]
    if missing:
        raise KeyError(f"{len(missing)} neurons were not recorded, e.g. (layer, id) {missing[:3]}")
    return np.array([position[p] for p in wanted], dtype=np.int64)


def _checked(neurons: Neurons | None, n_layers: int, d_mlp: int) -> Neurons:
    """The set in feature order (None: every neuron), refusing ids outside the model."""
    if neurons is None:
        return {layer: list(range(d_mlp)) for layer in range(n_layers)}
    out = canonical(neurons)
    if not out:
        raise ValueError("the neuron set is empty: no feature to record")
    bad = outside(out, n_layers, d_mlp)
    if bad:
        raise ValueError(
            f"neurons outside the model's {n_layers} layers x {d_mlp}: (layer, lowest id, highest id) {bad[:3]}"
        )
    return out


@torch.no_grad()
def last_prompt_activations(
    policy: Policy | torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    neurons: Neurons | None,
    *,
    chat_format: str = "tulu",
    batch_size: int = 20,
) -> np.ndarray:
    """Activations [n_prompts, n_features] (float32) at each prompt's last token, the position the first response
    token is read from; ``prompts``: user requests, wrapped in ``chat_format`` exactly as for generation;
    ``neurons``: the set (None: every neuron), columns in feature order (see ``pairs``)."""
    policy = as_policy(policy, "guarded")
    neurons = _checked(neurons, *mlp_width(policy.model))
    device = next(policy.model.parameters()).device
    idx = {layer: torch.tensor(ids, device=device) for layer, ids in neurons.items()}
    texts = [prompt_text(p, tokenizer, chat_format) for p in prompts]
    out = [np.zeros((0, sum(map(len, neurons.values()))), dtype=np.float32)]
    for i in range(0, len(texts), batch_size):
        ids, mask = encode_batch(tokenizer, texts[i : i + batch_size], adds_special_tokens(chat_format), device)
        if not bool(mask[:, -1].all()):
            raise ValueError("the tokenizer did not pad on the left: the last column is not every prompt's last token")
        rec = Recorder(lambda x: x[:, -1].float(), idx)
        with policy.active(rec) as model:
            model(input_ids=ids, attention_mask=mask, position_ids=start_positions(mask), logits_to_keep=1)
        out.append(torch.cat([rec.acts[layer].index_select(-1, j) for layer, j in idx.items()], -1).cpu().numpy())
    return np.concatenate(out)


def save_features(path: str | Path, x: np.ndarray, neurons: Neurons, ids: Sequence[str]) -> None:
    """Features, their (layer, neuron) columns and the prompt ids, as one .npz written atomically."""
    cols = pairs(neurons)
    if x.shape != (len(ids), len(cols)):
        raise ValueError(f"features {x.shape} do not match {len(ids)} prompts x {len(cols)} neurons")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, x=x.astype(np.float32), pairs=cols, ids=np.array(list(ids), dtype=str))


def load_features(path: str | Path) -> tuple[np.ndarray, Neurons, list[str]]:
    """(features, recorded neurons, prompt ids) saved by ``save_features``."""
    with np.load(path, allow_pickle=False) as z:
        return z["x"], from_pairs(z["pairs"].tolist()), z["ids"].tolist()


# -------------------------------------------------------------------------------------------------- labels


def response_costs(scored: Iterable[dict], ids: Sequence[str]) -> np.ndarray:
    """The judge's score of each prompt's response, in ``ids`` order (rows joined on ``id``, one row per id)."""
    by_id: dict[str, float] = {}
    for row in scored:
        if row["id"] in by_id:
            raise ValueError(f"prompt id {row['id']!r} is scored twice; pass one generation's rows (e.g. k == 0)")
        by_id[row["id"]] = float(row["score"])
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} of {len(ids)} prompts have no scored response, e.g. {missing[:3]}")
    return np.array([by_id[i] for i in ids], dtype=np.float64)


def harm_labels(scored: Iterable[dict], ids: Sequence[str]) -> np.ndarray:
    """1 where the model's own response costs > 0 (harmful), else 0 (the authors' target)."""
    return (response_costs(scored, ids) > 0).astype(np.int64)


# ------------------------------------------------------------------------------------------------ neuron sets


def random_baselines(
    ranking: torch.Tensor, k: int, d_mlp: int, seed: int, disjoint: bool = False
) -> dict[str, Neurons]:
    """The three random sets of k neurons beside the top-k safety set, each drawn with ``random.Random(seed)``:
    RN-Same (its per-layer counts), RN-Last (the last ranked layer), RN-All (any ranked neuron); ``disjoint``
    keeps the safety neurons out of all three (D9)."""
    safety = top_k(ranking, k)
    last = int(ranking[:, 0].max())
    taken = set(safety.get(last, [])) if disjoint else set()
    pool_last = [i for i in range(d_mlp) if i not in taken]
    pool_all = ranking[k:] if disjoint else ranking  # the ranks after k are exactly the non-safety neurons
    if k > min(len(pool_last), len(pool_all)):
        raise ValueError(f"cannot draw {k} random neurons from layer {last} ({len(pool_last)}) or the ranking")
    picked = pool_all[sorted(random.Random(seed).sample(range(len(pool_all)), k))].tolist()
    return {
        "rn_same": random_like(safety, d_mlp, seed, disjoint),
        "rn_last": {last: sorted(random.Random(seed).sample(pool_last, k))},
        "rn_all": from_pairs(picked),
    }


def safeguard_sets(
    ranking: torch.Tensor, ks: Sequence[int], d_mlp: int, seeds: Sequence[int], disjoint: bool = False
) -> list[tuple[int, str, int | None, Neurons]]:
    """(k, name, seed, neurons) for every k: the safety set once (seed None), each random baseline per seed."""
    out: list[tuple[int, str, int | None, Neurons]] = []
    for k in ks:
        out.append((k, "safety", None, top_k(ranking, k)))
        for seed in seeds:
            out += [(k, name, seed, s) for name, s in random_baselines(ranking, k, d_mlp, seed, disjoint).items()]
    return out


def recording_set(
    ranking: torch.Tensor, ks: Sequence[int], d_mlp: int, seeds: Sequence[int], disjoint: bool = False
) -> Neurons:
    """The union of every set of the sweep: record these once per prompt, then slice any set with ``columns``."""
    return union(*(s for *_, s in safeguard_sets(ranking, ks, d_mlp, seeds, disjoint)))


# ------------------------------------------------------------------------------------------------ classifier


def fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """sklearn's default ``LogisticRegression()`` (the paper's); convergence warnings are logged and counted in
    ``n_convergence_warnings_``, never raised, since the authors kept the defaults despite them."""
    y = np.asarray(y)
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(
            f"the safeguard's training set ({len(y)} prompts) has the single label {present.tolist()}: "
            "every response was judged the same, so no classifier can be fitted"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf = LogisticRegression().fit(x, y)
    n = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            n += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if n:
        log.warning("logistic regression did not converge in %d lbfgs iterations (kept, as the paper)", clf.max_iter)
    clf.n_convergence_warnings_ = n
    return clf


def majority(y: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent label of ``y`` (the chance line of Fig. 10b)."""
    share = float(np.mean(y))
    return max(share, 1 - share)


def cross_dataset_accuracy(features: Mapping[str, Dataset], train_name: str) -> dict:
    """Train on one dataset, test on all the others merged (paper Fig. 10b); also per test set, each with the
    majority-class rate of its labels."""
    tests = [name for name in features if name != train_name]
    if train_name not in features or not tests:
        raise ValueError(f"train set {train_name!r} must be one of several datasets, got {list(features)}")
    x_train, y_train = features[train_name]
    clf = fit(x_train, y_train)
    per_test, hits, ys = {}, [], []
    for name in tests:
        x, y = features[name]
        hit = clf.predict(x) == y
        per_test[name] = {"n": len(y), "accuracy": float(hit.mean()), "majority": majority(y)}
        hits.append(hit)
        ys.append(y)
    return {
        "train": train_name,
        "n_train": len(y_train),
        "test": tests,
        "n_test": int(sum(map(len, ys))),
        "accuracy": float(np.concatenate(hits).mean()),
        "majority": majority(np.concatenate(ys)),
        "per_test": per_test,
        "convergence_warnings": clf.n_convergence_warnings_,
    }


def accuracy_curve(
    features: Mapping[str, Dataset],
    recorded: Neurons,
    ranking: torch.Tensor,
    ks: Sequence[int],
    d_mlp: int,
    seeds: Sequence[int],
    *,
    disjoint: bool = False,
    train_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """E10a: cross-dataset accuracy per k x neuron set (safety, rn_same, rn_last, rn_all) x seed x training set,
    one tidy row each; ``features`` hold each dataset's matrix over ``recorded``. Safety rows have seed <NA>."""
    rows = []
    trainable = [d for d in train_names or list(features) if len(np.unique(features[d][1])) == 2]
    for d in set(train_names or features) - set(trainable):  # e.g. an aligned model never harmful on a set
        log.warning("safeguard: %s has one label class only; not used as a training set", d)
    for k, name, seed, neurons in safeguard_sets(ranking, ks, d_mlp, seeds, disjoint):
        cols = columns(recorded, neurons)
        subset = {d: (x[:, cols], y) for d, (x, y) in features.items()}
        for train in trainable:
            r = cross_dataset_accuracy(subset, train)
            rows.append((k, name, seed, train, r["accuracy"], r["majority"], r["convergence_warnings"] == 0))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS)).astype({"seed": "Int64"})


def deployment(costs: Sequence[float], predicted: Sequence[int]) -> dict:
    """Fig. 4: the guard refuses every prompt predicted harmful (1); mean cost over the accepted prompts beside
    the unguarded mean. When every prompt is refused, the accepted mean is NaN and ``all_refused`` says so."""
    c, p = np.asarray(costs, dtype=np.float64), np.asarray(predicted)
    if c.ndim != 1 or c.shape != p.shape or not len(c):
        raise ValueError(f"need one prediction per cost, got {c.shape} costs and {p.shape} predictions")
    if not np.isin(p, (0, 1)).all():
        raise ValueError("predictions must be 0 (accept) or 1 (refuse)")
    accepted = p == 0
    return {
        "n": len(c),
        "n_accepted": int(accepted.sum()),
        "refused_rate": float(1 - accepted.mean()),
        "mean_cost_all": float(c.mean()),
        "mean_cost_accepted": float(c[accepted].mean()) if accepted.any() else float("nan"),
        "all_refused": not accepted.any(),
    }
