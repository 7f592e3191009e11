# General ability (paper App. B.2): one job per model x seed x row x benchmark. Rows: unpatched Base/SFT/DPO
# and Base/SFT patched with the guide's activations at a source's neurons of size evaluation.table_k
# (static patching for log-likelihood tasks, dynamic patching for generation).


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
        base=layout.BASE,
        m1=lambda wc: layout.adapters(wc.model, wc.seed, wc.policy, EVAL_PREF),
        guide=get_general_guide,
        sets=get_general_sets,
        data=lambda wc: data_file(BENCHMARKS[wc.benchmark]["dataset"]),
        shots=get_shots,
        cot=get_cot_prompts,
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
        p=lambda wc: {
            "benchmark": wc.benchmark,
            "options": benchmark_options(wc),
            "k": (layout.source_k(config, wc.model, wc.gsource) if wc.gsource != "none" else 0),
            "batch_size": EVAL["general"]["batch_size"],
            "chat_format": config["chat_format"],
            "dtype": model_spec(wc)["dtype"],
            "cpu_precision": cpu_precision(wc),
        },
    script:
        "../scripts/general_eval.py"
