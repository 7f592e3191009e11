"""config.yaml's dataset loader calls, run on local mirrors laid out as the real hub repositories are.

Every hub entry keeps its ``datasets.load_dataset`` arguments (split, config name, data_dir, data_files); only
the repository id becomes a local directory holding our generated rows in the repository's files and formats
(gzip/xz JSON lines, a JSON array under a .jsonl.gz name, parquet shards, README configs). URL entries keep
their path under a file:// root. Each must give exactly the records of the same rows read from a local file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from safety_neurons.data.loaders import load
from tests.fixtures.mirrors import CONFIG, lines, mirror_files, mirrored, write_mirrors


@pytest.fixture(scope="module")
def files(world, tmp_path_factory) -> dict[str, Path]:
    return mirror_files(world, tmp_path_factory.mktemp("mirror_world"))


@pytest.fixture(scope="module")
def mirrors(files, tmp_path_factory) -> Path:
    return write_mirrors(files, tmp_path_factory.mktemp("hub"))


# config.yaml dataset -> the same rows as local files (roles of the tiny world's files)
LOCAL = {
    "sharegpt": ["sharegpt"],
    "hh_harmless_train": ["hh_harmless_train"],
    "hh_harmless_test_prompts": ["hh_harmless_test"],
    "hh_harmless_train_prompts": ["hh_harmless_train"],
    "hh_helpful_test_prompts": ["hh_helpful_test"],
    "hh_helpful_train": ["hh_helpful_train"],
    "hh_joint_train": ["hh_harmless_train", "hh_helpful_train"],
    "red_team": ["red_team"],
    "beavertails": ["beavertails"],
    "harmbench": ["harmbench"],
    "jailbreak": ["jailbreak"],
    "rb_safety": ["rewardbench"],
    "rb_reasoning": ["rewardbench"],
    "shp": ["shp"],
    "h4_stackexchange": ["h4_stackexchange"],
    "iefeedback": ["iefeedback"],
    "lima": ["lima"],
    "wikitext": ["wikitext"],
    "mmlu": ["mmlu"],
    "gsm8k_test": ["gsm8k_test"],
    "gsm8k_train": ["gsm8k_train"],
    "truthfulqa": ["truthfulqa"],
}


def content(records: list[dict]) -> list[dict]:
    """Records without what names where they were read from (ids and origins carry file names and lines)."""
    return [{k: v for k, v in r.items() if k not in ("id", "origin", "line")} for r in records]


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_config_loader_call_on_the_real_layout_reads_the_rows(name, files, mirrors, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = CONFIG["datasets"][name]
    source = {k: spec[k] for k in ("hub", "url") if k in spec}
    options = spec.get("options", {})
    got = load(spec["kind"], mirrored(source, mirrors), **options)
    want = [r for role in LOCAL[name] for r in load(spec["kind"], {"local": str(files[role])}, **options)]
    assert content(got) == content(want)


def test_bbh_per_task_urls_on_the_real_layout(files, mirrors):
    spec = CONFIG["datasets"]["bbh"]
    tasks = list(dict.fromkeys(r["task"] for r in lines(files["bbh"])))
    got = load("bbh", mirrored({"url": spec["url"]}, mirrors), tasks=tasks)
    want = load("bbh", {"local": str(files["bbh"])})
    assert content(got) == content(want) and len(got) == len(want)


def test_every_hub_and_url_dataset_of_config_yaml_is_mirrored():
    hubs = {n for n, s in CONFIG["datasets"].items() if "hub" in s or "url" in s}
    assert hubs == set(LOCAL) | {"bbh"}  # a new dataset in config.yaml needs its mirror here
