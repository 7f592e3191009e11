# Judged safety generations: the guide (DPO) and unpatched stages generate on the evaluation prompts, every
# generation file (patched sweeps included) is scored by each configured judge once.


rule download_judge:
    output:
        directory(layout.BEAVER_JUDGE),
    log:
        "logs/download_judge/{judge}.log",
    wildcard_constraints:
        judge=alternatives(judges_of("beaver")),
    cache: "omit-software"
    conda:
        "../envs/torch.yaml"
    params:
        code=code("download_judge"),
        hub_id=lambda wc: JUDGES[wc.judge]["hub_id"],
        revision=lambda wc: JUDGES[wc.judge]["revision"],
    script:
        "../scripts/download_judge.py"


rule train_judge:
    input:
        train=lambda wc: data_file(JUDGES[wc.judge]["train"]),
        test=lambda wc: data_file(JUDGES[wc.judge]["test"]),
    output:
        model=ensure(layout.CLASSIFIER_JUDGE, non_empty=True),
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
        judge=alternatives(judges_of("classifier")),
    conda:
        "../envs/torch.yaml"
    params:
        code=code("train_judge"),
        label=lambda wc: JUDGES[wc.judge]["label"],
    script:
        "../scripts/train_judge.py"


rule stage_generation:
    input:
        base=layout.BASE,
        adapters=lambda wc: layout.adapters(wc.model, wc.seed, *layout.stage_pref(wc.stage)),
        prompts=layout.PROMPTS,
    output:
        ensure(layout.STAGE_GENERATED, non_empty=True),
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
        p=lambda wc: generation_params(PATCHING, wc, "none", wc.stage),
    script:
        "../scripts/stage_generation.py"


rule stage_generation_sets:
    input:
        base=layout.BASE,
        adapters=lambda wc: layout.adapters(wc.model, wc.seed, *layout.stage_pref(wc.stage)),
        prompts=expand(layout.PROMPTS, dataset=PATCHING["datasets"]),
    output:
        [
            ensure(f, non_empty=True)
            for f in expand(layout.STAGE_GENERATED, dataset=PATCHING["datasets"], allow_missing=True)
        ],
    log:
        "logs/stage_generation/{model}_s{seed}_{stage}_all_sets.log",
    benchmark:
        "benchmarks/stage_generation/{model}_s{seed}_{stage}_all_sets.tsv"
    wildcard_constraints:
        stage=SETS_CONSTRAINTS["stage"],
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=gpus,
        runtime=runtime("stage_generation_sets"),
        mem_mb=memory,
    params:
        code=code("stage_generation"),
        p=lambda wc: generation_params(PATCHING, wc, "none", wc.stage),
    script:
        "../scripts/stage_generation.py"


if PATCHING["sets_per_job"] == "all":

    ruleorder: stage_generation_sets > stage_generation

else:

    ruleorder: stage_generation > stage_generation_sets


rule judge_responses:
    input:
        responses=layout.GENERATED,
        judge=get_judge_files,
    output:
        ensure(layout.SCORED, non_empty=True),
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


rule judge_responses_sets:
    input:
        responses=expand(layout.GENERATED, dataset=PATCHING["datasets"], allow_missing=True),
        judge=get_judge_files,
    output:
        [ensure(f, non_empty=True) for f in expand(layout.SCORED, dataset=PATCHING["datasets"], allow_missing=True)],
    log:
        "logs/judge_responses/{model}_s{seed}_{judge}/{run}/all_sets.log",
    benchmark:
        "benchmarks/judge_responses/{model}_s{seed}_{judge}/{run}/all_sets.tsv"
    wildcard_constraints:
        run=layout.run_pattern(SETS_CONSTRAINTS, kinds=("patching", "generations")),  # one job wrote every set
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=lambda wc: JUDGES[wc.judge]["gpus"],
        runtime=runtime("judge_responses_sets"),
        mem_mb=lambda wc: JUDGES[wc.judge]["mem_mb"],
    params:
        code=code("judge_responses"),
        spec=lambda wc: JUDGES[wc.judge],
    script:
        "../scripts/judge_responses.py"


if PATCHING["sets_per_job"] == "all":

    ruleorder: judge_responses_sets > judge_responses

else:

    ruleorder: judge_responses > judge_responses_sets
