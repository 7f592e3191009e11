"""Snakemake adapter: train the embedded default's classifier judge and report its held-out accuracy."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False) as log:
    from safety_neurons.evaluation.judges.classifier import save_classifier, to_classifier, train_classifier
    from safety_neurons.files import read_jsonl, write_json

    label = snakemake.params.label
    pipeline, metrics = train_classifier(read_jsonl(snakemake.input.train), read_jsonl(snakemake.input.test), label)
    save_classifier(to_classifier(pipeline, label), snakemake.output.model)
    write_json(metrics | {"judge": snakemake.wildcards.judge, "label": label}, snakemake.output.metrics)
    log.info("%s", metrics)
