"""SFT and DPO on the real trl/peft trainers: loss falls, DPO learns the preferences, adapter shapes, and
the shared-weights (IA)3 policies equal peft's own adapted models."""

from __future__ import annotations

import json
import math

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from safety_neurons.neurons import policies as models
from safety_neurons.training.trainers import train_dpo, train_sft
from tests.conftest import ARCHS, TINY

HP = dict(
    TINY["sft"],
    cpu_precision="float32",
    neuron_site="model.layers.*.mlp.down_proj",
    adapter="ia3",
    weight_decay=0.1,
    adam_epsilon=1e-8,
    scheduler="cosine",
    warmup_steps=0,
    max_examples=None,
    logging_steps=1,
    save_steps=1000,
    lora_r=8,
    lora_alpha=16,
    loss_type=["sigmoid"],
    loss_weights=None,
    beta=0.1,
    precompute_ref_log_probs=False,
)


@pytest.fixture(scope="module")
def trained(llama_base, normalized, tmp_path_factory):
    """SFT then DPO of the tiny Llama, ~25 optimizer steps each."""
    root = tmp_path_factory.mktemp("trained")
    base = str(llama_base)
    sft = train_sft(base, str(normalized["sharegpt"]), str(root / "sft"), dict(HP, epochs=2), 1, "tulu")
    dpo = train_dpo(
        base,
        str(root / "sft"),
        str(normalized["hh_harmless_train"]),
        str(root / "dpo"),
        dict(HP, lr=0.01, epochs=2),
        1,
        "tulu",
    )
    return {"base": base, "sft": root / "sft", "dpo": root / "dpo", "sft_metrics": sft, "dpo_metrics": dpo}


def mean_loss(history: list[dict]) -> float:
    return sum(h["loss"] for h in history) / len(history)


def test_sft_loss_falls(trained):
    m = trained["sft_metrics"]
    assert m["steps"] >= 20
    assert mean_loss(m["log_history"][-5:]) < 0.8 * mean_loss(m["log_history"][:5])
    assert json.loads((trained["sft"] / "adapter_metrics.json").read_text())["steps"] == m["steps"]


def test_dpo_learns_the_preferences(trained):
    m = trained["dpo_metrics"]
    accuracy = [h["rewards/accuracies"] for h in m["log_history"]]
    assert accuracy[0] <= 0.5 and sum(accuracy[-5:]) / 5 >= 0.7  # logged per batch of 16: noisy, so a mean
    assert mean_loss(m["log_history"][-5:]) < mean_loss(m["log_history"][:5]) - 0.01  # from ln 2 = 0.693


def test_precomputed_reference_log_probs_train_the_same_adapter(trained, normalized, tmp_path):
    """dpo.precompute_ref_log_probs: the frozen reference's log-probs, computed once before training, train the
    adapter that computing them at every step trains (4 steps: what differs is batch padding, not the math)."""
    hp = dict(HP, lr=0.01, epochs=2, max_examples=32)
    adapters = {}
    for once in (False, True):
        out = tmp_path / f"precompute_{once}"
        args = (str(trained["sft"]), str(normalized["hh_harmless_train"]), str(out))
        train_dpo(trained["base"], *args, hp | {"precompute_ref_log_probs": once}, 1, "tulu")
        adapters[once] = load_file(str(out / "adapter_model.safetensors"))
    assert adapters[True].keys() == adapters[False].keys()
    for name, vector in adapters[True].items():
        assert not torch.equal(vector, torch.ones_like(vector)), name  # DPO moved it
        torch.testing.assert_close(vector, adapters[False][name], rtol=1e-4, atol=1e-5)


def test_outputs_are_only_the_adapter_and_metrics(trained):
    for stage in ("sft", "dpo"):
        assert sorted(p.name for p in trained[stage].iterdir()) == [
            "adapter_config.json",
            "adapter_metrics.json",
            "adapter_model.safetensors",
        ]
    assert not list(trained["sft"].parent.glob(".checkpoints*"))


@pytest.mark.parametrize("name", ARCHS)
def test_ia3_vector_per_layer_has_length_d_mlp(name, bases, normalized, tmp_path):
    spec = TINY["models"][name]
    train_sft(
        str(bases[name]), str(normalized["sharegpt"]), str(tmp_path), dict(HP, max_examples=32, epochs=1), 1, "tulu"
    )
    state = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert len(state) == spec["n_layers"]
    for key, value in state.items():
        assert key.endswith("mlp.down_proj.ia3_l") and value.numel() == spec["d_mlp"], key


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_shared_weight_policies_equal_peft_models(trained):
    base_dir, sft, dpo = trained["base"], str(trained["sft"]), str(trained["dpo"])
    tok = models.load_tokenizer(base_dir)
    ids = tok(["<|user|>\nhow do i rob a bank?\n<|assistant|>\n"], return_tensors="pt")["input_ids"]
    shared = models.load_base(base_dir)
    peft_sft = PeftModel.from_pretrained(models.load_base(base_dir), sft).eval()
    merged = PeftModel.from_pretrained(models.load_base(base_dir), sft).merge_and_unload()
    peft_dpo = PeftModel.from_pretrained(merged, dpo).eval()
    plain = logits(shared, ids)
    with models.policy("sft", shared, [sft]).active() as m:
        torch.testing.assert_close(logits(m, ids), logits(peft_sft, ids), rtol=1e-4, atol=1e-4)
    with models.policy("dpo", shared, [sft, dpo]).active() as m:
        torch.testing.assert_close(logits(m, ids), logits(peft_dpo, ids), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits(shared, ids), plain)  # hooks are gone after the block
    assert not torch.allclose(logits(peft_dpo, ids), logits(peft_sft, ids), atol=1e-3)


def test_missing_adapter_fails_clearly(tmp_path, bases):
    with pytest.raises(FileNotFoundError, match="no adapter_config.json"):
        models.policy("x", models.load_base(bases["tiny_llama"]), [tmp_path])


def test_cpu_precision_configured_runs_the_paper_path_in_bf16_with_checkpointing(llama_base, normalized, tmp_path):
    """`cpu_precision: configured`: bf16 weights, bf16 mixed precision and activation checkpointing on CPU, as
    a GPU job runs them; pure sigmoid DPO on the merged bf16 SFT model. The default stays float32."""
    base, paper = str(llama_base), dict(HP, bf16=True, gradient_checkpointing=True, max_examples=16, epochs=1)
    sft = train_sft(
        base, str(normalized["sharegpt"]), str(tmp_path / "sft"), paper | {"cpu_precision": "configured"}, 1, "tulu"
    )
    assert sft["precision"] == {
        "device": "cpu",
        "dtype": "bfloat16",
        "bf16_mixed": True,
        "activation_checkpointing": True,
    }
    hp = paper | {"cpu_precision": "configured", "loss_type": ["sigmoid"], "loss_weights": None, "beta": 0.1}
    dpo = train_dpo(
        base, str(tmp_path / "sft"), str(normalized["hh_harmless_train"]), str(tmp_path / "dpo"), hp, 1, "tulu"
    )
    assert dpo["precision"]["dtype"] == "bfloat16" and dpo["precision"]["activation_checkpointing"]
    for d in ("sft", "dpo"):  # peft keeps (IA)3 weights in float32 over a bf16 model, on a GPU as here
        tensors = load_file(str(tmp_path / d / "adapter_model.safetensors"))
        assert {t.dtype for t in tensors.values()} == {torch.float32}, d
        assert all(torch.isfinite(t).all() for t in tensors.values())
    assert all(math.isfinite(h["loss"]) for h in sft["log_history"] + dpo["log_history"])
    plain = train_sft(base, str(normalized["sharegpt"]), str(tmp_path / "plain"), paper, 1, "tulu")
    assert plain["precision"] == {
        "device": "cpu",
        "dtype": "float32",
        "bf16_mixed": False,
        "activation_checkpointing": False,
    }
