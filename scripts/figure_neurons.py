"""Snakemake adapter: Fig. 5, layer distribution of the top neurons and change-score histograms."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from safety_neurons.reporting.figures import plot_neuron_distributions

    files = dict(zip(snakemake.params.models, snakemake.input, strict=True))
    plot_neuron_distributions(files, snakemake.params.top, snakemake.output[0])
