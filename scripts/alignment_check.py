"""Snakemake adapter: refusal rates of Base, SFT and DPO on harmful and harmless prompts."""

from pathlib import Path

import torch

from safety_neurons.alignment_check import check
from safety_neurons.logs import to_file
from safety_neurons.outputs import write_json

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]):
    result = check(
        snakemake.input.base,
        str(Path(snakemake.input.sft).parent),
        str(Path(snakemake.input.dpo).parent),
        snakemake.input.harmful,
        snakemake.input.harmless,
        snakemake.params.hp,
        snakemake.params.chat_format,
        snakemake.params.dtype,
    )
    write_json(result, snakemake.output[0])
