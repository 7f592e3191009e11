"""Rule general_eval: ability benchmarks on one row (unpatched, or M1 patched at a source's top-k), the model
loaded once for all of the job's benchmarks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from safety_neurons.files import read_jsonl
from safety_neurons.stages.generation import sweep_sets
from safety_neurons.workflow.contracts import GeneralEvalParams


def general_eval(inp: Mapping, gsource: str, p: GeneralEvalParams) -> dict[str, dict]:
    """Each benchmark of ``p.benchmarks`` on one row: benchmark -> result. ``inp`` holds the rule's inputs by
    name: base, m1, guide, sets, and per benchmark b data_b (shots_b, cot_b where it has them)."""
    from safety_neurons.evaluation.ability import evaluate, load_eval_lm
    from safety_neurons.workflow.script import adapter_dirs

    neurons = None
    if inp["sets"]:
        neurons = {int(layer): ids for layer, ids in sweep_sets(inp["sets"][0], gsource, [p.k])[p.k].items()}
    guide = adapter_dirs(inp["guide"]) if inp["guide"] else None
    lm = load_eval_lm(
        inp["base"],
        adapter_dirs(inp["m1"]),
        guide,
        neurons,
        p.dtype,
        p.batch_size,
        p.chat_format,
        p.cpu_precision,
        p.neuron_site,
    )
    return {b: evaluate(b, lm, read_jsonl(inp[f"data_{b}"]), _options(inp, b, o)) for b, o in p.benchmarks.items()}


def _options(inp: Mapping, benchmark: str, options: dict) -> dict:
    """A benchmark's options with its few-shot exemplars and fetched CoT prompts read from the job's inputs."""
    out = dict(options)
    if shots := inp.get(f"shots_{benchmark}"):
        out["shots"] = read_jsonl(shots)
    if cot := inp.get(f"cot_{benchmark}"):
        out["cot_prompts"] = json.loads(Path(cot).read_text())
    return out
