"""What a job costs: tokens of work per rule from the config, over GPU throughput scaled by model size.

One model serves the rules' ``resources:`` (runtime requested from SLURM, escalated per attempt) and the
GPU-hours planner. Throughputs are per GPU type in ``cost.gpus``, for a 7B model; a model of P billion
parameters runs 7/P times as fast. Tiny models (``gpus: 0``) run on CPU at ``cost.cpu_tokens_per_s_1m``
(for a 1M-parameter model, scaled the same way).
"""

from __future__ import annotations

from safety_neurons.workflow import layout


def _dataset(config: dict, name: str) -> dict:
    return config["datasets"][name]


PROMPT_TOKENS = 128  # typical prompt length of the safety sets, for teacher-forced passes


def work_tokens(rule: str, config: dict, wildcards: dict) -> dict[str, float]:
    """Tokens a job processes by kind: ``train`` (forward + backward), ``generate`` (decoding steps x batch
    rows) and ``forward`` (teacher-forced tokens)."""
    if rule.endswith("_sets"):  # one job over every set of patching.datasets (sets_per_job: all)
        one = work_tokens(rule.removesuffix("_sets"), config, wildcards)
        return {kind: n * len(config["patching"]["datasets"]) for kind, n in one.items()}
    if rule == "sft":
        hp = layout.training(config, "sft", wildcards["model"])
        d = _dataset(config, hp["dataset"])
        return {"train": hp["epochs"] * d["size_hint"] * d["mean_tokens"]}
    if rule == "dpo":
        hp = layout.training(config, "dpo", wildcards["model"])
        d = _dataset(config, hp["preferences"][wildcards["pref"]])
        tokens = 2 * hp["epochs"] * d["size_hint"] * d["mean_tokens"]  # chosen + rejected
        once = hp["precompute_ref_log_probs"]  # the reference's forward: once, or every epoch
        return {"train": tokens, "forward": tokens / hp["epochs"] if once else tokens}
    if rule == "alignment_check":
        a = config["alignment_check"]
        return {"generate": 3 * 2 * a["n_prompts"] * a["max_new_tokens"]}  # Base, SFT, DPO x two sets
    if rule == "change_scores":
        n = config["neurons"]
        v = n["variants"][wildcards["variant"]]
        new = n["max_new_tokens"] if v["token_type"] == "completion" else 0
        return {"generate": v["n_prompts"] * new, "forward": 2 * v["n_prompts"] * (new + PROMPT_TOKENS)}
    if rule == "baseline_scores":
        v = config["neurons"]["variants"][wildcards["variant"]]
        return {"forward": v["n_prompts"] * min(v["max_length"], 512)}
    if rule == "patched_generation":
        p = config["patching"]
        ks = layout.sweep_keys(config, wildcards["model"], wildcards["source"])
        steps = sum(2 if k or wildcards["source"].endswith("-window") else 1 for k in ks)  # k = 0: M1 alone
        return {"generate": p["n_prompts"] * p["max_new_tokens"] * steps}
    if rule == "stage_generation":
        p = config["patching"]
        return {"generate": p["n_prompts"] * p["max_new_tokens"]}
    if rule == "judge_responses":
        p = config["patching"]
        rows = len(p["ks"]) if wildcards["run"].startswith("patching/") else 1
        return {"forward": rows * p["n_prompts"] * (PROMPT_TOKENS + p["max_new_tokens"])}
    if rule == "cross_patching":
        p, c = config["patching"], config["experiments"]["cross"][wildcards["cross"]]
        steps = 1 + 2 * (len(c["ks"]) + len(c["fractions"]))  # k = 0 runs M1 alone
        return {"generate": p["n_prompts"] * p["max_new_tokens"] * steps}
    if rule in ("safeguard_generation", "safeguard_features"):
        sg = config["experiments"]["safeguard"]
        n = sg["n_train"] if wildcards["dataset"] == sg["train"] else sg["n_test"]
        if rule == "safeguard_features":
            return {"forward": n * PROMPT_TOKENS}
        return {"generate": n * sg["max_new_tokens"]}
    if rule == "general_eval":
        return _general_tokens(config, wildcards)
    if rule == "general_eval_benchmarks":  # every benchmark in one job (benchmarks_per_job: all)
        names = config["evaluation"]["general"]["benchmarks"]
        per = [_general_tokens(config, wildcards | {"benchmark": b}) for b in names]
        return {kind: sum(t[kind] for t in per) for kind in ("forward", "generate")}
    raise KeyError(f"no cost model for rule {rule!r}")


def _general_tokens(config: dict, wildcards: dict) -> dict[str, float]:
    """One benchmark on one row: items x prompt tokens forward (twice when patched: the guide runs too) and
    items x new tokens decoded; items capped by the benchmark's n_items/per_task options."""
    spec = config["evaluation"]["general"]["benchmarks"][wildcards["benchmark"]]
    d, opts = _dataset(config, spec["dataset"]), spec["options"]
    items = d.get("size_hint", 1000)
    if "n_items" in opts:
        items = min(items, opts["n_items"])
    if "per_task" in opts:
        items = min(items, opts["per_task"] * len(opts.get("tasks", [])) or items)
    passes = 1 if wildcards["gsource"] == "none" else 2
    return {
        "forward": passes * items * d.get("mean_tokens", PROMPT_TOKENS),
        "generate": passes * items * opts.get("max_new_tokens", 0),
    }


def _spec(rule: str, config: dict, wildcards: dict) -> dict:
    """The model a job runs: the judge for judge_responses(_sets) (on CPU unless it asks for GPUs), else the
    policy."""
    if rule.startswith("judge_responses"):
        judge = config["judges"][wildcards["judge"]]
        return {"gpus": judge["gpus"], "params_b": judge["params_b"] if judge["kind"] == "beaver" else 1e-4}
    return config["models"][wildcards["model"]]


def estimate_minutes(rule: str, config: dict, wildcards: dict) -> float:
    """Expected wall minutes of one job (without the safety factor)."""
    cost = config["cost"]
    spec = _spec(rule, config, wildcards)
    if spec["gpus"] == 0:
        rates = {kind: r * 1e-3 / spec["params_b"] for kind, r in cost["cpu_tokens_per_s_1m"].items()}
    else:
        rates = {kind: r * 7.0 / spec["params_b"] * spec["gpus"] for kind, r in cost["gpus"][cost["gpu_type"]].items()}
    seconds = sum(tokens / rates[kind] for kind, tokens in work_tokens(rule, config, wildcards).items())
    return cost["overhead_minutes"] + seconds / 60


def runtime_minutes(rule: str, config: dict, wildcards: dict, attempt: int = 1) -> int:
    """Minutes to request: the estimate times the safety factor, times the attempt number on retries."""
    return max(1, round(estimate_minutes(rule, config, wildcards) * config["cost"]["safety_factor"] * attempt))


def mem_mb(config: dict, wildcards: dict, attempt: int = 1) -> int:
    """Host memory to request: the model's ``mem_mb``, grown by half on each retry."""
    return int(config["models"][wildcards["model"]]["mem_mb"] * (1 + 0.5 * (attempt - 1)))
