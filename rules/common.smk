# Config validation (parse time, before any job), wildcard constraints and helpers shared by all rules.
import sys

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from safety_neurons.config import ConfigError, check_references
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
