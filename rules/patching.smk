# Dynamic activation patching: evaluation prompts sampled once per set, then one job per
# model x seed x M1 x neuron source x set that sweeps every k with the models loaded once
# (patching.sets_per_job: all -> one job per model x seed x M1 x source covers every set).


rule eval_prompts:
    input:
        lambda wc: data_file(wc.dataset),
    output:
        ensure(layout.PROMPTS, non_empty=True),
    log:
        "logs/eval_prompts/{dataset}.log",
    benchmark:
        "benchmarks/eval_prompts/{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("eval_prompts"),
        n=PATCHING["n_prompts"],
        pool=PATCHING["pool"],
        seed=PATCHING["sample_seed"],
    script:
        "../scripts/eval_prompts.py"


rule patched_generation:
    input:
        base=layout.BASE,
        sets=get_sets,
        m1=lambda wc: get_source_adapters(wc.m1)(wc),
        guide=get_source_adapters("dpo"),
        prompts=layout.PROMPTS,
    output:
        ensure(layout.PATCHED, non_empty=True),
    log:
        "logs/patched_generation/{model}_s{seed}_{m1}_{source}_{dataset}.log",
    benchmark:
        "benchmarks/patched_generation/{model}_s{seed}_{m1}_{source}_{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("patched_generation"),
        mem_mb=memory,
    params:
        code=code("patched_generation"),
        p=lambda wc: generation_params(PATCHING, wc, wc.source, wc.m1)
        | {"ks": layout.sweep_keys(config, wc.model, wc.source)},
    script:
        "../scripts/patched_generation.py"


rule patched_generation_sets:
    input:
        base=layout.BASE,
        sets=get_sets,
        m1=lambda wc: get_source_adapters(wc.m1)(wc),
        guide=get_source_adapters("dpo"),
        prompts=expand(layout.PROMPTS, dataset=PATCHING["datasets"]),
    output:
        [ensure(f, non_empty=True) for f in expand(layout.PATCHED, dataset=PATCHING["datasets"], allow_missing=True)],
    log:
        "logs/patched_generation/{model}_s{seed}_{m1}_{source}_all_sets.log",
    benchmark:
        "benchmarks/patched_generation/{model}_s{seed}_{m1}_{source}_all_sets.tsv"
    wildcard_constraints:
        m1=SETS_CONSTRAINTS["m1"],
        source=SETS_CONSTRAINTS["source"],
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("patched_generation_sets"),
        mem_mb=memory,
    params:
        code=code("patched_generation"),
        p=lambda wc: generation_params(PATCHING, wc, wc.source, wc.m1)
        | {"ks": layout.sweep_keys(config, wc.model, wc.source)},
    script:
        "../scripts/patched_generation.py"


if PATCHING["sets_per_job"] == "all":

    ruleorder: patched_generation_sets > patched_generation

else:

    ruleorder: patched_generation > patched_generation_sets
