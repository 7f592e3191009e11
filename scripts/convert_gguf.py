"""Snakemake adapter: convert a GGUF base shipped in a PyPI package into resources/base/{model}, once."""

from safety_neurons.workflow.script import job

with job(snakemake) as log:
    from safety_neurons.models.gguf import convert_gguf, find_packaged_gguf

    path = find_packaged_gguf(snakemake.params.package, snakemake.params.pattern)
    log.info("converting %s (%d bytes)", path, path.stat().st_size)
    convert_gguf(path, snakemake.output[0], snakemake.params.dtype)
