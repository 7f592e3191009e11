# Safety neurons: change scores (Eq. 3) and ranking per model x seed x variant, then the neuron sets that
# patching reads (top-k and matched random sets for every k of the sweep).


rule change_scores:
    input:
        base=layout.BASE,
        m1=get_pair_adapters("m1"),
        m2=get_pair_adapters("m2"),
        prompts=get_variant_data,
    output:
        scores=ensure(layout.NEURON_SCORES, non_empty=True),
        summary=layout.NEURON_SUMMARY,
    log:
        "logs/change_scores/{model}_s{seed}_{variant}.log",
    benchmark:
        "benchmarks/change_scores/{model}_s{seed}_{variant}.tsv"
    wildcard_constraints:
        variant=alternatives(variants_of(baseline=False)),
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
        | model_params(wc),
    script:
        "../scripts/change_scores.py"


rule baseline_scores:
    input:
        base=layout.BASE,
        adapters=lambda wc: layout.adapters(wc.model, wc.seed, "dpo", VARIANTS[wc.variant]["preference"]),
        texts=get_variant_data,
    output:
        scores=ensure(layout.NEURON_SCORES, non_empty=True),
        summary=layout.NEURON_SUMMARY,
    log:
        "logs/baseline_scores/{model}_s{seed}_{variant}.log",
    benchmark:
        "benchmarks/baseline_scores/{model}_s{seed}_{variant}.tsv"
    wildcard_constraints:
        variant=alternatives(variants_of(baseline=True)),
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("baseline_scores"),
        mem_mb=memory,
    params:
        code=code("baseline_scores"),
        p=lambda wc: {k: VARIANTS[wc.variant][k] for k in ("method", "agg", "ranking", "top_fraction", "max_length")}
        | {
            "n_texts": VARIANTS[wc.variant]["n_prompts"],
            "selection": VARIANTS[wc.variant]["selection"],
            "selection_seed": VARIANTS[wc.variant]["selection_seed"],
            "batch_size": config["neurons"]["batch_size"],
        }
        | model_params(wc),
    script:
        "../scripts/baseline_scores.py"


rule neuron_sets:
    input:
        scores=layout.NEURON_SCORES,
    output:
        ensure(layout.NEURON_SETS, non_empty=True),
    log:
        "logs/neuron_sets/{model}_s{seed}_{variant}.log",
    benchmark:
        "benchmarks/neuron_sets/{model}_s{seed}_{variant}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("neuron_sets"),
        ks=lambda wc: layout.set_sizes(config, wc.model, wc.variant),
        d_mlp=lambda wc: model_spec(wc)["d_mlp"],
        seed=config["neurons"]["random_seed"],
        disjoint=config["neurons"]["random_disjoint"],
        windows=lambda wc: layout.window_params(config, wc.variant),
    script:
        "../scripts/neuron_sets.py"
