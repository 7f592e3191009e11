"""Snakemake adapter: top-k and matched random neuron sets for every k of the sweep."""

from safety_neurons.logs import to_file
from safety_neurons.neuron_sets import sweep_sets
from safety_neurons.neurons import load_ranking
from safety_neurons.outputs import write_json

with to_file(snakemake.log[0]):
    p = snakemake.params
    write_json(sweep_sets(load_ranking(snakemake.input.scores), p.ks, p.d_mlp, p.seed, p.disjoint), snakemake.output[0])
