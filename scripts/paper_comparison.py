"""Snakemake adapter: the paper's published values beside this run's (CSV + markdown)."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    import pandas as pd

    from safety_neurons.files import atomic_text
    from safety_neurons.reporting.paper import RunNames, comparison, load_reference
    from safety_neurons.reporting.tables import markdown

    tables = {name: path for name, path in snakemake.input.items() if name != "reference"}
    reference = load_reference(snakemake.input.reference)
    df = comparison(reference, RunNames(**snakemake.params.names), {k: pd.read_csv(v) for k, v in tables.items()})
    with atomic_text(snakemake.output.csv) as f:
        df.to_csv(f, index=False)
    with atomic_text(snakemake.output.md) as f:
        shown = df.drop(columns="paper_model")
        cells = shown.map(lambda v: f"{v:.4g}" if isinstance(v, float) else v)  # p: 8.752e-12, not 0.000
        f.write(markdown(cells.astype(object).where(shown.notna(), "")))
    log.info("%d values compared with the paper's", int(df["paper"].notna().sum()))
