"""Snakemake adapter: safeguard accuracy (mean over training sets and seeds) and deployment tables, Fig. 10/4."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    import pandas as pd

    from safety_neurons.files import atomic_text
    from safety_neurons.reporting.figures import plot_safeguard

    keys, inp = snakemake.params.groups, snakemake.input
    curves = pd.concat([pd.read_csv(f).assign(**k) for k, f in zip(keys, inp.curves, strict=True)])
    acc = curves.groupby(["model", "guarded", "neurons", "k"], as_index=False)[["accuracy", "majority"]].mean()
    deploy = pd.concat([pd.read_csv(f).assign(**k) for k, f in zip(keys, inp.deployments, strict=True)])
    for df, path in ((acc, snakemake.output.accuracy), (deploy, snakemake.output.deployment)):
        with atomic_text(path) as f:
            df.to_csv(f, index=False)
    plot_safeguard(acc, deploy, snakemake.output.figure)
