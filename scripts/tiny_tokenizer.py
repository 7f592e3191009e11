"""Snakemake adapter: train the tiny models' byte-level BPE tokenizer on the tiny corpus."""

from safety_neurons.logs import to_file
from safety_neurons.outputs import staged_dir
from safety_neurons.tiny import read_corpus, train_tokenizer

with to_file(snakemake.log[0]), staged_dir(snakemake.output[0]) as tmp:
    tok = train_tokenizer(read_corpus(snakemake.input.corpus), snakemake.params.vocab_size, tmp)
    print(f"vocabulary: {len(tok)} tokens")
