"""Snakemake adapter: one DPO patched with another DPO's activations at shared top-k neurons (E7-E9)."""

from pathlib import Path

import torch

from safety_neurons.cross import annotate, cross_sets
from safety_neurons.data.loaders import read_jsonl, write_jsonl
from safety_neurons.logs import to_file
from safety_neurons.neurons import load_ranking
from safety_neurons.patching import run_sweep

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]) as log:
    p, inp = snakemake.params.p, snakemake.input
    sets = cross_sets([load_ranking(f) for f in inp.rankings], p["ks"], p["fractions"])
    log.info("patched set sizes: %s", {k: sum(map(len, s.values())) for k, s in sets.items()})
    rows = run_sweep(
        inp.base,
        [str(Path(f).parent) for f in inp.m1],
        [str(Path(f).parent) for f in inp.guide],
        sets,
        read_jsonl(inp.prompts),
        p,
    )
    write_jsonl(annotate(rows, sets), snakemake.output[0])
