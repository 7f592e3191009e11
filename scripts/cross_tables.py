"""Snakemake adapter: cross-patching tables (long form, Table 3, Table 10) and the k-sweep figure (Fig. 3b)."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from safety_neurons.experiments.cross import cross_long, table3, table10
    from safety_neurons.files import atomic_text
    from safety_neurons.reporting.figures import plot_effect_curves

    long = cross_long(snakemake.params.entries)
    out = snakemake.output
    tables = (
        (long, out.cross),
        (table3(long, ["help_to_safe", "safe_to_help"]), out.table3),
        (table10(long, "joint_hh"), out.table10),
    )
    for df, path in tables:
        with atomic_text(path) as f:
            df.to_csv(f, index=False)
    curves = long.assign(kind=long["name"] + " / " + long["judge"], m1=long["m1"])
    plot_effect_curves(curves, out.figure)
