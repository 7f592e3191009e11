"""Snakemake adapter: safeguard prompts: the first n_train of the training set, a seeded sample of a test set."""

from safety_neurons.data.loaders import read_jsonl, write_jsonl
from safety_neurons.logs import to_file
from safety_neurons.safeguard import sampled_prompts, training_prompts

with to_file(snakemake.log[0]) as log:
    p, rows = snakemake.params, read_jsonl(snakemake.input[0])
    chosen = training_prompts(rows, p.n_train) if p.train else sampled_prompts(rows, p.n_test, p.seed)
    write_jsonl(chosen, snakemake.output[0])
    log.info("%d of %d prompts", len(chosen), len(rows))
