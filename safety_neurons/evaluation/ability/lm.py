"""The model a benchmark runs: M1, optionally with a guide's activations patched in at a neuron set.

Log-likelihood calls use static patching (the guide once over the whole input, then M1 patched at every
position); generation uses dynamic patching (``patching.patched_generate``). An empty or absent neuron set is
plain M1, so Base, SFT and DPO are scored by the same code as the patched models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from safety_neurons.data.formats import adds_special_tokens, prompt_text
from safety_neurons.neurons.hooks import DEFAULT_SITE
from safety_neurons.neurons.patching import hook_pair, index_tensors, patched_generate, patched_logits
from safety_neurons.neurons.policies import Policy, load_base, load_tokenizer, placement, policy
from safety_neurons.neurons.sets import Neurons


def batches(rows: Sequence, size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most ``size`` rows."""
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


class EvalLM:
    """A tokenizer, M1 and an optional guide with a neuron set; ``chat_format`` shapes the prompted benchmarks."""

    def __init__(
        self,
        tokenizer: Any,
        m1: Policy,
        guide: Policy | None = None,
        neurons: Neurons | None = None,
        batch_size: int = 8,
        chat_format: str = "tulu",
    ):
        self.tokenizer, self.m1, self.batch_size, self.chat_format = tokenizer, m1, batch_size, chat_format
        self.neurons = {int(layer): list(ids) for layer, ids in (neurons or {}).items()}
        self.device = next(m1.model.parameters()).device
        self.idx = index_tensors(self.neurons, self.device)
        if self.idx and guide is None:
            raise ValueError("patching a neuron set needs a guide policy")
        self.guide = guide

    def with_neurons(self, neurons: Neurons | None) -> EvalLM:
        """The same models with another neuron set (no reload), e.g. for a sweep over k."""
        return EvalLM(self.tokenizer, self.m1, self.guide, neurons, self.batch_size, self.chat_format)

    @property
    def max_positions(self) -> int:
        """The longest input M1 was built for."""
        return self.m1.model.config.max_position_embeddings

    def chat(self, content: str, prefill: str) -> str:
        """One user turn with the response prefilled, spaced as the authors' scripts do (``"...\\nA:"``)."""
        text = prompt_text(content, self.tokenizer, self.chat_format)
        return text + prefill if text[-1] in "\n " else f"{text} {prefill}"

    def encode(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        """Token ids of each text."""
        return self.tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]

    def _padded(self, rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ids and attention mask of id rows."""
        width = max(map(len, rows))
        pad = self.tokenizer.pad_token_id
        ids = [[pad] * (width - len(r)) + list(r) for r in rows]
        mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
        return torch.tensor(ids, device=self.device), torch.tensor(mask, device=self.device)

    @torch.no_grad()
    def logits(self, rows: Sequence[list[int]], logits_to_keep: int = 0) -> torch.Tensor:
        """Logits [B, T, V] (last ``logits_to_keep`` positions if > 0) of one left-padded batch, statically patched."""
        ids, mask = self._padded(rows)
        guide = self.guide or self.m1
        with hook_pair(self.m1, guide) as (h1, h2):
            return patched_logits(self.m1, guide, h1, h2, self.idx, ids, mask, logits_to_keep)

    def next_token_logits(self, prompts: Sequence[str]) -> torch.Tensor:
        """[N, V] float32 logits (CPU) of the token after each chat-format prompt."""
        special = adds_special_tokens(self.chat_format)
        out = [self.logits(self.encode(b, special), 1)[:, -1].float().cpu() for b in batches(prompts, self.batch_size)]
        return torch.cat(out)

    def token_logprobs(self, rows: Sequence[list[int]]) -> list[torch.Tensor]:
        """Per id row, log p(token t | tokens < t) for t = 1 .. len-1 (float32, CPU)."""
        out = []
        for batch in batches(rows, self.batch_size):
            logits = self.logits(batch)
            width = logits.shape[1]
            for i, row in enumerate(batch):
                x = logits[i, width - len(row) : width - 1].float()
                target = torch.tensor(row[1:], device=x.device)[:, None]
                out.append((x.gather(-1, target)[:, 0] - x.logsumexp(-1)).cpu())
        return out

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        """Greedy completions of chat-format prompts, dynamically patched (plain M1 without neurons)."""
        special = adds_special_tokens(self.chat_format)
        guide = self.guide or self.m1
        return patched_generate(
            self.m1, guide, self.tokenizer, list(prompts), self.neurons, max_new_tokens, self.batch_size, special
        )


def load_eval_lm(
    base_dir: str,
    m1_adapters: list[str],
    guide_adapters: list[str] | None,
    neurons: Neurons | None,
    dtype: str,
    batch_size: int,
    chat_format: str = "tulu",
    cpu_precision: str = "float32",
    neuron_site: str = DEFAULT_SITE,
) -> EvalLM:
    """M1 (and the guide) over one copy of the base weights, placed on the GPU when there is one."""
    device, dtype = placement(dtype, cpu_precision)
    base = load_base(base_dir, dtype, device, neuron_site)
    guide = None if guide_adapters is None else policy("guide", base, guide_adapters)
    return EvalLM(load_tokenizer(base_dir), policy("m1", base, m1_adapters), guide, neurons, batch_size, chat_format)
