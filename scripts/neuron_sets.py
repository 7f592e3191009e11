"""Snakemake adapter: top-k and matched random neuron sets for every k of the sweep (+ windows, E12)."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.files import write_json
    from safety_neurons.neurons.change_scores import load_ranking
    from safety_neurons.neurons.sets import sweep_sets, window_sets

    p = snakemake.params
    ranking = load_ranking(snakemake.input.scores)
    sets = sweep_sets(ranking, p.ks, p.d_mlp, p.seed, p.disjoint)
    if p.windows:
        sets["window"] = window_sets(ranking, p.windows["starts"], p.windows["width"])
        log.info("windows from starts %s (others run past the %d ranked neurons)", list(sets["window"]), len(ranking))
    write_json(sets, snakemake.output[0])
