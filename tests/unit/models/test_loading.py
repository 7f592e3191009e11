"""Loading a base model: ``dtype: auto`` is the checkpoint's own dtype, a named dtype is that dtype; a hub model
comes from the Hugging Face cache, offline as on a compute node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

from safety_neurons.files import UserError
from safety_neurons.models.loading import check_snapshot, load_base, load_tokenizer, placement
from safety_neurons.neurons.hooks import DEFAULT_SITE as SITE
from tests.fixtures.mirrors import hub_cache


@pytest.fixture(scope="module")
def fp16_checkpoint(tmp_path_factory):
    """A tiny random Llama saved in float16, as Llama-2-7b-hf is published."""
    out = tmp_path_factory.mktemp("fp16")
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vocab_size=64)
    LlamaForCausalLM(cfg).to(torch.float16).save_pretrained(out)
    return out


@pytest.mark.parametrize(
    ("dtype", "want"), [("auto", torch.float16), ("bfloat16", torch.bfloat16), ("float32", torch.float32)]
)
def test_dtype_auto_is_the_checkpoints_own(fp16_checkpoint, dtype, want):
    assert load_base(fp16_checkpoint, dtype).dtype == want


def test_cpu_runs_auto_in_float32_unless_configured():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert placement("auto") == ("cpu", "float32") and placement("auto", "configured") == ("cpu", "auto")


def download_offline(cache: Path, out: Path, architecture: str = "LlamaForCausalLM") -> subprocess.CompletedProcess:
    """``download`` of Llama-2-7b-hf, checked as rule download_base checks it, in a fresh process with the hub
    switched off and ``cache`` as its cache."""
    code = (
        "import sys\nfrom functools import partial\n"
        "from safety_neurons.models.loading import check_snapshot, download\n"
        f"check = partial(check_snapshot, key='models.llama2', architecture={architecture!r}, neuron_site={SITE!r},"
        " shape=(2, 64))\n"
        f"try:\n    download('meta-llama/Llama-2-7b-hf', 'main', {str(out)!r}, check)\n"
        "except Exception as e:\n    sys.exit(f'{type(e).__name__}: {e}')\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), HF_HOME=str(cache.parent / "home"))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_download_copies_a_cached_revision_offline(fp16_checkpoint, tokenizer_dir, tmp_path):
    files = {f.name: f for f in fp16_checkpoint.iterdir()} | {f.name: f for f in tokenizer_dir.iterdir()}
    files["README.md"] = files["original/consolidated.00.pth"] = fp16_checkpoint / "config.json"  # not copied
    cache = hub_cache(tmp_path / "hub", "meta-llama/Llama-2-7b-hf", files)
    proc = download_offline(cache, tmp_path / "base")
    assert proc.returncode == 0, proc.stderr
    got = sorted(f.name for f in (tmp_path / "base").iterdir())
    assert got == sorted(n for n in files if n not in ("README.md", "original/consolidated.00.pth"))
    assert not any(f.is_symlink() for f in (tmp_path / "base").iterdir())  # content, not links into the cache
    assert load_base(tmp_path / "base", "auto").dtype == torch.float16
    assert load_tokenizer(tmp_path / "base").pad_token is not None


def test_download_of_an_uncached_model_offline_names_it_and_leaves_nothing(tmp_path):
    proc = download_offline(tmp_path / "empty", tmp_path / "base")
    assert proc.returncode != 0 and not (tmp_path / "base").exists()
    assert proc.stderr.strip().startswith(
        "HubUnavailable: meta-llama/Llama-2-7b-hf@main: not in the Hugging Face cache"
    )


def test_a_snapshot_unlike_its_config_entry_is_refused_before_it_is_copied(fp16_checkpoint, tmp_path):
    files = {f.name: f for f in fp16_checkpoint.iterdir()}
    proc = download_offline(hub_cache(tmp_path / "hub", "meta-llama/Llama-2-7b-hf", files), tmp_path / "base", "X")
    assert proc.returncode != 0 and not (tmp_path / "base").exists()
    assert proc.stderr.strip().startswith("UserError: config key models.llama2.architecture: 'X', but ")
    assert proc.stderr.strip().endswith("holds a LlamaForCausalLM")


def test_the_neuron_site_is_checked_where_the_model_is_downloaded(tmp_path):
    cfg = GPTNeoXConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vocab_size=64)
    GPTNeoXForCausalLM(cfg).save_pretrained(tmp_path)
    with pytest.raises(UserError, match=r"GPTNeoXForCausalLM: no neuron site 'model.layers.\*.mlp.down_proj'"):
        check_snapshot(tmp_path, "models.pythia", "GPTNeoXForCausalLM", SITE, (2, 64))
    site = "gpt_neox.layers.*.mlp.dense_4h_to_h"
    with pytest.raises(UserError, match=r"config key models.pythia.n_layers/d_mlp: 2/11008, but .* has 2/64$"):
        check_snapshot(tmp_path, "models.pythia", "GPTNeoXForCausalLM", site, (2, 11008))
    check_snapshot(tmp_path, "models.pythia", "GPTNeoXForCausalLM", site, (2, 64))
