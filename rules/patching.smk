# Dynamic activation patching: evaluation prompts sampled once per set, then one job per
# model x seed x M1 x neuron source x set that sweeps every k with the models loaded once.


rule eval_prompts:
    input:
        lambda wc: dataset_file(wc.dataset),
    output:
        ensure("resources/prompts/{dataset}.jsonl", non_empty=True),
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
        base="resources/base/{model}",
        sets=lambda wc: f"results/{wc.model}/s{wc.seed}/neurons/{variant_of(wc.source)}/sets.json",
        m1=lambda wc: stage_adapters(
            wc.model,
            wc.seed,
            wc.m1,
            VARIANTS[variant_of(wc.source)]["preference"],
        ),
        guide=lambda wc: stage_adapters(
            wc.model,
            wc.seed,
            "dpo",
            VARIANTS[variant_of(wc.source)]["preference"],
        ),
        prompts="resources/prompts/{dataset}.jsonl",
    output:
        ensure(
            "results/{model}/s{seed}/patching/{m1}/{source}/{dataset}.jsonl",
            non_empty=True,
        ),
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
        p=lambda wc: {k: PATCHING[k] for k in ("max_new_tokens", "batch_size")}
        | {
            "chat_format": config["chat_format"],
            "dtype": model_spec(wc)["dtype"],
            "source": wc.source,
            "m1": wc.m1,
            "ks": sweep_keys(wc.model, wc.source),
        },
    script:
        "../scripts/patched_generation.py"
