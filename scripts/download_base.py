"""Snakemake adapter: snapshot a hub base model into resources/base/{model} (cluster; needs network)."""

from safety_neurons.logs import to_file
from safety_neurons.models import download

with to_file(snakemake.log[0]):
    download(snakemake.params.hub_id, snakemake.params.revision, snakemake.output[0])
