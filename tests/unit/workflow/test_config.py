"""Config validation: the shipped configs pass; bad configs fail with a message that names the key."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from safety_neurons.workflow import config
from safety_neurons.workflow.config import ConfigError
from tests.conftest import REPO, offline_env

PAPER = yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_configs_validate():
    paper = config.load(REPO / "config.yaml")
    assert paper["active_models"] == ["llama2", "mistral", "gemma", "qwen25"]
    assert paper["models"]["llama2"]["d_mlp"] == 11008 and paper["dpo"]["beta"] == 0.1
    assert paper["sft"]["per_device_batch"] * paper["sft"]["grad_accum"] == 120
    tiny = config.load(REPO / "config.yaml", REPO / "configs" / "tiny.yaml")
    assert [tiny["models"][m]["architecture"] for m in tiny["active_models"]] == [
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "GemmaForCausalLM",
        "Qwen2ForCausalLM",
    ]


def set_key(cfg: dict, dotted: str, value) -> dict:
    cfg = copy.deepcopy(cfg)
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = value
    return cfg


BAD = [
    ("unknown top-level key", "sftt", {"lr": 1}, "'sftt' was unexpected"),
    ("unknown nested key", "sft.learning_rate", 0.1, "sft: Additional properties"),
    ("wrong type", "sft.lr", "fast", "config key sft.lr: 'fast' is not of type 'number'"),
    ("out of range", "dpo.beta", -0.1, "config key dpo.beta"),
    ("bad enum", "chat_format", "chatml", "config key chat_format"),
    ("unknown model", "active_models", ["llama3"], "config key active_models[0]: unknown model 'llama3'"),
    ("unknown dataset", "sft.dataset", "sharegtp", "config key sft.dataset: unknown dataset 'sharegtp'"),
    ("prompt data for SFT", "sft.dataset", "red_team", "config key sft.dataset: needs a chat dataset"),
    ("unknown variant", "patching.sources", ["mian-top"], "config key patching.sources[0]: unknown variant"),
    ("unknown DPO of a variant", "neurons.variants.main.preference", "hh", "neurons.variants.main.preference"),
    ("missing cost hint", "datasets.sharegpt.size_hint", None, "config key datasets.sharegpt.size_hint"),
    ("layer out of range", "models.gemma.exclude_layers", [28], "config key models.gemma.exclude_layers"),
    ("unknown loader kind", "datasets.red_team.kind", "redteam", "config key datasets.red_team.kind"),
    ("unknown preference dataset", "dpo.preferences", {"hh_harmless": "nope"}, "dpo.preferences.hh_harmless"),
    ("chat data for DPO", "dpo.preferences", {"x": "sharegpt"}, "needs a preference dataset"),
    ("two sources", "datasets.harmbench.local", "x.csv", "config key datasets.harmbench"),
    ("table k not swept", "evaluation.table_k", 123, "config key evaluation.table_k: 123 is not in patching.ks"),
    ("unknown cost judge", "evaluation.cost_judge", "gpt4", "config key evaluation.cost_judge: unknown judge"),
    ("reward judge as cost", "evaluation.cost_judge", "beaver_reward", "needs a judge with direction cost"),
    ("figure set not patched", "evaluation.figure_dataset", "mmlu", "config key evaluation.figure_dataset"),
    ("beaver hub id", "judges.beaver_cost.hub_id", "beaver", "config key judges.beaver_cost.hub_id"),
    (
        "classifier on prompts",
        "judges.refusal",
        {"kind": "classifier", "label": "harmful", "train": "red_team", "test": "red_team"},
        "judges.refusal.train: needs a labelled",
    ),
    (
        "benchmark on wrong data",
        "evaluation.general.benchmarks.mmlu.dataset",
        "gsm8k_test",
        "config key evaluation.general.benchmarks.mmlu.dataset: needs a mmlu dataset",
    ),
    (
        "unknown benchmark option",
        "evaluation.general.benchmarks.ppl.options",
        {"windw": 8},
        "config key evaluation.general.benchmarks.ppl.options.windw",
    ),
    (
        "option set elsewhere",
        "evaluation.general.benchmarks.ppl.options",
        {"force_bos": True},
        "set by the model's `bos_each_window`",
    ),
    (
        "missing cot prompts",
        "evaluation.general.benchmarks.bbh.options",
        {"per_task": 3},
        "benchmark 'bbh' needs option 'cot_prompts'",
    ),
    ("unknown benchmark", "evaluation.general.benchmarks.humaneval", {"dataset": "mmlu"}, "humaneval"),
    ("bad loader option", "datasets.red_team.options", {"invert_labels": True}, "datasets.red_team.options"),
    (
        "safeguard judge",
        "experiments.safeguard.judge",
        "beaver_reward",
        "experiments.safeguard.judge: needs a judge with direction cost",
    ),
    ("safeguard k > layer", "experiments.safeguard.ks", [1500, 20000], "k = 20000 > d_mlp = 11008 of 'llama2'"),
]


@pytest.mark.parametrize("what,key,value,message", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(what, key, value, message):
    with pytest.raises(ConfigError) as err:
        config.validate(set_key(PAPER, key, value))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "text,message",
    [
        ("sft: {dataset: sharegtp}\n", "sft.dataset: unknown dataset 'sharegtp'"),  # cross-check
        ("sft: {lr: fast}\n", "On instance['sft']['lr']"),  # schema, through Snakemake's validate()
    ],
)
def test_snakemake_rejects_bad_config_at_parse_time(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = dry_run("--configfile", str(bad))
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def dry_run(*args: str) -> subprocess.CompletedProcess:
    """``snakemake -n`` in the repo with no network: planning must never reach a hub."""
    cmd = [sys.executable, "-m", "snakemake", "-n", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=offline_env())


def test_training_dataset_without_cost_hints_is_rejected():
    cfg = copy.deepcopy(PAPER)
    del cfg["datasets"]["hh_harmless_train"]["mean_tokens"]
    with pytest.raises(ConfigError, match="config key datasets.hh_harmless_train.mean_tokens: needed by the cost"):
        config.validate(cfg)


@pytest.mark.parametrize("judge", ["beaver_cost", "refusal"])
def test_safeguard_labels_come_from_the_safeguard_judge(tmp_path, judge):
    """experiments.safeguard.judge picks whose scores label the guarded model's responses (default: the cost
    judge); the dry run of the safeguard target asks for exactly that judge's score files."""
    extra = tmp_path / "sg.yaml"
    extra.write_text(f"active_models: [llama2]\nexperiments: {{safeguard: {{judge: {judge}}}}}\n")
    proc = dry_run("--configfile", str(extra), "--", "safeguard")
    assert proc.returncode == 0, proc.stderr
    labelled = {line.split("/scores/")[1].split("/")[0] for line in proc.stdout.split() if "/scores/" in line}
    assert labelled == {judge}


def test_the_slurm_profile_is_found_by_name_from_the_repository_root():
    """`snakemake --profile slurm`, as a cluster user types it: the root's `slurm` link to profiles/slurm (one
    target: the profile on the whole paper grid is test_plan's)."""
    proc = dry_run(
        "--profile", "slurm", "--configfile", "configs/tiny.yaml", "--quiet", "rules", "--", "resources/tiny/tokenizer"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Using profile slurm" in proc.stdout + proc.stderr
