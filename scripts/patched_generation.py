"""Snakemake adapter: patched generations of one model x seed x M1 x neuron source x set, all k (or window starts)."""

from safety_neurons.files import read_jsonl, write_jsonl
from safety_neurons.stages.generation import generate, sweep_sets
from safety_neurons.workflow.contracts import GenerationParams
from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake):
    inp, p = snakemake.input, GenerationParams.of(snakemake.params.p)
    sets = sweep_sets(inp.sets, p.source, p.ks)
    m1, guide = adapter_dirs(inp.m1), adapter_dirs(inp.guide)
    rows = generate(inp.base, m1, guide, sets, read_jsonl(inp.prompts), p, origin=inp.sets)
    write_jsonl(rows, snakemake.output[0])
