"""Rules patched_generation, stage_generation, safeguard_generation, cross_patching: greedy decoding, patched
at every k of a sweep."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from safety_neurons.progress import progress
from safety_neurons.stages.common import load
from safety_neurons.workflow.contracts import GenerationParams, Source


def sweep_sets(sets_path: str, source: Source | str, ks: Sequence[int]) -> dict[int, dict]:
    """The neuron sets of one source's sweep from a sets.json (windows past the ranking were not made)."""
    source = Source.of(source)
    sets = json.loads(Path(sets_path).read_text())[source.kind]
    if source.kind == "window":  # a window row's k is its start rank
        ks = [k for k in ks if str(k) in sets]
    return {k: sets[str(k)] for k in ks}


def generate(
    base_dir: str,
    m1_adapters: list[str],
    guide_adapters: list[str],
    sets: dict,
    prompt_sets: list[list[dict]],
    p: GenerationParams,
    origin: str = "neuron sets",
) -> list[list[dict]]:
    """Rules patched_generation, stage_generation, safeguard_generation, cross_patching: load M1 and the guide
    once, then decode greedily for every prompt set and every k of the sweep (``{0: {}}``: M1 unpatched); one
    row list per prompt set, each exactly what a job of that set alone writes. ``origin`` names where the
    sets came from in the error for a set that does not fit the model."""
    from safety_neurons.data.formats import adds_special_tokens
    from safety_neurons.files import ArtifactError
    from safety_neurons.neurons.hooks import mlp_width
    from safety_neurons.neurons.policies import policy
    from safety_neurons.neurons.sets import outside

    tok, base = load(base_dir, p)
    n_layers, d_mlp = mlp_width(base)
    for k, neurons in sets.items():
        if bad := outside({int(layer): ids for layer, ids in neurons.items()}, n_layers, d_mlp):
            raise ArtifactError(
                f"{origin}: the set k = {k} has neurons outside the model's {n_layers} layers x {d_mlp} "
                f"(layer, lowest id, highest id) {bad[:3]}"
            )
    m1, m2 = policy("m1", base, m1_adapters), policy("guide", base, guide_adapters)
    special = adds_special_tokens(p.chat_format)
    return [_sweep(m1, m2, tok, sets, prompts, p, special) for prompts in prompt_sets]


def _sweep(m1, m2, tok, sets: dict, prompts: list[dict], p: GenerationParams, special: bool) -> list[dict]:
    """The rows of one prompt set: every k of the sweep in increasing order, prompts in file order."""
    from safety_neurons.data.formats import first_turn, prompt_text
    from safety_neurons.neurons.patching import patched_generate

    texts = [prompt_text(r["prompt"], tok, p.chat_format) for r in prompts]
    rows, t0, log = [], time.perf_counter(), logging.getLogger(__name__)
    for i, (k, neurons) in enumerate(sorted(sets.items(), key=lambda kv: int(kv[0])), 1):
        neurons = {int(layer): ids for layer, ids in neurons.items()}
        outs = patched_generate(m1, m2, tok, texts, neurons, p.max_new_tokens, p.batch_size, special)
        what = f"{prompts[0]['dataset'] if prompts else 'no prompts'}, k = {k}: {len(texts)} prompts"
        log.info("%s", progress(i, len(sets), time.perf_counter() - t0, what))
        rows += [
            {
                "id": r["id"],
                "dataset": r["dataset"],
                "prompt": r["prompt"],
                "completion": first_turn(c),
                "k": int(k),
                "source": p.source,
                "m1": p.m1,
            }
            for r, c in zip(prompts, outs, strict=True)
        ]
    return rows
