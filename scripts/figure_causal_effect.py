"""Snakemake adapter: Fig. 2, causal effect vs k for safety and random neurons (+ the curves as CSV)."""

from safety_neurons.figures import effect_curves, plot_effect_curves
from safety_neurons.logs import to_file
from safety_neurons.outputs import atomic_text

with to_file(snakemake.log[0]):
    curves = effect_curves(snakemake.params.entries)
    with atomic_text(snakemake.output.curves) as f:
        curves.to_csv(f, index=False)
    plot_effect_curves(curves, snakemake.output.figure)
