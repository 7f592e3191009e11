"""Rules safeguard_features and safeguard_eval (E10): last-prompt-token activations, accuracy and deployment."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from safety_neurons.files import read_jsonl
from safety_neurons.stages.common import load
from safety_neurons.workflow.contracts import SafeguardParams

log = logging.getLogger(__name__)


def safeguard_features(
    base_dir: str, adapter_dirs: Sequence[str], ranking_path: str, prompts_path: str, p: SafeguardParams, out: str
) -> None:
    """Rule safeguard_features: the guarded model's last-prompt-token activations on one prompt file, over the
    union of the sweep's sets."""
    from safety_neurons.experiments.safeguard import last_prompt_activations, recording_set, save_features
    from safety_neurons.neurons.change_scores import load_ranking
    from safety_neurons.neurons.policies import policy

    tok, base = load(base_dir, p)
    guarded = policy("guarded", base, list(adapter_dirs))
    recorded = recording_set(load_ranking(ranking_path), p.ks, p.d_mlp, p.seeds, p.disjoint)
    rows = read_jsonl(prompts_path)
    x = last_prompt_activations(
        guarded, tok, [r["prompt"] for r in rows], recorded, chat_format=p.chat_format, batch_size=p.batch_size
    )
    save_features(out, x, recorded, [r["id"] for r in rows])
    log.info("%d prompts x %d features -> %s", *x.shape, out)


def _labelled(features_path: str, scored_path: str):
    """Features, the neurons they cover, labels (judge cost > 0) and costs of one prompt file."""
    from safety_neurons.experiments.safeguard import harm_labels, load_features, response_costs

    x, recorded, ids = load_features(features_path)
    rows = read_jsonl(scored_path)
    return x, recorded, harm_labels(rows, ids), response_costs(rows, ids)


def safeguard_eval(
    names: Sequence[str],
    features: Sequence[str],
    scored: Sequence[str],
    clf: tuple[str, str],
    ranking_path: str,
    p: SafeguardParams,
):
    """Rule safeguard_eval, one guarded model: the accuracy curve (train on each prompt file, test on the others
    merged; Fig. 10b) and deployment on the test files (Fig. 4) with a classifier on the top ``deploy_k``
    neurons fit on ``clf`` = (features, scored) of the training prompts (D8: its own or the SFT model's)."""
    import numpy as np
    import pandas as pd

    from safety_neurons.experiments.safeguard import accuracy_curve, columns, deployment, fit
    from safety_neurons.neurons.change_scores import load_ranking
    from safety_neurons.neurons.sets import top_k

    ranking = load_ranking(ranking_path)
    data = {n: _labelled(f, s) for n, f, s in zip(names, features, scored, strict=True)}
    recorded = next(iter(data.values()))[1]
    xy = {n: (d[0], d[2]) for n, d in data.items()}
    curve = accuracy_curve(xy, recorded, ranking, p.ks, p.d_mlp, p.seeds, disjoint=p.disjoint)
    x_c, rec_c, y_c, _ = _labelled(*clf)
    guard = top_k(ranking, p.deploy_k)
    tests = {n: d for n, d in data.items() if n != p.train}
    if len(np.unique(y_c)) < 2:  # no harmful (or no safe) training response: no classifier to deploy
        log.warning("safeguard: the training responses have one label class; deployment not evaluated")
        deploy = [
            {"dataset": n, "n": len(d[3]), "mean_cost_all": float(d[3].mean()), "note": "one-class training set"}
            for n, d in tests.items()
        ]
        return curve, pd.DataFrame.from_records(deploy)
    model = fit(x_c[:, columns(rec_c, guard)], y_c)
    deploy = [
        {"dataset": n, **deployment(d[3], model.predict(d[0][:, columns(d[1], guard)]))} for n, d in tests.items()
    ]
    return curve, pd.DataFrame.from_records(deploy)
