"""Models on disk: a base snapshot (hub or tiny), an SFT adapter, DPO adapters stacked on top.

(IA)3 policies share one copy of the base weights: a policy is the base model plus the product of its
adapters' (IA)3 vectors, applied at the neuron site's input (down_proj) by ``hooks.hooked`` (the paper's ``cumprod`` of
``ia3_l``); ``Policy.active`` is the one-shot form of it. LoRA adapters are merged into a private copy with peft.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from safety_neurons.files import ArtifactError, MissingArtifact, load_tensors
from safety_neurons.models.loading import load_base, load_tokenizer, placement  # noqa: F401  (re-exported: models.load_base, …)
from safety_neurons.neurons.hooks import DEFAULT_SITE, OnActivation, hooked, mlp_width, site_of, site_pattern


def adapter_type(adapter_dir: str | Path) -> str:
    """'IA3' or 'LORA', from the adapter's config."""
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.exists():
        raise MissingArtifact(f"{path}: no adapter_config.json (is {adapter_dir} an adapter directory?)")
    return json.loads(path.read_text())["peft_type"]


def ia3_vectors(adapter_dir: str | Path, n_layers: int, d_mlp: int, site: str = DEFAULT_SITE) -> list[torch.Tensor]:
    """Per-layer (IA)3 vectors of an adapter on the neuron sites only, checked against the model: one finite
    vector of length d_mlp for each of its layers, none for a layer it does not have."""
    path = Path(adapter_dir) / "adapter_model.safetensors"
    vectors: list[torch.Tensor | None] = [None] * n_layers
    pattern = re.compile(site_pattern(site) + r"\.ia3_l")
    for key, value in load_tensors(path).items():
        match = pattern.fullmatch(key)
        if match is None:
            raise ArtifactError(f"{path}: unexpected (IA)3 weight {key!r}; only the neuron site {site!r} is supported")
        layer = int(match.group(1))
        if layer >= n_layers:
            raise ArtifactError(f"{path}: {key} is for layer {layer}, the model has {n_layers} layers")
        if value.numel() != d_mlp:
            raise ArtifactError(f"{path}: {key} has {value.numel()} values, the model's d_mlp is {d_mlp}")
        if not torch.isfinite(value).all():
            raise ArtifactError(f"{path}: {key} holds NaN or inf (did training diverge?)")
        vectors[layer] = value.float().flatten()
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        raise ArtifactError(f"{path}: no (IA)3 vector at {site!r} for layers {missing}")
    return vectors  # type: ignore[return-value]


def stacked_scales(adapter_dirs: list[str | Path], n_layers: int, d_mlp: int, site: str = DEFAULT_SITE):
    """Product over adapters of their (IA)3 vectors, per layer; None for the bare base model."""
    if not adapter_dirs:
        return None
    scales = ia3_vectors(adapter_dirs[0], n_layers, d_mlp, site)
    for d in adapter_dirs[1:]:
        scales = [s * v for s, v in zip(scales, ia3_vectors(d, n_layers, d_mlp, site), strict=True)]
    return scales


def merged_copy(model, adapter_dirs: list[str | Path]):
    """A copy of ``model`` with each adapter merged in turn by peft (used for LoRA)."""
    from peft import PeftModel

    merged = copy.deepcopy(model)
    for d in adapter_dirs:
        merged = PeftModel.from_pretrained(merged, str(d)).merge_and_unload()
    return merged.eval()


@dataclass
class Policy:
    """A model to run: weights plus the (IA)3 scales that make it Base, SFT or DPO."""

    name: str
    model: torch.nn.Module
    scales: list[torch.Tensor] | None

    @contextmanager
    def active(self, on_activation: OnActivation | None = None) -> Iterator[torch.nn.Module]:
        """The model with this policy's scales (and an optional activation callback) in effect."""
        with hooked(self.model) as hooks:
            hooks.set(self.scales, on_activation)
            yield self.model


def as_policy(model_or_policy, name: str) -> Policy:
    """A ``Policy`` as given, or a plain (possibly peft-wrapped) model as a policy without extra scales."""
    if isinstance(model_or_policy, Policy):
        return model_or_policy
    return Policy(name, model_or_policy, None)


def policy(name: str, base_model, adapter_dirs: list[str | Path]) -> Policy:
    """A policy over ``base_model``: shared weights for (IA)3 stacks, a merged copy for LoRA."""
    types = {adapter_type(d) for d in adapter_dirs}
    if types <= {"IA3"}:
        scales = stacked_scales(adapter_dirs, *mlp_width(base_model), site_of(base_model))
        if scales is not None:
            device = next(base_model.parameters()).device
            scales = [s.to(device=device, dtype=torch.float32) for s in scales]
        return Policy(name, base_model, scales)
    return Policy(name, merged_copy(base_model, adapter_dirs), None)
