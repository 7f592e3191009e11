"""Snakemake adapter: patched generations of one model x seed x M1 x neuron source, all k (or window starts),
on one prompt set or on several (patching.sets_per_job: all), one output file per set."""

from safety_neurons.workflow.script import adapter_dirs, job, paths

with job(snakemake):
    from safety_neurons.files import read_jsonl, write_jsonl
    from safety_neurons.stages.generation import generate, sweep_sets
    from safety_neurons.workflow.contracts import GenerationParams

    inp, p = snakemake.input, GenerationParams.of(snakemake.params.p)
    sets = sweep_sets(inp.sets, p.source, p.ks)
    m1, guide = adapter_dirs(inp.m1), adapter_dirs(inp.guide)
    prompt_sets = [read_jsonl(f) for f in paths(inp.prompts)]
    outputs = generate(inp.base, m1, guide, sets, prompt_sets, p, origin=inp.sets)
    for rows, out in zip(outputs, snakemake.output, strict=True):
        write_jsonl(rows, out)
