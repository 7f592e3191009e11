"""Snakemake adapter: Spearman/overlap of the preference neurons of every DPO (E6), table and heatmaps."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    import pandas as pd

    from safety_neurons.experiments.robustness import matrix, pairwise, plot_heatmaps
    from safety_neurons.files import atomic_text
    from safety_neurons.neurons.change_scores import load_ranking

    p, files = snakemake.params, list(snakemake.input)
    n = len(p.variants)
    tables = []
    for i, model in enumerate(p.models):
        named = dict(zip(p.variants, files[i * n : (i + 1) * n], strict=True))
        k = max(1, round(p.fraction * len(load_ranking(files[i * n]))))
        tables.append(pairwise(named, k).assign(model=model))
    df = pd.concat(tables, ignore_index=True)
    with atomic_text(snakemake.output.table) as f:
        df.to_csv(f, index=False)
    mats = {m: matrix(df[df["model"] == m], p.variants, "spearman") for m in p.models}
    plot_heatmaps(mats, snakemake.output.figure, "Spearman of preference neurons")
