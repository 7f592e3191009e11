"""Snakemake adapter: E10 for one guarded model: accuracy vs k (safety vs random neurons), deployment."""

from safety_neurons.logs import to_file
from safety_neurons.outputs import atomic_text
from safety_neurons.safeguard import run_eval

with to_file(snakemake.log[0]) as log:
    inp, p = snakemake.input, snakemake.params
    curve, deploy = run_eval(p.names, inp.features, inp.scored, tuple(inp.clf), inp.ranking, p.p)
    for df, path in ((curve, snakemake.output.curve), (deploy, snakemake.output.deployment)):
        with atomic_text(path) as f:
            df.to_csv(f, index=False)
    log.info("deployment:\n%s", deploy.to_string())
