# Safeguard (E10): the guarded model's own greedy responses on the training and test prompts are judged; its
# activations at the last prompt token over the top-k safety neurons (and random baselines) predict the label.


rule safeguard_prompts:
    input:
        lambda wc: data_file(wc.dataset),
    output:
        ensure(layout.SAFEGUARD_PROMPTS, non_empty=True),
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
        base=layout.BASE,
        adapters=lambda wc: layout.adapters(wc.model, wc.seed, wc.guarded, EVAL_PREF),
        prompts=layout.SAFEGUARD_PROMPTS,
    output:
        ensure(layout.SAFEGUARD_GENERATED, non_empty=True),
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
        p=lambda wc: generation_params(SAFEGUARD, wc, "none", wc.guarded),
    script:
        "../scripts/stage_generation.py"


rule safeguard_features:
    input:
        base=layout.BASE,
        adapters=lambda wc: layout.adapters(wc.model, wc.seed, wc.guarded, EVAL_PREF),
        ranking=layout.MAIN_SCORES,
        prompts=layout.SAFEGUARD_PROMPTS,
    output:
        ensure(layout.SAFEGUARD_FEATURES, non_empty=True),
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
        features=get_safeguard_files("features"),
        scored=get_safeguard_files("scored"),
        clf=get_safeguard_clf,
        ranking=layout.MAIN_SCORES,
    output:
        curve=layout.SAFEGUARD_CURVE,
        deployment=layout.SAFEGUARD_DEPLOYMENT,
    log:
        "logs/safeguard_eval/{model}_s{seed}_{guarded}.log",
    benchmark:
        "benchmarks/safeguard_eval/{model}_s{seed}_{guarded}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("safeguard_eval"),
        names=layout.safeguard_sets(config),
        p=lambda wc: safeguard_params(wc) | {k: SAFEGUARD[k] for k in ("deploy_k", "train")},
    script:
        "../scripts/safeguard_eval.py"


rule safeguard_tables:
    input:
        curves=expand(
            layout.SAFEGUARD_CURVE,
            model=layout.safeguard_models(config),
            seed=SEEDS[:1],
            guarded=SAFEGUARD.get("guarded", []),
        ),
        deployments=expand(
            layout.SAFEGUARD_DEPLOYMENT,
            model=layout.safeguard_models(config),
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
        groups=[dict(model=m, guarded=g) for m in layout.safeguard_models(config) for g in SAFEGUARD.get("guarded", [])],
    script:
        "../scripts/safeguard_tables.py"


rule safeguard:
    input:
        rules.safeguard_tables.output if layout.safeguard_models(config) else [],
