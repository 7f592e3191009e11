"""Snakemake adapter: Table 9, top tokens of the top neurons' value vectors (base weights), every model."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from safety_neurons.experiments.value_vectors import top_tokens, write_csv
    from safety_neurons.models.loading import load_base, load_tokenizer, placement
    from safety_neurons.neurons.change_scores import load_ranking

    p, rows = snakemake.params, []
    for model, dtype, site, base, scores in zip(
        p.models, p.dtypes, p.sites, snakemake.input.base, snakemake.input.scores, strict=True
    ):
        device, dtype = placement(dtype, p.cpu_precision)
        lm = load_base(base, dtype, device, site)
        found = top_tokens(lm, load_tokenizer(base), load_ranking(scores), p.top, p.tokens)
        rows += [r | {"model": model} for r in found]
    write_csv(rows, snakemake.output[0])
