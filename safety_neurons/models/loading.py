"""Loading a base model and its tokenizer, and where to run them; no hooks, so training code stays light."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def placement(dtype: str) -> tuple[str, str]:
    """(device, dtype) to run on: CUDA with the configured dtype when present, else CPU in float32."""
    if torch.cuda.is_available():
        return "cuda", dtype
    return "cpu", "float32"


def load_tokenizer(base_dir: str | Path):
    """The base model's tokenizer, left-padded for generation, with EOS as pad when it has none."""
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_base(base_dir: str | Path, dtype: str = "float32", device: str = "cpu"):
    """The base model in eval mode on ``device``."""
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=DTYPES[dtype])
    return model.to(device).eval()


def download(hub_id: str, revision: str, out_dir: str | Path) -> None:
    """Snapshot a hub model (weights, config, tokenizer) into ``out_dir``, atomically; run once per model."""
    from huggingface_hub import snapshot_download

    from safety_neurons.files import staged_dir

    with staged_dir(out_dir) as tmp:
        snapshot_download(
            repo_id=hub_id,
            revision=revision,
            local_dir=str(tmp),
            allow_patterns=["*.json", "*.safetensors", "*.model", "tokenizer*"],
        )
        cache = tmp / ".cache"
        if cache.exists():
            import shutil

            shutil.rmtree(cache)
