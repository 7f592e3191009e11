"""Where a neuron lives: the input of each layer's ``mlp.down_proj`` (its ``base_layer`` under peft), or of the
module that ``models.<m>.neuron_site`` names for families whose MLP output projection is called otherwise.

This is the only module that registers hooks, and ``hooked`` the one way to do it: hooks kept for a block,
scales and callback switched by ``NeuronHooks.set`` (``Policy.active`` is the one-shot form built on it).

A neuron's activation is act(gate(x)) * up(x) (act(fc_in(x)) in ungated families) times any (IA)3 scaling, i.e.
TransformerLens's ``blocks.{l}.mlp.hook_post`` on an unadapted model. One forward pre-hook per layer applies the
active policy's (IA)3 scale, then lets a callback read or replace the activations. The hooks stay registered while
policies switch, so patched decoding pays no per-step registration cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from safety_neurons.files import UserError

HOOK_POINT = "blocks.{layer}.mlp.hook_post"  # the TransformerLens name of the same activations
# Callback on a layer's activations [batch, seq, d_mlp]; returning a tensor replaces them.
OnActivation = Callable[[int, torch.Tensor], torch.Tensor | None]


DEFAULT_SITE = "model.layers.*.mlp.down_proj"  # config models.<m>.neuron_site: `*` stands for the layer index
# Families checked by tests/unit/models/test_architectures.py (and the paper's Llama-2, Mistral, Gemma, Qwen2).
SUPPORTED = "Llama (2, 3), Mistral, Qwen2, Qwen3, Gemma, Gemma-2, Phi-3, OLMo-2"
OTHER_SITES = {  # families whose neurons sit elsewhere, each tested with its site configured
    "GPT-NeoX": "gpt_neox.layers.*.mlp.dense_4h_to_h",
    "Phi-2": "model.layers.*.mlp.fc2",
    "OPT": "model.decoder.layers.*.fc2",
    "GPT-2": "transformer.h.*.mlp.c_proj",
}


class UnsupportedModel(UserError):
    """A model without the configured neuron site: the error says how to configure one."""


def split_site(site: str) -> tuple[str, str]:
    """('model.layers', 'mlp.down_proj') of 'model.layers.*.mlp.down_proj': the decoder blocks, and the module
    in each block whose input holds the neurons."""
    layers, _, module = site.partition(".*.")
    if not layers or not module or "*" in module:
        raise UnsupportedModel(f"neuron_site {site!r}: expected '<layers>.*.<module>', e.g. {DEFAULT_SITE!r}")
    return layers, module


def unwrapped(model: nn.Module) -> nn.Module:
    """The transformers model under a peft wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def set_site(model: nn.Module, site: str) -> nn.Module:
    """Record where ``model``'s neurons live (``models.<m>.neuron_site``); every reader below follows it."""
    split_site(site)
    model.neuron_site = site
    return model


def site_of(model: nn.Module) -> str:
    """The site ``set_site`` recorded (``load_base`` always records the configured one); a model built elsewhere,
    e.g. ``from_config`` in a notebook, has the paper's ``DEFAULT_SITE`` as ``neuron_site``'s schema default."""
    return getattr(unwrapped(model), "neuron_site", DEFAULT_SITE)


def _module(root: nn.Module, path: str) -> nn.Module | None:
    for name in path.split("."):
        root = getattr(root, name, None)
    return root


def _unsupported(model: nn.Module, site: str, what: str) -> UnsupportedModel:
    others = "; ".join(f"{family}: {s!r}" for family, s in OTHER_SITES.items())
    return UnsupportedModel(
        f"{type(model).__name__}: {what} neuron site {site!r} (tested as is: {SUPPORTED}); set "
        f"models.<model>.neuron_site to the module whose input holds the MLP neurons, as '<layers>.*.<module>' "
        f"(tested: {others})"
    )


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a causal LM, unwrapping peft when present."""
    base, site = unwrapped(model), site_of(model)
    layers_path, module_path = split_site(site)
    layers = _module(base, layers_path)
    if not isinstance(layers, nn.ModuleList) or any(_module(layer, module_path) is None for layer in layers):
        raise _unsupported(base, site, "no")
    return layers


def neuron_sites(model: nn.Module) -> list[nn.Module]:
    """Per layer, the module whose input holds the neurons (``mlp.down_proj`` by default), or its
    ``base_layer`` under peft: a Linear, or GPT-2's transposed Conv1D."""
    _, module_path = split_site(site_of(model))
    sites = []
    for layer in decoder_layers(model):
        module = _module(layer, module_path)
        module = getattr(module, "base_layer", module)
        if not isinstance(module, nn.Linear) and type(module).__name__ != "Conv1D":
            raise _unsupported(unwrapped(model), site_of(model), f"a {type(module).__name__}, not a linear map, at")
        sites.append(module)
    return sites


def down_weight(site: nn.Module) -> torch.Tensor:
    """The weight [d_model, d_mlp] that reads the neurons (Conv1D stores it transposed)."""
    return site.weight if isinstance(site, nn.Linear) else site.weight.T


def mlp_width(model: nn.Module) -> tuple[int, int]:
    """(n_layers, d_mlp) of a model, read from its neuron sites' weights."""
    sites = neuron_sites(model)
    return len(sites), down_weight(sites[0]).shape[1]


def site_pattern(site: str) -> str:
    """A regex that fully matches each neuron site's module name and captures its layer (peft's
    ``target_modules``; the (IA)3 check)."""
    layers, module = split_site(site)
    return rf"(?:.*\.)?{re.escape(layers)}\.(\d+)\.{re.escape(module)}"


def final_norm(model: nn.Module) -> nn.Module:
    """The norm before the unembedding, beside the decoder blocks (``model.norm`` in Llama/Mistral/Gemma/Qwen2,
    ``final_layernorm`` in Phi, ``final_layer_norm`` in GPT-NeoX/OPT, ``ln_f`` in GPT-2)."""
    base, site = unwrapped(model), site_of(model)
    parent_path = split_site(site)[0].rpartition(".")[0]
    parent = _module(base, parent_path) if parent_path else base
    for name in ("norm", "final_layernorm", "final_layer_norm", "ln_f"):
        if isinstance(getattr(parent, name, None), nn.Module):
            return getattr(parent, name)
    raise UnsupportedModel(
        f"{type(base).__name__}: no final norm (norm, final_layernorm, final_layer_norm, ln_f) beside the decoder "
        f"blocks of {site!r}; value vectors need the norm before the unembedding"
    )


class NeuronHooks:
    """Pre-hooks on every neuron site of one model; ``scales`` and ``on_activation`` may change between calls."""

    def __init__(self, model: nn.Module):
        self.scales: Sequence[torch.Tensor] | None = None
        self.on_activation: OnActivation | None = None
        self._handles = [
            site.register_forward_pre_hook(self._hook(layer)) for layer, site in enumerate(neuron_sites(model))
        ]
        self._tokens: tuple[int, int] = (0, 0)  # (batch, seq) of the current forward: OPT flattens them
        self._handles.append(unwrapped(model).register_forward_pre_hook(self._record_tokens, with_kwargs=True))

    def _record_tokens(self, _module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self._tokens = tuple((ids if ids is not None else kwargs["inputs_embeds"]).shape[:2])

    def _hook(self, layer: int):
        def hook(_module, args):
            if self.scales is None and self.on_activation is None:
                return None
            x = args[0]
            if self.scales is not None:
                x = (x.float() * self.scales[layer]).to(x.dtype)  # in fp32, as peft applies (IA)3
            if self.on_activation is not None:
                flat = x.dim() == 2  # [batch * seq, d_mlp]: callbacks see [batch, seq, d_mlp]
                if flat and self._tokens[0] * self._tokens[1] != x.shape[0]:
                    raise RuntimeError("flattened activations: run the whole causal LM, whose input gives batch, seq")
                replaced = self.on_activation(layer, x.reshape(*self._tokens, -1) if flat else x)
                if replaced is not None:
                    x = replaced.reshape(x.shape) if flat else replaced
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
