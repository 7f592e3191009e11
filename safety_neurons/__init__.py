"""safety-neurons: safety neurons of aligned LLMs, found by generation-time activation contrasting and tested by
dynamic activation patching (Chen et al., NeurIPS 2025).

The notebook API, importable from the top level (each name is loaded on first use, so ``import safety_neurons``
stays cheap)::

    from safety_neurons import load_base, load_tokenizer, policy, change_scores, rank, top_k, random_like
    from safety_neurons import generate_with_patching, causal_effect

Where things live, one layer per subpackage: ``neurons`` (hooks, policies, decoding, change scores, neuron sets,
patching, baseline rankings), ``models`` (base models), ``training`` (SFT, DPO), ``evaluation`` (judges, ability
benchmarks, metrics), ``experiments`` (E4-E14), ``reporting`` (tables, figures), ``data`` (loaders, the tiny
world), ``workflow`` (config, layout, stage contracts, costs, plan, cli), ``stages`` (every rule's entry point).
"""

from __future__ import annotations

import importlib

API = {
    "load_base": "safety_neurons.models.loading",
    "load_tokenizer": "safety_neurons.models.loading",
    "policy": "safety_neurons.neurons.policies",
    "Policy": "safety_neurons.neurons.policies",
    "change_scores": "safety_neurons.neurons.change_scores",
    "change_score_stats": "safety_neurons.neurons.change_scores",
    "rank": "safety_neurons.neurons.change_scores",
    "load_ranking": "safety_neurons.neurons.change_scores",
    "top_k": "safety_neurons.neurons.sets",
    "random_like": "safety_neurons.neurons.sets",
    "window": "safety_neurons.neurons.sets",
    "generate_with_patching": "safety_neurons.neurons.patching",
    "hooked": "safety_neurons.neurons.hooks",
    "Recorder": "safety_neurons.neurons.hooks",
    "causal_effect": "safety_neurons.evaluation.metrics",
    "load_judge": "safety_neurons.evaluation.judges",
}
__all__ = sorted(API)


def __getattr__(name: str):
    """Load an API name from its module on first use."""
    if name not in API:
        raise AttributeError(f"module 'safety_neurons' has no attribute {name!r}")
    value = getattr(importlib.import_module(API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API))
