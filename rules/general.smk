# General ability (paper App. B.2): one job per model x seed x row x benchmark. Rows: unpatched Base/SFT/DPO
# and Base/SFT patched with the guide's activations at a source's neurons of size evaluation.table_k
# (static patching for log-likelihood tasks, dynamic patching for generation).


rule bbh_cot_prompts:
    input:
        lambda wc: dataset_file(wc.dataset),
    output:
        ensure("resources/data/{dataset}.cot_prompts.json", non_empty=True),
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
        base="resources/base/{model}",
        m1=lambda wc: stage_adapters(wc.model, wc.seed, wc.policy, EVAL_PREF),
        guide=lambda wc: guide_adapters(wc),
        sets=lambda wc: general_sets(wc),
        data=lambda wc: dataset_file(BENCHMARKS[wc.benchmark]["dataset"]),
        shots=lambda wc: benchmark_shots(wc),
        cot=lambda wc: benchmark_cot(wc),
    output:
        ensure(
            "results/{model}/s{seed}/general/{policy}/{gsource}/{benchmark}.json",
            non_empty=True,
        ),
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
            "k": source_k(wc.model, wc.gsource) if wc.gsource != "none" else 0,
            "batch_size": GENERAL["batch_size"],
            "chat_format": config["chat_format"],
            "dtype": model_spec(wc)["dtype"],
        },
    script:
        "../scripts/general_eval.py"
