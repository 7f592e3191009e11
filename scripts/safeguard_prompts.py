"""Snakemake adapter: safeguard prompts: the first n_train of the training set, a seeded sample of a test set."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.data.sampling import sampled_prompts, training_prompts
    from safety_neurons.files import read_jsonl, write_jsonl

    p, rows = snakemake.params, read_jsonl(snakemake.input[0])
    chosen = training_prompts(rows, p.n_train) if p.train else sampled_prompts(rows, p.n_test, p.seed)
    write_jsonl(chosen, snakemake.output[0])
    log.info("%d of %d prompts", len(chosen), len(rows))
