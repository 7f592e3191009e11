"""BIG-Bench Hard, 3-shot chain of thought as the authors run it (``src/eval/bbh/run_eval.py``).

Sampling: one ``random.seed(42)`` stream, tasks visited in sorted name order (the authors' ``glob`` order
depends on the file system), ``random.sample`` of 40 per task. Prompt: the task's cot-prompt file without its
first two lines (``readlines()[2:]``, the canary header), stripped, + "\\n\\nQ: {input}" in one user turn, the
response prefilled with "A:". Greedy, 128 new tokens, no stop (the authors' "\\n\\n" stop never fires).
Score: exact match of the first "So the answer is X." (else the first paragraph); mean of per-task means.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from safety_neurons.data.loaders import DataError, _fetch
from safety_neurons.evaluation.ability.scoring import accuracy, bbh_answer, exact_match, mean
from safety_neurons.files import read_bytes

if TYPE_CHECKING:  # the model wrapper imports torch; the protocols and their options do not
    from safety_neurons.evaluation.ability.lm import EvalLM

# The 27 tasks of suzgunmirac/BIG-Bench-Hard (bbh/{task}.json, cot-prompts/{task}.txt), sorted.
BBH_TASKS = (
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
)
PREFILL = "A:"


def drop_header(text: str) -> str:
    """A cot-prompt file without its first two lines, as ``"".join(open(f).readlines()[2:])``."""
    return "".join(io.StringIO(text, newline=None).readlines()[2:])


def read_cot_prompts(source: str, tasks: Iterable[str]) -> dict[str, str]:
    """Task -> CoT prompt text, read from a local path or URL (http(s), or file:// for a mirror) template
    holding '{task}'."""
    if "{task}" not in source:
        raise ValueError(f"BBH cot-prompt source {source!r} has no '{{task}}' placeholder")
    out = {}
    for task in tasks:
        where = source.replace("{task}", task)
        try:
            data = _fetch(where) if urlparse(where).scheme in ("http", "https", "file") else read_bytes(where)
        except DataError as e:
            raise DataError(f"BBH cot prompt of task {task!r}: {e}") from e
        out[task] = drop_header(data.decode("utf-8"))
    return out


def sample(items: list[dict], per_task: int | None, seed: int) -> list[dict]:
    """The authors' draw: one seeded stream, tasks in sorted order, ``sample`` of min(per_task, size) per task."""
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["task"], []).append(item)
    rng = random.Random(seed)
    out = []
    for task in sorted(groups):
        rows = groups[task]
        out += rng.sample(rows, min(per_task, len(rows))) if per_task else rows
    return out


def prompt_content(cot_prompt: str, item: dict) -> str:
    """The user turn: the task's exemplars, then the question."""
    return f"{cot_prompt.strip()}\n\nQ: {item['input']}"


def run(
    lm: EvalLM,
    items: list[dict],
    *,
    cot_prompts: dict[str, str] | str,
    per_task: int | None = 40,
    seed: int = 42,
    max_new_tokens: int = 128,
) -> dict:
    """Mean over tasks of the exact-match rate; task_scores holds each task's rate. ``cot_prompts``: task -> text,
    or a source template with '{task}' read for the sampled items' tasks."""
    items = sample(items, per_task, seed)
    if isinstance(cot_prompts, str):
        cot_prompts = read_cot_prompts(cot_prompts, sorted({item["task"] for item in items}))
    missing = sorted({item["task"] for item in items} - set(cot_prompts))
    if missing:
        raise ValueError(f"bbh: no cot prompt for task(s) {missing}")
    prompts = [lm.chat(prompt_content(cot_prompts[item["task"]], item), PREFILL) for item in items]
    per_item = []
    for item, output in zip(items, lm.generate(prompts, max_new_tokens), strict=True):
        pred = bbh_answer(output)
        per_item.append(
            {
                "id": item["id"],
                "task": item["task"],
                "output": output,
                "prediction": pred,
                "target": item["target"],
                "correct": exact_match(pred, item["target"]),
            }
        )
    scores = task_means(per_item)
    result = accuracy(per_item, task_scores=scores)
    result["value"] = mean(list(scores.values()))  # the authors' score: the mean of per-task rates
    return result


def task_means(per_item: list[dict]) -> dict[str, float]:
    """Exact-match rate per task, tasks sorted."""
    tasks = sorted({p["task"] for p in per_item})
    return {t: mean([float(p["correct"]) for p in per_item if p["task"] == t]) for t in tasks}
