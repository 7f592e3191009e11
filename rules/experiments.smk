# The rest of the paper's grid (E4-E14), each with a named target: seeds, curves, windows, value_vectors,
# preferences, cross. Patched generations go through the same patching/judging rules as the tables.
CROSS = layout.cross_entries(config)


rule seed_robustness:
    input:
        expand(layout.MAIN_SCORES, model=MODELS, seed=SEEDS),
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
        k=config["experiments"]["seeds"]["k"],
    script:
        "../scripts/seed_robustness.py"


rule figure_curves:
    input:
        [e[f] for e in layout.curves_manifest(config) for f in ("path", "guide_path")],
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
        entries=layout.curves_manifest(config),
    script:
        "../scripts/figure_causal_effect.py"


rule figure_windows:
    input:
        [e[f] for e in layout.windows_manifest(config) for f in ("path", "unpatched_path", "guide_path")],
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
        entries=layout.windows_manifest(config),
    script:
        "../scripts/figure_windows.py"


rule neuron_vocabulary:
    input:
        base=expand(layout.BASE, model=layout.value_vector_models(config)),
        scores=expand(
            layout.NEURON_SCORES,
            model=layout.value_vector_models(config),
            seed=SEEDS[:1],
            variant="main",
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
        models=layout.value_vector_models(config),
        dtypes=[config["models"][m]["dtype"] for m in layout.value_vector_models(config)],
        sites=[config["models"][m]["neuron_site"] for m in layout.value_vector_models(config)],
        cpu_precision=config["cpu_precision"],
        top=config["experiments"]["value_vectors"]["top"],
        tokens=config["experiments"]["value_vectors"]["tokens"],
    script:
        "../scripts/value_vectors.py"


rule preference_correlation:
    input:
        expand(
            layout.NEURON_SCORES,
            model=layout.preference_models(config),
            seed=SEEDS[:1],
            variant=config["experiments"]["preferences"]["variants"],
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
        models=layout.preference_models(config),
        variants=config["experiments"]["preferences"]["variants"],
        fraction=config["experiments"]["preferences"]["k_fraction"],
    script:
        "../scripts/preference_correlation.py"


rule cross_patching:
    input:
        base=layout.BASE,
        m1=lambda wc: layout.adapters(wc.model, wc.seed, "dpo", CROSS[wc.cross]["m1"]),
        guide=lambda wc: layout.adapters(wc.model, wc.seed, "dpo", CROSS[wc.cross]["guide"]),
        rankings=lambda wc: expand(
            layout.NEURON_SCORES,
            model=wc.model,
            seed=wc.seed,
            variant=CROSS[wc.cross]["variants"],
        ),
        prompts=layout.PROMPTS,
    output:
        ensure(layout.CROSS_GENERATED, non_empty=True),
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
        p=lambda wc: generation_params(PATCHING, wc, wc.cross, CROSS[wc.cross]["m1"])
        | {k: CROSS[wc.cross][k] for k in ("ks", "fractions")},
    script:
        "../scripts/cross_patching.py"


rule cross_tables:
    input:
        [e[f] for e in layout.cross_manifest(config) for f in ("path", "guide_path")],
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
        entries=layout.cross_manifest(config),
    script:
        "../scripts/cross_tables.py"


rule seeds:
    input:
        rules.seed_robustness.output if len(SEEDS) > 1 else [],
        rules.figure_causal_effect.output,


rule curves:
    input:
        rules.figure_curves.output if layout.curves_manifest(config) else [],


rule windows:
    input:
        rules.figure_windows.output if layout.windows_manifest(config) else [],


rule value_vectors:
    input:
        rules.neuron_vocabulary.output if layout.value_vector_models(config) else [],


rule preferences:
    input:
        rules.preference_correlation.output if layout.preference_models(config) else [],


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
        "results/tables/safeguard_accuracy.csv" if layout.safeguard_models(config) else [],
