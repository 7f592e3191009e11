# Config validation (parse time, before any job), wildcard constraints and helpers shared by all rules.
import itertools
import sys

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from safety_neurons import costs
from safety_neurons.baselines import top_fraction_k
from safety_neurons.config import ConfigError, check_references, inherit_variants
from safety_neurons.provenance import code_version
from safety_neurons.data.synthetic import WORLD_FILES
from safety_neurons.data.synthetic_benchmarks import BENCHMARK_FILES
from safety_neurons.data.synthetic_preferences import PREFERENCE_FILES

inherit_variants(config)
validate(config, schema="../safety_neurons/schemas/config.schema.yaml")
try:
    check_references(config)
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None

MODELS = config["active_models"]
SEEDS = config["seeds"]
PREFERENCES = config["dpo"]["preferences"]
TINY_MODELS = [m for m, spec in config["models"].items() if spec["source"] == "tiny"]
HUB_MODELS = [m for m, spec in config["models"].items() if spec["source"] == "hub"]
GGUF_MODELS = [m for m, spec in config["models"].items() if spec["source"] == "gguf"]


def alternatives(names):
    """A wildcard constraint matching exactly these names (nothing when the list is empty)."""
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    model=alternatives(config["models"]),
    seed=r"\d+",
    pref=alternatives(PREFERENCES),
    dataset=alternatives(config["datasets"]),


def model_spec(wc):
    return config["models"][wc.model]


def dataset_file(name):
    """The normalized jsonl of a configured dataset."""
    return f"resources/data/{name}.jsonl"


def local_source(wc):
    """The local file a dataset is read from, so Snakemake builds it first (tiny world); none for hub/url."""
    spec = config["datasets"][wc.dataset]
    return [spec["local"]] if "local" in spec else []


def gpus(wc):
    return config["models"][wc.model]["gpus"]


VARIANTS = config["neurons"]["variants"]
CHANGE_VARIANTS = [v for v, s in VARIANTS.items() if s["method"] == "change_scores"]
BASELINE_VARIANTS = [v for v, s in VARIANTS.items() if s["method"] != "change_scores"]
PATCHING = config["patching"]
EXP = config["experiments"]
WINDOWS = EXP.get("windows")
WINDOW_SOURCE = [f"{WINDOWS['variant']}-window"] if WINDOWS else []
ALL_SOURCES = list(
    dict.fromkeys(
        PATCHING["sources"]
        + config["evaluation"]["general"]["sources"]
        + EXP["curves"]["sources"]
        + WINDOW_SOURCE
    )
)


wildcard_constraints:
    variant=alternatives(VARIANTS),
    source=alternatives(ALL_SOURCES),
    m1="base|sft",


def sft_adapter(model, seed):
    return f"results/{model}/s{seed}/sft/adapter_model.safetensors"


def dpo_adapter(model, seed, pref):
    return f"results/{model}/s{seed}/dpo_{pref}/adapter_model.safetensors"


def stage_adapters(model, seed, stage, pref):
    """Adapter files (in stacking order) that make a base model into Base, SFT or DPO."""
    return {
        "base": [],
        "sft": [sft_adapter(model, seed)],
        "dpo": [sft_adapter(model, seed), dpo_adapter(model, seed, pref)],
    }[stage]


def pair_adapters(wc, which):
    """Adapters of M1 or M2 of a change-score variant (pair sft_vs_dpo -> M1 = SFT, M2 = DPO)."""
    v = VARIANTS[wc.variant]
    stage = v["pair"].split("_vs_")[0 if which == "m1" else 1]
    return stage_adapters(wc.model, wc.seed, stage, v["preference"])


def variant_of(source):
    return source.rsplit("-", 1)[0]


def window_params(variant):
    """The sliding-window settings when ``variant`` is the windows experiment's, else None."""
    return WINDOWS if WINDOWS and variant == WINDOWS["variant"] else None


def sweep_keys(model, source):
    """What a patching job sweeps: window starts for a '-window' source, 0 and the top fraction for a
    baseline (E3: its top 5%), else patching.ks."""
    if source.endswith("-window"):
        return WINDOWS["starts"]
    if VARIANTS[variant_of(source)]["method"] != "change_scores":
        return [0, source_k(model, source)]
    return PATCHING["ks"]


def source_k(model, source):
    """k of a source's patched rows in Tables 1/8: a baseline's top fraction (E3: 5%; per-layer for Wanda),
    else evaluation.table_k (the paper's 20,000 for "Ours")."""
    v, spec = VARIANTS[variant_of(source)], config["models"][model]
    if v["method"] == "change_scores":
        return EVAL["table_k"]
    ranked_layers = spec["n_layers"] - len(set(spec["exclude_layers"]))
    return top_fraction_k(v["ranking"], ranked_layers, spec["d_mlp"], v["top_fraction"])


def set_sizes(wc):
    """The k of every set a variant's sets.json holds: the patching sweep plus a baseline's top fraction."""
    ks = list(PATCHING["ks"])
    if VARIANTS[wc.variant]["method"] != "change_scores":
        ks.append(source_k(wc.model, f"{wc.variant}-top"))
    return sorted(set(ks))


def runtime(rule_name):
    """Requested minutes of a job from the cost model, multiplied by the attempt number on retries."""
    return lambda wc, attempt: costs.runtime_minutes(
        rule_name, config, dict(wc.items()), attempt
    )


def memory(wc, attempt):
    return costs.mem_mb(config, dict(wc.items()), attempt)


def code(script):
    """The version of a stage's code (script + the package modules it imports), watched by the params
    trigger; `track_code: false` in the config turns it off."""
    if not config["track_code"]:
        return "untracked"
    return code_version(f"{workflow.basedir}/scripts/{script}.py", workflow.basedir)


def trained(files):
    """Trained adapters: write-protected when `protect_checkpoints` is set, so a retrain fails loudly."""
    return protected(files) if config["protect_checkpoints"] else files


RUN_ONLY = (
    "logging_steps",
    "save_steps",
)  # how a stage runs, not what it makes: kept out of params


def result_params(section):
    """A training section without its run-only settings, so changing those reruns nothing."""
    return {
        k: v for k, v in section.items() if k not in RUN_ONLY and k != "preferences"
    }


# Evaluation: judges, the guide's preference, general benchmarks, and the manifests of the tables/figures.
JUDGES = config["judges"]
BEAVER_JUDGES = [j for j, s in JUDGES.items() if s["kind"] == "beaver"]
CLASSIFIER_JUDGES = [j for j, s in JUDGES.items() if s["kind"] == "classifier"]
EVAL = config["evaluation"]
SCORE_JUDGES = [EVAL["cost_judge"], *EVAL["extra_judges"]]
GENERAL = EVAL["general"]
BENCHMARKS = GENERAL["benchmarks"]
EVAL_PREF = VARIANTS[variant_of(PATCHING["sources"][0])][
    "preference"
]  # one guide DPO (config.py checks)
GUIDE = f"dpo_{EVAL_PREF}"


wildcard_constraints:
    judge=alternatives(JUDGES),
    stage=alternatives(["base", "sft", *(f"dpo_{p}" for p in PREFERENCES)]),
    run=r"patching/(base|sft)/[A-Za-z0-9_]+-(top|random|window)|generations/(base|sft|dpo_[A-Za-z0-9_]+)|cross/[A-Za-z0-9_]+|safeguard/(sft|dpo)/generations",
    policy="base|sft|dpo",
    gsource=alternatives(["none", *GENERAL["sources"]]),
    benchmark=alternatives(BENCHMARKS),


def stage_pref(stage):
    """('dpo', pref) for a 'dpo_{pref}' generation stage, (stage, None) for base and sft."""
    return ("dpo", stage[4:]) if stage.startswith("dpo_") else (stage, None)


def judge_files(wc):
    """What a judge needs on disk: a beaver snapshot, a trained classifier, or nothing (refusal)."""
    kind = JUDGES[wc.judge]["kind"]
    if kind == "beaver":
        return [f"resources/judges/beaver/{wc.judge}"]
    if kind == "classifier":
        return [f"resources/judges/classifier/{wc.judge}.joblib"]
    return []


def guide_adapters(wc):
    """The guide (DPO) of a patched general-ability row; none for unpatched rows."""
    if wc.gsource == "none":
        return []
    return stage_adapters(
        wc.model, wc.seed, "dpo", VARIANTS[variant_of(wc.gsource)]["preference"]
    )


def general_sets(wc):
    if wc.gsource == "none":
        return []
    return [f"results/{wc.model}/s{wc.seed}/neurons/{variant_of(wc.gsource)}/sets.json"]


def benchmark_shots(wc):
    shots = BENCHMARKS[wc.benchmark].get("shots")
    return [dataset_file(shots)] if shots else []


def benchmark_cot(wc):
    """BBH's CoT prompts, fetched once per dataset (rule bbh_cot_prompts), not by every job."""
    if wc.benchmark != "bbh" or not isinstance(
        BENCHMARKS["bbh"]["options"].get("cot_prompts"), str
    ):
        return []
    return [f"resources/data/{BENCHMARKS['bbh']['dataset']}.cot_prompts.json"]


def benchmark_options(wc):
    """A benchmark's options, with the model's perplexity BOS rule (shots and fetched CoT prompts are read by
    the script)."""
    opts = dict(BENCHMARKS[wc.benchmark]["options"])
    if benchmark_cot(wc):
        opts.pop("cot_prompts")
    if wc.benchmark == "ppl":
        opts["force_bos"] = model_spec(wc)["bos_each_window"]
    return opts


def eval_rows():
    """Table rows: unpatched Base, SFT and the guide, then M1 patched at each source (row ids: tables.py)."""
    return [(m1, None) for m1 in PATCHING["m1"]] + [
        (m1, s) for m1 in PATCHING["m1"] for s in PATCHING["sources"]
    ]


def safety_manifest():
    """Every judged safety file of the tables (main seed): unpatched M1 = k 0 of its first patching file."""
    out, seed = [], SEEDS[0]
    for model, judge, dataset in itertools.product(
        MODELS, SCORE_JUDGES, PATCHING["datasets"]
    ):
        base = dict(model=model, seed=seed, judge=judge, dataset=dataset)
        scores = f"results/{model}/s{seed}/scores/{judge}"
        for m1, source in eval_rows():
            run = f"patching/{m1}/{source or PATCHING['sources'][0]}"
            row = m1 if source is None else f"{m1}+{source}"
            out.append(
                base
                | dict(
                    row=row,
                    k=source_k(model, source) if source else 0,
                    path=f"{scores}/{run}/{dataset}.jsonl",
                )
            )
        out.append(
            base
            | dict(row="dpo", k=0, path=f"{scores}/generations/{GUIDE}/{dataset}.jsonl")
        )
    return out


def general_manifest():
    """Every general-ability result of Table 8 (main seed)."""
    rows = [(m1, "none") for m1 in PATCHING["m1"]] + [("dpo", "none")]
    rows += [(m1, s) for m1 in PATCHING["m1"] for s in GENERAL["sources"]]
    seed = SEEDS[0]
    return [
        dict(
            model=model,
            seed=seed,
            row=m1 if s == "none" else f"{m1}+{s}",
            benchmark=b,
            path=f"results/{model}/s{seed}/general/{m1}/{s}/{b}.json",
        )
        for model, (m1, s), b in itertools.product(MODELS, rows, BENCHMARKS)
    ]


def top_random_pairs():
    """(variant-top, variant-random) source pairs present in patching.sources."""
    srcs = PATCHING["sources"]
    return [
        (s, s[: -len("top")] + "random")
        for s in srcs
        if s.endswith("-top") and s[: -len("top")] + "random" in srcs
    ]


def ttest_manifest():
    """Safety vs random neurons at table_k, per model x M1 x set (paired t-test on per-prompt costs)."""
    seed, judge = SEEDS[0], EVAL["cost_judge"]
    return [
        dict(
            model=model,
            seed=seed,
            m1=m1,
            dataset=d,
            k=EVAL["table_k"],
            top=f"results/{model}/s{seed}/scores/{judge}/patching/{m1}/{top}/{d}.jsonl",
            random=f"results/{model}/s{seed}/scores/{judge}/patching/{m1}/{rnd}/{d}.jsonl",
        )
        for model, m1, d, (top, rnd) in itertools.product(
            MODELS, PATCHING["m1"], PATCHING["datasets"], top_random_pairs()
        )
    ]


def fig2_manifest():
    """C-vs-k curves on evaluation.figure_dataset for every model x seed x M1 x neuron source."""
    judge, d = EVAL["cost_judge"], EVAL["figure_dataset"]
    return [
        dict(
            model=model,
            seed=seed,
            m1=m1,
            kind=source.rsplit("-", 1)[1],
            dataset=d,
            path=f"results/{model}/s{seed}/scores/{judge}/patching/{m1}/{source}/{d}.jsonl",
            guide_path=f"results/{model}/s{seed}/scores/{judge}/generations/{GUIDE}/{d}.jsonl",
        )
        for model, seed, m1, source in itertools.product(
            MODELS,
            SEEDS,
            PATCHING["m1"],
            [s for pair in top_random_pairs() for s in pair],
        )
    ]


# Experiments (E4-E14): which models take part, and the manifests of their tables and figures.
VV_MODELS = [m for m in EXP["value_vectors"]["models"] if m in MODELS]
CURVE_MODELS = [m for m in EXP["curves"].get("models", MODELS) if m in MODELS]
WINDOW_MODELS = [m for m in (WINDOWS or {}).get("models", MODELS) if m in MODELS]
PREF_MODELS = [m for m in EXP["preferences"]["models"] if m in MODELS]
CROSS = {
    name: c for name, c in EXP["cross"].items() if any(m in MODELS for m in c["models"])
}


wildcard_constraints:
    cross=alternatives(EXP["cross"]),


def guide_scores(model, seed, source, dataset, judge):
    """The guide (the variant's DPO) on the same prompts, scored: the denominator of Eq. 4."""
    pref = VARIANTS[variant_of(source)]["preference"]
    return (
        f"results/{model}/s{seed}/scores/{judge}/generations/dpo_{pref}/{dataset}.jsonl"
    )


def curves_manifest():
    """C vs k of every curves source (E13/E14) on the figure set, main seed; one line per source, with the
    main top-k source as the reference line."""
    judge, d, seed = EVAL["cost_judge"], EVAL["figure_dataset"], SEEDS[0]
    return [
        dict(
            model=model,
            seed=seed,
            m1=m1,
            kind=source,
            dataset=d,
            path=f"results/{model}/s{seed}/scores/{judge}/patching/{m1}/{source}/{d}.jsonl",
            guide_path=guide_scores(model, seed, source, d, judge),
        )
        for model, m1, source in itertools.product(
            CURVE_MODELS,
            EXP["curves"]["m1"],
            dict.fromkeys([PATCHING["sources"][0], *EXP["curves"]["sources"]]),
        )
    ]


def windows_manifest():
    """C vs window start (E12); the unpatched M1 is k = 0 of the variant's top-k sweep."""
    if not WINDOWS:
        return []
    judge, d, seed, v = (
        EVAL["cost_judge"],
        EVAL["figure_dataset"],
        SEEDS[0],
        WINDOWS["variant"],
    )
    scores = (
        lambda model, m1, s: f"results/{model}/s{seed}/scores/{judge}/patching/{m1}/{v}-{s}/{d}.jsonl"
    )
    return [
        dict(
            model=model,
            seed=seed,
            m1=m1,
            dataset=d,
            width=WINDOWS["width"],
            path=scores(model, m1, "window"),
            unpatched_path=scores(model, m1, "top"),
            guide_path=guide_scores(model, seed, f"{v}-top", d, judge),
        )
        for model, m1 in itertools.product(WINDOW_MODELS, WINDOWS["m1"])
    ]


def cross_manifest():
    """Every judged cross-patching file (E7-E9) with the guide DPO's own judged generations."""
    seed = SEEDS[0]
    return [
        dict(
            name=name,
            model=model,
            seed=seed,
            dataset=d,
            judge=judge,
            m1=c["m1"],
            guide=c["guide"],
            path=f"results/{model}/s{seed}/scores/{judge}/cross/{name}/{d}.jsonl",
            guide_path=f"results/{model}/s{seed}/scores/{judge}/generations/dpo_{c['guide']}/{d}.jsonl",
        )
        for name, c in CROSS.items()
        for model, d, judge in itertools.product(
            [m for m in c["models"] if m in MODELS], c["datasets"], c["judges"]
        )
    ]


# Safeguard (E10)
SAFEGUARD = EXP.get("safeguard", {})
SAFEGUARD_MODELS = [m for m in SAFEGUARD.get("models", []) if m in MODELS]
SAFEGUARD_SETS = [SAFEGUARD["train"], *SAFEGUARD["tests"]] if SAFEGUARD else []
SAFEGUARD_JUDGE = SAFEGUARD.get("judge", EVAL["cost_judge"])


wildcard_constraints:
    guarded="sft|dpo",


def safeguard_file(wc, what, guarded, dataset):
    """A safeguard prompt file's features (.npz) or its judged responses (safeguard judge)."""
    root = f"results/{wc.model}/s{wc.seed}"
    if what == "features":
        return f"{root}/safeguard/{guarded}/features/{dataset}.npz"
    return f"{root}/scores/{SAFEGUARD_JUDGE}/safeguard/{guarded}/generations/{dataset}.jsonl"


def safeguard_files(wc, what, guarded):
    return [safeguard_file(wc, what, guarded, d) for d in SAFEGUARD_SETS]


def clf_stage(wc):
    """Whose training activations the deployed classifier is fit on (D8: own, or the SFT model's)."""
    return "sft" if SAFEGUARD["clf_source"] == "sft" else wc.guarded


def safeguard_params(wc):
    return {k: SAFEGUARD[k] for k in ("ks", "seeds", "batch_size")} | {
        "d_mlp": model_spec(wc)["d_mlp"],
        "disjoint": config["neurons"]["random_disjoint"],
        "chat_format": config["chat_format"],
    }
