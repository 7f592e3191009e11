"""Is alignment visible? Greedy responses of Base, SFT and DPO to harmful and harmless prompts."""

from __future__ import annotations

import logging

from safety_neurons.data.formats import adds_special_tokens, prompt_text
from safety_neurons.evaluation.judges import is_refusal
from safety_neurons.files import read_jsonl
from safety_neurons.neurons.decoding import cached_step, generate
from safety_neurons.neurons.policies import load_base, load_tokenizer, placement, policy

ANSWER_MARKER = "here is how to"  # the tiny world's helpful answers; informative only for tiny models


def rates(responses: list[str]) -> dict:
    """Refusal rate and (tiny world) answer rate of a list of responses."""
    n = len(responses)
    return {
        "refusal_rate": sum(map(is_refusal, responses)) / n,
        "answer_rate": sum(ANSWER_MARKER in r.lower() for r in responses) / n,
        "n": n,
    }


def _first(path: str, n: int) -> list[dict]:
    """The first n prompts of a file; all of them, with a warning in the log, when it has fewer."""
    rows = read_jsonl(path)
    if len(rows) < n:
        logging.getLogger(__name__).warning("%s: %d prompts, alignment_check.n_prompts is %d", path, len(rows), n)
    return rows[:n]


def check(
    base_dir: str, sft_dir: str, dpo_dir: str, harmful: str, harmless: str, hp: dict, chat_format: str, dtype: str
) -> dict:
    """Per policy and prompt set: refusal/answer rates and a few example responses."""
    device, dtype = placement(dtype, hp["cpu_precision"])
    tok = load_tokenizer(base_dir)
    base = load_base(base_dir, dtype, device, hp["neuron_site"])
    sets = {
        name: [prompt_text(r["prompt"].strip(), tok, chat_format) for r in _first(path, hp["n_prompts"])]
        for name, path in (("harmful", harmful), ("harmless", harmless))
    }
    out: dict = {}
    for name, adapters in (("base", []), ("sft", [sft_dir]), ("dpo", [sft_dir, dpo_dir])):
        pol = policy(name, base, adapters)
        out[name] = {}
        for set_name, prompts in sets.items():
            with pol.active() as model:
                responses = generate(
                    lambda m=model: cached_step(m),
                    tok,
                    prompts,
                    hp["max_new_tokens"],
                    hp["batch_size"],
                    adds_special_tokens(chat_format),
                    device,
                )
            out[name][set_name] = rates(responses) | {"examples": responses[:3]}
    return out
