"""The embedded default's models: a locally trained tokenizer, four tiny architectures, brief pretraining."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

SPECIAL = ["<s>", "</s>", "<pad>", "<unk>"]
CHAT_TOKENS = ["<|user|>", "<|assistant|>"]
# Architecture classes of the paper's four models, with the knobs that make each one itself.
ARCH_DEFAULTS: dict[str, dict] = {
    "LlamaForCausalLM": {"model_type": "llama", "hidden_act": "silu", "tie_word_embeddings": False},
    "MistralForCausalLM": {"model_type": "mistral", "hidden_act": "silu", "tie_word_embeddings": False},
    "GemmaForCausalLM": {"model_type": "gemma", "hidden_act": "gelu_pytorch_tanh", "tie_word_embeddings": True},
    "Qwen2ForCausalLM": {"model_type": "qwen2", "hidden_act": "silu", "tie_word_embeddings": True},
}


def train_tokenizer(texts: list[str], vocab_size: int, out_dir: str | Path) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on the tiny corpus; BOS prepended like Llama's tokenizer; saved to out_dir."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.add_tokens(CHAT_TOKENS)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.save_pretrained(str(out_dir))
    return fast


def build_model(
    architecture: str,
    tokenizer: PreTrainedTokenizerFast,
    n_layers: int,
    d_mlp: int,
    d_model: int,
    n_heads: int,
    n_kv_heads: int,
    max_positions: int,
    seed: int,
):
    """A randomly initialised model of the given architecture class, sized by the config."""
    if architecture not in ARCH_DEFAULTS:
        raise ValueError(f"unknown tiny architecture {architecture!r}; expected one of {sorted(ARCH_DEFAULTS)}")
    defaults = dict(ARCH_DEFAULTS[architecture])
    model_type = defaults.pop("model_type")
    config = AutoConfig.for_model(
        model_type,
        vocab_size=len(tokenizer),
        hidden_size=d_model,
        intermediate_size=d_mlp,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv_heads,
        head_dim=d_model // n_heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        architectures=[architecture],
        **defaults,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def _batches(ids: list[list[int]], batch_size: int, seq_len: int, pad_id: int, rng: random.Random):
    """Endless shuffled batches of right-padded documents with loss masked on padding."""
    while True:
        order = list(range(len(ids)))
        rng.shuffle(order)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            docs = [ids[i][:seq_len] for i in order[start : start + batch_size]]
            width = max(map(len, docs))
            x = torch.full((len(docs), width), pad_id)
            mask = torch.zeros((len(docs), width), dtype=torch.long)
            for row, d in enumerate(docs):
                x[row, : len(d)] = torch.tensor(d)
                mask[row, : len(d)] = 1
            yield x, mask


def pretrain(
    model, tokenizer, texts: list[str], steps: int, lr: float, batch_size: int, seq_len: int, seed: int, log=print
) -> dict:
    """Brief causal-LM pretraining (AdamW, cosine decay); returns the loss curve and wall time."""
    torch.manual_seed(seed)
    ids = [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    batches = _batches(ids, batch_size, seq_len, tokenizer.pad_token_id, random.Random(seed))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    model.train()
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        x, mask = next(batches)
        labels = x.masked_fill(mask == 0, -100)
        loss = model(input_ids=x, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            log(f"pretrain step {step}/{steps} loss {loss.item():.4f}")
    model.eval()
    return {
        "loss_first": losses[0],
        "loss_last": sum(losses[-10:]) / min(10, len(losses)),
        "losses": losses[:: max(1, steps // 50)],
        "seconds": time.perf_counter() - t0,
        "steps": steps,
    }


def read_corpus(path: str | Path) -> list[str]:
    """Pretraining documents: blank-line separated in the corpus file."""
    return [d for d in Path(path).read_text().split("\n\n") if d.strip()]


def make_base(tokenizer_dir: str, corpus: str, out_dir: str, spec: dict, hp: dict, seed: int, log=print) -> dict:
    """Build a tiny model from its config entry, pretrain it, save model + tokenizer + metrics atomically."""
    from safety_neurons.files import staged_dir, write_json

    tok = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    model = build_model(
        spec["architecture"],
        tok,
        spec["n_layers"],
        spec["d_mlp"],
        spec["d_model"],
        spec["n_heads"],
        spec["n_kv_heads"],
        spec["max_positions"],
        seed,
    )
    metrics = pretrain(
        model, tok, read_corpus(corpus), hp["steps"], hp["lr"], hp["batch_size"], hp["seq_len"], seed, log
    )
    metrics["parameters"] = sum(p.numel() for p in model.parameters())
    with staged_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        write_json(metrics, tmp / "pretrain_metrics.json")
    return metrics
