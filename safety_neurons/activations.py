"""Where a neuron lives: the input of each layer's ``mlp.down_proj`` (its ``base_layer`` under peft).

This is the only module that registers hooks. A neuron's activation is act(gate(x)) * up(x) times any (IA)3
scaling, i.e. TransformerLens's ``blocks.{l}.mlp.hook_post`` on an unadapted model. One forward pre-hook per
layer applies a policy's (IA)3 scale, then lets a callback read or replace the activations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

HOOK_POINT = "blocks.{layer}.mlp.hook_post"  # the TransformerLens name of the same activations
# Callback on a layer's activations [batch, seq, d_mlp]; returning a tensor replaces them.
OnActivation = Callable[[int, torch.Tensor], torch.Tensor | None]


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a causal LM, unwrapping peft when present."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model.model.layers


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


@contextmanager
def neuron_hooks(
    model: nn.Module,
    scales: Sequence[torch.Tensor] | None = None,
    on_activation: OnActivation | None = None,
) -> Iterator[nn.Module]:
    """Within the block, every down_proj input is scaled by ``scales[l]`` and passed to ``on_activation``."""
    handles = []
    for layer, site in enumerate(neuron_sites(model)):
        scale = None if scales is None else scales[layer]
        if scale is None and on_activation is None:
            continue

        def hook(_module, args, layer=layer, scale=scale):
            x = args[0]
            if scale is not None:
                x = x * scale.to(x.dtype)
            if on_activation is not None:
                replaced = on_activation(layer, x)
                if replaced is not None:
                    x = replaced
            return (x, *args[1:])

        handles.append(site.register_forward_pre_hook(hook))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()
