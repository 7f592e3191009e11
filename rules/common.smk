# Config validation (parse time, before any job), wildcard constraints and helpers shared by all rules.
import sys

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from safety_neurons import costs
from safety_neurons.config import ConfigError, check_references
from safety_neurons.provenance import code_version
from safety_neurons.data.synthetic import WORLD_FILES

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
PATCHING = config["patching"]


wildcard_constraints:
    variant=alternatives(VARIANTS),
    source=alternatives(PATCHING["sources"]),
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
