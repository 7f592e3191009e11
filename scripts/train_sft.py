"""Snakemake adapter: SFT of one model and seed."""

from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake):
    from safety_neurons.training.trainers import train_sft

    train_sft(
        snakemake.input.base,
        snakemake.input.data,
        *adapter_dirs(snakemake.output[:1]),
        snakemake.params.hp | {k: snakemake.config["sft"][k] for k in ("logging_steps", "save_steps")},
        int(snakemake.wildcards.seed),
        snakemake.params.chat_format,
    )
