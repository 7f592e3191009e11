"""Snakemake adapter: a baseline neuron ranking (Wanda pruning scores or SN-Tune contributions), E3."""

from pathlib import Path

import torch

from safety_neurons.baselines import run_stage
from safety_neurons.logs import to_file

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]) as log:
    inp, out = snakemake.input, snakemake.output
    adapters = [str(Path(f).parent) for f in inp.adapters]
    info = run_stage(inp.base, adapters, inp.texts, snakemake.params.p, out.scores, out.summary)
    log.info("%s: top-fraction k = %d", snakemake.params.p["method"], info["k_top_fraction"])
