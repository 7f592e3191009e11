"""Snakemake adapter: normalize one configured dataset into resources/data/{dataset}.jsonl."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.data.loaders import describe, load
    from safety_neurons.files import write_jsonl

    spec = dict(snakemake.params.spec)
    source = {k: spec[k] for k in ("local", "hub", "url") if k in spec}
    records = load(spec["kind"], source, **spec["options"])
    write_jsonl(records, snakemake.output[0])
    log.info("%s: %d records from %s", snakemake.wildcards.dataset, len(records), describe(source))
