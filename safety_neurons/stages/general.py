"""Rule general_eval: one ability benchmark on one row (unpatched, or M1 patched at a source's top-k)."""

from __future__ import annotations

import json
from pathlib import Path

from safety_neurons.files import read_jsonl
from safety_neurons.stages.generation import sweep_sets
from safety_neurons.workflow.contracts import GeneralEvalParams


def general_eval(inp, gsource: str, p: GeneralEvalParams) -> dict:
    """Rule general_eval: one ability benchmark on one row (unpatched, or M1 patched at ``gsource``'s top-k)."""
    from safety_neurons.evaluation.ability import evaluate, load_eval_lm
    from safety_neurons.workflow.script import adapter_dirs

    neurons = None
    if inp.sets:
        neurons = {int(layer): ids for layer, ids in sweep_sets(inp.sets[0], gsource, [p.k])[p.k].items()}
    options = dict(p.options) | ({"shots": read_jsonl(inp.shots[0])} if inp.shots else {})
    if inp.cot:
        options["cot_prompts"] = json.loads(Path(inp.cot[0]).read_text())
    guide = adapter_dirs(inp.guide) if inp.guide else None
    lm = load_eval_lm(
        inp.base, adapter_dirs(inp.m1), guide, neurons, p.dtype, p.batch_size, p.chat_format, p.cpu_precision
    )
    return evaluate(p.benchmark, lm, read_jsonl(inp.data), options)
