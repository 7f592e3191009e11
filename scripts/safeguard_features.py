"""Snakemake adapter: the guarded model's activations at the last prompt token over the sweep's neurons."""

from pathlib import Path

import torch

from safety_neurons.logs import to_file
from safety_neurons.safeguard import run_features

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]):
    inp = snakemake.input
    adapters = [str(Path(f).parent) for f in inp.adapters]
    run_features(inp.base, adapters, inp.ranking, inp.prompts, snakemake.params.p, snakemake.output[0])
