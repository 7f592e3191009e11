# General ability (paper App. B.2): one job per model x seed x row x benchmark (evaluation.general.
# benchmarks_per_job: one), or per model x seed x row covering every benchmark with the model loaded once
# (all). Rows: unpatched Base/SFT/DPO and Base/SFT patched with the guide's activations at a source's neurons
# of size evaluation.table_k (static patching for log-likelihood tasks, dynamic patching for generation).


rule bbh_cot_prompts:
    input:
        lambda wc: data_file(wc.dataset),
    output:
        ensure(layout.COT_PROMPTS, non_empty=True),
    log:
        "logs/bbh_cot_prompts/{dataset}.log",
    benchmark:
        "benchmarks/bbh_cot_prompts/{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("bbh_cot_prompts"),
        source=lambda wc: BENCHMARKS["bbh"]["options"]["cot_prompts"],
    script:
        "../scripts/bbh_cot_prompts.py"


rule general_eval:
    input:
        unpack(get_benchmark_files),
        base=layout.BASE,
        m1=lambda wc: layout.adapters(wc.model, wc.seed, wc.policy, EVAL_PREF),
        guide=get_general_guide,
        sets=get_general_sets,
    output:
        ensure(layout.GENERAL, non_empty=True),
    log:
        "logs/general_eval/{model}_s{seed}_{policy}_{gsource}_{benchmark}.log",
    benchmark:
        "benchmarks/general_eval/{model}_s{seed}_{policy}_{gsource}_{benchmark}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("general_eval"),
        mem_mb=memory,
    params:
        code=code("general_eval"),
        p=general_params,
    script:
        "../scripts/general_eval.py"


rule general_eval_benchmarks:
    input:
        unpack(get_benchmark_files),
        base=layout.BASE,
        m1=lambda wc: layout.adapters(wc.model, wc.seed, wc.policy, EVAL_PREF),
        guide=get_general_guide,
        sets=get_general_sets,
    output:
        [ensure(f, non_empty=True) for f in expand(layout.GENERAL, benchmark=list(BENCHMARKS), allow_missing=True)],
    log:
        "logs/general_eval/{model}_s{seed}_{policy}_{gsource}_all_benchmarks.log",
    benchmark:
        "benchmarks/general_eval/{model}_s{seed}_{policy}_{gsource}_all_benchmarks.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("general_eval_benchmarks"),
        mem_mb=memory,
    params:
        code=code("general_eval"),
        p=general_params,
    script:
        "../scripts/general_eval.py"


if EVAL["general"]["benchmarks_per_job"] == "all":

    ruleorder: general_eval_benchmarks > general_eval

else:

    ruleorder: general_eval > general_eval_benchmarks
