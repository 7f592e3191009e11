# Data: the embedded tiny world (generated) and every configured dataset, normalized to jsonl once.


rule tiny_world:
    output:
        **{
            role: f"resources/tiny/world/{name}"
            for role, name in (WORLD_FILES | BENCHMARK_FILES | PREFERENCE_FILES).items()
        },
    log:
        "logs/tiny_world/tiny_world.log",
    benchmark:
        "benchmarks/tiny_world/tiny_world.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("tiny_world"),
        world=config.get("tiny_world"),
    script:
        "../scripts/tiny_world.py"


rule prepare_dataset:
    input:
        get_local_source,
    output:
        ensure(layout.DATA, non_empty=True),
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("prepare_dataset"),
        spec=lambda wc: config["datasets"][wc.dataset],
    script:
        "../scripts/prepare_dataset.py"
