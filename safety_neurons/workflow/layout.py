"""Where every output lives, and which files each table and figure reads: plain functions of the config.

The path templates below are the workflow's directory layout, written once: rules use them with Snakemake's
wildcards (``{model}``, ``{seed}`` …), the manifests fill them in. Which rows make Table 1/8, which curves make
Fig. 2, the curves, windows and cross tables is decided here (``eval_rows``, ``source_k``, ``*_manifest``),
so it is tested without Snakemake. Nothing here imports torch: the Snakefile reads this module at parse time.
"""

from __future__ import annotations

import itertools
import re

from safety_neurons.neurons.sizes import top_fraction_k
from safety_neurons.workflow.contracts import Source

# Resources: built or fetched once, shared by every run.
BASE = "resources/base/{model}"
DATA = "resources/data/{dataset}.jsonl"
COT_PROMPTS = "resources/data/{dataset}.cot_prompts.json"
PROMPTS = "resources/prompts/{dataset}.jsonl"
SAFEGUARD_PROMPTS = "resources/safeguard/{dataset}.jsonl"
BEAVER_JUDGE = "resources/judges/beaver/{judge}"
CLASSIFIER_JUDGE = "resources/judges/classifier/{judge}.json"

# One model trained with one seed: results/{model}/s{seed}/…
RUN = "results/{model}/s{seed}"
SFT = RUN + "/sft/adapter_model.safetensors"  # beside it: adapter_config.json, adapter_metrics.json
DPO = RUN + "/dpo_{pref}/adapter_model.safetensors"
ALIGNMENT = RUN + "/alignment_check.json"
NEURON_SCORES = RUN + "/neurons/{variant}/scores.safetensors"  # change scores, or a baseline's (Wanda, SN-Tune)
NEURON_SUMMARY = RUN + "/neurons/{variant}/summary.json"
NEURON_SETS = RUN + "/neurons/{variant}/sets.json"
MAIN_SCORES = NEURON_SCORES.replace("{variant}", "main")  # the main variant's: safeguard, seeds, Fig. 5, Table 9
GENERAL = RUN + "/general/{policy}/{gsource}/{benchmark}.json"
SAFEGUARD_FEATURES = RUN + "/safeguard/{guarded}/features/{dataset}.npz"
SAFEGUARD_CURVE = RUN + "/safeguard/{guarded}/accuracy.csv"
SAFEGUARD_DEPLOYMENT = RUN + "/safeguard/{guarded}/deployment.csv"

# Generation files ("runs" of a model x seed): every one is judged by each judge into SCORED.
RUNS = {
    "patching": "patching/{m1}/{source}",
    "generations": "generations/{stage}",
    "cross": "cross/{cross}",
    "safeguard": "safeguard/{guarded}/generations",
}
GENERATED = RUN + "/{run}/{dataset}.jsonl"
SCORED = RUN + "/scores/{judge}/{run}/{dataset}.jsonl"
PATCHED, STAGE_GENERATED, CROSS_GENERATED, SAFEGUARD_GENERATED = (
    GENERATED.replace("{run}", RUNS[kind]) for kind in ("patching", "generations", "cross", "safeguard")
)

STAGES = ("base", "sft", "dpo")


def alternatives(names) -> str:
    """A wildcard constraint matching exactly these names (nothing when there are none)."""
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


def run_pattern(constraints: dict[str, str], kinds: tuple[str, ...] = tuple(RUNS)) -> str:
    """The ``run`` wildcard's regex: each RUNS template (of these kinds) with its wildcards replaced by their
    constraints."""
    return "|".join(re.sub(r"\{(\w+)\}", lambda m: f"(?:{constraints[m.group(1)]})", RUNS[k]) for k in kinds)


def scored(model: str, seed: int | str, judge: str, run: str, dataset: str) -> str:
    """A judged generation file."""
    return SCORED.format(model=model, seed=seed, judge=judge, run=run, dataset=dataset)


def patching_run(m1: str, source: Source | str) -> str:
    return RUNS["patching"].format(m1=m1, source=source)


def generation_run(stage: str) -> str:
    return RUNS["generations"].format(stage=stage)


def adapters(model: str, seed: int | str, stage: str, pref: str | None) -> list[str]:
    """Adapter files, in stacking order, that make a base model into Base, SFT or the ``pref`` DPO."""
    sft = SFT.format(model=model, seed=seed)
    return {"base": [], "sft": [sft], "dpo": [sft, DPO.format(model=model, seed=seed, pref=pref)]}[stage]


def stage_pref(stage: str) -> tuple[str, str | None]:
    """('dpo', pref) for a 'dpo_{pref}' generation stage, (stage, None) for base and sft."""
    return ("dpo", stage[4:]) if stage.startswith("dpo_") else (stage, None)


# ------------------------------------------------------------------------------------ neuron sources and k


def preference(config: dict, source: Source | str) -> str:
    """The preference (which DPO is the guide) of a neuron source's variant."""
    return config["neurons"]["variants"][Source.of(source).variant]["preference"]


def guide_stage(config: dict, source: Source | str) -> str:
    """The generation stage of a source's guide: ``dpo_{pref}``."""
    return f"dpo_{preference(config, source)}"


def eval_preference(config: dict) -> str:
    """The guide DPO's preference for the tables and general rows: that of the first patching source."""
    return preference(config, config["patching"]["sources"][0])


def windows(config: dict) -> dict | None:
    return config["experiments"].get("windows")


def all_sources(config: dict) -> list[str]:
    """Every neuron source some rule patches with (tables, general rows, curves, windows), in order."""
    w = windows(config)
    return list(
        dict.fromkeys(
            config["patching"]["sources"]
            + config["evaluation"]["general"]["sources"]
            + config["experiments"]["curves"]["sources"]
            + ([str(Source(w["variant"], "window"))] if w else [])
        )
    )


def window_params(config: dict, variant: str) -> dict | None:
    """The sliding-window settings when ``variant`` is the windows experiment's, else None."""
    w = windows(config)
    return w if w and variant == w["variant"] else None


def is_baseline(config: dict, variant: str) -> bool:
    return config["neurons"]["variants"][variant]["method"] != "change_scores"


TRAINING_STAGES = ("sft", "dpo")
RUN_ONLY = ("logging_steps", "save_steps")  # how a training stage runs, not what it makes: reruns nothing


def training(config: dict, stage: str, model: str) -> dict:
    """A model's settings of a training stage ('sft' or 'dpo'): the top-level section with the model's own
    ``models.{model}.{stage}`` keys over it (architectures may need their own recipe; the data stays shared)."""
    return config[stage] | config["models"][model].get(stage, {})


def table_k(config: dict, model: str) -> int:
    """k of "Ours" in a model's tables: evaluation.table_k as given (the authors' 20,000), or, written as a
    percentage ("5%", the paper's wording), that share of the model's ranked neurons."""
    k = config["evaluation"]["table_k"]
    if isinstance(k, int):
        return k
    spec = config["models"][model]
    return top_fraction_k("global", ranked_layers(spec), spec["d_mlp"], float(k.rstrip("%")) / 100)


def patching_ks(config: dict, model: str) -> list[int]:
    """The k a model's sweeps patch: patching.ks, and its table k where a percentage put it outside them."""
    ks, k = config["patching"]["ks"], table_k(config, model)
    return ks if k in ks else sorted([*ks, k])


def source_k(config: dict, model: str, source: Source | str) -> int:
    """k of a source's patched rows in Tables 1/8: a baseline's top fraction (E3: 5%; per layer for Wanda),
    else the table k (``table_k``: the authors' 20,000 for "Ours")."""
    variant = Source.of(source).variant
    if not is_baseline(config, variant):
        return table_k(config, model)
    v, spec = config["neurons"]["variants"][variant], config["models"][model]
    return top_fraction_k(v["ranking"], ranked_layers(spec), spec["d_mlp"], v["top_fraction"])


def sweep_keys(config: dict, model: str, source: Source | str) -> list[int]:
    """What a patching job sweeps: window starts for a window source, 0 and the top fraction for a baseline
    (E3: its top 5%), else the model's patching ks."""
    source = Source.of(source)
    if source.kind == "window":
        return windows(config)["starts"]
    if is_baseline(config, source.variant):
        return [0, source_k(config, model, source)]
    return patching_ks(config, model)


def set_sizes(config: dict, model: str, variant: str) -> list[int]:
    """The k of every set a variant's sets.json holds: the patching sweep plus a baseline's top fraction."""
    ks = set(patching_ks(config, model))
    if is_baseline(config, variant):
        ks.add(source_k(config, model, Source(variant, "top")))
    return sorted(ks)


# -------------------------------------------------------------------------------- tables and figures (main)


def eval_rows(config: dict) -> list[tuple[str, str | None]]:
    """Table rows: unpatched M1 (Base, SFT), then M1 patched at each source (row ids: reporting.tables)."""
    p = config["patching"]
    return [(m1, None) for m1 in p["m1"]] + [(m1, s) for m1 in p["m1"] for s in p["sources"]]


def score_judges(config: dict) -> list[str]:
    """The judges that score every generation file: the cost judge first."""
    return [config["evaluation"]["cost_judge"], *config["evaluation"]["extra_judges"]]


def safety_manifest(config: dict) -> list[dict]:
    """Every judged safety file of the tables (main seed): unpatched M1 = k 0 of its first patching file."""
    out, seed, p = [], config["seeds"][0], config["patching"]
    guide = guide_stage(config, p["sources"][0])
    for model, judge, dataset in itertools.product(config["active_models"], score_judges(config), p["datasets"]):
        base = dict(model=model, seed=seed, judge=judge, dataset=dataset)
        for m1, source in eval_rows(config):
            out.append(
                base
                | dict(
                    row=m1 if source is None else f"{m1}+{source}",
                    k=source_k(config, model, source) if source else 0,
                    path=scored(model, seed, judge, patching_run(m1, source or p["sources"][0]), dataset),
                )
            )
        out.append(base | dict(row="dpo", k=0, path=scored(model, seed, judge, generation_run(guide), dataset)))
    return out


def full_grid(config: dict) -> bool:
    """Whether rule all builds the whole grid (``grid: full``) or only the core tables and figures."""
    return config.get("grid", "full") == "full"


def benchmarks(config: dict) -> dict[str, dict]:
    """The general benchmarks of Table 8: none in the core grid."""
    return config["evaluation"]["general"]["benchmarks"] if full_grid(config) else {}


def general_manifest(config: dict) -> list[dict]:
    """Every general-ability result of Table 8 (main seed)."""
    m1s, seed = config["patching"]["m1"], config["seeds"][0]
    general = config["evaluation"]["general"]
    rows = [(m1, "none") for m1 in m1s] + [("dpo", "none")] + [(m1, s) for m1 in m1s for s in general["sources"]]
    return [
        dict(
            model=model,
            seed=seed,
            row=m1 if s == "none" else f"{m1}+{s}",
            benchmark=b,
            path=GENERAL.format(model=model, seed=seed, policy=m1, gsource=s, benchmark=b),
        )
        for model, (m1, s), b in itertools.product(config["active_models"], rows, benchmarks(config))
    ]


def top_random_pairs(config: dict) -> list[tuple[str, str]]:
    """(variant-top, variant-random) source pairs present in patching.sources."""
    sources = config["patching"]["sources"]
    pairs = [(s, str(Source(Source.of(s).variant, "random"))) for s in sources if Source.of(s).kind == "top"]
    return [(top, rnd) for top, rnd in pairs if rnd in sources]


def ttest_manifest(config: dict) -> list[dict]:
    """Safety vs random neurons at table_k, per model x M1 x set (paired t-test on per-prompt costs)."""
    seed, judge, p = config["seeds"][0], config["evaluation"]["cost_judge"], config["patching"]
    return [
        dict(
            model=model,
            seed=seed,
            m1=m1,
            dataset=d,
            k=table_k(config, model),
            top=scored(model, seed, judge, patching_run(m1, top), d),
            random=scored(model, seed, judge, patching_run(m1, rnd), d),
            guide=scored(model, seed, judge, generation_run(guide_stage(config, top)), d),
            n_neurons=ranked_neurons(config["models"][model]),
        )
        for model, m1, d, (top, rnd) in itertools.product(
            config["active_models"], p["m1"], p["datasets"], top_random_pairs(config)
        )
    ]


def ranked_layers(spec: dict) -> int:
    """How many layers a model's rankings cover (``spec``: its config entry): those not excluded."""
    return spec["n_layers"] - len(set(spec["exclude_layers"]))


def ranked_neurons(spec: dict) -> int:
    """How many neurons a model's rankings hold: d_mlp in every ranked layer."""
    return ranked_layers(spec) * spec["d_mlp"]


def _curve(config: dict, model: str, seed: int, m1: str, source: str, kind: str) -> dict:
    """One C-vs-k curve on evaluation.figure_dataset: the patched sweep and its guide's own generations."""
    judge, d = config["evaluation"]["cost_judge"], config["evaluation"]["figure_dataset"]
    return dict(
        n_neurons=ranked_neurons(config["models"][model]),
        model=model,
        seed=seed,
        m1=m1,
        kind=kind,
        dataset=d,
        path=scored(model, seed, judge, patching_run(m1, source), d),
        guide_path=scored(model, seed, judge, generation_run(guide_stage(config, source)), d),
    )


def fig2_manifest(config: dict) -> list[dict]:
    """C-vs-k curves for every model x seed x M1 x top/random source (Fig. 2)."""
    sources = [s for pair in top_random_pairs(config) for s in pair]
    return [
        _curve(config, model, seed, m1, s, Source.of(s).kind)
        for model, seed, m1, s in itertools.product(
            config["active_models"], config["seeds"], config["patching"]["m1"], sources
        )
    ]


# ------------------------------------------------------------------------------------ experiments (E4-E14)


def _taking_part(config: dict, models: list[str]) -> list[str]:
    return [m for m in models if m in config["active_models"]]


def curve_models(config: dict) -> list[str]:
    return _taking_part(config, config["experiments"]["curves"].get("models", config["active_models"]))


def window_models(config: dict) -> list[str]:
    return _taking_part(config, (windows(config) or {}).get("models", config["active_models"]))


def value_vector_models(config: dict) -> list[str]:
    return _taking_part(config, config["experiments"]["value_vectors"]["models"])


def preference_models(config: dict) -> list[str]:
    return _taking_part(config, config["experiments"]["preferences"]["models"])


def cross_entries(config: dict) -> dict[str, dict]:
    """The cross-patching entries (E7-E9) with at least one active model."""
    return {n: c for n, c in config["experiments"]["cross"].items() if _taking_part(config, c["models"])}


def curves_manifest(config: dict) -> list[dict]:
    """C vs k of every curves source (E13/E14), main seed; the main top-k source is the reference line."""
    sources = dict.fromkeys([config["patching"]["sources"][0], *config["experiments"]["curves"]["sources"]])
    return [
        _curve(config, model, config["seeds"][0], m1, s, s)
        for model, m1, s in itertools.product(curve_models(config), config["experiments"]["curves"]["m1"], sources)
    ]


def windows_manifest(config: dict) -> list[dict]:
    """C vs window start (E12); the unpatched M1 is k = 0 of the variant's top-k sweep."""
    w = windows(config)
    if not w:
        return []
    top, window = Source(w["variant"], "top"), Source(w["variant"], "window")
    out = []
    for model, m1 in itertools.product(window_models(config), w["m1"]):
        curve = _curve(config, model, config["seeds"][0], m1, str(window), "window")
        unpatched = _curve(config, model, config["seeds"][0], m1, str(top), "top")["path"]
        out.append({k: v for k, v in curve.items() if k != "kind"} | dict(width=w["width"], unpatched_path=unpatched))
    return out


def cross_manifest(config: dict) -> list[dict]:
    """Every judged cross-patching file (E7-E9) with the guide DPO's own judged generations."""
    seed = config["seeds"][0]
    return [
        dict(
            name=name,
            model=model,
            seed=seed,
            dataset=d,
            judge=judge,
            m1=c["m1"],
            guide=c["guide"],
            path=scored(model, seed, judge, RUNS["cross"].format(cross=name), d),
            guide_path=scored(model, seed, judge, generation_run(f"dpo_{c['guide']}"), d),
        )
        for name, c in cross_entries(config).items()
        for model, d, judge in itertools.product(_taking_part(config, c["models"]), c["datasets"], c["judges"])
    ]


# ----------------------------------------------------------------------------------------- safeguard (E10)


def safeguard(config: dict) -> dict:
    return config["experiments"].get("safeguard", {})


def safeguard_models(config: dict) -> list[str]:
    return _taking_part(config, safeguard(config).get("models", []))


def safeguard_sets(config: dict) -> list[str]:
    """The safeguard's prompt sets: the training set first, then the test sets."""
    s = safeguard(config)
    return [s["train"], *s["tests"]] if s else []


def safeguard_judge(config: dict) -> str:
    return safeguard(config).get("judge", config["evaluation"]["cost_judge"])


def safeguard_file(config: dict, model: str, seed: int | str, what: str, guarded: str, dataset: str) -> str:
    """A safeguard prompt file's features (.npz) or its judged responses (safeguard judge)."""
    if what == "features":
        return SAFEGUARD_FEATURES.format(model=model, seed=seed, guarded=guarded, dataset=dataset)
    run = RUNS["safeguard"].format(guarded=guarded)
    return scored(model, seed, safeguard_judge(config), run, dataset)


def paper_names(config: dict) -> dict:
    """How the run names what the paper names (reporting.paper.RunNames): base hub ids, the tables' datasets'
    loader kinds, every variant's method, the tables' k, each judge's direction, Table 10's two DPOs."""
    return dict(
        hub_ids={m: config["models"][m].get("hub_id") for m in config["active_models"]},
        kinds={d: config["datasets"][d]["kind"] for d in config["patching"]["datasets"]},
        methods={v: spec["method"] for v, spec in config["neurons"]["variants"].items()},
        table_k=config["evaluation"]["table_k"],
        judges={j: spec.get("direction", "") for j, spec in config["judges"].items()},
        joint=[joint["m1"], joint["guide"]] if (joint := cross_entries(config).get("joint_hh")) else None,
    )
