"""The workflow config: schema validation with defaults, then the cross-references a schema cannot check.

Every error names the config key, so a bad config fails at parse time, before any GPU time is spent.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

import jsonschema
import yaml

from safety_neurons.data.loaders import KINDS, options_of
from safety_neurons.files import UserError
from safety_neurons.workflow import layout
from safety_neurons.workflow.contracts import Source

SCHEMA_PATH = Path(str(files("safety_neurons.workflow") / "schemas" / "config.schema.yaml"))


class ConfigError(UserError):
    """An invalid config; the message names the offending key."""


@functools.cache
def schema() -> dict:
    """The JSON schema of the config (YAML on disk), parsed once per process with libyaml where PyYAML has it:
    every Snakemake start checks the config (read-only: validators do not modify it)."""
    return yaml.load(SCHEMA_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _with_defaults(validator_class):
    """A validator that fills in ``default`` values while it validates, as Snakemake's validate() does."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(path) -> str:
    """A dotted config key from a jsonschema error path."""
    return ".".join(str(p) for p in path) or "<top level>"


def validate_schema(config: dict) -> None:
    """Check ``config`` against the schema, filling defaults in place; errors name the key."""
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        raise ConfigError(f"config key {_key(e.absolute_path)}: {e.message}")


def _need(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"config key {key}: {msg}")


PREFERENCE_KINDS = {"hh_pairs", "rewardbench", "shp", "h4_stackexchange", "iefeedback"}
PROMPT_KINDS = {"hh_prompts", "red_team", "beavertails", "harmbench", "jailbreak_questions"}
CHAT_KINDS = {"sharegpt", "lima"}
FINDING_KINDS = PROMPT_KINDS | CHAT_KINDS | PREFERENCE_KINDS  # neuron-finding prompts: any user requests (E13)
BENCHMARK_KINDS = {"ppl": "wikitext", "mmlu": "mmlu", "gsm8k": "gsm8k", "bbh": "bbh", "tqa": "truthfulqa_mc1"}


def _name_ok(name: str) -> bool:
    """Names that become path parts and wildcards: letters, digits and '_' only."""
    return name.replace("_", "").isalnum()


def _check_models(config: dict) -> None:
    models = config["models"]
    for i, name in enumerate(config["active_models"]):
        _need(name in models, f"active_models[{i}]", f"unknown model {name!r} (defined: {sorted(models)})")
    for name, m in models.items():
        key = f"models.{name}"
        _need(_name_ok(name), key, "model names use letters, digits and '_' only")
        if m["source"] == "hub":
            _need("hub_id" in m, key, "source 'hub' needs hub_id")
        elif m["source"] == "gguf":
            _need("package" in m, key, "source 'gguf' needs package (the PyPI package shipping the file)")
        else:
            for f in ("d_model", "n_heads", "n_kv_heads", "max_positions"):
                _need(f in m, key, f"source 'tiny' needs {f}")
            _need(
                "tiny_world" in config and "pretrain" in config,
                key,
                "tiny models need the tiny_world and pretrain sections",
            )
        for layer in m["exclude_layers"]:
            _need(layer < m["n_layers"], f"{key}.exclude_layers", f"layer {layer} >= n_layers {m['n_layers']}")


def _check_datasets(datasets: dict) -> None:
    for name, d in datasets.items():
        key = f"datasets.{name}"
        _need(d["kind"] in KINDS, f"{key}.kind", f"unknown kind {d['kind']!r} (known: {sorted(KINDS)})")
        for opt in d["options"]:
            _need(
                opt in options_of(d["kind"]),
                f"{key}.options.{opt}",
                f"kind {d['kind']!r} takes options {options_of(d['kind'])}",
            )


def _check_ref(datasets: dict, key: str, name: str, kinds: set[str], what: str) -> None:
    """A dataset reference: defined, and of a kind that fits its use."""
    _need(name in datasets, key, f"unknown dataset {name!r} (defined: {sorted(datasets)})")
    _need(datasets[name]["kind"] in kinds, key, f"needs a {what} dataset, {name!r} is {datasets[name]['kind']!r}")


def _check_stages(config: dict) -> None:
    datasets, prefs = config["datasets"], config["dpo"]["preferences"]
    _check_ref(datasets, "sft.dataset", config["sft"]["dataset"], CHAT_KINDS, "chat")
    for k, v in prefs.items():
        _need(_name_ok(k), f"dpo.preferences.{k}", "names use letters, digits and '_' only")
        _check_ref(datasets, f"dpo.preferences.{k}", v, PREFERENCE_KINDS, "preference")
    for k in ("harmful", "harmless"):
        _check_ref(datasets, f"alignment_check.{k}", config["alignment_check"][k], PROMPT_KINDS, "prompt")
    pref = config["alignment_check"]["preference"]
    _need(pref in prefs, "alignment_check.preference", f"unknown DPO {pref!r} (dpo.preferences)")
    variants = config["neurons"]["variants"]
    for name, v in variants.items():
        key = f"neurons.variants.{name}"
        _need(_name_ok(name), key, "variant names use letters, digits and '_' only")
        _check_ref(datasets, f"{key}.prompts", v["prompts"], FINDING_KINDS, "prompt, chat or preference")
        _need(v["preference"] in prefs, f"{key}.preference", f"unknown DPO {v['preference']!r} (dpo.preferences)")
    for i, source in enumerate(config["patching"]["sources"]):
        _need(Source.of(source).variant in variants, f"patching.sources[{i}]", f"unknown variant in {source!r}")
    for i, name in enumerate(config["patching"]["datasets"]):
        _check_ref(datasets, f"patching.datasets[{i}]", name, PROMPT_KINDS, "prompt")


def judge_direction(spec: dict) -> str:
    """'cost' or 'reward': a classifier's follows its label (harmful -> cost), other judges' their key."""
    if spec["kind"] == "classifier":
        return "cost" if spec.get("label") == "harmful" else "reward"
    return spec["direction"]


def _check_judges(config: dict) -> None:
    datasets = config["datasets"]
    for name, j in config["judges"].items():
        key = f"judges.{name}"
        _need(_name_ok(name), key, "judge names use letters, digits and '_' only")
        if j["kind"] == "beaver":
            _need("hub_id" in j, key, "kind 'beaver' needs hub_id")
        if j["kind"] == "classifier":
            for f in ("label", "train", "test"):
                _need(f in j, key, f"kind 'classifier' needs {f}")
            for f in ("train", "test"):
                _check_ref(datasets, f"{key}.{f}", j[f], {"labelled_responses"}, "labelled_responses")


def _check_judge_ref(judges: dict, key: str, name: str, cost: bool = False) -> None:
    """A reference to a defined judge; ``cost``: one whose direction is cost (a harm score, as Eq. 4 needs)."""
    _need(name in judges, key, f"unknown judge {name!r} (defined: {sorted(judges)})")
    _need(not cost or judge_direction(judges[name]) == "cost", key, "needs a judge with direction cost")


def _check_evaluation(config: dict) -> None:
    ev, judges, patching = config["evaluation"], config["judges"], config["patching"]
    _check_judge_ref(judges, "evaluation.cost_judge", ev["cost_judge"], cost=True)
    for i, name in enumerate(ev["extra_judges"]):
        _check_judge_ref(judges, f"evaluation.extra_judges[{i}]", name)
    if isinstance(ev["table_k"], int):
        _need(ev["table_k"] in patching["ks"], "evaluation.table_k", f"{ev['table_k']} is not in patching.ks")
    _need(0 in patching["ks"], "patching.ks", "needs 0: the unpatched M1 of every table and curve")
    _need(ev["figure_dataset"] in patching["datasets"], "evaluation.figure_dataset", "must be one of patching.datasets")
    variants = config["neurons"]["variants"]
    sources = [*patching["sources"], *ev["general"]["sources"]]
    for i, source in enumerate(ev["general"]["sources"]):
        _need(
            Source.of(source).variant in variants, f"evaluation.general.sources[{i}]", f"unknown variant in {source!r}"
        )
    prefs = {variants[Source.of(s).variant]["preference"] for s in sources}
    _need(
        len(prefs) == 1, "evaluation.general.sources", f"patched rows need one guide DPO, sources use {sorted(prefs)}"
    )
    for b, spec in ev["general"]["benchmarks"].items():
        key = f"evaluation.general.benchmarks.{b}"
        _check_ref(config["datasets"], f"{key}.dataset", spec["dataset"], {BENCHMARK_KINDS[b]}, BENCHMARK_KINDS[b])
        if "shots" in spec:
            _check_ref(config["datasets"], f"{key}.shots", spec["shots"], {BENCHMARK_KINDS[b]}, BENCHMARK_KINDS[b])
        _check_benchmark_options(key, b, spec)


SUPPLIED = {"shots": "the `shots` dataset", "force_bos": "the model's `bos_each_window`"}


def _check_benchmark_options(key: str, name: str, spec: dict) -> None:
    """Options a benchmark takes; `shots` and `force_bos` come from other keys; required ones present."""
    import inspect

    from safety_neurons.evaluation.ability import (
        options_of,  # imports torch: only configs that define benchmarks pay for it
    )

    allowed = options_of(name)
    for opt in spec["options"]:
        _need(opt not in SUPPLIED, f"{key}.options.{opt}", f"set by {SUPPLIED.get(opt)}, not here")
        _need(
            opt in allowed,
            f"{key}.options.{opt}",
            f"benchmark {name!r} takes options {sorted(set(allowed) - set(SUPPLIED))}",
        )
    for opt, default in allowed.items():
        given = opt in spec["options"] or (opt == "shots" and "shots" in spec) or opt == "force_bos"
        _need(
            given or default is not inspect.Parameter.empty,
            f"{key}.options",
            f"benchmark {name!r} needs option {opt!r}",
        )


def _check_experiments(config: dict) -> None:
    ex, variants, prefs = config["experiments"], config["neurons"]["variants"], config["dpo"]["preferences"]
    models, datasets, judges = config["models"], config["datasets"], config["judges"]

    def variant(key: str, name: str) -> None:
        _need(name in variants, key, f"unknown variant {name!r} (neurons.variants: {sorted(variants)})")

    for i, source in enumerate(ex["curves"]["sources"]):
        variant(f"experiments.curves.sources[{i}]", Source.of(source).variant)
    if "windows" in ex:
        variant("experiments.windows.variant", ex["windows"]["variant"])
    if "safeguard" in ex:
        sg = ex["safeguard"]
        for i, d in enumerate([sg["train"], *sg["tests"]]):
            _check_ref(
                datasets, f"experiments.safeguard.{'train' if i == 0 else f'tests[{i - 1}]'}", d, PROMPT_KINDS, "prompt"
            )
        _need(sg["deploy_k"] in sg["ks"], "experiments.safeguard.deploy_k", "must be one of experiments.safeguard.ks")
        if "judge" in sg:
            _check_judge_ref(judges, "experiments.safeguard.judge", sg["judge"], cost=True)
    for section in ("value_vectors", "preferences", "curves", "windows", "safeguard"):
        for i, m in enumerate(ex.get(section, {}).get("models", [])):
            _need(m in models, f"experiments.{section}.models[{i}]", f"unknown model {m!r}")
    for m in ex.get("safeguard", {}).get("models", []):
        k, d_mlp = max(ex["safeguard"]["ks"]), models[m]["d_mlp"]
        why = f"k = {k} > d_mlp = {d_mlp} of {m!r} (RN-Last draws k from one layer)"
        _need(k <= d_mlp, "experiments.safeguard.ks", why)
    for i, v in enumerate(ex["preferences"]["variants"]):
        variant(f"experiments.preferences.variants[{i}]", v)
    for name, c in ex["cross"].items():
        key = f"experiments.cross.{name}"
        _need(_name_ok(name), key, "names use letters, digits and '_' only")
        _need(c["ks"] or c["fractions"], key, "needs ks or fractions (the patched set sizes)")
        for i, m in enumerate(c["models"]):
            _need(m in models, f"{key}.models[{i}]", f"unknown model {m!r}")
        for f in ("m1", "guide"):
            _need(c[f] in prefs, f"{key}.{f}", f"unknown DPO {c[f]!r} (dpo.preferences: {sorted(prefs)})")
        for i, v in enumerate(c["variants"]):
            variant(f"{key}.variants[{i}]", v)
        for i, d in enumerate(c["datasets"]):
            _check_ref(datasets, f"{key}.datasets[{i}]", d, PROMPT_KINDS, "prompt")
        for i, j in enumerate(c["judges"]):
            _check_judge_ref(judges, f"{key}.judges[{i}]", j)


def _check_cost(config: dict) -> None:
    cost, datasets = config["cost"], config["datasets"]
    _need(cost["gpu_type"] in cost["gpus"], "cost.gpu_type", f"no throughputs for {cost['gpu_type']!r} in cost.gpus")
    for name in [config["sft"]["dataset"], *config["dpo"]["preferences"].values()]:
        for f in ("size_hint", "mean_tokens"):
            _need(f in datasets[name], f"datasets.{name}.{f}", "needed by the cost model (a training dataset)")


def _check_sizes(config: dict) -> None:
    """Every k a run patches fits every model that patches it (a larger k is never clamped silently)."""
    models = config["models"]
    for name in config["active_models"]:
        m = models[name]
        n, key = layout.ranked_neurons(m), f"models.{name}"
        _need(n > 0, f"{key}.exclude_layers", f"excludes every one of its {m['n_layers']} layers: nothing to rank")
        asked = [("patching.ks", k) for k in config["patching"]["ks"]]
        k = layout.table_k(config, name)
        _need(k >= 1, "evaluation.table_k", f"{config['evaluation']['table_k']} of model {name!r} is no neuron")
        asked += [("evaluation.table_k", k)]
        if len(config["seeds"]) > 1:
            asked += [("experiments.seeds.k", config["experiments"]["seeds"]["k"])]
        asked += [
            (f"experiments.cross.{c}.ks", k)
            for c, spec in config["experiments"]["cross"].items()
            if name in spec["models"]
            for k in spec["ks"]
        ]
        for where, k in asked:
            _need(k <= n, where, f"k = {k} exceeds the {n} ranked neurons of model {name!r}")


SHARED_TRAINING = ("dataset", "preferences")  # what every model trains on: set in the top-level sections only


def _check_losses(hp: dict, key: str) -> None:
    """As many loss weights as losses (trl would fail on it inside the job)."""
    weights, losses = hp.get("loss_weights"), hp.get("loss_type", [])
    if weights is not None:
        _need(len(weights) == len(losses), key, f"{len(weights)} weights for {len(losses)} losses {losses}")


def _check_model_training(config: dict, name: str, stage: str, validator) -> None:
    """A model's own training keys: none of the shared ones, and the section they make valid."""
    own, key = config["models"][name][stage], f"models.{name}.{stage}"
    for shared in SHARED_TRAINING:
        _need(shared not in own, f"{key}.{shared}", f"every model trains on the data of the top-level {stage}")
    hp = layout.training(config, stage, name)
    for e in validator.iter_errors(hp):
        raise ConfigError(f"config key {_key(['models', name, stage, *e.absolute_path])}: {e.message}")
    _check_losses(hp, f"{key}.loss_weights")


def _check_training(config: dict) -> None:
    """Settings that would fail only inside a training job (after hours of SFT on the paper grid)."""
    for stage in layout.TRAINING_STAGES:
        _check_losses(config[stage], f"{stage}.loss_weights")
    own = [(name, stage) for name, m in config["models"].items() for stage in layout.TRAINING_STAGES if stage in m]
    if own:  # the schema of a training section, to check each model's merged one
        validator = jsonschema.Draft202012Validator({"$defs": schema()["$defs"], "$ref": "#/$defs/train_hp"})
        for name, stage in own:
            _check_model_training(config, name, stage, validator)
    for name, m in config["models"].items():
        if m["source"] == "tiny":
            key = f"models.{name}"
            _need(m["n_heads"] % m["n_kv_heads"] == 0, f"{key}.n_kv_heads", "must divide n_heads")
            _need(m["d_model"] % m["n_heads"] == 0, f"{key}.n_heads", "must divide d_model")


def check_references(config: dict) -> None:
    """Cross-references a schema cannot express: models, datasets and their kinds, stages, sizes, cost model."""
    _check_models(config)
    _check_sizes(config)
    _check_training(config)
    _check_datasets(config["datasets"])
    _check_stages(config)
    _check_judges(config)
    _check_evaluation(config)
    _check_experiments(config)
    _check_cost(config)


def inherit_variants(config: dict) -> None:
    """Neuron-finding variants take every setting they do not name from ``main`` (in place, before the schema
    fills defaults), so a variant is written as its difference from the paper's default."""
    variants = config.get("neurons", {}).get("variants", {})
    main = variants.get("main")
    if isinstance(main, dict):
        for name, v in variants.items():
            if isinstance(v, dict) and name != "main" and v.get("method", "change_scores") == "change_scores":
                variants[name] = {k: x for k, x in main.items() if k != "method"} | v


def validate(config: dict) -> dict:
    """Fill variants from ``main``, validate in place (defaults filled) and return the config."""
    inherit_variants(config)
    validate_schema(config)
    check_references(config)
    return config


def merge(base: dict, update: dict) -> dict:
    """Snakemake's config merge: nested dicts merge by key, anything else is replaced."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where PyYAML has it
    """YAML that refuses a key given twice in one mapping (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        self.flatten_mapping(node)  # resolve `<<` merge keys first: they are not duplicates
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict:
    """One config file, strictly: a syntax error or a duplicate key names the file and line."""
    try:
        return yaml.load(Path(path).read_text(), Loader=_StrictLoader) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: {getattr(e, 'problem', None) or e}") from None


def load(*paths: str | Path) -> dict:
    """Merge YAML config files in order (as ``configfile:`` then ``--configfile``) and validate."""
    config: dict = {}
    for p in paths:
        config = merge(config, read_yaml(p))
    return validate(config)
