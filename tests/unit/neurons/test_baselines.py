"""Baseline rankings (Pruning/Wanda, SN-Tune): streaming scores equal a naive computation on the peft-merged
DPO model (the (IA)3 vectors folded into W_down, plain torch hooks), batching does not change them, and the
saved rankings feed ``neuron_sets`` as intended."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from safety_neurons.files import read_jsonl
from safety_neurons.neurons import baselines
from safety_neurons.neurons import policies as models
from safety_neurons.neurons import sets as neuron_sets
from safety_neurons.neurons.change_scores import load_ranking
from safety_neurons.neurons.hooks import DEFAULT_SITE
from safety_neurons.neurons.sizes import top_fraction_k
from safety_neurons.stages.baselines import baseline_scores
from safety_neurons.workflow.contracts import BaselineParams
from tests.conftest import ARCHS

N_TEXTS = 6


@pytest.fixture(scope="module")
def texts(normalized, bases) -> dict[str, list[str]]:
    """Rendered calibration texts: HH pairs (prompt + chosen) for Wanda, HH prompts for SN-Tune."""
    tok = models.load_tokenizer(bases["tiny_llama"])
    pairs = read_jsonl(normalized["hh_harmless_train"])[:N_TEXTS]
    prompts = read_jsonl(normalized["hh_harmless_test"])[:N_TEXTS]
    return {
        "wanda": [baselines.calibration_text(r, tok, "tulu") for r in pairs],
        "sn_tune": [baselines.calibration_text(r, tok, "tulu") for r in prompts],
    }


def naive_acts(model, tok, texts: list[str]) -> list[torch.Tensor]:
    """Per layer, every token's down_proj input [T, d_mlp], one unpadded text at a time, by plain torch hooks."""
    acts: dict[int, list[torch.Tensor]] = {}
    sites = [layer.mlp.down_proj for layer in model.model.layers]
    handles = [
        site.register_forward_pre_hook(lambda _m, args, i=i: acts.setdefault(i, []).append(args[0][0].clone()))
        for i, site in enumerate(sites)
    ]
    with torch.no_grad():
        for text in texts:
            model(input_ids=tok(text, return_tensors="pt")["input_ids"])
    for h in handles:
        h.remove()
    return [torch.cat(acts[i]).double() for i in range(len(sites))]


def naive_scores(method: str, acts: list[torch.Tensor], weights: list[torch.Tensor], agg: str) -> torch.Tensor:
    """Wanda: Wanda scores |W_ij| * ||X_j|| of every weight, aggregated per column; SN-Tune: mean |a| * ||W[:, j]||."""
    out = []
    for a, w in zip(acts, weights, strict=True):
        w = w.detach().double()
        if method == "wanda":
            per_weight = w.abs() * a.norm(dim=0)[None, :]  # [d_model, d_mlp]
            out.append(per_weight.sum(0) if agg == "sum" else per_weight.amax(0))
        else:
            out.append((a.abs() * w.norm(dim=0)[None, :]).mean(0))
    return torch.stack(out).float()


CASES = [(name, method, "sum") for method in baselines.METHODS for name in ARCHS] + [("tiny_gemma", "wanda", "max")]


@pytest.mark.parametrize(("name", "method", "agg"), CASES)
def test_streaming_scores_equal_naive_with_ia3_scaling(name, method, agg, bases, adapters, texts):
    tok = models.load_tokenizer(bases[name])
    base = models.load_base(bases[name])
    dpo = models.policy("dpo", base, list(adapters[name]))
    stats = baselines.baseline_stats(dpo, tok, texts[method], method=method, agg=agg, batch_size=4)
    merged = models.merged_copy(base, list(adapters[name]))  # peft folds the (IA)3 vectors into W_down
    weights = [layer.mlp.down_proj.weight for layer in merged.model.layers]
    acts = naive_acts(merged, tok, texts[method])
    torch.testing.assert_close(stats.scores, naive_scores(method, acts, weights, agg), rtol=1e-4, atol=1e-6)
    assert stats.n_tokens == len(acts[0]) and stats.n_prompts == N_TEXTS
    unadapted = baselines.baseline_stats(base, tok, texts[method], method=method, agg=agg, batch_size=4)
    assert not torch.allclose(stats.scores, unadapted.scores, rtol=1e-2)


@pytest.mark.parametrize("method", baselines.METHODS)
def test_batching_does_not_change_scores(method, bases, adapters, texts):
    tok = models.load_tokenizer(bases["tiny_mistral"])
    dpo = models.policy("dpo", models.load_base(bases["tiny_mistral"]), list(adapters["tiny_mistral"]))
    one = baselines.baseline_stats(dpo, tok, texts[method], method=method, batch_size=1)
    for batch_size in (4, N_TEXTS):
        batched = baselines.baseline_stats(dpo, tok, texts[method], method=method, batch_size=batch_size)
        torch.testing.assert_close(batched.scores, one.scores, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(batched.m1_std, one.m1_std, rtol=1e-4, atol=1e-5)


def test_per_layer_ranking_interleaves_layer_tops():
    scores = torch.tensor([[0.1, 0.9, 0.3], [0.8, 0.2, 0.95], [5.0, 6.0, 7.0], [0.5, 0.4, 0.6]])
    ranking = baselines.rank_per_layer(scores, exclude_layers=[2])
    assert ranking.tolist() == [[1, 2], [0, 1], [3, 2], [1, 0], [3, 0], [0, 2], [3, 1], [1, 1], [0, 0]]
    with pytest.raises(ValueError, match="NaN"):
        baselines.rank_per_layer(torch.tensor([[float("nan"), 1.0]]))


def test_top_k_of_per_layer_ranking_is_each_layers_top_fraction():
    scores = torch.rand(5, 200, generator=torch.Generator().manual_seed(0))
    ranking = baselines.rank_baseline(scores, [3], "per_layer")
    assert len(ranking) == 4 * 200 and 3 not in ranking[:, 0].tolist()
    for fraction in (0.05, 0.1, 0.5):
        k = top_fraction_k("per_layer", 4, 200, fraction)
        want = {
            layer: sorted(torch.topk(scores[layer], round(fraction * 200)).indices.tolist()) for layer in (0, 1, 2, 4)
        }
        assert neuron_sets.top_k(ranking, k) == want
    assert top_fraction_k("global", 4, 200, 0.05) == 40


@pytest.mark.parametrize(
    ("method", "ranking", "data"),
    [("wanda", "per_layer", "hh_harmless_train"), ("sn_tune", "global", "hh_harmless_test")],
)
def test_baseline_stage_writes_a_neuron_score_file(method, ranking, data, bases, adapters, normalized, tmp_path):
    name = "tiny_llama"  # exclude_layers [3] in configs/tiny.yaml
    n_layers, d_mlp = models.mlp_width(models.load_base(bases[name]))
    p = dict(
        method=method, agg="sum", ranking=ranking, top_fraction=0.05, n_texts=5, selection="first",
        selection_seed=42, batch_size=2, max_length=64, chat_format="tulu", exclude_layers=[3], dtype="float32",
        cpu_precision="float32", neuron_site=DEFAULT_SITE,
        model=name, n_layers=n_layers, d_mlp=d_mlp,
    )  # fmt: skip
    out, summ = tmp_path / "scores.safetensors", tmp_path / "summary.json"
    info = baseline_scores(
        str(bases[name]),
        [str(a) for a in adapters[name]],
        str(normalized[data]),
        BaselineParams.of(p),
        str(out),
        str(summ),
    )
    saved = load_file(str(out))
    assert saved["scores"].shape == (n_layers, d_mlp)
    order = load_ranking(out)
    assert order.shape == ((n_layers - 1) * d_mlp, 2) and 3 not in order[:, 0].tolist()
    assert sorted(map(tuple, order.tolist())) == [(lay, j) for lay in range(n_layers - 1) for j in range(d_mlp)]
    assert json.loads(summ.read_text())["k_top_fraction"] == info["k_top_fraction"]
    assert info["n_prompts"] == 5
    assert torch.equal(order, baselines.rank_baseline(saved["scores"], [3], ranking))
    top = neuron_sets.top_k(order, info["k_top_fraction"])
    assert neuron_sets.size(top) == info["k_top_fraction"]
    if ranking == "per_layer":
        assert neuron_sets.layer_counts(top) == {lay: round(0.05 * d_mlp) for lay in range(n_layers - 1)}
