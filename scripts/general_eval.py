"""Snakemake adapter: one general-ability benchmark on one row (unpatched Base/SFT/DPO or patched M1)."""

from safety_neurons.files import write_json
from safety_neurons.stages.general import general_eval
from safety_neurons.workflow.contracts import GeneralEvalParams
from safety_neurons.workflow.script import job

with job(snakemake) as log:
    wc, p = snakemake.wildcards, GeneralEvalParams.of(snakemake.params.p)
    result = general_eval(snakemake.input, wc.gsource, p)
    write_json(
        result | {"model": wc.model, "seed": int(wc.seed), "policy": wc.policy, "source": wc.gsource},
        snakemake.output[0],
    )
    log.info(
        "%s %s/%s: %s = %.4f (n = %d)", wc.model, wc.policy, wc.gsource, result["metric"], result["value"], result["n"]
    )
