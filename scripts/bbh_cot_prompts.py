"""Snakemake adapter: BBH's CoT prompts of every task in the dataset, fetched once (task -> text, header dropped)."""

from safety_neurons.benchmarks.bbh import read_cot_prompts
from safety_neurons.data.loaders import read_jsonl
from safety_neurons.logs import to_file
from safety_neurons.outputs import write_json

with to_file(snakemake.log[0]) as log:
    tasks = sorted({r["task"] for r in read_jsonl(snakemake.input[0])})
    write_json(read_cot_prompts(snakemake.params.source, tasks), snakemake.output[0])
    log.info("CoT prompts of %d tasks from %s", len(tasks), snakemake.params.source)
