"""Loading a base model: ``dtype: auto`` is the checkpoint's own dtype, a named dtype is that dtype; a hub model
comes from the Hugging Face cache, offline as on a compute node."""

from __future__ import annotations

import json
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


CASES = {  # name: (repo id, architecture in the config entry)
    "cached": ("meta-llama/Llama-2-7b-hf", "LlamaForCausalLM"),
    "uncached": ("meta-llama/Llama-2-13b-hf", "LlamaForCausalLM"),
    "unlike": ("meta-llama/Llama-2-7b-hf", "X"),
}
DOWNLOAD = """
import json, sys
from functools import partial
from safety_neurons.models.loading import check_snapshot, download
cases, out, site = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
errors = {}
for name, (repo, architecture) in cases.items():
    check = partial(check_snapshot, key="models.llama2", architecture=architecture, neuron_site=site, shape=(2, 64))
    try:
        download(repo, "main", f"{out}/{name}", check)
    except Exception as e:
        errors[name] = f"{type(e).__name__}: {e}"
print(json.dumps(errors))
"""


@pytest.fixture(scope="module")
def downloads(fp16_checkpoint, tokenizer_dir, tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, Path]]:
    """``download`` as rule download_base runs it, each case of CASES, in one fresh process with the hub switched
    off and a cache holding one revision of Llama-2-7b-hf: (output root, each failed case's error, the files)."""
    tmp = tmp_path_factory.mktemp("downloads")
    files = {f.name: f for f in fp16_checkpoint.iterdir()} | {f.name: f for f in tokenizer_dir.iterdir()}
    files["README.md"] = files["original/consolidated.00.pth"] = fp16_checkpoint / "config.json"  # not copied
    cache = hub_cache(tmp / "hub", "meta-llama/Llama-2-7b-hf", files)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), HF_HOME=str(tmp / "home"))
    args = [sys.executable, "-c", DOWNLOAD, json.dumps(CASES), str(tmp / "out"), SITE]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return tmp / "out", json.loads(proc.stdout.strip().splitlines()[-1]), files


def test_download_copies_a_cached_revision_offline(downloads):
    out, errors, files = downloads
    assert "cached" not in errors, errors
    base = out / "cached"
    got = sorted(f.name for f in base.iterdir())
    assert got == sorted(n for n in files if n not in ("README.md", "original/consolidated.00.pth"))
    assert not any(f.is_symlink() for f in base.iterdir())  # content, not links into the cache
    assert load_base(base, "auto").dtype == torch.float16
    assert load_tokenizer(base).pad_token is not None


def test_download_of_an_uncached_model_offline_names_it_and_leaves_nothing(downloads):
    out, errors, _ = downloads
    assert not (out / "uncached").exists()
    assert errors["uncached"].startswith(
        "HubUnavailable: meta-llama/Llama-2-13b-hf@main: not in the Hugging Face cache"
    )


def test_a_snapshot_unlike_its_config_entry_is_refused_before_it_is_copied(downloads):
    out, errors, _ = downloads
    assert not (out / "unlike").exists()
    assert errors["unlike"].startswith("UserError: config key models.llama2.architecture: 'X', but ")
    assert errors["unlike"].endswith("holds a LlamaForCausalLM")


def test_the_neuron_site_is_checked_where_the_model_is_downloaded(tmp_path):
    cfg = GPTNeoXConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vocab_size=64)
    GPTNeoXForCausalLM(cfg).save_pretrained(tmp_path)
    with pytest.raises(UserError, match=r"GPTNeoXForCausalLM: no neuron site 'model.layers.\*.mlp.down_proj'"):
        check_snapshot(tmp_path, "models.pythia", "GPTNeoXForCausalLM", SITE, (2, 64))
    site = "gpt_neox.layers.*.mlp.dense_4h_to_h"
    with pytest.raises(UserError, match=r"config key models.pythia.n_layers/d_mlp: 2/11008, but .* has 2/64$"):
        check_snapshot(tmp_path, "models.pythia", "GPTNeoXForCausalLM", site, (2, 11008))
    check_snapshot(tmp_path, "models.pythia", "GPTNeoXForCausalLM", site, (2, 64))
