"""Snakemake adapter: Fig. 6, causal effect of sliding windows of ranks (E12), + the curve as CSV."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from safety_neurons.files import atomic_text
    from safety_neurons.reporting.figures import plot_effect_curves, window_curves

    curves = window_curves(snakemake.params.entries)
    with atomic_text(snakemake.output.curves) as f:
        curves.to_csv(f, index=False)
    plot_effect_curves(curves, snakemake.output.figure, x="start", xlabel="window start rank")
