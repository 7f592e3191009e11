"""Snakemake adapter: one DPO patched with another DPO's activations at shared top-k neurons (E7-E9)."""

from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake) as log:
    from safety_neurons.experiments.cross import annotate, cross_sets
    from safety_neurons.files import read_jsonl, write_jsonl
    from safety_neurons.neurons.change_scores import load_ranking
    from safety_neurons.stages.generation import generate
    from safety_neurons.workflow.contracts import CrossParams

    inp, p = snakemake.input, CrossParams.of(snakemake.params.p)
    sets = cross_sets([load_ranking(f) for f in inp.rankings], p.ks, p.fractions)
    log.info("patched set sizes: %s", {k: sum(map(len, s.values())) for k, s in sets.items()})
    [rows] = generate(inp.base, adapter_dirs(inp.m1), adapter_dirs(inp.guide), sets, [read_jsonl(inp.prompts)], p)
    write_jsonl(annotate(rows, sets), snakemake.output[0])
