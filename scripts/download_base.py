"""Snakemake adapter: snapshot a hub base model into resources/base/{model} (cluster; needs network)."""

from safety_neurons.models.loading import download
from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    download(snakemake.params.hub_id, snakemake.params.revision, snakemake.output[0])
