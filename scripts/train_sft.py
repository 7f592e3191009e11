"""Snakemake adapter: SFT of one model and seed."""

from pathlib import Path

import torch

from safety_neurons.logs import to_file
from safety_neurons.train import train_sft

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]):
    train_sft(
        snakemake.input.base,
        snakemake.input.data,
        str(Path(snakemake.output[0]).parent),
        snakemake.params.hp | {k: snakemake.config["sft"][k] for k in ("logging_steps", "save_steps")},
        int(snakemake.wildcards.seed),
        snakemake.params.chat_format,
    )
