"""Snakemake adapter: greedy generations of one unpatched stage (Base, SFT or a DPO) on one prompt set or on
several (patching.sets_per_job: all), one output file per set."""

from safety_neurons.workflow.script import adapter_dirs, job, paths

with job(snakemake):
    from safety_neurons.files import read_jsonl, write_jsonl
    from safety_neurons.stages.generation import generate
    from safety_neurons.workflow.contracts import GenerationParams

    inp, p = snakemake.input, GenerationParams.of(snakemake.params.p)
    adapters = adapter_dirs(inp.adapters)
    prompt_sets = [read_jsonl(f) for f in paths(inp.prompts)]
    outputs = generate(inp.base, adapters, adapters, {0: {}}, prompt_sets, p)
    for rows, out in zip(outputs, snakemake.output, strict=True):
        write_jsonl(rows, out)
