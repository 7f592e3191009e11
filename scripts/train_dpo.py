"""Snakemake adapter: DPO of one model, seed and preference dataset on top of its SFT."""

from pathlib import Path

import torch

from safety_neurons.logs import to_file
from safety_neurons.train import train_dpo

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]):
    train_dpo(
        snakemake.input.base,
        str(Path(snakemake.input.sft).parent),
        snakemake.input.data,
        str(Path(snakemake.output[0]).parent),
        snakemake.params.hp | {k: snakemake.config["dpo"][k] for k in ("logging_steps", "save_steps")},
        int(snakemake.wildcards.seed),
        snakemake.params.chat_format,
    )
