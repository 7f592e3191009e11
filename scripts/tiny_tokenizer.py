"""Snakemake adapter: train the tiny models' byte-level BPE tokenizer on the tiny corpus."""

from safety_neurons.files import staged_dir
from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False), staged_dir(snakemake.output[0]) as tmp:
    from safety_neurons.models.tiny import read_corpus, train_tokenizer

    tok = train_tokenizer(read_corpus(snakemake.input.corpus), snakemake.params.vocab_size, tmp)
    print(f"vocabulary: {len(tok)} tokens")
