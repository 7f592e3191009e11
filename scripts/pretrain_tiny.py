"""Snakemake adapter: build and briefly pretrain one tiny base model."""

import torch

from safety_neurons.logs import to_file
from safety_neurons.tiny import make_base

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]) as log:
    make_base(
        snakemake.input.tokenizer,
        snakemake.input.corpus,
        snakemake.output[0],
        snakemake.params.spec,
        snakemake.params.hp,
        snakemake.params.seed,
        log.info,
    )
