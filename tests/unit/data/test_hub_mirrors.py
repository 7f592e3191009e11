"""config.yaml's dataset loader calls, run on local mirrors laid out as the real hub repositories are.

Every hub entry keeps its ``datasets.load_dataset`` arguments (split, config name, data_dir, data_files); only
the repository id becomes a local directory holding our generated rows in the repository's files and formats
(gzip/xz JSON lines, a JSON array under a .jsonl.gz name, parquet shards, README configs). URL entries keep
their path under a file:// root. Each must give exactly the records of the same rows read from a local file.
"""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import pandas as pd
import pytest

from safety_neurons.data.loaders import load
from safety_neurons.data.synthetic import TinyWorld
from safety_neurons.data.synthetic_benchmarks import BENCHMARK_FILES, write_benchmarks
from safety_neurons.data.synthetic_preferences import PREFERENCE_FILES, write_preferences
from safety_neurons.workflow.config import load as load_config
from tests.conftest import REPO, SMALL_SIZES, TINY

CONFIG = load_config(REPO / "config.yaml")
URL_ROOT = "https://raw.githubusercontent.com/"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame.from_records(rows).to_parquet(path, index=False)


def readme(repo: Path, configs: dict[str, dict[str, str]]) -> None:
    """A dataset card whose YAML header declares the configs and their split files, as the real cards do."""
    head = ["---", "configs:"]
    for name, splits in configs.items():
        head += [f"- config_name: {name}", "  data_files:"]
        head += [f"  - split: {split}\n    path: {pattern}" for split, pattern in splits.items()]
    write(repo / "README.md", ("\n".join([*head, "---", "# mirror", ""])).encode())


@pytest.fixture(scope="module")
def files(world, tmp_path_factory) -> dict[str, Path]:
    """The tiny world's files, its benchmark and preference equivalents included."""
    d, w = tmp_path_factory.mktemp("mirror_world"), TINY["tiny_world"]
    tiny = TinyWorld(w["seed"], SMALL_SIZES, w["rates"], w["heldout_fraction"])
    extra = {role: d / name for role, name in (BENCHMARK_FILES | PREFERENCE_FILES).items()}
    write_benchmarks({r: extra[r] for r in BENCHMARK_FILES}, tiny, 5)
    write_preferences({r: extra[r] for r in PREFERENCE_FILES}, tiny, 6, 60)
    subsets = [s for n in ("rb_safety", "rb_reasoning") for s in CONFIG["datasets"][n]["options"]["subsets"]]
    rb = lines(extra["rewardbench"])  # every subset config.yaml asks for (the tiny world has four of them)
    extra["rewardbench"].write_bytes(jsonl([r | {"subset": s} for s in subsets for r in rb[:3]]))
    shp = lines(extra["shp"])  # grouped by domain, in the order datasets lists the domains' directories
    extra["shp"].write_bytes(jsonl(sorted(shp, key=lambda r: r["domain"])))
    lima = d / "lima.jsonl"
    lima.write_bytes(
        jsonl([{"conversations": [r["prompt"], "ok."], "source": "mirror"} for r in lines(world["beavertails"])])
    )
    return {**world, **extra, "lima": lima}


@pytest.fixture(scope="module")
def mirrors(files, tmp_path_factory) -> Path:
    """Every hub repository and URL of config.yaml, laid out as the real one, under one root."""
    root = tmp_path_factory.mktemp("hub")
    share = json.loads(files["sharegpt"].read_text())
    sg = root / "anon8231489123/ShareGPT_Vicuna_unfiltered/HTML_cleaned_raw_dataset"
    write(sg / "sg_90k_part1_html_cleaned.json", json.dumps(share[: len(share) // 2]).encode())
    write(sg / "sg_90k_part2_html_cleaned.json", json.dumps(share[len(share) // 2 :]).encode())
    hh = root / "Anthropic/hh-rlhf"
    for d, split, role in [
        ("harmless-base", "train", "hh_harmless_train"),
        ("harmless-base", "test", "hh_harmless_test"),
        ("helpful-base", "train", "hh_helpful_train"),
        ("helpful-base", "test", "hh_helpful_test"),
        ("helpful-online", "train", "hh_helpful_test"),  # another data_dir that must not leak in
    ]:
        write(hh / d / f"{split}.jsonl.gz", gzip.compress(files[role].read_bytes()))
    write(hh / "red-team-attempts/red_team_attempts.jsonl.gz", gzip.compress(files["red_team"].read_bytes()))
    bt = root / "PKU-Alignment/BeaverTails"
    readme(
        bt, {"default": {s: f"round0/{s.replace('_', '/')}.jsonl.xz" for s in ("330k_train", "330k_test", "30k_test")}}
    )
    for split in ("330k_train", "330k_test", "30k_test"):
        write(bt / f"round0/{split.replace('_', '/')}.jsonl.xz", lzma.compress(files["beavertails"].read_bytes()))
    rb = root / "allenai/reward-bench"
    readme(rb, {"default": {"raw": "data/raw-*", "filtered": "data/filtered-*"}})
    for split in ("raw", "filtered"):
        parquet(rb / f"data/{split}-00000-of-00001.parquet", lines(files["rewardbench"]))
    shp = root / "stanfordnlp/shp"
    for domain, rows in pd.DataFrame(lines(files["shp"])).groupby("domain", sort=False):
        for split in ("train", "validation"):
            write(shp / domain.removesuffix("_train") / f"{split}.json", jsonl(rows.to_dict("records")))
    write(
        root / "prhegde/preference-data-math-stack-exchange/math_stack_exchange.json",
        files["h4_stackexchange"].read_bytes(),
    )
    write(root / "academic-datasets/IEFeedback/IEFeedback_OpenSource_Dataset.json", files["iefeedback"].read_bytes())
    write(root / "GAIR/lima/train.jsonl", files["lima"].read_bytes())
    write(root / "GAIR/lima/test.jsonl", files["lima"].read_bytes())
    for repo, config, splits in [
        ("Salesforce/wikitext", "wikitext-2-raw-v1", {"test": "wikitext"}),
        ("cais/mmlu", "all", {"test": "mmlu"}),
        ("openai/gsm8k", "main", {"train": "gsm8k_train", "test": "gsm8k_test"}),
        ("truthfulqa/truthful_qa", "multiple_choice", {"validation": "truthfulqa"}),
    ]:
        readme(root / repo, {config: {s: f"{config}/{s}-*" for s in splits}, "other": {"test": "other/test-*"}})
        for split, role in splits.items():
            parquet(root / repo / config / f"{split}-00000-of-00001.parquet", lines(files[role]))
        parquet(root / repo / "other/test-00000-of-00001.parquet", [{"unrelated": 1}])
    for name, role in [
        ("centerforaisafety/HarmBench/main/data/behavior_datasets/harmbench_behaviors_text_all.csv", "harmbench"),
        ("verazuo/jailbreak_llms/main/data/questions.csv", "jailbreak"),
    ]:
        write(root / name, files[role].read_bytes())
    bbh = pd.DataFrame(lines(files["bbh"]))
    for task, rows in bbh.groupby("task", sort=False):
        examples = rows.drop(columns="task").to_dict("records")
        write(root / f"suzgunmirac/BIG-Bench-Hard/main/bbh/{task}.json", json.dumps({"examples": examples}).encode())
    return root


def mirrored(source: dict, root: Path) -> dict:
    """The config's source with its hub id (or URL host) replaced by the mirror directory."""
    if "hub" in source:
        return {"hub": source["hub"] | {"path": str(root / source["hub"]["path"])}}
    return {"url": source["url"].replace(URL_ROOT, f"file://{root}/")}


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
