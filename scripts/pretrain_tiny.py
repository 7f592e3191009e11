"""Snakemake adapter: build and briefly pretrain one tiny base model."""

from safety_neurons.workflow.script import job

with job(snakemake) as log:
    from safety_neurons.models.tiny import make_base

    make_base(
        snakemake.input.tokenizer,
        snakemake.input.corpus,
        snakemake.output[0],
        snakemake.params.spec,
        snakemake.params.hp,
        snakemake.params.seed,
        log.info,
    )
