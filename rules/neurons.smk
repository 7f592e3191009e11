# Safety neurons: change scores (Eq. 3) and ranking per model x seed x variant, then the neuron sets that
# patching reads (top-k and matched random sets for every k of the sweep).


rule change_scores:
    input:
        base="resources/base/{model}",
        m1=lambda wc: pair_adapters(wc, "m1"),
        m2=lambda wc: pair_adapters(wc, "m2"),
        prompts=lambda wc: dataset_file(VARIANTS[wc.variant]["prompts"]),
    output:
        scores=ensure(
            "results/{model}/s{seed}/neurons/{variant}/change_scores.safetensors",
            non_empty=True,
        ),
        summary="results/{model}/s{seed}/neurons/{variant}/summary.json",
    log:
        "logs/change_scores/{model}_s{seed}_{variant}.log",
    benchmark:
        "benchmarks/change_scores/{model}_s{seed}_{variant}.tsv"
    wildcard_constraints:
        variant=alternatives(CHANGE_VARIANTS),
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("change_scores"),
        mem_mb=memory,
    params:
        code=code("change_scores"),
        p=lambda wc: VARIANTS[wc.variant]
        | {k: config["neurons"][k] for k in ("max_new_tokens", "batch_size")}
        | {
            "chat_format": config["chat_format"],
            "exclude_layers": model_spec(wc)["exclude_layers"],
            "dtype": model_spec(wc)["dtype"],
            "model": wc.model,
            "n_layers": model_spec(wc)["n_layers"],
            "d_mlp": model_spec(wc)["d_mlp"],
        },
    script:
        "../scripts/change_scores.py"


rule baseline_scores:
    input:
        base="resources/base/{model}",
        adapters=lambda wc: stage_adapters(
            wc.model, wc.seed, "dpo", VARIANTS[wc.variant]["preference"]
        ),
        texts=lambda wc: dataset_file(VARIANTS[wc.variant]["prompts"]),
    output:
        scores=ensure(
            "results/{model}/s{seed}/neurons/{variant}/change_scores.safetensors",
            non_empty=True,
        ),
        summary="results/{model}/s{seed}/neurons/{variant}/summary.json",
    log:
        "logs/baseline_scores/{model}_s{seed}_{variant}.log",
    benchmark:
        "benchmarks/baseline_scores/{model}_s{seed}_{variant}.tsv"
    wildcard_constraints:
        variant=alternatives(BASELINE_VARIANTS),
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("baseline_scores"),
        mem_mb=memory,
    params:
        code=code("baseline_scores"),
        p=lambda wc: {
            k: VARIANTS[wc.variant][k]
            for k in ("method", "agg", "ranking", "top_fraction", "max_length")
        }
        | {
            "n_texts": VARIANTS[wc.variant]["n_prompts"],
            "selection": VARIANTS[wc.variant]["selection"],
            "selection_seed": VARIANTS[wc.variant]["selection_seed"],
            "batch_size": config["neurons"]["batch_size"],
            "chat_format": config["chat_format"],
            "exclude_layers": model_spec(wc)["exclude_layers"],
            "dtype": model_spec(wc)["dtype"],
            "model": wc.model,
            "n_layers": model_spec(wc)["n_layers"],
            "d_mlp": model_spec(wc)["d_mlp"],
        },
    script:
        "../scripts/baseline_scores.py"


rule neuron_sets:
    input:
        scores="results/{model}/s{seed}/neurons/{variant}/change_scores.safetensors",
    output:
        ensure("results/{model}/s{seed}/neurons/{variant}/sets.json", non_empty=True),
    log:
        "logs/neuron_sets/{model}_s{seed}_{variant}.log",
    benchmark:
        "benchmarks/neuron_sets/{model}_s{seed}_{variant}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("neuron_sets"),
        ks=set_sizes,
        d_mlp=lambda wc: model_spec(wc)["d_mlp"],
        seed=config["neurons"]["random_seed"],
        disjoint=config["neurons"]["random_disjoint"],
        windows=lambda wc: window_params(wc.variant),
    script:
        "../scripts/neuron_sets.py"
