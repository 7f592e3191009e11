"""Snakemake adapter: score every (prompt, completion) row of a generation file with one judge."""

from safety_neurons.evaluation.judges import score_rows
from safety_neurons.files import read_jsonl, write_jsonl
from safety_neurons.workflow.script import job

with job(snakemake, torch_threads=snakemake.params.spec["kind"] == "beaver") as log:  # torch for model judges only
    rows = read_jsonl(snakemake.input.responses)
    path = snakemake.input.judge[0] if snakemake.input.judge else None
    scored = score_rows(snakemake.params.spec, path, rows)
    write_jsonl(scored, snakemake.output[0])
    log.info("%d rows scored by %s", len(scored), snakemake.wildcards.judge)
