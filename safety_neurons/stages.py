"""Every model stage's entry point, in one place: typed parameters and file paths in, files out.

Each ``scripts/*.py`` adapter calls one of these inside ``workflow.script.job``; the algorithms they call
live in their layers (``neurons``, ``experiments``, ``evaluation``) and know nothing of files or rules. Heavy
imports stay inside the functions, so a stage pays only for what it uses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from safety_neurons.files import read_jsonl, write_json
from safety_neurons.workflow.contracts import (
    BaselineParams,
    ChangeScoreParams,
    GeneralEvalParams,
    GenerationParams,
    ModelParams,
    RankingParams,
    SafeguardParams,
    Source,
)

log = logging.getLogger(__name__)


def _load(base_dir: str, p: ModelParams | SafeguardParams):
    """Tokenizer and base model, placed on the GPU when there is one (on CPU: p.cpu_precision)."""
    from safety_neurons.models.loading import load_base, load_tokenizer, placement

    device, torch_dtype = placement(p.dtype, p.cpu_precision)
    return load_tokenizer(base_dir), load_base(base_dir, torch_dtype, device)


def _check_width(base, p: RankingParams, base_dir: str) -> None:
    """Fail when the configured n_layers/d_mlp do not match the model on disk."""
    from safety_neurons.neurons.hooks import mlp_width

    if mlp_width(base) != (p.n_layers, p.d_mlp):
        raise ValueError(
            f"config key models.{p.model}: n_layers/d_mlp {p.n_layers}/{p.d_mlp} do not match "
            f"{base_dir} ({'/'.join(map(str, mlp_width(base)))})"
        )


# ------------------------------------------------------------------------------------------ safety neurons


def _pool(path: str, n: int | None) -> list[dict]:
    """The rows neurons are found on; all of them, with a warning in the log, when the file has fewer than n."""
    rows = read_jsonl(path)
    if n and len(rows) < n:
        log.warning("%s: %d prompts, the variant's n_prompts asks for %d: using all %d", path, len(rows), n, len(rows))
    return rows


def change_scores(
    base_dir: str,
    m1_adapters: list[str],
    m2_adapters: list[str],
    prompts_path: str,
    p: ChangeScoreParams,
    out_scores: str,
    out_summary: str,
) -> dict:
    """Rule change_scores: load the pair on shared weights, score (Eq. 3), rank, save scores and a summary."""
    from safety_neurons.neurons.change_scores import change_score_stats, rank, select_prompts
    from safety_neurons.neurons.policies import policy

    tok, base = _load(base_dir, p)
    _check_width(base, p, base_dir)
    prompts = select_prompts(_pool(prompts_path, p.n_prompts), p.n_prompts, p.selection, p.selection_seed)
    stats = change_score_stats(
        policy("m1", base, m1_adapters),
        policy("m2", base, m2_adapters),
        tok,
        prompts,
        max_new_tokens=p.max_new_tokens,
        token_type=p.token_type,
        generator=p.generator,
        batch_size=p.batch_size,
        chat_format=p.chat_format,
    )
    return _save_ranking(stats, rank(stats.scores, p.exclude_layers), p, out_scores, out_summary)


def baseline_scores(
    base_dir: str, adapter_dirs: list[str], texts_path: str, p: BaselineParams, out_scores: str, out_summary: str
) -> dict:
    """Rule baseline_scores: Wanda or SN-Tune scores of base + adapters on the selected texts, ranked."""
    from safety_neurons.neurons.baselines import baseline_stats, calibration_text, rank_baseline
    from safety_neurons.neurons.change_scores import select_prompts
    from safety_neurons.neurons.policies import policy
    from safety_neurons.neurons.sizes import top_fraction_k

    tok, base = _load(base_dir, p)
    _check_width(base, p, base_dir)
    rows = [{"prompt": r} for r in _pool(texts_path, p.n_texts)]  # select_prompts returns each row's "prompt"
    chosen = select_prompts(rows, p.n_texts or len(rows), p.selection, p.selection_seed)
    texts = [calibration_text(r, tok, p.chat_format) for r in chosen]
    stats = baseline_stats(
        policy("calibration", base, adapter_dirs),
        tok,
        texts,
        method=p.method,
        agg=p.agg,
        batch_size=p.batch_size,
        max_length=p.max_length,
        chat_format=p.chat_format,
    )
    k = top_fraction_k(p.ranking, p.n_layers - len(set(p.exclude_layers)), p.d_mlp, p.top_fraction)
    ranking = rank_baseline(stats.scores, p.exclude_layers, p.ranking)
    return _save_ranking(stats, ranking, p, out_scores, out_summary, k_top_fraction=k)


def _save_ranking(stats, ranking, p: RankingParams, out_scores: str, out_summary: str, **extra) -> dict:
    """Write a ranking stage's scores file (scores, ranking, moments) and its summary; return the summary."""
    from safety_neurons.neurons.change_scores import save, summary

    info = summary(stats, ranking) | extra
    save(stats, ranking, out_scores, {"variant": p.asdict(), "n_tokens": stats.n_tokens} | extra)
    write_json(info | {"variant": p.asdict()}, out_summary)
    return info


def sweep_sets(sets_path: str, source: Source | str, ks: Sequence[int]) -> dict[int, dict]:
    """The neuron sets of one source's sweep from a sets.json (windows past the ranking were not made)."""
    source = Source.of(source)
    sets = json.loads(Path(sets_path).read_text())[source.kind]
    if source.kind == "window":  # a window row's k is its start rank
        ks = [k for k in ks if str(k) in sets]
    return {k: sets[str(k)] for k in ks}


# ------------------------------------------------------------------------------------------------ decoding


def generate(
    base_dir: str,
    m1_adapters: list[str],
    guide_adapters: list[str],
    sets: dict,
    prompts: list[dict],
    p: GenerationParams,
    origin: str = "neuron sets",
) -> list[dict]:
    """Rules patched_generation, stage_generation, safeguard_generation, cross_patching: load M1 and the guide
    once, then decode greedily for every k of the sweep (``{0: {}}``: M1 unpatched). ``origin`` names where the
    sets came from in the error for a set that does not fit the model."""
    from safety_neurons.data.formats import adds_special_tokens, first_turn, prompt_text
    from safety_neurons.files import ArtifactError
    from safety_neurons.neurons.hooks import mlp_width
    from safety_neurons.neurons.patching import patched_generate
    from safety_neurons.neurons.policies import policy
    from safety_neurons.neurons.sets import outside

    tok, base = _load(base_dir, p)
    n_layers, d_mlp = mlp_width(base)
    for k, neurons in sets.items():
        if bad := outside({int(layer): ids for layer, ids in neurons.items()}, n_layers, d_mlp):
            raise ArtifactError(
                f"{origin}: the set k = {k} has neurons outside the model's {n_layers} layers x {d_mlp} "
                f"(layer, lowest id, highest id) {bad[:3]}"
            )
    m1, m2 = policy("m1", base, m1_adapters), policy("guide", base, guide_adapters)
    texts = [prompt_text(r["prompt"], tok, p.chat_format) for r in prompts]
    special = adds_special_tokens(p.chat_format)
    rows = []
    for k, neurons in sorted(sets.items(), key=lambda kv: int(kv[0])):
        neurons = {int(layer): ids for layer, ids in neurons.items()}
        outs = patched_generate(m1, m2, tok, texts, neurons, p.max_new_tokens, p.batch_size, special)
        rows += [
            {
                "id": r["id"],
                "dataset": r["dataset"],
                "prompt": r["prompt"],
                "completion": first_turn(c),
                "k": int(k),
                "source": p.source,
                "m1": p.m1,
            }
            for r, c in zip(prompts, outs, strict=True)
        ]
    return rows


# -------------------------------------------------------------------------------------------- evaluation


def general_eval(inp, gsource: str, p: GeneralEvalParams) -> dict:
    """Rule general_eval: one ability benchmark on one row (unpatched, or M1 patched at ``gsource``'s top-k)."""
    from safety_neurons.evaluation.ability import evaluate, load_eval_lm
    from safety_neurons.workflow.script import adapter_dirs

    neurons = None
    if inp.sets:
        neurons = {int(layer): ids for layer, ids in sweep_sets(inp.sets[0], gsource, [p.k])[p.k].items()}
    options = dict(p.options) | ({"shots": read_jsonl(inp.shots[0])} if inp.shots else {})
    if inp.cot:
        options["cot_prompts"] = json.loads(Path(inp.cot[0]).read_text())
    guide = adapter_dirs(inp.guide) if inp.guide else None
    lm = load_eval_lm(
        inp.base, adapter_dirs(inp.m1), guide, neurons, p.dtype, p.batch_size, p.chat_format, p.cpu_precision
    )
    return evaluate(p.benchmark, lm, read_jsonl(inp.data), options)


# --------------------------------------------------------------------------------------- safeguard (E10)


def safeguard_features(
    base_dir: str, adapter_dirs: Sequence[str], ranking_path: str, prompts_path: str, p: SafeguardParams, out: str
) -> None:
    """Rule safeguard_features: the guarded model's last-prompt-token activations on one prompt file, over the
    union of the sweep's sets."""
    from safety_neurons.experiments.safeguard import last_prompt_activations, recording_set, save_features
    from safety_neurons.neurons.change_scores import load_ranking
    from safety_neurons.neurons.policies import policy

    tok, base = _load(base_dir, p)
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
