"""Loading a base model (knowing where its neurons are) and its tokenizer, and where to run them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from safety_neurons.files import UserError
from safety_neurons.neurons.hooks import DEFAULT_SITE, mlp_width, set_site

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str) -> torch.dtype | str:
    """The torch dtype a config names; ``auto`` stays "auto": the checkpoint's own (its config.json's
    ``torch_dtype``, float16 for Llama-2-7b-hf), as the authors load their models."""
    return "auto" if name == "auto" else DTYPES[name]


def placement(dtype: str, cpu_precision: str = "float32") -> tuple[str, str]:
    """(device, dtype) to run on: CUDA with the configured dtype when present; else CPU in float32, or in the
    configured dtype when ``cpu_precision`` is ``configured`` (the GPU path, at tiny shapes)."""
    if torch.cuda.is_available():
        return "cuda", dtype
    return "cpu", dtype if cpu_precision == "configured" else "float32"


def _checked_dir(base_dir: str | Path, *needs: str) -> str:
    """A base model (or tokenizer) directory that exists and holds one of ``needs`` (else transformers would try
    the hub with it as a repository id)."""
    path = Path(base_dir)
    if not any((path / n).is_file() for n in needs):
        from safety_neurons.files import MissingArtifact

        what = f"no {' or '.join(needs)} in this directory" if path.is_dir() else "no such directory"
        raise MissingArtifact(f"{path}: {what} (delete it and rerun its download, pretrain or convert rule)")
    return str(path)


def load_tokenizer(base_dir: str | Path):
    """The base model's tokenizer, left-padded for generation, with EOS as pad when it has none."""
    from transformers import AutoTokenizer  # here: jobs that only read rankings or scores never import it

    tok = AutoTokenizer.from_pretrained(_checked_dir(base_dir, "tokenizer_config.json", "tokenizer.json"))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_base(base_dir: str | Path, dtype: str = "float32", device: str = "cpu", neuron_site: str = DEFAULT_SITE):
    """The base model in eval mode on ``device``, knowing where its neurons are (``hooks.set_site``); a truncated
    weights file names its path."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    from safety_neurons.files import ArtifactError

    try:
        model = AutoModelForCausalLM.from_pretrained(_checked_dir(base_dir, "config.json"), dtype=torch_dtype(dtype))
    except (SafetensorError, OSError) as e:
        raise ArtifactError(f"{base_dir}: the model's weights cannot be read ({e})") from None
    return set_site(model.to(device).eval(), neuron_site)


HUB_FILES = ["*.json", "*.safetensors", "*.model", "tokenizer*"]  # weights, config, tokenizer; no .bin/.pth copies


class HubUnavailable(UserError):
    """A hub model is neither reachable nor in the local Hugging Face cache."""


def check_snapshot(
    model_dir: str | Path, key: str, architecture: str, neuron_site: str, shape: tuple[int, int]
) -> None:
    """Where the model is downloaded, before any GPU job: the checkpoint is the configured class and has the
    configured neuron site of the configured (n_layers, d_mlp) (checked on an empty meta-device copy)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    found = (config.architectures or ["no architectures entry"])[0]
    if found != architecture:
        raise UserError(f"config key {key}.architecture: {architecture!r}, but {model_dir} holds a {found}")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    want, found = "/".join(map(str, shape)), "/".join(map(str, mlp_width(set_site(model, neuron_site))))
    if found != want:
        raise UserError(f"config key {key}.n_layers/d_mlp: {want}, but {model_dir} has {found}")


def download(hub_id: str, revision: str, out_dir: str | Path, check: Callable[[Path], None] | None = None) -> None:
    """Snapshot a hub model (weights, config, tokenizer) through the Hugging Face cache, ``check`` it (e.g.
    ``check_snapshot``), then copy it into ``out_dir`` atomically; run once per model. With ``HF_HUB_OFFLINE=1``
    (compute nodes without internet) the cache must already hold the revision: a pre-filled ``HF_HOME`` serves it."""
    import shutil

    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    from safety_neurons.files import staged_dir

    try:  # no local_dir: offline, huggingface_hub reads its cache only when it is not given one
        snapshot = Path(snapshot_download(repo_id=hub_id, revision=revision, allow_patterns=HUB_FILES))
    except LocalEntryNotFoundError:
        raise HubUnavailable(
            f"{hub_id}@{revision}: not in the Hugging Face cache {constants.HF_HUB_CACHE} and the hub cannot be reached"
            f" (offline: {constants.HF_HUB_OFFLINE}); fill the cache on a host with internet:"
            f" hf download {hub_id} --revision {revision}"
        ) from None
    if check is not None:
        check(snapshot)
    with staged_dir(out_dir) as tmp:
        for f in snapshot.rglob("*"):
            rel = f.relative_to(snapshot)
            if f.is_file() and any(rel.match(p) for p in HUB_FILES):
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, tmp / rel)  # the cache's files are links to its blobs: copy the content
