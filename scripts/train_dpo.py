"""Snakemake adapter: DPO of one model, seed and preference dataset on top of its SFT."""

from safety_neurons.workflow.script import adapter_dirs, job, run_settings

with job(snakemake):
    from safety_neurons.training.trainers import train_dpo

    train_dpo(
        snakemake.input.base,
        *adapter_dirs([snakemake.input.sft]),
        snakemake.input.data,
        *adapter_dirs(snakemake.output[:1]),
        snakemake.params.hp | run_settings(snakemake, "dpo"),
        int(snakemake.wildcards.seed),
        snakemake.params.chat_format,
    )
