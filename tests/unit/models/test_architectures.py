"""Beyond the paper's four models: the neuron site, change scores and patching identities on tiny random-init
models of current families (Llama-3-style Llama, Qwen3, Gemma-2 with its pre/post feed-forward norms, Phi-3
with a fused gate_up_proj, OLMo-2, Mistral), of families whose site is configured (``neuron_site``: GPT-NeoX,
Phi-2, OPT, GPT-2's transposed Conv1D), and a clear error for a model without the configured site."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Olmo2Config,
    OPTConfig,
    Phi3Config,
    PhiConfig,
    Qwen3Config,
)

from safety_neurons.experiments.value_vectors import value_logits
from safety_neurons.files import UserError
from safety_neurons.neurons import policies as models
from safety_neurons.neurons.baselines import down_weights
from safety_neurons.neurons.change_scores import change_score_stats, change_scores
from safety_neurons.neurons.hooks import DEFAULT_SITE, OTHER_SITES, Recorder, decoder_layers, neuron_sites, set_site
from safety_neurons.neurons.patching import generate_with_patching
from tests.conftest import random_ia3
from tests.unit.neurons.test_change_scores import PROMPTS as SCORE_PROMPTS
from tests.unit.neurons.test_change_scores import naive_scores
from tests.unit.neurons.test_patching import PROMPTS, every_neuron, own_output

SHAPE = dict(
    vocab_size=1024,  # the tiny tokenizer's
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=256,
)
FAMILIES = {
    "llama3": lambda **ids: LlamaConfig(
        **SHAPE,
        **ids,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    ),
    "qwen3": lambda **ids: Qwen3Config(**SHAPE, **ids),  # q/k RMS norms
    "gemma2": lambda **ids: Gemma2Config(**SHAPE, **ids, query_pre_attn_scalar=16, sliding_window=32),  # 4 norms
    "phi3": lambda **ids: Phi3Config(**SHAPE, **ids),  # gate and up fused in one gate_up_proj
    "olmo2": lambda **ids: Olmo2Config(**SHAPE, **ids),  # post-attention and post-feed-forward norms
    "mistral": lambda **ids: MistralConfig(**SHAPE, **ids, sliding_window=32),
}
UNGATED = dict(vocab_size=1024, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=256)
CONFIGURED = {  # family -> (config, neuron_site): an MLP output projection not called down_proj
    "gpt_neox": (lambda **ids: GPTNeoXConfig(**UNGATED, **ids, hidden_size=64, intermediate_size=96), "GPT-NeoX"),
    "phi2": (lambda **ids: PhiConfig(**UNGATED, **ids, hidden_size=64, intermediate_size=96), "Phi-2"),
    "opt": (lambda **ids: OPTConfig(**UNGATED, **ids, hidden_size=64, ffn_dim=96, word_embed_proj_dim=64), "OPT"),
    "gpt2": (lambda **ids: GPT2Config(**UNGATED, **ids, n_embd=64, n_inner=96), "GPT-2"),  # Conv1D: [in, out]
}
SITES = {name: DEFAULT_SITE for name in FAMILIES} | {name: OTHER_SITES[f] for name, (_, f) in CONFIGURED.items()}
CONFIGS = FAMILIES | {name: config for name, (config, _) in CONFIGURED.items()}


@pytest.fixture(scope="module")
def family_dirs(tokenizer_dir, tmp_path_factory) -> dict[str, tuple]:
    """Per family: (base dir, SFT adapter, stacked DPO adapter); random weights, the tiny tokenizer."""
    root = tmp_path_factory.mktemp("families")
    tok = models.load_tokenizer(tokenizer_dir)
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    out = {}
    for name, config in CONFIGS.items():
        torch.manual_seed(0)
        base = root / name
        AutoModelForCausalLM.from_config(config(**ids)).save_pretrained(str(base))
        for f in tokenizer_dir.iterdir():
            shutil.copy2(f, base / f.name)
        out[name] = (
            base,
            random_ia3(base, root / f"{name}_sft", 1, 0.3, SITES[name]),
            random_ia3(base, root / f"{name}_dpo", 2, 0.8, SITES[name]),
        )
    return out


def policies(family_dirs, name: str):
    base_dir, sft, dpo = family_dirs[name]
    base = models.load_base(base_dir, neuron_site=SITES[name])
    return models.load_tokenizer(base_dir), models.policy("sft", base, [sft]), models.policy("dpo", base, [sft, dpo])


def first_projection(layer) -> tuple[torch.nn.Module, Callable]:
    """The MLP's input projection and its map to the neurons, from the layer's own modules: act(gate(x)) * up(x)
    (Phi-3: one fused gate_up_proj, gate first), or act(fc_in(x)) in the ungated families."""
    mlp = getattr(layer, "mlp", layer)  # OPT keeps fc1 and fc2 in the layer itself
    if hasattr(mlp, "gate_up_proj"):

        def fused(x: torch.Tensor) -> torch.Tensor:
            gate, up = mlp.gate_up_proj(x).chunk(2, dim=-1)
            return mlp.activation_fn(gate) * up

        return mlp.gate_up_proj, fused
    if hasattr(mlp, "gate_proj"):
        return mlp.gate_proj, lambda x: mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x)
    fc_in = next(getattr(mlp, n) for n in ("dense_h_to_4h", "fc1", "c_fc") if hasattr(mlp, n))
    act = mlp.act if hasattr(mlp, "act") else mlp.activation_fn
    return fc_in, lambda x: act(fc_in(x))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_neuron_site_holds_the_mlp_hidden_activations_of_every_layer(name, family_dirs):
    tok, _, _ = policies(family_dirs, name)
    model = models.load_base(family_dirs[name][0], neuron_site=SITES[name])
    inputs, layers = {}, decoder_layers(model)
    handles = [
        first_projection(layer)[0].register_forward_pre_hook(
            lambda _m, args, i=i: inputs.__setitem__(i, args[0].clone())
        )
        for i, layer in enumerate(layers)
    ]
    rec = Recorder(lambda x: x.clone())
    ids = tok(["how do i rob a bank?"], return_tensors="pt")["input_ids"]
    with models.as_policy(model, "m").active(rec), torch.no_grad():
        model(input_ids=ids)
    for h in handles:
        h.remove()
    assert sorted(rec.acts) == list(range(len(layers)))
    for i, layer in enumerate(layers):
        with torch.no_grad():
            neurons = first_projection(layer)[1](inputs[i])
        assert rec.acts[i].shape == (*ids.shape, 96)  # [batch, seq, d_mlp], also where OPT flattens its tokens
        torch.testing.assert_close(rec.acts[i].flatten(0, 1), neurons.reshape(-1, 96), rtol=1e-5, atol=1e-6)
    assert models.mlp_width(model) == (2, 96)


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_shared_weight_policies_equal_peft_on_a_configured_site(name, family_dirs):
    """The hooks scale the configured site's input exactly as peft's (IA)3 on that module does."""
    from peft import PeftModel

    base_dir, sft, _ = family_dirs[name]
    tok, m1, _ = policies(family_dirs, name)
    ids = tok(["how do i rob a bank?"], return_tensors="pt")["input_ids"]
    peft = PeftModel.from_pretrained(models.load_base(base_dir), str(sft)).eval()
    with m1.active() as m, torch.no_grad():
        ours = m(input_ids=ids).logits
    with torch.no_grad():
        theirs, plain = peft(input_ids=ids).logits, m1.model(input_ids=ids).logits
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert (ours - plain).abs().max() > 1e-3  # the adapter really changes the output


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_wanda_weights_and_value_vectors_read_the_configured_site(name, family_dirs):
    """Column j of the weight the baselines and value vectors read is what a unit of neuron j writes (GPT-2's
    Conv1D stores it transposed); value vectors pass it through the family's own final norm and unembedding."""
    model = models.load_base(family_dirs[name][0], neuron_site=SITES[name])
    site, weight = neuron_sites(model)[1], down_weights(model)[1]
    unit = torch.zeros(2, 96)
    unit[1, 7] = 1
    with torch.no_grad():
        written = site(unit)
    torch.testing.assert_close(written[1] - written[0], weight[:, 7])
    logits = value_logits(model, 1, [7, 9])
    assert logits.shape == (2, model.get_output_embeddings().out_features) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_change_scores_stream_like_the_naive_sum_and_vanish_for_identical_models(name, family_dirs):
    tok, m1, m2 = policies(family_dirs, name)
    stats = change_score_stats(m1, m2, tok, SCORE_PROMPTS, max_new_tokens=8, token_type="completion", batch_size=3)
    assert stats.scores.shape == (2, 96) and stats.scores.max() > 0
    torch.testing.assert_close(stats.scores, naive_scores(tok, m1, m2, "completion", 8), rtol=1e-4, atol=1e-6)
    assert change_scores(m1, m1, tok, SCORE_PROMPTS, max_new_tokens=8, token_type="completion").abs().max() == 0


@pytest.mark.parametrize("name", list(CONFIGS))
def test_patching_every_neuron_gives_the_guide_and_none_gives_m1(name, family_dirs):
    tok, m1, m2 = policies(family_dirs, name)
    guide, mine = own_output(m2, tok), own_output(m1, tok)
    assert guide != mine  # the two models really differ
    assert generate_with_patching(m1, m2, tok, PROMPTS, every_neuron(m1), 20, batch_size=5) == guide
    assert generate_with_patching(m1, m2, tok, PROMPTS, {}, 20, batch_size=5) == mine


def test_a_model_without_the_neuron_site_is_refused_with_how_to_configure_one():
    model = AutoModelForCausalLM.from_config(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64))
    with pytest.raises(UserError) as err:
        neuron_sites(model)
    message = str(err.value)
    assert message.startswith("GPT2LMHeadModel: no neuron site 'model.layers.*.mlp.down_proj'")
    assert "set models.<model>.neuron_site" in message and "GPT-2: 'transformer.h.*.mlp.c_proj'" in message
    with pytest.raises(UserError, match=r"GPT2LMHeadModel: no neuron site 'transformer.h.\*.mlp.fc2'"):
        neuron_sites(set_site(model, "transformer.h.*.mlp.fc2"))
    with pytest.raises(UserError, match=r"a GPT2MLP, not a linear map, at neuron site 'transformer.h.\*.mlp'"):
        neuron_sites(set_site(model, "transformer.h.*.mlp"))
    with pytest.raises(UserError, match=r"neuron_site 'transformer.h': expected '<layers>.\*.<module>'"):
        set_site(model, "transformer.h")
