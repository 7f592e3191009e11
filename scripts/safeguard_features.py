"""Snakemake adapter: the guarded model's activations at the last prompt token over the sweep's neurons."""

from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake):
    from safety_neurons.stages.safeguard import safeguard_features
    from safety_neurons.workflow.contracts import SafeguardParams

    inp, p = snakemake.input, SafeguardParams.of(snakemake.params.p)
    safeguard_features(inp.base, adapter_dirs(inp.adapters), inp.ranking, inp.prompts, p, snakemake.output[0])
