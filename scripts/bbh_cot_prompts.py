"""Snakemake adapter: BBH's CoT prompts of every task in the dataset, fetched once (task -> text, header dropped)."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.evaluation.ability.bbh import read_cot_prompts
    from safety_neurons.files import read_jsonl, write_json

    tasks = sorted({r["task"] for r in read_jsonl(snakemake.input[0])})
    write_json(read_cot_prompts(snakemake.params.source, tasks), snakemake.output[0])
    log.info("CoT prompts of %d tasks from %s", len(tasks), snakemake.params.source)
