"""The paper grid's road, end to end through Snakemake on CPU (``pytest -m paper_paths``; CI runs it after
``make test``).

config.yaml with tests/configs/paper_paths.yaml on top: the models come from a Hugging Face cache under their hub
ids with the hub switched off (HF_HUB_OFFLINE=1), as on a compute node; every dataset is read with config.yaml's
own load_dataset or URL call from a mirror in the real repository's layout; SFT and DPO run in bf16 with
activation checkpointing and pure sigmoid DPO; the beaver judge scores in bf16; the general benchmarks run with
the paper's protocols. A sweep's generation and judging cover every prompt set in one job, a row's evaluation
every benchmark (tiny jobs are mostly start-up; the per-set and per-benchmark rules run in the SLURM test).
Llama-2 runs to Tables 1/8, the headline and the paper comparison; Mistral, Gemma and Qwen2.5 (tiny bases of the
same classes, bfloat16 as published) then run what depends on the architecture: download, training, the
alignment check, change scores and patched generation.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from safety_neurons.models.loading import load_base
from tests.conftest import LOCAL, REPO, copy_workflow
from tests.fixtures.mirrors import (
    CONFIG,
    URL_ROOT,
    hub_cache,
    mirror_files,
    mirrored_datasets,
    write_beaver,
    write_mirrors,
)

pytestmark = [pytest.mark.slow, pytest.mark.paper_paths]
TARGETS = ["results/tables/table8.csv", "results/tables/paper_comparison.csv", "results/tables/headline.txt"]
OTHERS = {"mistral": "tiny_mistral", "gemma": "tiny_gemma", "qwen25": "tiny_qwen2"}  # paper model: tiny base
PUBLISHED = {"llama2": torch.float16} | dict.fromkeys(OTHERS, torch.bfloat16)  # the checkpoints' config.json
RED_TEAM = CONFIG["patching"]["datasets"][0]
BF16_TRAINING = {"device": "cpu", "dtype": "bfloat16", "bf16_mixed": True, "activation_checkpointing": True}


def run(wd: Path, env: dict, overlays: list[str], targets: list[str]) -> None:
    """Snakemake on config.yaml with the paper-path overlays, offline, to ``targets``."""
    configs = ["--configfile", "tests/configs/paper_paths.yaml", "tests/configs/mirrors.yaml", *overlays]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *LOCAL, *configs, "--", *targets],
        cwd=wd,
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def offline(llama_base, bases, tokenizer_dir, world, tmp_path_factory) -> tuple[Path, dict]:
    """A workflow copy and the environment of a compute node: hub ids served by a filled cache, hub off."""
    root = tmp_path_factory.mktemp("paper_paths")
    cache = root / "hub"
    tiny_bases = {"llama2": llama_base} | {model: bases[tiny] for model, tiny in OTHERS.items()}
    for model, base in tiny_bases.items():
        saved = root / model  # as published: float16 (Llama-2) or bfloat16 weights; dtype auto keeps them
        load_base(base).to(PUBLISHED[model]).save_pretrained(saved)
        files = {f.name: f for f in saved.iterdir()} | {f.name: f for f in base.glob("*token*")}
        hub_cache(cache, CONFIG["models"][model]["hub_id"], files)
    beaver = write_beaver(root / "beaver", tokenizer_dir)
    hub_cache(cache, CONFIG["judges"]["beaver_cost"]["hub_id"], {f.name: f for f in beaver.iterdir()})
    mirrors = write_mirrors(mirror_files(world, root / "files"), root / "mirrors")
    (root / "wd").mkdir()
    wd = copy_workflow(root / "wd")
    shutil.copy2(REPO / "tests" / "configs" / "paper_paths.yaml", wd / "tests" / "configs" / "paper_paths.yaml")
    cot = CONFIG["evaluation"]["general"]["benchmarks"]["bbh"]["options"]["cot_prompts"]
    overlay = {
        "datasets": mirrored_datasets(mirrors),
        "evaluation": {
            "general": {
                "benchmarks": {"bbh": {"options": {"cot_prompts": cot.replace(URL_ROOT, f"file://{mirrors}/")}}}
            }
        },
    }
    (wd / "tests" / "configs" / "mirrors.yaml").write_text(yaml.safe_dump(overlay))
    cross = {name: {"ks": [40]} for name, entry in CONFIG["experiments"]["cross"].items() if "ks" in entry}
    four = {"active_models": ["llama2", *OTHERS], "experiments": {"cross": cross}}  # qwen25 activates cross: tiny k
    (wd / "tests" / "configs" / "four.yaml").write_text(yaml.safe_dump(four))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_CACHE=str(cache))
    env |= {"HF_HOME": str(root / "hf_home"), "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    return wd, env


@pytest.fixture(scope="module")
def paper_run(offline) -> Path:
    """Llama-2's run to the tables."""
    wd, env = offline
    run(wd, env, [], TARGETS)
    return wd


@pytest.fixture(scope="module")
def others_run(paper_run, offline) -> Path:
    """Mistral, Gemma and Qwen2.5 to their patched generations, in the same workflow directory."""
    wd, env = offline
    per_model = ["alignment_check.json", f"patching/sft/main-top/{RED_TEAM}.jsonl"]
    run(wd, env, ["tests/configs/four.yaml"], [f"results/{m}/s1/{f}" for m in OTHERS for f in per_model])
    return wd


def test_training_ran_bf16_with_checkpointing_and_pure_sigmoid_dpo(paper_run):
    for stage in ("sft", "dpo_hh_harmless"):
        m = json.loads((paper_run / f"results/llama2/s1/{stage}/adapter_metrics.json").read_text())
        assert m["precision"] == BF16_TRAINING, stage
        assert m["steps"] >= 2 and math.isfinite(m["loss_last"]), stage
    dpo = json.loads((paper_run / "results/llama2/s1/dpo_hh_harmless/adapter_metrics.json").read_text())
    assert dpo["loss_type"] == ["sigmoid"] and dpo["loss_weights"] is None and dpo["beta"] == 0.1


def test_the_base_came_from_the_hub_cache_in_its_own_dtype(paper_run):
    assert load_base(paper_run / "resources/base/llama2", "auto").dtype == torch.float16
    logs = "".join(p.read_text() for p in (paper_run / "logs").rglob("*.log"))
    assert "in torch.float16 (dtype: auto)" in logs  # analysis jobs ran the checkpoint's dtype, not float32


def test_every_dataset_was_read_with_config_yamls_call(paper_run):
    logs = {p.stem: p.read_text() for p in (paper_run / "logs" / "prepare_dataset").glob("*.log")}
    assert logs
    for name, log in logs.items():
        spec = CONFIG["datasets"][name]
        if "hub" in spec:
            for key, value in spec["hub"].items():
                if key != "path":
                    assert f"{key}={value!r}" in log, (name, key)
            assert f"{spec['hub']['path']}'" in log, name
        else:
            assert spec["url"].split("githubusercontent.com/")[1].replace("{task}", "") in log.replace("{task}", "")


def test_tables_are_finite_and_compared_with_the_paper(paper_run):
    t8 = pd.read_csv(paper_run / "results/tables/table8.csv")
    values = t8.drop(columns=["model", "row"])
    assert len(t8) >= 9 and values.notna().all().all() and (values.abs() < 1e6).all().all()
    versus = pd.read_csv(paper_run / "results/tables/paper_comparison.csv")
    t8v = versus[versus["table"] == "Table 8"]
    assert set(t8v["paper_model"]) == {"Llama2"} and len(t8v) == 9 * 9  # Base/SFT/DPO, M1 + †‡§; 9 columns
    assert set(versus["table"]) >= {"Table 8", "Table 1", "t-test"}


@pytest.mark.parametrize("model", list(OTHERS))
def test_every_architecture_trains_in_bf16_and_patches_in_its_published_dtype(others_run, model):
    run_dir = others_run / "results" / model / "s1"
    for stage in ("sft", "dpo_hh_harmless"):
        m = json.loads((run_dir / stage / "adapter_metrics.json").read_text())
        assert m["precision"] == BF16_TRAINING and math.isfinite(m["loss_last"]), stage
    assert load_base(others_run / "resources/base" / model, "auto").dtype == torch.bfloat16
    logs = "".join(p.read_text() for p in (others_run / "logs").rglob(f"*{model}*.log"))
    assert f"resources/base/{model} on cpu in torch.bfloat16 (dtype: auto)" in logs
    assert set(json.loads((run_dir / "alignment_check.json").read_text())) == {"base", "sft", "dpo"}
    rows = [json.loads(line) for line in (run_dir / f"patching/sft/main-top/{RED_TEAM}.jsonl").open()]
    assert {r["k"] for r in rows} == {0, 10, 40} and all(r["completion"] is not None for r in rows)
