"""Snakemake adapter: overlap and Spearman of the top-k neurons across training seeds (E5), per model."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    import pandas as pd

    from safety_neurons.experiments.robustness import pairwise
    from safety_neurons.files import atomic_text

    p, files = snakemake.params, list(snakemake.input)
    n = len(p.seeds)
    tables = []
    for i, model in enumerate(p.models):
        named = {f"s{seed}": f for seed, f in zip(p.seeds, files[i * n : (i + 1) * n], strict=True)}
        tables.append(pairwise(named, p.k).assign(model=model))
    df = pd.concat(tables, ignore_index=True)
    with atomic_text(snakemake.output[0]) as f:
        df.to_csv(f, index=False)
    log.info("mean overlap %.3f, mean Spearman %.3f", df["overlap"].mean(), df["spearman"].mean())
