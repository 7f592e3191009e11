# Dynamic activation patching: evaluation prompts sampled once per set, then one job per
# model x seed x M1 x neuron source x set that sweeps every k with the models loaded once.


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
