"""Snakemake adapter: change scores, ranking and summary of one model x seed x variant."""

from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake) as log:
    from safety_neurons.stages.change_scores import change_scores
    from safety_neurons.workflow.contracts import ChangeScoreParams

    inp, out = snakemake.input, snakemake.output
    p = ChangeScoreParams.of(snakemake.params.p)
    info = change_scores(inp.base, adapter_dirs(inp.m1), adapter_dirs(inp.m2), inp.prompts, p, out.scores, out.summary)
    log.info("scored %d tokens of %d prompts", info["n_tokens"], info["n_prompts"])
