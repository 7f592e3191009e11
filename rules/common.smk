# Config validation (parse time, before any job), the wildcard constraints, and the named input functions of
# the rules. Paths and what each table reads: safety_neurons/workflow/layout.py.
import sys

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from safety_neurons.data.synthetic import WORLD_FILES
from safety_neurons.data.synthetic_benchmarks import BENCHMARK_FILES
from safety_neurons.data.synthetic_preferences import PREFERENCE_FILES
from safety_neurons.workflow import costs, layout
from safety_neurons.workflow.config import ConfigError, check_references, inherit_variants, read_yaml
from safety_neurons.workflow.contracts import Source
from safety_neurons.workflow.layout import alternatives
from safety_neurons.workflow.provenance import code_version

try:
    for path in [*workflow.configfiles, *workflow.overwrite_configfiles]:
        read_yaml(path)  # Snakemake's YAML keeps the last of a duplicated key; ours names it
    inherit_variants(config)
    validate(config, schema="../safety_neurons/workflow/schemas/config.schema.yaml")
    check_references(config)
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None

MODELS = config["active_models"]
SEEDS = config["seeds"]
PREFERENCES = config["dpo"]["preferences"]
VARIANTS = config["neurons"]["variants"]
PATCHING = config["patching"]
EVAL = config["evaluation"]
BENCHMARKS = EVAL["general"]["benchmarks"]
JUDGES = config["judges"]
SAFEGUARD = layout.safeguard(config)
EVAL_PREF = layout.eval_preference(config)  # one guide DPO for the tables (config.py checks)


def models_of(source):
    """The configured models whose base comes from ``source`` (tiny, hub or gguf)."""
    return [m for m, spec in config["models"].items() if spec["source"] == source]


def variants_of(baseline):
    """The neurons variants ranked by change scores (False) or by a baseline (True)."""
    return [v for v in VARIANTS if layout.is_baseline(config, v) == baseline]


def judges_of(kind, among=JUDGES):
    """The judges of one kind (among the given names: all configured judges by default)."""
    return [j for j in among if JUDGES[j]["kind"] == kind]


STAGE_RUNS = ["base", "sft", *(f"dpo_{p}" for p in PREFERENCES)]
CONSTRAINTS = dict(
    model=alternatives(config["models"]),
    seed=r"\d+",
    pref=alternatives(PREFERENCES),
    dataset=alternatives(config["datasets"]),
    variant=alternatives(VARIANTS),
    source=alternatives(layout.all_sources(config)),
    m1="base|sft",
    judge=alternatives(JUDGES),
    stage=alternatives(STAGE_RUNS),
    policy="base|sft|dpo",
    gsource=alternatives(["none", *EVAL["general"]["sources"]]),
    benchmark=alternatives(BENCHMARKS),
    cross=alternatives(config["experiments"]["cross"]),
    guarded="sft|dpo",
)

# The jobs that cover every set of patching.datasets (sets_per_job: all), and their judging.
SETS_CONSTRAINTS = dict(
    m1=alternatives(PATCHING["m1"]),
    source=alternatives(PATCHING["sources"]),
    stage=alternatives([f"dpo_{EVAL_PREF}"]),
)


wildcard_constraints:
    **CONSTRAINTS,
    run=layout.run_pattern(CONSTRAINTS),


# ------------------------------------------------------------------------------- resources of every job


def model_spec(wc):
    return config["models"][wc.model]


def tiny_shape(wc):
    """What a tiny base is built from: its other keys (resources, training settings) leave it as it is."""
    keys = ("architecture", "n_layers", "d_mlp", "d_model", "n_heads", "n_kv_heads", "max_positions")
    return {k: model_spec(wc)[k] for k in keys}


gpus = lookup(dpath="models/{model}/gpus", within=config)  # GPUs of a model's jobs


def runtime(rule_name):
    """Requested minutes of a job from the cost model, multiplied by the attempt number on retries."""
    return lambda wc, attempt: costs.runtime_minutes(rule_name, config, dict(wc.items()), attempt)


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


def cpu_precision(wc):
    """The CPU precision switch of a model's jobs: only CPU models (gpus: 0) see it, so toggling it reruns no GPU
    job (on a GPU every job runs as configured)."""
    return config["cpu_precision"] if model_spec(wc)["gpus"] == 0 else "configured"


def result_params(stage):
    """Input function: a model's settings of a training stage (the top level with its own over it) without the
    run-only ones (changing those reruns nothing), with its CPU precision switch and neuron site."""

    def params(wc):
        hp = layout.training(config, stage, wc.model)
        kept = {k: v for k, v in hp.items() if k not in layout.RUN_ONLY and k != "preferences"}
        return kept | {"cpu_precision": cpu_precision(wc), "neuron_site": model_spec(wc)["neuron_site"]}

    return params


# ---------------------------------------------------------------------------------------- input functions


def data_file(name):
    """The normalized jsonl of a configured dataset."""
    return layout.DATA.format(dataset=name)


def get_local_source(wc):
    """The local file a dataset is read from, so Snakemake builds it first (tiny world); none for hub/url."""
    spec = config["datasets"][wc.dataset]
    return [spec["local"]] if "local" in spec else []


def get_adapters(stage, pref=None):
    """Input function: the adapters of Base, SFT or DPO (``pref``, default the wildcard's)."""
    return lambda wc: layout.adapters(wc.model, wc.seed, stage, pref or getattr(wc, "pref", None))


def get_source_adapters(stage):
    """Input function: M1 or the guide of a patching job, whose DPO is the source variant's preference."""
    return lambda wc: layout.adapters(wc.model, wc.seed, stage, layout.preference(config, wc.source))


def get_pair_adapters(which):
    """Input function: M1 or M2 of a change-score variant (pair sft_vs_dpo -> M1 = SFT, M2 = DPO)."""

    def adapters(wc):
        v = VARIANTS[wc.variant]
        stage = v["pair"].split("_vs_")[0 if which == "m1" else 1]
        return layout.adapters(wc.model, wc.seed, stage, v["preference"])

    return adapters


def get_variant_data(wc):
    return data_file(VARIANTS[wc.variant]["prompts"])


def get_sets(wc):
    return layout.NEURON_SETS.format(model=wc.model, seed=wc.seed, variant=Source.of(wc.source).variant)


def get_judge_files(wc):
    """What a judge needs on disk: a beaver snapshot, a trained classifier, or nothing (refusal)."""
    kind = JUDGES[wc.judge]["kind"]
    if kind == "beaver":
        return [layout.BEAVER_JUDGE.format(judge=wc.judge)]
    if kind == "classifier":
        return [layout.CLASSIFIER_JUDGE.format(judge=wc.judge)]
    return []


def get_general_guide(wc):
    """The guide (DPO) of a patched general-ability row; none for unpatched rows."""
    if wc.gsource == "none":
        return []
    pref = layout.preference(config, wc.gsource)
    return layout.adapters(wc.model, wc.seed, "dpo", pref)


def get_general_sets(wc):
    if wc.gsource == "none":
        return []
    variant = Source.of(wc.gsource).variant
    return [layout.NEURON_SETS.format(model=wc.model, seed=wc.seed, variant=variant)]


def cot_prompts_file(benchmark):
    """BBH's CoT prompts, fetched once per dataset (rule bbh_cot_prompts), not by every job; None otherwise."""
    if benchmark != "bbh" or not isinstance(BENCHMARKS["bbh"]["options"].get("cot_prompts"), str):
        return None
    return layout.COT_PROMPTS.format(dataset=BENCHMARKS["bbh"]["dataset"])


def job_benchmarks(wc):
    """A general_eval job's benchmarks: its {benchmark} wildcard, or every one (rule general_eval_benchmarks)."""
    return [wc.benchmark] if hasattr(wc, "benchmark") else list(BENCHMARKS)


def get_benchmark_files(wc):
    """Input function (unpack): data_{b}, shots_{b} and cot_{b} of each of the job's benchmarks b."""
    files = {}
    for b in job_benchmarks(wc):
        files[f"data_{b}"] = data_file(BENCHMARKS[b]["dataset"])
        if shots := BENCHMARKS[b].get("shots"):
            files[f"shots_{b}"] = data_file(shots)
        if cot := cot_prompts_file(b):
            files[f"cot_{b}"] = cot
    return files


def benchmark_options(wc, benchmark):
    """A benchmark's options, with the model's perplexity BOS rule (shots and fetched CoT prompts are read by
    the script from the job's inputs)."""
    opts = dict(BENCHMARKS[benchmark]["options"])
    if cot_prompts_file(benchmark):
        opts.pop("cot_prompts")
    if benchmark == "ppl":
        opts["force_bos"] = model_spec(wc)["bos_each_window"]
    return opts


def general_params(wc):
    """GeneralEvalParams of a general_eval job (one benchmark, or all of them)."""
    return {
        "benchmarks": {b: benchmark_options(wc, b) for b in job_benchmarks(wc)},
        "k": (layout.source_k(config, wc.model, wc.gsource) if wc.gsource != "none" else 0),
        "batch_size": EVAL["general"]["batch_size"],
        "chat_format": config["chat_format"],
        "dtype": model_spec(wc)["dtype"],
        "cpu_precision": cpu_precision(wc),
        "neuron_site": model_spec(wc)["neuron_site"],
    }


def get_safeguard_files(what):
    """Input function: features or judged responses of every safeguard prompt set of a guarded model."""
    return lambda wc: [
        layout.safeguard_file(config, wc.model, wc.seed, what, wc.guarded, d) for d in layout.safeguard_sets(config)
    ]


def get_safeguard_clf(wc):
    """Features and labels the deployed classifier is fit on (D8: its own, or the SFT model's)."""
    stage = "sft" if SAFEGUARD["clf_source"] == "sft" else wc.guarded
    return [
        layout.safeguard_file(config, wc.model, wc.seed, what, stage, SAFEGUARD["train"])
        for what in ("features", "scored")
    ]


def safeguard_params(wc):
    return {k: SAFEGUARD[k] for k in ("ks", "seeds", "batch_size")} | {
        "d_mlp": model_spec(wc)["d_mlp"],
        "disjoint": config["neurons"]["random_disjoint"],
        "chat_format": config["chat_format"],
        "cpu_precision": cpu_precision(wc),
        "neuron_site": model_spec(wc)["neuron_site"],
    }


def generation_params(section, wc, source, m1):
    """The decoding parameters of a (patched) generation job."""
    return {k: section[k] for k in ("max_new_tokens", "batch_size")} | {
        "chat_format": config["chat_format"],
        "dtype": model_spec(wc)["dtype"],
        "cpu_precision": cpu_precision(wc),
        "neuron_site": model_spec(wc)["neuron_site"],
        "source": source,
        "m1": m1,
    }


def model_params(wc):
    """What a neuron-ranking job knows of its model (checked against the weights on disk)."""
    return {
        "chat_format": config["chat_format"],
        "exclude_layers": model_spec(wc)["exclude_layers"],
        "dtype": model_spec(wc)["dtype"],
        "cpu_precision": cpu_precision(wc),
        "neuron_site": model_spec(wc)["neuron_site"],
        "model": wc.model,
        "n_layers": model_spec(wc)["n_layers"],
        "d_mlp": model_spec(wc)["d_mlp"],
    }


def get_paper_tables(wc):
    """What the paper comparison reads: the core tables, and the experiments' tables that this grid makes."""
    core = rules.tables.output
    tables = dict(table8=core.table8, table1=core.table1, ttest=core.ttest)
    if layout.full_grid(config):
        made = dict(
            table3=rules.cross_tables.output.table3 if layout.cross_entries(config) else None,
            table10=rules.cross_tables.output.table10 if layout.cross_entries(config) else None,
            seeds=rules.seed_robustness.output[0] if len(SEEDS) > 1 else None,
            safeguard=rules.safeguard_tables.output.accuracy if layout.safeguard_models(config) else None,
        )
        tables |= {name: path for name, path in made.items() if path}
    return tables
