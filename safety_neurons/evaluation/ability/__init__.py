"""General-ability benchmarks (paper App. B.2) for M1, M2 and patched M1, with the authors' protocols.

Why not lm-evaluation-harness: dynamic patching of the generative tasks (GSM8K, BBH) needs the guide
teacher-forced in lockstep inside our own greedy loop (``patching.patched_generate``), which HFLM's
``generate`` path cannot express; and the authors' MMLU/GSM8K/BBH prompts (Tülu turn with a prefilled
response, "So the answer is N." exemplars, 40 BBH items per task, 200 GSM8K items) and metrics (answer regexes,
per-task mean) differ from lm-eval's stock tasks (docs/decisions.md#general-ability-benchmarks). Each protocol
is a few dozen lines here.

Usage: ``evaluate(name, lm, items, options)`` with ``name`` a key of ``BENCHMARKS``, ``lm`` an ``EvalLM``,
``items`` the normalized records of the benchmark's loader kind (``resources/data/{dataset}.jsonl``) and
``options`` the keyword arguments of that benchmark's ``run`` (``options_of(name)``). Data the protocol needs
besides the items goes in ``options`` too: gsm8k ``shots`` (normalized GSM8K rows, the first n_shot used), bbh
``cot_prompts`` (task -> text, or a path/URL template with '{task}', see ``bbh.read_cot_prompts``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from safety_neurons.evaluation.ability import bbh, gsm8k, mmlu, perplexity, truthfulqa
from safety_neurons.neurons.sets import size

if TYPE_CHECKING:
    from safety_neurons.evaluation.ability.lm import EvalLM, load_eval_lm

__all__ = ["BENCHMARKS", "EvalLM", "evaluate", "load_eval_lm", "options_of"]

# Names as Table 8's columns (config ``evaluation.general.benchmarks``); items come from the loader kind
# wikitext, mmlu, gsm8k, bbh and truthfulqa_mc1 respectively.
BENCHMARKS: dict[str, Callable[..., dict]] = {
    "ppl": perplexity.run,
    "mmlu": mmlu.run,
    "gsm8k": gsm8k.run,
    "bbh": bbh.run,
    "tqa": truthfulqa.run,
}


def __getattr__(name: str) -> Any:
    """EvalLM and load_eval_lm on first use: they import torch and transformers, which the config check (every
    Snakemake start reads the benchmarks' options) does not need."""
    if name in ("EvalLM", "load_eval_lm"):
        from safety_neurons.evaluation.ability import lm

        return getattr(lm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def options_of(name: str) -> dict[str, Any]:
    """A benchmark's options and their defaults (``inspect.Parameter.empty`` = required)."""
    params = inspect.signature(BENCHMARKS[name]).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def evaluate(name: str, lm: EvalLM, items: list[dict], options: dict[str, Any] | None = None) -> dict:
    """{benchmark, n_neurons, metric ('perplexity'|'accuracy'), value, n, per_item, …} of one benchmark run."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    options = dict(options or {})
    allowed = options_of(name)
    unknown = sorted(set(options) - set(allowed))
    missing = sorted(k for k, v in allowed.items() if v is inspect.Parameter.empty and k not in options)
    if unknown or missing:
        raise ValueError(f"{name}: unknown options {unknown}, missing options {missing}; allowed: {list(allowed)}")
    return {"benchmark": name, "n_neurons": size(lm.neurons), **BENCHMARKS[name](lm, items, **options)}
