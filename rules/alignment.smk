# Alignment check: does DPO refuse harmful requests more than SFT, and still answer harmless ones?


rule alignment_check:
    input:
        base=layout.BASE,
        sft=rules.sft.output[0],
        dpo=lambda wc: layout.adapters(wc.model, wc.seed, "dpo", config["alignment_check"]["preference"])[-1],
        harmful=data_file(config["alignment_check"]["harmful"]),
        harmless=data_file(config["alignment_check"]["harmless"]),
    output:
        layout.ALIGNMENT,
    log:
        "logs/alignment_check/{model}_s{seed}.log",
    benchmark:
        "benchmarks/alignment_check/{model}_s{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("alignment_check"),
        mem_mb=memory,
    params:
        code=code("alignment_check"),
        hp=lambda wc: config["alignment_check"]
        | {"cpu_precision": cpu_precision(wc), "neuron_site": model_spec(wc)["neuron_site"]},
        chat_format=config["chat_format"],
        dtype=lambda wc: model_spec(wc)["dtype"],
    script:
        "../scripts/alignment_check.py"
