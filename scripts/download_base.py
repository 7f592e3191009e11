"""Snakemake adapter: snapshot a hub base model into resources/base/{model}, checked against its config entry."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from functools import partial

    from safety_neurons.models.loading import check_snapshot, download

    p = snakemake.params
    key = f"models.{snakemake.wildcards.model}"
    expected = partial(check_snapshot, key=key, architecture=p.architecture, neuron_site=p.neuron_site, shape=p.shape)
    download(p.hub_id, p.revision, snakemake.output[0], expected)
