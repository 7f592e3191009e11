"""Snakemake adapter: the headline (C of the top-k vs random neurons per model, refusal rates), CSV + text."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    import json
    from pathlib import Path

    from safety_neurons.files import atomic_text
    from safety_neurons.reporting.tables import headline, headline_text

    p = snakemake.params
    alignment = {m: json.loads(Path(f).read_text()) for m, f in zip(p.models, snakemake.input.alignment, strict=True)}
    df = headline(p.pairs, alignment)
    with atomic_text(snakemake.output.csv) as f:
        df.to_csv(f, index=False)
    with atomic_text(snakemake.output.text) as f:
        f.write(headline_text(df))
    log.info("headline: %d rows", len(df))
