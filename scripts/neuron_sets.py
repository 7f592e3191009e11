"""Snakemake adapter: top-k and matched random neuron sets for every k of the sweep (+ windows, E12)."""

from safety_neurons.logs import to_file
from safety_neurons.neuron_sets import sweep_sets, window_sets
from safety_neurons.neurons import load_ranking
from safety_neurons.outputs import write_json

with to_file(snakemake.log[0]) as log:
    p = snakemake.params
    ranking = load_ranking(snakemake.input.scores)
    sets = sweep_sets(ranking, p.ks, p.d_mlp, p.seed, p.disjoint)
    if p.windows:
        sets["window"] = window_sets(ranking, p.windows["starts"], p.windows["width"])
        log.info("windows from starts %s (others run past the %d ranked neurons)", list(sets["window"]), len(ranking))
    write_json(sets, snakemake.output[0])
