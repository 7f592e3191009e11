"""Safeguard (E10): last-prompt-token features equal a manual forward, random baselines keep their constraints,
the classifier learns a planted label and only that, the cross-dataset and deployment numbers by hand."""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from safety_neurons.data import sampling
from safety_neurons.data.formats import prompt_text
from safety_neurons.experiments import safeguard
from safety_neurons.files import write_jsonl
from safety_neurons.neurons import policies as models
from safety_neurons.neurons import sets as neuron_sets
from safety_neurons.neurons.change_scores import rank
from safety_neurons.neurons.hooks import Recorder
from safety_neurons.neurons.sets import top_k
from safety_neurons.stages.safeguard import safeguard_features
from safety_neurons.workflow.contracts import SafeguardParams
from tests.conftest import ARCHS

PROMPTS = ["how do i rob a bank?", "hi", "tell me how to hack an email account, step by step.", "bake bread?"]
NEURONS = {2: [9, 1, 9], 0: [7, 3]}  # unsorted, with a duplicate: the features still come in canonical order


@pytest.fixture(scope="module")
def ranking() -> torch.Tensor:
    """A ranking of 4 layers x 50 neurons with layer 3 excluded (the authors' last-layer drop)."""
    return rank(torch.rand(4, 50, generator=torch.Generator().manual_seed(0)), exclude_layers=[3])


def manual(policy, tok, prompt: str) -> dict[int, torch.Tensor]:
    """Every layer's activations at the last token of one unpadded prompt."""
    rec = Recorder(lambda x: x[0, -1].clone())
    with policy.active(rec) as m, torch.no_grad():
        m(input_ids=torch.tensor([tok(prompt_text(prompt, tok, "tulu"))["input_ids"]]))
    return rec.acts


@pytest.mark.parametrize("arch", ARCHS)
def test_features_equal_a_manual_forward_per_prompt(arch, bases, adapters):
    tok, base = models.load_tokenizer(bases[arch]), models.load_base(bases[arch])
    guarded = models.policy("dpo", base, list(adapters[arch]))
    x = safeguard.last_prompt_activations(guarded, tok, PROMPTS, NEURONS, batch_size=3)  # left-padded batches
    want = [torch.cat([acts[0][[3, 7]], acts[2][[1, 9]]]) for acts in (manual(guarded, tok, p) for p in PROMPTS)]
    np.testing.assert_allclose(x, torch.stack(want).numpy(), rtol=1e-4, atol=1e-5)
    everything = safeguard.last_prompt_activations(guarded, tok, PROMPTS, None, batch_size=4)
    n_layers, d_mlp = models.mlp_width(base)
    assert everything.shape == (len(PROMPTS), n_layers * d_mlp)
    every = {layer: range(d_mlp) for layer in range(n_layers)}
    np.testing.assert_allclose(everything[:, safeguard.columns(every, NEURONS)], x, rtol=1e-4, atol=1e-5)
    unscaled = safeguard.last_prompt_activations(models.policy("base", base, []), tok, PROMPTS, NEURONS)
    assert not np.allclose(unscaled, x)  # the (IA)3 scales are in the features


def test_feature_order_union_and_columns():
    assert neuron_sets.canonical(NEURONS) == {0: [3, 7], 2: [1, 9]}
    assert neuron_sets.pairs(NEURONS).tolist() == [[0, 3], [0, 7], [2, 1], [2, 9]]
    recorded = neuron_sets.union(NEURONS, {1: [4], 2: [0]})
    assert recorded == {0: [3, 7], 1: [4], 2: [0, 1, 9]}
    assert safeguard.columns(recorded, {2: [9, 1], 0: [7]}).tolist() == [1, 4, 5]
    assert neuron_sets.from_pairs([(2, 9), (0, 3), (2, 1)]) == {0: [3], 2: [1, 9]}
    with pytest.raises(KeyError, match="not recorded"):
        safeguard.columns(recorded, {3: [0]})


def test_features_survive_saving(tmp_path):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    safeguard.save_features(tmp_path / "f.npz", x, NEURONS, ["a", "b"])
    got, recorded, ids = safeguard.load_features(tmp_path / "f.npz")
    np.testing.assert_array_equal(got, x)
    assert recorded == neuron_sets.canonical(NEURONS) and ids == ["a", "b"]
    with pytest.raises(ValueError, match="do not match"):
        safeguard.save_features(tmp_path / "g.npz", x, {0: [1]}, ["a", "b"])


def test_random_baselines_keep_their_constraints(ranking):
    safety = neuron_sets.canonical(top_k(ranking, 30))
    sets = safeguard.random_baselines(ranking, 30, 50, seed=1)
    assert {n: len(ids) for n, ids in sets["rn_same"].items()} == {n: len(ids) for n, ids in safety.items()}
    assert list(sets["rn_last"]) == [2] and len(sets["rn_last"][2]) == 30  # layer 3 is not ranked
    assert sum(map(len, sets["rn_all"].values())) == 30 and set(sets["rn_all"]) <= {0, 1, 2}
    assert len(sets["rn_all"]) > 1
    assert sets == safeguard.random_baselines(ranking, 30, 50, seed=1)
    assert sets != safeguard.random_baselines(ranking, 30, 50, seed=2)
    taken = {tuple(p) for p in neuron_sets.pairs(safety).tolist()}
    for neurons in safeguard.random_baselines(ranking, 30, 50, seed=1, disjoint=True).values():
        assert not taken & {tuple(p) for p in neuron_sets.pairs(neurons).tolist()}


def test_recording_set_covers_every_set_of_the_sweep(ranking):
    runs = safeguard.safeguard_sets(ranking, [5, 20], 50, [1, 42])
    heads = [(k, name, seed) for k, name, seed, _ in runs]
    assert heads[:5] == [(5, "safety", None), *((5, name, 1) for name in safeguard.BASELINES), (5, "rn_same", 42)]
    assert len(runs) == 2 * (1 + 3 * 2)
    recorded = safeguard.recording_set(ranking, [5, 20], 50, [1, 42])
    for *_, neurons in runs:
        safeguard.columns(recorded, neurons)  # raises when a set is not covered


def planted(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features [n, 20] with label = feature 3 > 0 (linearly separable)."""
    x = np.random.default_rng(seed).normal(size=(n, 20)) + shift
    return x, (x[:, 3] > shift).astype(int)


def test_classifier_learns_a_planted_label_and_not_shuffled_ones():
    (x, y), (xt, yt) = planted(400, 0), planted(300, 1)
    assert (safeguard.fit(x, y).predict(xt) == yt).mean() > 0.9
    shuffled = np.random.default_rng(2).permutation(y)
    assert 0.35 < (safeguard.fit(x, shuffled).predict(xt) == yt).mean() < 0.65
    with pytest.raises(ValueError, match="single label"):
        safeguard.fit(x, np.ones_like(y))


def test_convergence_warnings_are_counted_not_raised():
    x, y = planted(300, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = safeguard.fit(x * np.logspace(0, 5, 20), y)  # columns on scales 1..1e5: lbfgs stops at 100 steps
    assert clf.n_convergence_warnings_ >= 1 and clf.max_iter == 100


def test_cross_dataset_protocol_counts():
    data = {"hh": planted(200, 0), "bt": planted(30, 1), "hb": planted(20, 2)}
    data["hb"] = (data["hb"][0], np.array([1] * 15 + [0] * 5))  # labels unrelated to the features
    r = safeguard.cross_dataset_accuracy(data, "hh")
    assert (r["train"], r["n_train"], r["test"], r["n_test"]) == ("hh", 200, ["bt", "hb"], 50)
    assert {n: t["n"] for n, t in r["per_test"].items()} == {"bt": 30, "hb": 20}
    per = r["per_test"]
    assert r["accuracy"] == pytest.approx((30 * per["bt"]["accuracy"] + 20 * per["hb"]["accuracy"]) / 50)
    assert per["hb"]["majority"] == 0.75
    positives = data["bt"][1].sum() + 15
    assert r["majority"] == pytest.approx(max(positives, 50 - positives) / 50)
    with pytest.raises(ValueError, match="one of several"):
        safeguard.cross_dataset_accuracy({"hh": data["hh"]}, "hh")


def test_accuracy_curve_is_tidy_and_finds_the_planted_safety_neuron(ranking):
    ks, seeds = [3, 10], [1, 42]
    recorded = safeguard.recording_set(ranking, ks, 50, seeds)
    top = safeguard.columns(recorded, top_k(ranking, 1))[0]
    rng = np.random.default_rng(0)
    data = {}
    for name, n in [("hh", 150), ("bt", 40), ("rt", 40)]:
        x = rng.normal(size=(n, len(neuron_sets.pairs(recorded))))
        data[name] = (x, (x[:, top] > 0).astype(int))  # harmful iff the top-ranked neuron fires
    df = safeguard.accuracy_curve(data, recorded, ranking, ks, 50, seeds, train_names=["hh", "bt"])
    assert list(df.columns) == list(safeguard.CURVE_COLUMNS)
    assert len(df) == len(ks) * (1 + 3 * len(seeds)) * 2
    safety = df[df.neurons == "safety"]
    assert safety.seed.isna().all() and (safety.accuracy > 0.8).all()
    assert set(df.neurons) == {"safety", *safeguard.BASELINES}
    assert df.loc[df.neurons != "safety", "seed"].notna().all()


def test_deployment_by_hand():
    got = safeguard.deployment([3.0, -2.0, 5.0, -1.0], [1, 0, 0, 1])
    assert got == {
        "n": 4,
        "n_accepted": 2,
        "refused_rate": 0.5,
        "mean_cost_all": 1.25,
        "mean_cost_accepted": 1.5,
        "all_refused": False,
    }
    refused = safeguard.deployment([3.0, -2.0], [1, 1])
    assert refused["all_refused"] and math.isnan(refused["mean_cost_accepted"]) and refused["refused_rate"] == 1
    assert safeguard.deployment([3.0, -2.0], [0, 0])["mean_cost_accepted"] == 0.5
    with pytest.raises(ValueError, match="0 .accept. or 1"):
        safeguard.deployment([1.0], [2])
    with pytest.raises(ValueError, match="one prediction per cost"):
        safeguard.deployment([1.0, 2.0], [0])


def test_labels_join_on_prompt_id():
    scored = [{"id": "b", "score": 0.0}, {"id": "a", "score": 2.5}, {"id": "c", "score": -1.0}]
    assert safeguard.response_costs(scored, ["a", "b"]).tolist() == [2.5, 0.0]
    assert safeguard.harm_labels(scored, ["c", "a", "b"]).tolist() == [0, 1, 0]  # cost 0 is not harmful
    with pytest.raises(ValueError, match="no scored response"):
        safeguard.harm_labels(scored, ["a", "z"])
    with pytest.raises(ValueError, match="scored twice"):
        safeguard.harm_labels(scored + [{"id": "a", "score": 1.0}], ["a"])


def test_prompt_sampling():
    rows = [{"id": str(i)} for i in range(1000)]
    state = random.getstate()
    try:
        random.seed(42)
        want = random.sample(rows, 200)  # the authors' call, on the global generator
    finally:
        random.setstate(state)
    assert sampling.sampled_prompts(rows, 200, 42) == want
    assert len(sampling.sampled_prompts(rows[:50], 200, 42)) == 50
    assert sampling.training_prompts(rows, 5) == rows[:5] and sampling.training_prompts(rows[:3], 5) == rows[:3]


def test_feature_rule_records_the_sweep_union(bases, adapters, ranking, tmp_path):
    sft, _ = adapters["tiny_llama"]
    save_file({"ranking": ranking.to(torch.int32)}, str(tmp_path / "scores.safetensors"))
    write_jsonl([{"id": f"p{i}", "prompt": p} for i, p in enumerate(PROMPTS)], tmp_path / "prompts.jsonl")
    p = dict(ks=[3, 10], seeds=[1], d_mlp=50, disjoint=False, chat_format="tulu", batch_size=2, dtype="float32")
    p["neuron_site"] = "model.layers.*.mlp.down_proj"
    out = tmp_path / "features.npz"
    safeguard_features(
        str(bases["tiny_llama"]),
        [str(sft)],
        tmp_path / "scores.safetensors",
        tmp_path / "prompts.jsonl",
        SafeguardParams.of(p),
        out,
    )
    x, recorded, ids = safeguard.load_features(out)
    assert recorded == safeguard.recording_set(ranking, [3, 10], 50, [1]) and ids == ["p0", "p1", "p2", "p3"]
    guarded = models.policy("sft", models.load_base(bases["tiny_llama"]), [sft])
    tok = models.load_tokenizer(bases["tiny_llama"])
    np.testing.assert_allclose(x, safeguard.last_prompt_activations(guarded, tok, PROMPTS, recorded), atol=1e-5)


def test_figure_when_no_training_set_has_two_classes(tmp_path):
    """An aligned (or never-harmful) model gives empty accuracy curves and no guarded costs: the figure still
    shows the unguarded costs and says why there is no curve, instead of failing the whole report."""
    import pandas as pd

    from safety_neurons.reporting.figures import plot_safeguard

    acc = pd.DataFrame(columns=["model", "guarded", "neurons", "k", "accuracy", "majority"])
    deploy = pd.DataFrame(
        {"dataset": ["bt", "rt"], "n": [24, 24], "mean_cost_all": [-3.1, -2.9], "note": "one-class training set"}
    ).assign(model="m", guarded="sft")
    plot_safeguard(acc, deploy, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000
