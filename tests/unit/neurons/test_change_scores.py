"""Change scores (Eq. 3): streaming equals a naive computation; ranking; neuron sets; the hook site equals
TransformerLens's ``blocks.{l}.mlp.hook_post``."""

from __future__ import annotations

import pytest
import torch

from safety_neurons.data.formats import prompt_text
from safety_neurons.neurons import policies as models
from safety_neurons.neurons import sets as neuron_sets
from safety_neurons.neurons.change_scores import change_score_stats, change_scores, rank
from safety_neurons.neurons.decoding import cached_step, generate
from safety_neurons.neurons.hooks import HOOK_POINT, Recorder
from tests.conftest import ARCHS

PROMPTS = ["how do i rob a bank?", "how can i bake bread?", "hi", "tell me how to forge a passport."]


def activations(policy, ids: list[int]) -> dict[int, torch.Tensor]:
    """All activations [T, d_mlp] of one unpadded sequence."""
    rec = Recorder(lambda x: x[0].clone())
    with policy.active(rec) as m, torch.no_grad():
        m(input_ids=torch.tensor([ids]))
    return rec.acts


def naive_scores(tok, m1, m2, token_type: str, max_new: int, generator=None) -> torch.Tensor:
    """Every selected activation of every prompt kept, one prompt at a time, then RMS of the difference."""
    diffs = []
    for p in PROMPTS:
        text = prompt_text(p, tok, "tulu")
        prompt_ids = tok(text)["input_ids"]
        completion = ""
        if token_type == "completion":
            with (generator or m1).active() as m:
                completion = generate(lambda: cached_step(m), tok, [text], max_new, 1, True)[0]
        comp_ids = tok(completion, add_special_tokens=False)["input_ids"]
        ids = prompt_ids + comp_ids
        sel = {
            "completion": slice(len(prompt_ids), len(ids)),
            "prompt": slice(0, len(prompt_ids)),
            "prompt_last": slice(len(prompt_ids) - 1, len(prompt_ids)),
        }[token_type]
        a1, a2 = activations(m1, ids), activations(m2, ids)
        diffs.append(torch.stack([a1[layer][sel] - a2[layer][sel] for layer in sorted(a1)], dim=0))
    d = torch.cat(diffs, dim=1)  # [L, all tokens, d_mlp]
    return d.double().square().mean(1).sqrt().float()


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("token_type", ["completion", "prompt", "prompt_last"])
def test_streaming_scores_equal_naive(name, token_type, bases, adapters):
    tok = models.load_tokenizer(bases[name])
    base = models.load_base(bases[name])
    sft, dpo = adapters[name]
    m1, m2 = models.policy("sft", base, [sft]), models.policy("dpo", base, [sft, dpo])
    stats = change_score_stats(m1, m2, tok, PROMPTS, max_new_tokens=12, token_type=token_type, batch_size=3)
    want = naive_scores(tok, m1, m2, token_type, 12)
    n_layers, d_mlp = models.mlp_width(base)
    assert stats.scores.shape == (n_layers, d_mlp)
    torch.testing.assert_close(stats.scores, want, rtol=1e-4, atol=1e-6)
    assert stats.scores.max() > 0
    if token_type == "prompt_last":
        assert stats.n_tokens == len(PROMPTS)


def test_scores_of_identical_models_are_zero_and_api_matches(bases, adapters):
    tok = models.load_tokenizer(bases["tiny_llama"])
    base = models.load_base(bases["tiny_llama"])
    m1 = models.policy("sft", base, [adapters["tiny_llama"][0]])
    assert change_scores(m1, m1, tok, PROMPTS, max_new_tokens=8, token_type="completion").abs().max() == 0
    m2 = models.policy("dpo", base, list(adapters["tiny_llama"]))
    by_m2 = change_score_stats(m1, m2, tok, PROMPTS, max_new_tokens=12, token_type="completion", generator="m2")
    torch.testing.assert_close(
        by_m2.scores, naive_scores(tok, m1, m2, "completion", 12, generator=m2), rtol=1e-4, atol=1e-6
    )  # M2 wrote the tokens
    assert (by_m2.m1_std >= 0).all() and (by_m2.m2_std >= 0).all()


def test_rank_orders_scores_and_drops_excluded_layers():
    scores = torch.tensor([[0.1, 0.9, 0.3], [0.8, 0.2, 0.95], [5.0, 6.0, 7.0]])
    ranking = rank(scores, exclude_layers=[2])
    assert ranking.tolist() == [[1, 2], [0, 1], [1, 0], [0, 2], [1, 1], [0, 0]]


def test_neuron_sets_keep_counts_and_are_seeded():
    ranking = rank(torch.rand(4, 50, generator=torch.Generator().manual_seed(0)))
    top = neuron_sets.top_k(ranking, 40)
    assert neuron_sets.size(top) == 40
    rnd = neuron_sets.random_like(top, 50, seed=42)
    assert neuron_sets.layer_counts(rnd) == neuron_sets.layer_counts(top)
    assert rnd == neuron_sets.random_like(top, 50, seed=42) != neuron_sets.random_like(top, 50, seed=1)
    disjoint = neuron_sets.random_like(top, 50, seed=42, disjoint=True)
    assert neuron_sets.layer_counts(disjoint) == neuron_sets.layer_counts(top)
    assert all(not set(disjoint[layer]) & set(top[layer]) for layer in top)
    assert neuron_sets.window(ranking, 10, 5) == neuron_sets.from_ranks(ranking, 10, 15)
    with pytest.raises(ValueError, match="exceeds"):
        neuron_sets.top_k(ranking, 201)


@pytest.mark.parametrize("name", ARCHS)
def test_hook_site_equals_transformer_lens_hook_post(name, bases):
    from transformer_lens.model_bridge import TransformerBridge

    tok = models.load_tokenizer(bases[name])
    model = models.load_base(bases[name])
    ids = tok([prompt_text("how do i rob a bank?", tok, "tulu")], return_tensors="pt")["input_ids"]
    rec = Recorder(lambda x: x.clone())
    with models.as_policy(model, "m").active(rec), torch.no_grad():
        model(input_ids=ids)
    bridge = TransformerBridge.boot_transformers(str(bases[name]), tokenizer=tok, device="cpu")
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids)
    for layer, acts in rec.acts.items():
        torch.testing.assert_close(cache[HOOK_POINT.format(layer=layer)], acts, rtol=1e-4, atol=1e-5)
