# Judged safety generations: the guide (DPO) and unpatched stages generate on the evaluation prompts, every
# generation file (patched sweeps included) is scored by each configured judge once.


rule download_judge:
    output:
        directory("resources/judges/beaver/{judge}"),
    log:
        "logs/download_judge/{judge}.log",
    wildcard_constraints:
        judge=alternatives(BEAVER_JUDGES),
    cache: "omit-software"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("download_base"),
        hub_id=lambda wc: JUDGES[wc.judge]["hub_id"],
        revision=lambda wc: JUDGES[wc.judge]["revision"],
    script:
        "../scripts/download_base.py"


rule train_judge:
    input:
        train=lambda wc: dataset_file(JUDGES[wc.judge]["train"]),
        test=lambda wc: dataset_file(JUDGES[wc.judge]["test"]),
    output:
        model=ensure("resources/judges/classifier/{judge}.joblib", non_empty=True),
        metrics=report(
            "results/judges/{judge}.json",
            caption="../report/judge.rst",
            category="Judges",
        ),
    log:
        "logs/train_judge/{judge}.log",
    benchmark:
        "benchmarks/train_judge/{judge}.tsv"
    wildcard_constraints:
        judge=alternatives(CLASSIFIER_JUDGES),
    conda:
        "../envs/torch.yaml"
    params:
        code=code("train_judge"),
        label=lambda wc: JUDGES[wc.judge]["label"],
    script:
        "../scripts/train_judge.py"


rule stage_generation:
    input:
        base="resources/base/{model}",
        adapters=lambda wc: stage_adapters(wc.model, wc.seed, *stage_pref(wc.stage)),
        prompts="resources/prompts/{dataset}.jsonl",
    output:
        ensure(
            "results/{model}/s{seed}/generations/{stage}/{dataset}.jsonl",
            non_empty=True,
        ),
    log:
        "logs/stage_generation/{model}_s{seed}_{stage}_{dataset}.log",
    benchmark:
        "benchmarks/stage_generation/{model}_s{seed}_{stage}_{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("stage_generation"),
        mem_mb=memory,
    params:
        code=code("stage_generation"),
        p=lambda wc: {k: PATCHING[k] for k in ("max_new_tokens", "batch_size")}
        | {
            "chat_format": config["chat_format"],
            "dtype": model_spec(wc)["dtype"],
            "source": "none",
            "m1": wc.stage,
        },
    script:
        "../scripts/stage_generation.py"


rule judge_responses:
    input:
        responses="results/{model}/s{seed}/{run}/{dataset}.jsonl",
        judge=judge_files,
    output:
        ensure(
            "results/{model}/s{seed}/scores/{judge}/{run}/{dataset}.jsonl",
            non_empty=True,
        ),
    log:
        "logs/judge_responses/{model}_s{seed}_{judge}/{run}/{dataset}.log",
    benchmark:
        "benchmarks/judge_responses/{model}_s{seed}_{judge}/{run}/{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=lambda wc: JUDGES[wc.judge]["gpus"],
        runtime=runtime("judge_responses"),
        mem_mb=lambda wc: JUDGES[wc.judge]["mem_mb"],
    params:
        code=code("judge_responses"),
        spec=lambda wc: JUDGES[wc.judge],
    script:
        "../scripts/judge_responses.py"
