# safety-neurons: Base -> SFT -> DPO -> safety neurons -> patching -> judges, benchmarks, tables, figures.
# Paper grid: config.yaml. Embedded tiny default: `--configfile configs/tiny.yaml` (make demo-full); its core
# (`grid: core`, configs/demo.yaml) is make demo. `snakemake core` builds only the headline tables and figures.


from snakemake.utils import min_version

min_version("9.19")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/base.smk"
include: "rules/train.smk"
include: "rules/alignment.smk"
include: "rules/neurons.smk"
include: "rules/patching.smk"
include: "rules/judges.smk"
include: "rules/general.smk"
include: "rules/report.smk"
include: "rules/experiments.smk"
include: "rules/safeguard.smk"
include: "rules/paper.smk"


# Run where Snakemake runs: hub and URL downloads (a cluster's compute nodes often have no internet access),
# and bookkeeping that computes for seconds on a CPU (sampling prompts, ranking neurons into sets, tables,
# figures), which a cluster queue would make wait minutes per job.
localrules:
    download_base,
    download_judge,
    prepare_dataset,
    bbh_cot_prompts,
    tiny_world,
    eval_prompts,
    neuron_sets,
    seed_robustness,
    preference_correlation,
    cross_tables,
    safeguard_tables,
    tables,
    headline,
    paper_comparison,
    figure_causal_effect,
    figure_neurons,
    figure_curves,
    figure_windows,


rule core:
    input:
        expand(layout.ALIGNMENT, model=MODELS, seed=SEEDS),
        expand(
            layout.PATCHED,
            model=MODELS,
            seed=SEEDS[:1],
            m1=PATCHING["m1"],
            source=PATCHING["sources"],
            dataset=PATCHING["datasets"],
        ),
        rules.tables.output,
        rules.paper_comparison.output,
        rules.headline.output,
        rules.figure_causal_effect.output,
        rules.figure_neurons.output,
        expand("results/judges/{judge}.json", judge=judges_of("classifier", layout.score_judges(config))),


rule all:
    default_target: True
    input:
        rules.core.input,
        (
            [expand("results/judges/{judge}.json", judge=judges_of("classifier")), rules.experiments.input]
            if layout.full_grid(config)
            else []
        ),
