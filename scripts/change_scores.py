"""Snakemake adapter: change scores, ranking and summary of one model x seed x variant."""

from pathlib import Path

import torch

from safety_neurons.logs import to_file
from safety_neurons.neurons import run_stage

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]) as log:
    info = run_stage(
        snakemake.input.base,
        [str(Path(f).parent) for f in snakemake.input.m1],
        [str(Path(f).parent) for f in snakemake.input.m2],
        snakemake.input.prompts,
        snakemake.params.p,
        snakemake.output.scores,
        snakemake.output.summary,
    )
    log.info("scored %d tokens of %d prompts", info["n_tokens"], info["n_prompts"])
