"""Snakemake adapter: general-ability benchmarks on one row (unpatched Base/SFT/DPO or patched M1), one
benchmark or all of them (evaluation.general.benchmarks_per_job: all), one output file per benchmark."""

from safety_neurons.workflow.script import job

with job(snakemake) as log:
    from pathlib import Path

    from safety_neurons.files import write_json
    from safety_neurons.stages.general import general_eval
    from safety_neurons.workflow.contracts import GeneralEvalParams

    wc, p = snakemake.wildcards, GeneralEvalParams.of(snakemake.params.p)
    outputs = {Path(out).stem: out for out in snakemake.output}  # layout.GENERAL: .../{benchmark}.json
    row = {"model": wc.model, "seed": int(wc.seed), "policy": wc.policy, "source": wc.gsource}
    for name, result in general_eval(snakemake.input, wc.gsource, p).items():
        write_json(result | row, outputs[name])
        log.info(
            "%s %s/%s %s: %s = %.4f (n = %d)",
            *(wc.model, wc.policy, wc.gsource, name, result["metric"], result["value"], result["n"]),
        )
