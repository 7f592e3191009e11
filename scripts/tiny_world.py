"""Snakemake adapter: write the embedded tiny world's data files."""

from safety_neurons.data.synthetic import write_world
from safety_neurons.logs import to_file

with to_file(snakemake.log[0]):
    w = snakemake.params.world
    write_world(dict(snakemake.output.items()), w["seed"], w["sizes"], w["rates"], w["heldout_fraction"])
