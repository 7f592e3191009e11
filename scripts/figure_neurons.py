"""Snakemake adapter: Fig. 5, layer distribution of the top neurons and change-score histograms."""

from safety_neurons.figures import plot_neuron_distributions
from safety_neurons.logs import to_file

with to_file(snakemake.log[0]):
    files = dict(zip(snakemake.params.models, snakemake.input, strict=True))
    plot_neuron_distributions(files, snakemake.params.top, snakemake.output[0])
