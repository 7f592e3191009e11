"""Snakemake adapter: a baseline neuron ranking (Wanda pruning scores or SN-Tune contributions), E3."""

from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake) as log:
    from safety_neurons.stages.baselines import baseline_scores
    from safety_neurons.workflow.contracts import BaselineParams

    inp, out = snakemake.input, snakemake.output
    p = BaselineParams.of(snakemake.params.p)
    info = baseline_scores(inp.base, adapter_dirs(inp.adapters), inp.texts, p, out.scores, out.summary)
    log.info("%s: top-fraction k = %d", p.method, info["k_top_fraction"])
