"""Cost of the neuron machinery, as ratios measured in one run (``safety-neurons bench``).

1. Patched / plain greedy generation time (batch 16 x 64 new tokens; two models run per token, floor 2.0).
2. Change-score peak memory at 4N vs N prompts (streaming sums: should stay ~1.0).
3. Forward throughput with activation recording vs a plain forward (hooks should cost little).
4. With ``--train STEPS``: seconds per optimizer step of the real SFT and DPO trainers in bf16 with activation
   checkpointing, config.yaml's settings (the GPU check: ``safety-neurons bench --seven-b --sizes tiny --train 4``).
Models: a tiny Llama and a ~100M-parameter Llama with random weights, built from configs; with CUDA present,
optionally a 7B-shaped Llama in bf16 (``--seven-b``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch and the models load after the arguments are checked: a typo fails at once
    import torch
    from transformers import LlamaForCausalLM

    from safety_neurons.neurons.policies import Policy

SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4, vocab_size=1024),
    "100m": dict(
        hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12, vocab_size=8192
    ),
    "7b": dict(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, vocab_size=32000
    ),
}


def build(size: str, device: str, dtype: torch.dtype) -> LlamaForCausalLM:
    """A randomly initialised Llama of the named size."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**SIZES[size], max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    with torch.device(device):  # a 7B model is built where it runs, in its dtype: no 27 GB float32 copy on the host
        return LlamaForCausalLM._from_config(cfg, dtype=dtype).eval()


def policies(model) -> tuple[Policy, Policy, dict[int, torch.Tensor]]:
    """M1 = the model, M2 = the model with random (IA)3-like scales; 5% of neurons per layer patched."""
    import torch

    from safety_neurons.neurons.patching import index_tensors
    from safety_neurons.neurons.policies import Policy

    g = torch.Generator().manual_seed(1)
    n_layers, d_mlp = model.config.num_hidden_layers, model.config.intermediate_size
    dev, dt = model.device, model.dtype
    scales = [(0.5 + torch.rand(d_mlp, generator=g)).to(dev, dt) for _ in range(n_layers)]
    neurons = {layer: torch.randperm(d_mlp, generator=g)[: d_mlp // 20].tolist() for layer in range(n_layers)}
    return Policy("m1", model, None), Policy("m2", model, scales), index_tensors(neurons, dev)


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_generation(model, device: str, batch: int, new_tokens: int, repeats: int) -> dict:
    """Best-of-repeats seconds for plain and patched greedy generation of exactly ``new_tokens`` tokens."""
    import torch

    from safety_neurons.neurons.decoding import cached_step, greedy_loop
    from safety_neurons.neurons.patching import hook_pair, patched_step

    m1, m2, idx = policies(model)
    ids = torch.randint(3, model.config.vocab_size, (batch, 16), device=device)
    mask = torch.ones_like(ids)
    times = {"plain": [], "patched": []}
    with hook_pair(m1, m2) as (h1, h2):
        for _ in range(repeats):
            for name in times:
                h1.set(None)
                step = cached_step(model) if name == "plain" else patched_step(m1, m2, h1, h2, idx)
                sync(device)
                t0 = time.perf_counter()
                out = greedy_loop(step, ids, mask, new_tokens, eos_token_id=-1, pad_token_id=0)
                sync(device)
                times[name].append(time.perf_counter() - t0)
                assert out.shape[1] == new_tokens
    plain, patched = min(times["plain"]), min(times["patched"])
    return {"plain_s": plain, "patched_s": patched, "ratio": patched / plain}


def time_recording(model, device: str, batch: int, seq: int, repeats: int) -> dict:
    """Forward throughput (tokens/s) with every layer's activations recorded vs none."""
    import torch

    from safety_neurons.neurons.hooks import Recorder, hooked

    ids = torch.randint(3, model.config.vocab_size, (batch, seq), device=device)
    best = {}
    with torch.no_grad(), hooked(model) as hooks:
        model(input_ids=ids, logits_to_keep=1)  # warm-up, so neither variant pays first-call costs
        for name, callback in (("plain", None), ("recording", Recorder(lambda x: x.float()))):
            hooks.set(None, callback)
            runs = []
            for _ in range(repeats):
                sync(device)
                t0 = time.perf_counter()
                model(input_ids=ids, logits_to_keep=1)
                sync(device)
                runs.append(time.perf_counter() - t0)
            best[name] = batch * seq / min(runs)
    return {
        "plain_tok_s": best["plain"],
        "recording_tok_s": best["recording"],
        "ratio": best["recording"] / best["plain"],
    }


class _Tok:
    """A minimal tokenizer over random ids, so change scores run on random models without a vocabulary."""

    bos_token_id, eos_token_id, pad_token_id, padding_side, eos_token = 1, -1, 0, "left", "</s>"

    def __init__(self, vocab: int):
        self.vocab = vocab

    def _ids(self, text: str) -> list[int]:
        return [3 + (hash(w) % (self.vocab - 3)) for w in text.split()] or [3]

    def __call__(self, texts, add_special_tokens=True, return_tensors=None, padding=False):
        if isinstance(texts, str):
            return {"input_ids": ([1] if add_special_tokens else []) + self._ids(texts)}
        import torch

        rows = [([1] if add_special_tokens else []) + self._ids(t) for t in texts]
        width = max(map(len, rows))
        ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}

    def batch_decode(self, ids, skip_special_tokens=True):
        return [" ".join(f"w{i}" for i in row.tolist() if i > 2) for row in ids]


def score_memory_child(size: str, n_prompts: int, new_tokens: int) -> None:
    """(Subprocess) peak RSS increase of one change-score run, printed as JSON."""
    import torch

    from safety_neurons.neurons.change_scores import change_score_stats

    torch.set_num_threads(1)
    model = build(size, "cpu", torch.float32)
    m1, m2, _ = policies(model)
    tok = _Tok(model.config.vocab_size)
    prompts = [f"request number {i} about topic {i % 7}" for i in range(n_prompts)]
    change_score_stats(
        m1, m2, tok, prompts[:4], max_new_tokens=4, token_type="completion", batch_size=4, chat_format="tulu"
    )  # warm-up allocations
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = change_score_stats(
        m1, m2, tok, prompts, max_new_tokens=new_tokens, token_type="completion", batch_size=8, chat_format="tulu"
    )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_kb": after, "increase_kb": after - before, "n_tokens": stats.n_tokens}))


def score_memory(size: str, n: int, new_tokens: int) -> dict:
    """Peak memory of change scores over 4N vs N prompts (same batch size), each in a fresh process."""
    runs = {}
    for label, count in (("N", n), ("4N", 4 * n)):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "safety_neurons.workflow.measure",
                "--memory-child",
                size,
                str(count),
                str(new_tokens),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        runs[label] = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "tokens_N": runs["N"]["n_tokens"],
        "tokens_4N": runs["4N"]["n_tokens"],
        "peak_mb_N": runs["N"]["peak_kb"] / 1024,
        "peak_mb_4N": runs["4N"]["peak_kb"] / 1024,
        "ratio": runs["4N"]["peak_kb"] / runs["N"]["peak_kb"],
    }


def training_data(root: Path, words: int) -> dict[str, Path]:
    """A BPE tokenizer and normalized SFT chats and preference pairs from the tiny world, each reply repeated
    to about ``words`` words, so that a step sees sequences of a realistic length."""
    from safety_neurons.data.loaders import load
    from safety_neurons.data.synthetic import WORLD_FILES, write_world
    from safety_neurons.files import write_jsonl
    from safety_neurons.models import tiny
    from safety_neurons.workflow.config import load as load_config

    repo = Path(__file__).resolve().parents[2]
    tiny_world = load_config(repo / "config.yaml", repo / "configs" / "tiny.yaml")["tiny_world"]
    world = {role: root / name for role, name in WORLD_FILES.items()}
    sizes = dict(pretrain=300, sharegpt=64, hh_train=64, hh_test=8, red_team=8, beavertails=8, harmbench=8, jailbreak=8)
    write_world(world, tiny_world["seed"], sizes, tiny_world["rates"], tiny_world["heldout_fraction"])
    tiny.train_tokenizer(tiny.read_corpus(world["pretrain"]), 1024, root / "tokenizer")

    def longer(text: str) -> str:
        return " ".join([text] * max(1, words // max(1, len(text.split()))))

    chats = [
        r | {"messages": [m | {"content": longer(m["content"])} for m in r["messages"]]}
        for r in load("sharegpt", {"local": str(world["sharegpt"])})
    ]
    pairs = [
        r | {k: longer(r[k]) for k in ("chosen", "rejected")}
        for r in load("hh_pairs", {"local": str(world["hh_harmless_train"])})
    ]
    out = {"sharegpt": root / "sharegpt.jsonl", "pairs": root / "pairs.jsonl", "tokenizer": root / "tokenizer"}
    write_jsonl(chats, out["sharegpt"])
    write_jsonl(pairs, out["pairs"])
    return out


def time_training(size: str, device: str, steps: int, words: int) -> dict:
    """``steps`` optimizer steps of the real SFT then DPO trainers (peft (IA)3 on down_proj, trl, pure sigmoid
    DPO on the merged SFT model) on the size's random Llama with config.yaml's sft/dpo settings: bf16 mixed
    precision and activation checkpointing (on CPU too), per_device_batch per step, no accumulation."""
    import shutil
    import tempfile

    import torch

    from safety_neurons.training.trainers import train_dpo, train_sft
    from safety_neurons.workflow import layout
    from safety_neurons.workflow.config import load

    config = load(Path(__file__).resolve().parents[2] / "config.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = training_data(root, words)
        build(size, device, torch.bfloat16).save_pretrained(root / "base")
        for f in data["tokenizer"].iterdir():
            shutil.copy(f, root / "base" / f.name)
        report = {}
        for stage in layout.TRAINING_STAGES:
            hp = layout.training(config, stage, "llama2")  # config.yaml's settings for its 7B Llama
            hp |= dict(grad_accum=1, epochs=1, logging_steps=1, save_steps=10**9)
            hp |= dict(cpu_precision="configured", neuron_site=config["models"]["llama2"]["neuron_site"])
            hp["max_examples"] = steps * hp["per_device_batch"]
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            if stage == "sft":
                m = train_sft(str(root / "base"), str(data["sharegpt"]), str(root / "sft"), hp, 1, "tulu")
            else:
                m = train_dpo(
                    str(root / "base"), str(root / "sft"), str(data["pairs"]), str(root / "dpo"), hp, 1, "tulu"
                )
            report[stage] = {
                "steps": m["steps"],
                "s_per_step": m["train_seconds"] / m["steps"],
                "stage_seconds": m["seconds"],
                "loss_first": m["loss_first"],
                "precision": m["precision"],
                "peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
            }
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="safety-neurons bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    ap.add_argument("--sizes", nargs="+", default=["tiny", "100m"], choices=list(SIZES))
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats; the best is kept")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seven-b", action="store_true", help="also a 7B-shaped Llama in bf16 (needs CUDA)")
    ap.add_argument(
        "--train", type=int, default=0, metavar="STEPS", help="also STEPS bf16 SFT and DPO steps per size (0: none)"
    )
    ap.add_argument("--words", type=int, default=600, help="words per reply in the --train data (sequence length)")
    ap.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        score_memory_child(args.memory_child[0], int(args.memory_child[1]), int(args.memory_child[2]))
        return
    import torch

    if args.seven_b and not torch.cuda.is_available():
        ap.error("--seven-b needs a CUDA GPU: a 7B model in bf16 on this CPU would run for hours")
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = args.sizes + (["7b"] if args.seven_b else [])
    report = {}
    for size in sizes:
        dtype = torch.bfloat16 if size == "7b" else torch.float32
        model = build(size, device, dtype)
        report[size] = {
            "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "generation_b16_t64": time_generation(model, device, 16, 64, args.repeats),
            "recording_b8_s128": time_recording(model, device, 8, 128, args.repeats),
        }
        if device == "cpu":
            report[size]["score_memory"] = score_memory(size, 16, 16)
        del model
        if args.train:
            report[size]["training"] = time_training(size, device, args.train, args.words)
    print(json.dumps({"device": device, "torch": torch.__version__, "results": report}, indent=2))


if __name__ == "__main__":
    main()
