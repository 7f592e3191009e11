# Safeguard (E10): the guarded model's own greedy responses on the training and test prompts are judged; its
# activations at the last prompt token over the top-k safety neurons (and random baselines) predict the label.


rule safeguard_prompts:
    input:
        lambda wc: dataset_file(wc.dataset),
    output:
        ensure("resources/safeguard/{dataset}.jsonl", non_empty=True),
    log:
        "logs/safeguard_prompts/{dataset}.log",
    benchmark:
        "benchmarks/safeguard_prompts/{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("safeguard_prompts"),
        train=lambda wc: wc.dataset == SAFEGUARD["train"],
        n_train=SAFEGUARD.get("n_train"),
        n_test=SAFEGUARD.get("n_test"),
        seed=SAFEGUARD.get("sample_seed"),
    script:
        "../scripts/safeguard_prompts.py"


rule safeguard_generation:
    input:
        base="resources/base/{model}",
        adapters=lambda wc: stage_adapters(wc.model, wc.seed, wc.guarded, EVAL_PREF),
        prompts="resources/safeguard/{dataset}.jsonl",
    output:
        ensure(
            "results/{model}/s{seed}/safeguard/{guarded}/generations/{dataset}.jsonl",
            non_empty=True,
        ),
    log:
        "logs/safeguard_generation/{model}_s{seed}_{guarded}_{dataset}.log",
    benchmark:
        "benchmarks/safeguard_generation/{model}_s{seed}_{guarded}_{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("safeguard_generation"),
        mem_mb=memory,
    params:
        code=code("stage_generation"),
        p=lambda wc: {k: SAFEGUARD[k] for k in ("max_new_tokens", "batch_size")}
        | {
            "chat_format": config["chat_format"],
            "dtype": model_spec(wc)["dtype"],
            "source": "none",
            "m1": wc.guarded,
        },
    script:
        "../scripts/stage_generation.py"


rule safeguard_features:
    input:
        base="resources/base/{model}",
        adapters=lambda wc: stage_adapters(wc.model, wc.seed, wc.guarded, EVAL_PREF),
        ranking="results/{model}/s{seed}/neurons/main/change_scores.safetensors",
        prompts="resources/safeguard/{dataset}.jsonl",
    output:
        ensure(
            "results/{model}/s{seed}/safeguard/{guarded}/features/{dataset}.npz",
            non_empty=True,
        ),
    log:
        "logs/safeguard_features/{model}_s{seed}_{guarded}_{dataset}.log",
    benchmark:
        "benchmarks/safeguard_features/{model}_s{seed}_{guarded}_{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("safeguard_features"),
        mem_mb=memory,
    params:
        code=code("safeguard_features"),
        p=lambda wc: safeguard_params(wc) | {"dtype": model_spec(wc)["dtype"]},
    script:
        "../scripts/safeguard_features.py"


rule safeguard_eval:
    input:
        features=lambda wc: safeguard_files(wc, "features", wc.guarded),
        scored=lambda wc: safeguard_files(wc, "scored", wc.guarded),
        clf=lambda wc: [
            safeguard_file(wc, "features", clf_stage(wc), SAFEGUARD["train"]),
            safeguard_file(wc, "scored", clf_stage(wc), SAFEGUARD["train"]),
        ],
        ranking="results/{model}/s{seed}/neurons/main/change_scores.safetensors",
    output:
        curve="results/{model}/s{seed}/safeguard/{guarded}/accuracy.csv",
        deployment="results/{model}/s{seed}/safeguard/{guarded}/deployment.csv",
    log:
        "logs/safeguard_eval/{model}_s{seed}_{guarded}.log",
    benchmark:
        "benchmarks/safeguard_eval/{model}_s{seed}_{guarded}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("safeguard_eval"),
        names=SAFEGUARD_SETS,
        p=lambda wc: safeguard_params(wc)
        | {k: SAFEGUARD[k] for k in ("deploy_k", "train")},
    script:
        "../scripts/safeguard_eval.py"


rule safeguard_tables:
    input:
        curves=expand(
            "results/{model}/s{seed}/safeguard/{guarded}/accuracy.csv",
            model=SAFEGUARD_MODELS,
            seed=SEEDS[:1],
            guarded=SAFEGUARD.get("guarded", []),
        ),
        deployments=expand(
            "results/{model}/s{seed}/safeguard/{guarded}/deployment.csv",
            model=SAFEGUARD_MODELS,
            seed=SEEDS[:1],
            guarded=SAFEGUARD.get("guarded", []),
        ),
    output:
        accuracy=report(
            "results/tables/safeguard_accuracy.csv",
            caption="../report/safeguard.rst",
            category="Experiments",
        ),
        deployment=report(
            "results/tables/safeguard_deployment.csv",
            caption="../report/safeguard.rst",
            category="Experiments",
        ),
        figure=report(
            "results/figures/fig10_safeguard.png",
            caption="../report/safeguard.rst",
            category="Experiments",
        ),
    log:
        "logs/experiments/safeguard.log",
    benchmark:
        "benchmarks/experiments/safeguard.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("safeguard_tables"),
        groups=[
            dict(model=m, guarded=g)
            for m in SAFEGUARD_MODELS
            for g in SAFEGUARD.get("guarded", [])
        ],
    script:
        "../scripts/safeguard_tables.py"


rule safeguard:
    input:
        rules.safeguard_tables.output if SAFEGUARD_MODELS else [],
