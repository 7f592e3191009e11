"""Snakemake adapter: score every (prompt, completion) row of a generation file with one judge; or of every
set of one run, with the judge loaded once (patching.sets_per_job: all)."""

from safety_neurons.workflow.script import job, paths

with job(snakemake, torch_threads=snakemake.params.spec["kind"] == "beaver") as log:  # torch for model judges only
    from safety_neurons.evaluation.judges import score_sets
    from safety_neurons.files import read_jsonl, write_jsonl

    row_sets = [read_jsonl(f) for f in paths(snakemake.input.responses)]
    path = snakemake.input.judge[0] if snakemake.input.judge else None
    for rows, out in zip(score_sets(snakemake.params.spec, path, row_sets), snakemake.output, strict=True):
        write_jsonl(rows, out)
        log.info("%d rows of %s scored by %s", len(rows), out, snakemake.wildcards.judge)
