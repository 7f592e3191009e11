# The paper's outputs as files (results/tables, results/figures), each with a caption in the report
# (snakemake --report results/report.html).


rule tables:
    input:
        safety=[e["path"] for e in layout.safety_manifest(config)],
        general=[e["path"] for e in layout.general_manifest(config)],
    output:
        table8=report(
            "results/tables/table8.csv",
            caption="../report/table8.rst",
            category="Tables",
        ),
        table1=report(
            "results/tables/table1.csv",
            caption="../report/table1.rst",
            category="Tables",
        ),
        safety=report(
            "results/tables/safety.csv",
            caption="../report/safety.rst",
            category="Tables",
        ),
        ttest=report(
            "results/tables/ttest.csv",
            caption="../report/ttest.rst",
            category="Tables",
        ),
        table8_md="results/tables/table8.md",
        table1_md="results/tables/table1.md",
    log:
        "logs/tables/tables.log",
    benchmark:
        "benchmarks/tables/tables.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("tables"),
        safety=layout.safety_manifest(config),
        general=layout.general_manifest(config),
        ttest=layout.ttest_manifest(config),
        judge=EVAL["cost_judge"],
        datasets=PATCHING["datasets"],
        benchmarks=list(layout.benchmarks(config)),
    script:
        "../scripts/tables.py"


rule headline:
    input:
        pairs=[e[f] for e in layout.ttest_manifest(config) for f in ("top", "random", "guide")],
        alignment=expand(layout.ALIGNMENT, model=MODELS, seed=SEEDS[:1]),
    output:
        csv="results/tables/headline.csv",
        text="results/tables/headline.txt",
    log:
        "logs/tables/headline.log",
    benchmark:
        "benchmarks/tables/headline.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("headline"),
        pairs=layout.ttest_manifest(config),
        models=MODELS,
    script:
        "../scripts/headline.py"


rule figure_causal_effect:
    input:
        [e[f] for e in layout.fig2_manifest(config) for f in ("path", "guide_path")],
    output:
        figure=report(
            "results/figures/fig2_causal_effect.png",
            caption="../report/fig2.rst",
            category="Figures",
        ),
        curves="results/tables/fig2_curves.csv",
    log:
        "logs/figures/fig2.log",
    benchmark:
        "benchmarks/figures/fig2.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("figure_causal_effect"),
        entries=layout.fig2_manifest(config),
    script:
        "../scripts/figure_causal_effect.py"


rule figure_neurons:
    input:
        expand(layout.MAIN_SCORES, model=MODELS, seed=SEEDS[:1]),
    output:
        report(
            "results/figures/fig5_neurons.png",
            caption="../report/fig5.rst",
            category="Figures",
        ),
    log:
        "logs/figures/fig5.log",
    benchmark:
        "benchmarks/figures/fig5.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("figure_neurons"),
        models=MODELS,
        top=EVAL["fig5_top_fraction"],
    script:
        "../scripts/figure_neurons.py"
