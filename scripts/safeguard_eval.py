"""Snakemake adapter: E10 for one guarded model: accuracy vs k (safety vs random neurons), deployment."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.files import atomic_text
    from safety_neurons.stages.safeguard import safeguard_eval
    from safety_neurons.workflow.contracts import SafeguardParams

    inp, p = snakemake.input, SafeguardParams.of(snakemake.params.p)
    curve, deploy = safeguard_eval(snakemake.params.names, inp.features, inp.scored, tuple(inp.clf), inp.ranking, p)
    for df, path in ((curve, snakemake.output.curve), (deploy, snakemake.output.deployment)):
        with atomic_text(path) as f:
            df.to_csv(f, index=False)
    log.info("deployment:\n%s", deploy.to_string())
