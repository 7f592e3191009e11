"""Snakemake adapter: refusal rates of Base, SFT and DPO on harmful and harmless prompts."""

from safety_neurons.workflow.script import adapter_dirs, job

with job(snakemake):
    from safety_neurons.evaluation.alignment_check import check
    from safety_neurons.files import write_json

    result = check(
        snakemake.input.base,
        *adapter_dirs([snakemake.input.sft, snakemake.input.dpo]),
        snakemake.input.harmful,
        snakemake.input.harmless,
        snakemake.params.hp,
        snakemake.params.chat_format,
        snakemake.params.dtype,
    )
    write_json(result, snakemake.output[0])
