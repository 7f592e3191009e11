"""Snakemake adapter: convert a GGUF base shipped in a PyPI package into resources/base/{model}, once."""

import torch

from safety_neurons.gguf_base import convert_gguf, find_packaged_gguf
from safety_neurons.logs import to_file

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]) as log:
    path = find_packaged_gguf(snakemake.params.package, snakemake.params.pattern)
    log.info("converting %s (%d bytes)", path, path.stat().st_size)
    convert_gguf(path, snakemake.output[0], snakemake.params.dtype)
