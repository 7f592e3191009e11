"""Snakemake adapter: score every (prompt, completion) row of a generation file with one judge."""

from safety_neurons.data.loaders import read_jsonl, write_jsonl
from safety_neurons.judges import score_rows
from safety_neurons.logs import to_file

if snakemake.params.spec["kind"] == "beaver":  # torch only for the model judges (start-up time)
    import torch

    torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]) as log:
    rows = read_jsonl(snakemake.input.responses)
    path = snakemake.input.judge[0] if snakemake.input.judge else None
    scored = score_rows(snakemake.params.spec, path, rows)
    write_jsonl(scored, snakemake.output[0])
    log.info("%d rows scored by %s", len(scored), snakemake.wildcards.judge)
