# The paper's published values beside this run's (safety_neurons/reporting/paper.py): for the paper's models,
# every value both have; for any other model (the tiny world), a row saying that no reference exists.


rule paper_comparison:
    input:
        unpack(get_paper_tables),
        reference=f"{workflow.basedir}/safety_neurons/reporting/paper_values.yaml",
    output:
        csv=report(
            "results/tables/paper_comparison.csv",
            caption="../report/paper_comparison.rst",
            category="Tables",
        ),
        md="results/tables/paper_comparison.md",
    log:
        "logs/tables/paper_comparison.log",
    benchmark:
        "benchmarks/tables/paper_comparison.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("paper_comparison"),
        names=layout.paper_names(config),
    script:
        "../scripts/paper_comparison.py"
