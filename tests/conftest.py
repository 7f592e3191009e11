"""Shared fixtures: a small tiny world, its tokenizer, and briefly pretrained tiny bases of each architecture."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from safety_neurons.data.loaders import load
from safety_neurons.data.synthetic import WORLD_FILES, write_world
from safety_neurons.files import write_jsonl
from safety_neurons.models import tiny
from safety_neurons.neurons.hooks import DEFAULT_SITE

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
ARCHS = ["tiny_llama", "tiny_mistral", "tiny_gemma", "tiny_qwen2"]
SMALL_SIZES = dict(
    pretrain=1500, sharegpt=200, hh_train=200, hh_test=60, red_team=60, beavertails=60, harmbench=40, jailbreak=26
)


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> dict[str, Path]:
    """Every tiny-world file at reduced sizes."""
    d = tmp_path_factory.mktemp("world")
    out = {role: d / name for role, name in WORLD_FILES.items()}
    w = TINY["tiny_world"]
    write_world(out, w["seed"], SMALL_SIZES, w["rates"], w["heldout_fraction"])
    return out


@pytest.fixture(scope="session")
def normalized(world, tmp_path_factory) -> dict[str, Path]:
    """Normalized jsonl of the SFT, DPO and prompt sets."""
    d = tmp_path_factory.mktemp("data")
    kinds = {"sharegpt": "sharegpt", "hh_harmless_train": "hh_pairs", "hh_harmless_test": "hh_prompts"}
    out = {}
    for role, kind in kinds.items():
        out[role] = d / f"{role}.jsonl"
        write_jsonl(load(kind, {"local": str(world[role])}), out[role])
    return out


@pytest.fixture(scope="session")
def tokenizer_dir(world, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tokenizer")
    tiny.train_tokenizer(tiny.read_corpus(world["pretrain"]), 1024, d)
    return d


def make_base(name: str, tokenizer_dir: Path, world: dict, root: Path, steps: int) -> Path:
    """A tiny base of the named config entry, pretrained for a few steps."""
    out = root / name
    hp = dict(TINY["pretrain"], steps=steps)
    tiny.make_base(
        str(tokenizer_dir), str(world["pretrain"]), str(out), TINY["models"][name], hp, 0, log=lambda *_: None
    )
    return out


@pytest.fixture(scope="session")
def llama_base(tokenizer_dir, world, tmp_path_factory) -> Path:
    """The tiny Llama pretrained long enough (250 steps) to know the chat format, for training tests."""
    return make_base("tiny_llama", tokenizer_dir, world, tmp_path_factory.mktemp("llama"), steps=250)


@pytest.fixture(scope="session")
def bases(llama_base, tokenizer_dir, world, tmp_path_factory) -> dict[str, Path]:
    """All four tiny architectures, each briefly pretrained (enough to produce varied greedy text; after 150 steps
    the 4-layer tiny Gemma still wrote the same text for every prompt, so it gets 250). The Llama is
    ``llama_base``: one pretraining serves both."""
    root = tmp_path_factory.mktemp("bases")
    others = {
        name: make_base(name, tokenizer_dir, world, root, steps=250 if "gemma" in name else 150) for name in ARCHS[1:]
    }
    return {"tiny_llama": llama_base} | others


def generation_params(**overrides):
    """Decoding parameters of a patched generation job on a CPU tiny model (GenerationParams)."""
    from safety_neurons.workflow.contracts import GenerationParams

    p = dict(dtype="float32", cpu_precision="float32", chat_format="tulu", batch_size=2, max_new_tokens=2)
    return GenerationParams.of(p | dict(source="main-top", m1="sft", ks=[0], neuron_site=DEFAULT_SITE) | overrides)


def random_ia3(base_dir: Path, out_dir: Path, seed: int, spread: float, site: str = DEFAULT_SITE) -> Path:
    """A real peft (IA)3 adapter on the neuron sites (down_proj) with random vectors 1 +- spread, saved as the
    trainers save theirs."""
    from peft import get_peft_model

    from safety_neurons.neurons.policies import load_base
    from safety_neurons.training.trainers import adapter_config

    hp = {"adapter": "ia3", "neuron_site": site}
    model = get_peft_model(load_base(base_dir, neuron_site=site), adapter_config(hp))
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if "ia3_l" in name:
            p.data = 1 + spread * (torch.rand(p.shape, generator=g) * 2 - 1)
    model.save_pretrained(str(out_dir))
    return out_dir


@pytest.fixture(scope="session")
def adapters(bases, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Per architecture, an 'SFT' and a stacked 'DPO' (IA)3 adapter with random vectors."""
    root = tmp_path_factory.mktemp("adapters")
    return {
        name: (random_ia3(base, root / f"{name}_sft", 1, 0.3), random_ia3(base, root / f"{name}_dpo", 2, 0.8))
        for name, base in bases.items()
    }


WORKFLOW_FILES = [
    "Snakefile",
    "config.yaml",
    "rules",
    "scripts",
    "configs",
    "safety_neurons",
    "profiles",
    "envs",
    "report",
]
CONFIGS = ["--configfile", "configs/tiny.yaml", "tests/configs/ci.yaml"]
# How the tests run Snakemake locally: two cores and the greedy scheduler, as profiles/local (make demo).
LOCAL = ["--cores", "2", "--scheduler", "greedy"]


def snakemake(workdir: Path, *args: str, timeout: int = 1500, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *LOCAL, *CONFIGS, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def copy_workflow(wd: Path) -> Path:
    """The workflow's files and the CI config copied into ``wd``, to run Snakemake there."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, wd / name)
    (wd / "tests" / "configs").mkdir(parents=True)
    shutil.copy2(REPO / "tests" / "configs" / "ci.yaml", wd / "tests" / "configs" / "ci.yaml")
    return wd


@pytest.fixture(scope="session")
def embedded_run(tmp_path_factory) -> Path:
    """A copy of the workflow with the CI-sized embedded default run to completion."""
    wd = copy_workflow(tmp_path_factory.mktemp("workflow"))
    proc = snakemake(wd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return wd


def pytest_collection_modifyitems(items):
    """The SLURM tests run last: they wait for their run, which works in the background meanwhile."""
    items.sort(key=lambda item: "tests/workflow/test_slurm.py" in item.nodeid)


def pytest_collection_finish(session):
    """Start the SLURM cluster and its workflow run in the background when the SLURM tests are selected: its
    waiting (package install, daemons, the plugin's status polls) overlaps the rest of the suite."""
    slurm = any("tests/workflow/test_slurm.py" in item.nodeid for item in session.items)
    if slurm and not session.config.option.collectonly:
        from tests.workflow import test_slurm

        test_slurm.start()


def pytest_sessionfinish(session):
    """The cluster is stopped whatever happened (the SLURM tests' fixture stops it too)."""
    module = sys.modules.get("tests.workflow.test_slurm")
    if module is not None:
        module.stop()
