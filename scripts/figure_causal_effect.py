"""Snakemake adapter: Fig. 2, causal effect vs k for safety and random neurons (+ the curves as CSV)."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from safety_neurons.files import atomic_text
    from safety_neurons.reporting.figures import effect_curves, plot_effect_curves

    curves = effect_curves(snakemake.params.entries)
    with atomic_text(snakemake.output.curves) as f:
        curves.to_csv(f, index=False)
    plot_effect_curves(curves, snakemake.output.figure)
