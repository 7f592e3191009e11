"""What every model stage shares: the base model and tokenizer, placed as configured."""

from __future__ import annotations

import logging

from safety_neurons.workflow.contracts import ModelParams, SafeguardParams


def load(base_dir: str, p: ModelParams | SafeguardParams):
    """Tokenizer and base model, placed on the GPU when there is one (on CPU: p.cpu_precision)."""
    from safety_neurons.models.loading import load_base, load_tokenizer, placement

    device, torch_dtype = placement(p.dtype, p.cpu_precision)
    model = load_base(base_dir, torch_dtype, device, p.neuron_site)
    logging.getLogger(__name__).info("%s on %s in %s (dtype: %s)", base_dir, device, model.dtype, p.dtype)
    return load_tokenizer(base_dir), model
