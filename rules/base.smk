# Base models: hub snapshots downloaded once (cluster), or tiny models pretrained here.


rule download_base:
    output:
        directory(layout.BASE),
    log:
        "logs/download_base/{model}.log",
    wildcard_constraints:
        model=alternatives(models_of("hub")),
    cache: "omit-software"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("download_base"),
        hub_id=lambda wc: model_spec(wc)["hub_id"],
        revision=lambda wc: model_spec(wc)["revision"],
        architecture=lambda wc: model_spec(wc)["architecture"],
        neuron_site=lambda wc: model_spec(wc)["neuron_site"],
        shape=lambda wc: [model_spec(wc)["n_layers"], model_spec(wc)["d_mlp"]],
    script:
        "../scripts/download_base.py"


rule tiny_tokenizer:
    input:
        corpus=rules.tiny_world.output.pretrain,
    output:
        directory("resources/tiny/tokenizer"),
    log:
        "logs/tiny_tokenizer/tiny_tokenizer.log",
    benchmark:
        "benchmarks/tiny_tokenizer/tiny_tokenizer.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("tiny_tokenizer"),
        vocab_size=config.get("tiny_world", {}).get("tokenizer_vocab"),
    script:
        "../scripts/tiny_tokenizer.py"


rule pretrain_tiny:
    input:
        tokenizer=rules.tiny_tokenizer.output[0],
        corpus=rules.tiny_world.output.pretrain,
    output:
        directory(layout.BASE),
    log:
        "logs/pretrain_tiny/{model}.log",
    benchmark:
        "benchmarks/pretrain_tiny/{model}.tsv"
    wildcard_constraints:
        model=alternatives(models_of("tiny")),
    conda:
        "../envs/torch.yaml"
    params:
        code=code("pretrain_tiny"),
        spec=tiny_shape,
        hp=config.get("pretrain"),
        seed=0,
    script:
        "../scripts/pretrain_tiny.py"


rule convert_gguf_base:
    output:
        directory(layout.BASE),
    log:
        "logs/convert_gguf_base/{model}.log",
    benchmark:
        "benchmarks/convert_gguf_base/{model}.tsv"
    wildcard_constraints:
        model=alternatives(models_of("gguf")),
    conda:
        "../envs/torch.yaml"
    params:
        code=code("convert_gguf"),
        package=lambda wc: model_spec(wc)["package"],
        pattern=lambda wc: model_spec(wc)["gguf_pattern"],
        dtype=lambda wc: model_spec(wc)["dtype"],
    script:
        "../scripts/convert_gguf.py"
