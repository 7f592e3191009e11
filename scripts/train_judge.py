"""Snakemake adapter: train the embedded default's classifier judge and report its held-out accuracy."""

from safety_neurons.data.loaders import read_jsonl
from safety_neurons.judges.classifier import save_classifier, train_classifier
from safety_neurons.logs import to_file
from safety_neurons.outputs import write_json

with to_file(snakemake.log[0]) as log:
    label = snakemake.params.label
    pipeline, metrics = train_classifier(read_jsonl(snakemake.input.train), read_jsonl(snakemake.input.test), label)
    save_classifier(pipeline, snakemake.output.model, label)
    write_json(metrics | {"judge": snakemake.wildcards.judge, "label": label}, snakemake.output.metrics)
    log.info("%s", metrics)
