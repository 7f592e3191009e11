"""Snakemake adapter: greedy generations of one unpatched stage (Base, SFT or a DPO) on one prompt set."""

from pathlib import Path

import torch

from safety_neurons.data.loaders import read_jsonl, write_jsonl
from safety_neurons.logs import to_file
from safety_neurons.patching import run_sweep

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]):
    adapters = [str(Path(f).parent) for f in snakemake.input.adapters]
    prompts = read_jsonl(snakemake.input.prompts)
    rows = run_sweep(snakemake.input.base, adapters, adapters, {0: {}}, prompts, snakemake.params.p)
    write_jsonl(rows, snakemake.output[0])
