"""Where a neuron lives: the input of each layer's ``mlp.down_proj`` (its ``base_layer`` under peft).

This is the only module that registers hooks, and ``hooked`` the one way to do it: hooks kept for a block,
scales and callback switched by ``NeuronHooks.set`` (``Policy.active`` is the one-shot form built on it).

A neuron's activation is act(gate(x)) * up(x) times any (IA)3 scaling, i.e. TransformerLens's
``blocks.{l}.mlp.hook_post`` on an unadapted model. One forward pre-hook per layer applies the active policy's
(IA)3 scale, then lets a callback read or replace the activations. The hooks stay registered while policies
switch, so patched decoding pays no per-step registration cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from safety_neurons.files import UserError

HOOK_POINT = "blocks.{layer}.mlp.hook_post"  # the TransformerLens name of the same activations
# Callback on a layer's activations [batch, seq, d_mlp]; returning a tensor replaces them.
OnActivation = Callable[[int, torch.Tensor], torch.Tensor | None]


# Families checked by tests/unit/models/test_architectures.py (and the paper's Llama-2, Mistral, Gemma, Qwen2).
SUPPORTED = "Llama (2, 3), Mistral, Qwen2, Qwen3, Gemma, Gemma-2, Phi-3, OLMo-2"


class UnsupportedModel(UserError):
    """A model whose decoder layers have no ``mlp.down_proj``: its neurons have no site here."""


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a causal LM, unwrapping peft when present."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None or not all(hasattr(getattr(layer, "mlp", None), "down_proj") for layer in layers):
        raise UnsupportedModel(
            f"{type(model).__name__}: no neuron site (the input of every decoder layer's mlp.down_proj at "
            f"model.layers); families with one: {SUPPORTED}"
        )
    return layers


def neuron_sites(model: nn.Module) -> list[nn.Module]:
    """Per layer, the module whose input holds the neurons: ``down_proj``, or its ``base_layer`` under peft."""
    sites = []
    for layer in decoder_layers(model):
        down = layer.mlp.down_proj
        sites.append(getattr(down, "base_layer", down))
    return sites


def mlp_width(model: nn.Module) -> tuple[int, int]:
    """(n_layers, d_mlp) of a model, read from its down_proj weights."""
    sites = neuron_sites(model)
    return len(sites), sites[0].weight.shape[1]


class NeuronHooks:
    """Pre-hooks on every neuron site of one model; ``scales`` and ``on_activation`` may change between calls."""

    def __init__(self, model: nn.Module):
        self.scales: Sequence[torch.Tensor] | None = None
        self.on_activation: OnActivation | None = None
        self._handles = [
            site.register_forward_pre_hook(self._hook(layer)) for layer, site in enumerate(neuron_sites(model))
        ]

    def _hook(self, layer: int):
        def hook(_module, args):
            if self.scales is None and self.on_activation is None:
                return None
            x = args[0]
            if self.scales is not None:
                x = (x.float() * self.scales[layer]).to(x.dtype)  # in fp32, as peft applies (IA)3
            if self.on_activation is not None:
                replaced = self.on_activation(layer, x)
                if replaced is not None:
                    x = replaced
            return (x, *args[1:])

        return hook

    def set(self, scales: Sequence[torch.Tensor] | None, on_activation: OnActivation | None = None) -> None:
        """Make the next forward passes use these scales and this callback."""
        self.scales, self.on_activation = scales, on_activation

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


@contextmanager
def hooked(model: nn.Module) -> Iterator[NeuronHooks]:
    """Hooks on ``model`` for the duration of the block."""
    hooks = NeuronHooks(model)
    try:
        yield hooks
    finally:
        hooks.remove()


class Recorder:
    """An ``on_activation`` callback that keeps, per layer, the activations at selected positions."""

    def __init__(self, select: Callable[[torch.Tensor], torch.Tensor], layers: Sequence[int] | None = None):
        self.select, self.layers = select, None if layers is None else set(layers)
        self.acts: dict[int, torch.Tensor] = {}

    def __call__(self, layer: int, x: torch.Tensor) -> None:
        if self.layers is None or layer in self.layers:
            self.acts[layer] = self.select(x)
