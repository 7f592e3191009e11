"""Snakemake adapter: greedy generations of one unpatched stage (Base, SFT or a DPO) on one prompt set."""

from safety_neurons.files import read_jsonl, write_jsonl
from safety_neurons.stages.generation import generate
from safety_neurons.workflow.contracts import GenerationParams
from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake):
    inp, p = snakemake.input, GenerationParams.of(snakemake.params.p)
    adapters = adapter_dirs(inp.adapters)
    rows = generate(inp.base, adapters, adapters, {0: {}}, read_jsonl(inp.prompts), p)
    write_jsonl(rows, snakemake.output[0])
