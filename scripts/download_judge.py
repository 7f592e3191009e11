"""Snakemake adapter: snapshot a hub judge (a beaver score model) into resources/judges/{judge}."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from safety_neurons.models.loading import download

    download(snakemake.params.hub_id, snakemake.params.revision, snakemake.output[0])
