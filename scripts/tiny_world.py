"""Snakemake adapter: the embedded tiny world's data files, general-benchmark and preference equivalents."""

from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=False):
    from safety_neurons.data.synthetic import WORLD_FILES, TinyWorld, write_world
    from safety_neurons.data.synthetic_benchmarks import BENCHMARK_FILES, write_benchmarks
    from safety_neurons.data.synthetic_preferences import PREFERENCE_FILES, write_preferences

    w, out = snakemake.params.world, dict(snakemake.output.items())
    args = (w["seed"], w["sizes"], w["rates"], w["heldout_fraction"])
    write_world({role: out[role] for role in WORLD_FILES}, *args)
    write_benchmarks({role: out[role] for role in BENCHMARK_FILES}, TinyWorld(*args), w["seed"] + 2)
    n_pairs = w["sizes"].get("preferences", 400)
    write_preferences({role: out[role] for role in PREFERENCE_FILES}, TinyWorld(*args), w["seed"] + 3, n_pairs)
