"""Snakemake adapter: patched generations of one model x seed x M1 x neuron source x set, all k (or window starts)."""

import json
from pathlib import Path

import torch

from safety_neurons.data.loaders import read_jsonl, write_jsonl
from safety_neurons.logs import to_file
from safety_neurons.patching import run_sweep

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]):
    kind = snakemake.wildcards.source.rsplit("-", 1)[1]
    sets = json.loads(Path(snakemake.input.sets).read_text())[kind]
    ks = snakemake.params.p["ks"]
    if kind == "window":  # windows past the ranking were not made; a window row's k is its start rank
        ks = [k for k in ks if str(k) in sets]
    sets = {k: sets[str(k)] for k in ks}
    rows = run_sweep(
        snakemake.input.base,
        [str(Path(f).parent) for f in snakemake.input.m1],
        [str(Path(f).parent) for f in snakemake.input.guide],
        sets,
        read_jsonl(snakemake.input.prompts),
        snakemake.params.p,
    )
    write_jsonl(rows, snakemake.output[0])
