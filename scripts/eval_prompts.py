"""Snakemake adapter: the evaluation prompts of one set ("200 from the last 600 with seed 42")."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.data.sampling import last_pool_sample
    from safety_neurons.files import read_jsonl, write_jsonl

    rows = last_pool_sample(
        read_jsonl(snakemake.input[0]), snakemake.params.n, snakemake.params.pool, snakemake.params.seed
    )
    write_jsonl(rows, snakemake.output[0])
    log.info("%d prompts", len(rows))
