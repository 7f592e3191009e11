"""Snakemake adapter: snapshot a hub base model into resources/base/{model} (cluster; needs network)."""

from safety_neurons.loading import download
from safety_neurons.logs import to_file

with to_file(snakemake.log[0]):
    download(snakemake.params.hub_id, snakemake.params.revision, snakemake.output[0])
