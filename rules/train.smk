# Alignment training: SFT ((IA)3 on the neuron site) on the base model, then DPO (a second (IA)3) on merged SFT.


rule sft:
    input:
        base=layout.BASE,
        data=data_file(config["sft"]["dataset"]),
    output:
        trained(
            multiext(
                layout.SFT.removesuffix("model.safetensors"),
                "model.safetensors",
                "config.json",
                "metrics.json",
            )
        ),
    log:
        "logs/sft/{model}_s{seed}.log",
    cache: "omit-software"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("sft"),
        mem_mb=memory,
    params:
        code=code("train_sft"),
        hp=result_params("sft"),
        chat_format=config["chat_format"],
    script:
        "../scripts/train_sft.py"


rule dpo:
    input:
        base=layout.BASE,
        sft=rules.sft.output[0],
        data=lambda wc: data_file(PREFERENCES[wc.pref]),
    output:
        trained(
            multiext(
                layout.DPO.removesuffix("model.safetensors"),
                "model.safetensors",
                "config.json",
                "metrics.json",
            )
        ),
    log:
        "logs/dpo/{model}_s{seed}_{pref}.log",
    cache: "omit-software"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("dpo"),
        mem_mb=memory,
    params:
        code=code("train_dpo"),
        hp=result_params("dpo"),
        chat_format=config["chat_format"],
    script:
        "../scripts/train_dpo.py"
