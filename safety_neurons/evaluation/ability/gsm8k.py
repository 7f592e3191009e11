"""GSM8K, 8-shot chain of thought as the authors run it (open-instruct ``eval/gsm``, 200 items, seed 42).

Exemplars are not shipped here: they are the first ``n_shot`` rows of a shots dataset (normalized GSM8K rows,
e.g. the train split), rewritten in the Wei et al. style the authors use: calculator annotations ``<<…>>``
removed, the reasoning lines joined into one line, then " So the answer is N.". Decoding is greedy for
``max_new_tokens``; the output is cut at its first newline afterwards, which under greedy decoding equals
stopping there (every token before the newline is the same). Prediction = the last number of that line.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from safety_neurons.evaluation.ability.scoring import accuracy, exact_match, last_number

if TYPE_CHECKING:  # the model wrapper imports torch; the protocols and their options do not
    from safety_neurons.evaluation.ability.lm import EvalLM

_CALCULATOR = re.compile(r"<<.*?>>")
PREFILL = "Answer:"


def cot_answer(shot: dict) -> str:
    """A GSM8K solution as one line: annotations dropped, lines joined, 'So the answer is N.' appended."""
    reasoning = _CALCULATOR.sub("", shot["answer"].split("####")[0])
    lines = [line.strip() for line in reasoning.split("\n") if line.strip()]
    return " ".join(lines) + f" So the answer is {shot['target']}."


def prompt_prefix(shots: list[dict], n_shot: int) -> str:
    """The instruction and ``n_shot`` worked examples ("Question: …\\nAnswer: …"), as the authors join them."""
    if n_shot == 0:
        return "Answer the following question.\n\n"
    if len(shots) < n_shot:
        raise ValueError(f"gsm8k: {n_shot} shots wanted, the shots dataset has {len(shots)} rows")
    demos = [f"Question: {s['question'].strip()}\nAnswer: {cot_answer(s)}" for s in shots[:n_shot]]
    return "Answer the following questions.\n\n" + "\n\n".join(demos) + "\n\n"


def sample(items: list[dict], n_items: int | None, seed: int) -> list[dict]:
    """``random.seed(seed); random.sample(items, n_items)`` when there are more items, else all in order."""
    if n_items and len(items) > n_items:
        return random.Random(seed).sample(items, n_items)
    return items


def run(
    lm: EvalLM,
    items: list[dict],
    *,
    shots: list[dict],
    n_shot: int = 8,
    n_items: int | None = 200,
    seed: int = 42,
    max_new_tokens: int = 128,
) -> dict:
    """Exact match of the last number of each greedy answer line against the '#### N' target."""
    items = sample(items, n_items, seed)
    prefix = prompt_prefix(shots, n_shot)
    prompts = [lm.chat(f"{prefix}Question: {item['question'].strip()}", PREFILL) for item in items]
    outputs = [o.split("\n")[0] for o in lm.generate(prompts, max_new_tokens)]
    per_item = []
    for item, output in zip(items, outputs, strict=True):
        pred, target = last_number(output), item["target"]
        per_item.append(
            {
                "id": item["id"],
                "output": output,
                "prediction": pred,
                "target": target,
                "correct": exact_match(pred, target),
            }
        )
    return accuracy(per_item)
