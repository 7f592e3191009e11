"""Shared fixtures: a small tiny world, its tokenizer, and briefly pretrained tiny bases of each architecture
(built in the background while the light tests run: tests/fixtures/prebuild.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from safety_neurons.data.loaders import load
from safety_neurons.files import write_jsonl
from safety_neurons.neurons.hooks import DEFAULT_SITE
from tests.fixtures import prebuild
from tests.fixtures.prebuild import ARCHS, REPO, SMALL_SIZES, TINY  # noqa: F401  (the tests' shared constants)

PREBUILT = {"world", "tokenizer_dir", "llama_base", "bases"}  # the fixtures the background process builds
HEAVY = {"llama_base", "bases"}  # ... of which these take minutes
WAIT_S = 1200


class Prebuild:
    """The background build of the slow fixtures: started once per session, waited for per output."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.root: Path | None = None

    def start(self, root: Path, bases: bool) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "tests.fixtures.prebuild", str(root), *(["--bases"] if bases else [])]
        with (root / "prebuild.log").open("w") as log:
            self.proc = subprocess.Popen(args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def wait(self, rel: str) -> Path:
        """``root/rel`` once it exists; the build's log tail if the process ended without it."""
        path = self.root / rel
        deadline = time.time() + WAIT_S
        while not path.exists():
            if self.proc.poll() is not None and not path.exists():
                pytest.fail(f"prebuild ended without {rel}:\n{(self.root / 'prebuild.log').read_text()[-3000:]}")
            if time.time() > deadline:
                pytest.fail(f"prebuild: no {rel} after {WAIT_S} s")
            time.sleep(0.2)
        return path

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


PREBUILD = Prebuild()


@pytest.fixture(scope="session", autouse=True)
def _session(request, tmp_path_factory):
    """Two torch threads for the tests; the background build started when a selected test needs its fixtures."""
    torch.set_num_threads(2)
    needed = set().union(*(item.fixturenames for item in request.session.items))
    if needed & PREBUILT:
        PREBUILD.start(tmp_path_factory.getbasetemp() / "prebuilt", bases=bool(needed & HEAVY))
    yield
    PREBUILD.stop()


@pytest.fixture(scope="session")
def world() -> dict[str, Path]:
    """Every tiny-world file at reduced sizes."""
    PREBUILD.wait(prebuild.WORLD_DONE)
    return prebuild.world_paths(PREBUILD.root)


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
def tokenizer_dir(world) -> Path:
    return PREBUILD.root / "tokenizer"


@pytest.fixture(scope="session")
def bases() -> dict[str, Path]:
    """All four tiny architectures, each briefly pretrained (prebuild.BASES: enough for varied greedy text)."""
    return {name: PREBUILD.wait(f"bases/{name}") for name in ARCHS}


@pytest.fixture(scope="session")
def llama_base() -> Path:
    """The tiny Llama pretrained long enough (250 steps) to know the chat format, for training tests."""
    return PREBUILD.wait("llama/tiny_llama")


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
    """Modules in the order that keeps both cores busy: first those that need no pretrained base (they run while
    the bases are built in the background), then the workflow runs, then the rest; the SLURM tests last, as they
    wait for their run, which works in the background meanwhile."""
    heavy = {item.module for item in items if HEAVY & set(item.fixturenames)}

    def rank(item) -> int:
        if "tests/workflow/test_slurm.py" in item.nodeid:
            return 3
        if item.module in heavy:
            return 2
        return 1 if "tests/workflow/" in item.nodeid else 0

    items.sort(key=rank)


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
