"""Dynamic activation patching (paper Alg. 1): greedy decoding of M1 while chosen neurons take M2's values.

At every step M2 (the guide) runs on M1's current tokens with its own KV cache and its activations at the
chosen neurons are recorded; M1 then runs with those neurons overwritten (after its own (IA)3 scaling), so its
KV cache holds patched states. At the first step every prompt position is patched. M2 never samples: it is
teacher-forced on M1's tokens. When M1 and M2 share base weights the same hooks serve both passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from transformers import DynamicCache

from safety_neurons.data.formats import adds_special_tokens, prompt_text
from safety_neurons.neurons.decoding import Step, cached_step, generate, start_positions
from safety_neurons.neurons.hooks import NeuronHooks, OnActivation, hooked
from safety_neurons.neurons.policies import Policy, as_policy
from safety_neurons.neurons.sets import Neurons


def index_tensors(neurons: Neurons, device) -> dict[int, torch.Tensor]:
    """Layer -> sorted LongTensor of neuron ids, empty layers dropped."""
    return {
        int(layer): torch.tensor(sorted(ids), dtype=torch.long, device=device)
        for layer, ids in neurons.items()
        if len(ids)
    }


@contextmanager
def hook_pair(m1: Policy, m2: Policy) -> Iterator[tuple[NeuronHooks, NeuronHooks]]:
    """Hooks for both policies: one set when they share a model, else one per model."""
    with ExitStack() as stack:
        h1 = stack.enter_context(hooked(m1.model))
        h2 = h1 if m2.model is m1.model else stack.enter_context(hooked(m2.model))
        yield h1, h2


def transfer(idx: dict[int, torch.Tensor]) -> tuple[OnActivation, OnActivation]:
    """(record, overwrite): callbacks that keep M2's activations at ``idx`` and write them into M1's next pass."""
    guide: dict[int, torch.Tensor] = {}

    def record(layer: int, x: torch.Tensor) -> None:
        if layer in idx:
            guide[layer] = x.index_select(-1, idx[layer])

    def overwrite(layer: int, x: torch.Tensor) -> torch.Tensor | None:
        if layer not in idx:
            return None
        return x.index_copy(-1, idx[layer], guide.pop(layer))

    return record, overwrite


def patched_step(m1: Policy, m2: Policy, h1: NeuronHooks, h2: NeuronHooks, idx: dict[int, torch.Tensor]) -> Step:
    """One decoding step of Alg. 1 with a KV cache per model; without neurons, plain M1."""
    if not idx:
        h1.set(m1.scales)
        return cached_step(m1.model)
    cache1, cache2 = DynamicCache(), DynamicCache()
    record, overwrite = transfer(idx)

    def step(input_ids, attention_mask, position_ids):
        common = dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
        )
        h2.set(m2.scales, record)
        m2.model(cache=cache2, **common)
        h1.set(m1.scales, overwrite)
        return m1.model(cache=cache1, **common).logits[:, -1, :]

    return step


@torch.no_grad()
def patched_logits(
    m1: Policy,
    m2: Policy,
    h1: NeuronHooks,
    h2: NeuronHooks,
    idx: dict[int, torch.Tensor],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int = 0,
) -> torch.Tensor:
    """Static patching (log-likelihood tasks, PPL): M2 once over the whole input, then M1 with M2's values at
    ``idx`` at every position. Logits [B, T or logits_to_keep, V]; without neurons, plain M1."""
    common = dict(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=start_positions(attention_mask),
        use_cache=False,
    )
    if not idx:
        h1.set(m1.scales)
        return m1.model(logits_to_keep=logits_to_keep, **common).logits
    record, overwrite = transfer(idx)
    h2.set(m2.scales, record)
    m2.model(logits_to_keep=1, **common)  # only its activations are needed
    h1.set(m1.scales, overwrite)
    return m1.model(logits_to_keep=logits_to_keep, **common).logits


@torch.no_grad()
def patched_generate(
    m1: Policy,
    m2: Policy,
    tokenizer,
    texts: list[str],
    neurons: Neurons,
    max_new_tokens: int,
    batch_size: int,
    add_special_tokens: bool,
) -> list[str]:
    """Greedy completions of formatted prompt texts with M2's activations patched into M1 at ``neurons``."""
    device = next(m1.model.parameters()).device
    idx = index_tensors(neurons, device)
    with hook_pair(m1, m2) as (h1, h2):
        return generate(
            lambda: patched_step(m1, m2, h1, h2, idx),
            tokenizer,
            texts,
            max_new_tokens,
            batch_size,
            add_special_tokens,
            device,
        )


def generate_with_patching(
    model,
    guide,
    tokenizer,
    prompts: list[str],
    neurons: Neurons,
    max_new_tokens: int,
    *,
    batch_size: int = 16,
    chat_format: str | None = "tulu",
) -> list[str]:
    """Greedy completions (prompt excluded) of ``model`` with ``guide``'s activations at ``neurons``.

    ``model``/``guide``: a ``Policy`` or a causal LM (peft adapters unmerged: a merged (IA)3 vector lives in
    the weights, not in the activations); ``neurons``: layer -> neuron ids; ``prompts``: user
    requests wrapped in ``chat_format`` (None: already formatted text).
    """
    m1, m2 = as_policy(model, "model"), as_policy(guide, "guide")
    texts = prompts if chat_format is None else [prompt_text(p, tokenizer, chat_format) for p in prompts]
    special = True if chat_format is None else adds_special_tokens(chat_format)
    return patched_generate(m1, m2, tokenizer, texts, neurons, max_new_tokens, batch_size, special)
