# The rest of the paper's grid (E4-E14), each with a named target: seeds, curves, windows, value_vectors,
# preferences, cross. Patched generations go through the same patching/judging rules as the tables.


rule seed_robustness:
    input:
        lambda wc: expand(
            "results/{model}/s{seed}/neurons/main/change_scores.safetensors",
            model=MODELS,
            seed=SEEDS,
        ),
    output:
        report(
            "results/tables/seeds.csv",
            caption="../report/seeds.rst",
            category="Experiments",
        ),
    log:
        "logs/experiments/seeds.log",
    benchmark:
        "benchmarks/experiments/seeds.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("seed_robustness"),
        models=MODELS,
        seeds=SEEDS,
        k=EXP["seeds"]["k"],
    script:
        "../scripts/seed_robustness.py"


rule figure_curves:
    input:
        [e["path"] for e in curves_manifest()]
        + [e["guide_path"] for e in curves_manifest()],
    output:
        figure=report(
            "results/figures/fig7_curves.png",
            caption="../report/curves.rst",
            category="Experiments",
        ),
        curves="results/tables/curves.csv",
    log:
        "logs/experiments/curves.log",
    benchmark:
        "benchmarks/experiments/curves.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("figure_causal_effect"),
        entries=curves_manifest(),
    script:
        "../scripts/figure_causal_effect.py"


rule figure_windows:
    input:
        [e["path"] for e in windows_manifest()]
        + [e["unpatched_path"] for e in windows_manifest()]
        + [e["guide_path"] for e in windows_manifest()],
    output:
        figure=report(
            "results/figures/fig6_windows.png",
            caption="../report/windows.rst",
            category="Experiments",
        ),
        curves="results/tables/windows.csv",
    log:
        "logs/experiments/windows.log",
    benchmark:
        "benchmarks/experiments/windows.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("figure_windows"),
        entries=windows_manifest(),
    script:
        "../scripts/figure_windows.py"


rule neuron_vocabulary:
    input:
        base=expand("resources/base/{model}", model=VV_MODELS),
        scores=expand(
            "results/{model}/s{seed}/neurons/main/change_scores.safetensors",
            model=VV_MODELS,
            seed=SEEDS[:1],
        ),
    output:
        report(
            "results/tables/table9.csv",
            caption="../report/table9.rst",
            category="Experiments",
        ),
    log:
        "logs/experiments/value_vectors.log",
    benchmark:
        "benchmarks/experiments/value_vectors.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("value_vectors"),
        models=VV_MODELS,
        dtypes=[config["models"][m]["dtype"] for m in VV_MODELS],
        top=EXP["value_vectors"]["top"],
        tokens=EXP["value_vectors"]["tokens"],
    script:
        "../scripts/value_vectors.py"


rule preference_correlation:
    input:
        expand(
            "results/{model}/s{seed}/neurons/{variant}/change_scores.safetensors",
            model=PREF_MODELS,
            seed=SEEDS[:1],
            variant=EXP["preferences"]["variants"],
        ),
    output:
        table=report(
            "results/tables/preferences.csv",
            caption="../report/preferences.rst",
            category="Experiments",
        ),
        figure=report(
            "results/figures/fig3a_preferences.png",
            caption="../report/preferences.rst",
            category="Experiments",
        ),
    log:
        "logs/experiments/preferences.log",
    benchmark:
        "benchmarks/experiments/preferences.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("preference_correlation"),
        models=PREF_MODELS,
        variants=EXP["preferences"]["variants"],
        fraction=EXP["preferences"]["k_fraction"],
    script:
        "../scripts/preference_correlation.py"


rule cross_patching:
    input:
        base="resources/base/{model}",
        m1=lambda wc: stage_adapters(wc.model, wc.seed, "dpo", CROSS[wc.cross]["m1"]),
        guide=lambda wc: stage_adapters(
            wc.model, wc.seed, "dpo", CROSS[wc.cross]["guide"]
        ),
        rankings=lambda wc: [
            f"results/{wc.model}/s{wc.seed}/neurons/{v}/change_scores.safetensors"
            for v in CROSS[wc.cross]["variants"]
        ],
        prompts="resources/prompts/{dataset}.jsonl",
    output:
        ensure(
            "results/{model}/s{seed}/cross/{cross}/{dataset}.jsonl",
            non_empty=True,
        ),
    log:
        "logs/cross_patching/{model}_s{seed}_{cross}_{dataset}.log",
    benchmark:
        "benchmarks/cross_patching/{model}_s{seed}_{cross}_{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("cross_patching"),
        mem_mb=memory,
    params:
        code=code("cross_patching"),
        p=lambda wc: {k: PATCHING[k] for k in ("max_new_tokens", "batch_size")}
        | {k: CROSS[wc.cross][k] for k in ("ks", "fractions", "m1")}
        | {
            "chat_format": config["chat_format"],
            "dtype": model_spec(wc)["dtype"],
            "source": wc.cross,
        },
    script:
        "../scripts/cross_patching.py"


rule cross_tables:
    input:
        [e["path"] for e in cross_manifest()]
        + [e["guide_path"] for e in cross_manifest()],
    output:
        cross=report(
            "results/tables/cross.csv",
            caption="../report/cross.rst",
            category="Experiments",
        ),
        table3="results/tables/table3.csv",
        table10="results/tables/table10.csv",
        figure=report(
            "results/figures/fig3b_cross.png",
            caption="../report/cross.rst",
            category="Experiments",
        ),
    log:
        "logs/experiments/cross.log",
    benchmark:
        "benchmarks/experiments/cross.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("cross_tables"),
        entries=cross_manifest(),
    script:
        "../scripts/cross_tables.py"


rule seeds:
    input:
        rules.seed_robustness.output if len(SEEDS) > 1 else [],
        rules.figure_causal_effect.output,


rule curves:
    input:
        rules.figure_curves.output if curves_manifest() else [],


rule windows:
    input:
        rules.figure_windows.output if windows_manifest() else [],


rule value_vectors:
    input:
        rules.neuron_vocabulary.output if VV_MODELS else [],


rule preferences:
    input:
        rules.preference_correlation.output if PREF_MODELS else [],


rule cross:
    input:
        rules.cross_tables.output if CROSS else [],


rule experiments:
    input:
        rules.seeds.input,
        rules.curves.input,
        rules.windows.input,
        rules.value_vectors.input,
        rules.preferences.input,
        rules.cross.input,
        "results/tables/safeguard_accuracy.csv" if SAFEGUARD_MODELS else [],
