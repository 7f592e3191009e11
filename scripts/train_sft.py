"""Snakemake adapter: SFT of one model and seed."""

from safety_neurons.workflow.script import adapter_dirs, job, run_settings

with job(snakemake):
    from safety_neurons.training.trainers import train_sft

    train_sft(
        snakemake.input.base,
        snakemake.input.data,
        *adapter_dirs(snakemake.output[:1]),
        snakemake.params.hp | run_settings(snakemake, "sft"),
        int(snakemake.wildcards.seed),
        snakemake.params.chat_format,
    )
