"""Snakemake adapter: Table 8, Table 1 (C with its bootstrap interval), the long safety table and the t-test table
(CSV + markdown)."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.files import atomic_text
    from safety_neurons.reporting.tables import (
        c_intervals,
        general_long,
        markdown,
        row_label,
        safety_long,
        table1,
        table8,
        ttest_table,
    )

    p = snakemake.params
    safety = safety_long(p.safety)
    general = general_long(p.general)
    t8 = table8(safety, general, p.judge, p.datasets, p.benchmarks)
    t1 = table1(t8, p.datasets, p.benchmarks, c_intervals(p.safety, p.judge))
    out = snakemake.output
    for df, path in ((t8, out.table8), (t1, out.table1), (safety, out.safety), (ttest_table(p.ttest), out.ttest)):
        with atomic_text(path) as f:
            df.to_csv(f, index=False)
    t8_md = t8.assign(row=t8["row"].map(row_label))
    c_cols = [c for c in t1.columns if (c.startswith("C_") and not c.endswith(("_lo", "_hi"))) or c == "delta_gen"]
    t1_md = t1.assign(row=t1["row"].map(row_label))[["model", "row", *c_cols]]
    with atomic_text(out.table8_md) as f:
        f.write(markdown(t8_md, digits=3))
    with atomic_text(out.table1_md) as f:
        f.write(markdown(t1_md, digits=1, scale={c: 100.0 for c in c_cols}))
    log.info("table8: %d rows; table1: %d rows", len(t8), len(t1))
