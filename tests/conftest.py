"""Shared fixtures: a small tiny world, its tokenizer, and briefly pretrained tiny bases of each architecture
(built in the background while the light tests run: tests/fixtures/prebuild.py)."""

from __future__ import annotations

import os
import shutil
import signal
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


class Background:
    """A process the session starts early and waits for later, in its own process group (killed whole)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def launch(self, args: list[str], cwd: Path, log: Path) -> None:
        with log.open("w") as out:
            self.proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Prebuild(Background):
    """The background build of the slow fixtures: started once per session, waited for per output."""

    root: Path | None = None

    def start(self, root: Path, bases: bool) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "tests.fixtures.prebuild", str(root), *(["--bases"] if bases else [])]
        self.launch(args, REPO, root / "prebuild.log")

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


PREBUILD = Prebuild()


def start_background(factory: pytest.TempPathFactory, needed: set[str], slurm: bool) -> None:
    """Start the background work the tests in ``needed`` (fixture names) and ``slurm`` call for, once each."""
    if needed & PREBUILT and PREBUILD.proc is None:
        PREBUILD.start(factory.getbasetemp() / "prebuilt", bases=bool(needed & HEAVY))
    if "embedded_run" in needed and EMBEDDED.proc is None:
        EMBEDDED.start(copy_workflow(factory.mktemp("workflow")))
    if slurm:
        from tests.workflow import test_slurm

        test_slurm.start()


@pytest.hookimpl(trylast=True)  # after the tmpdir plugin's: its factory exists
def pytest_configure(config):
    """`make test` (no paths, keywords or markers beyond the default given): start all the background work
    now, while collection imports the test modules on one core (18 s: `pytest --collect-only`)."""
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS and not config.option.keyword
    if whole_suite and config.option.markexpr == "not paper_paths" and not config.option.collectonly:
        start_background(config._tmp_path_factory, PREBUILT | {"embedded_run"}, slurm=True)


def pytest_unconfigure(config):
    """The background processes are stopped whatever happened (collection errors included)."""
    PREBUILD.stop()
    EMBEDDED.stop()


@pytest.fixture(scope="session", autouse=True)
def _session(request, tmp_path_factory):
    """One torch thread for the tests (tiny models run no faster on two, and the other core serves the background
    work); the background build and the CI-sized workflow run started if a selected test needs them (and
    pytest_configure did not)."""
    torch.set_num_threads(1)
    start_background(tmp_path_factory, set().union(*(item.fixturenames for item in request.session.items)), False)
    yield
    PREBUILD.stop()
    EMBEDDED.stop()


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


def snakemake_command(*args: str) -> list[str]:
    """Snakemake on the CI-sized embedded default, as the tests run it."""
    return [sys.executable, "-m", "snakemake", *LOCAL, *CONFIGS, *args]


def offline_env() -> dict[str, str]:
    """This environment with no network: hubs in offline mode, proxies to a closed port (planning must never
    reach a hub)."""
    return dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        no_proxy="*",
        https_proxy="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
    )


def snakemake(workdir: Path, *args: str, timeout: int = 1500, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_command(*args), cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env
    )


def copy_workflow(wd: Path) -> Path:
    """The workflow's files and the CI config copied into ``wd``, to run Snakemake there."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, wd / name)
    (wd / "tests" / "configs").mkdir(parents=True)
    shutil.copy2(REPO / "tests" / "configs" / "ci.yaml", wd / "tests" / "configs" / "ci.yaml")
    return wd


class EmbeddedRun(Background):
    """The CI-sized embedded default run to completion in a copy of the workflow: started with the session, in
    the background, and waited for by the tests that read it (they run after the others)."""

    wd: Path | None = None

    def start(self, wd: Path) -> None:
        """Run as ``make demo`` runs: with the warm worker (test_faults reruns stages cold and compares); at a
        lower priority (nice 10): the tests that read it run late, while the SLURM run, the longest chain of the
        session, ends the suite when it is starved."""
        self.wd = wd
        warm = [sys.executable, "-m", "safety_neurons.workflow.cli", "warm", "--"]
        self.launch(["nice", "-n", "10", *warm, *snakemake_command()], wd, self.log)

    @property
    def log(self) -> Path:
        return self.wd.with_name(f"{self.wd.name}.log")  # beside the copy: its files stay the run's

    def wait(self) -> Path:
        rc = self.proc.wait(timeout=1500)
        assert rc == 0, self.log.read_text()[-4000:]
        return self.wd


EMBEDDED = EmbeddedRun()


@pytest.fixture(scope="session")
def embedded_run() -> Path:
    """A copy of the workflow with the CI-sized embedded default run to completion."""
    return EMBEDDED.wait()


def pytest_collection_modifyitems(items):
    """Modules in the order that keeps both cores busy while the background work runs (the bases' build, the
    CI-sized workflow run, the SLURM run): first those that need no pretrained base, then the others that do not
    read the workflow run, then those that do, the SLURM tests last."""
    heavy = {item.module for item in items if HEAVY & set(item.fixturenames)}
    reads_run = {item.module for item in items if "embedded_run" in item.fixturenames}

    def rank(item) -> int:
        if "tests/workflow/test_slurm.py" in item.nodeid:
            return 3
        if item.module in reads_run:
            return 2
        return 1 if item.module in heavy else 0

    items.sort(key=rank)


def pytest_collection_finish(session):
    """Start the SLURM cluster and its workflow run in the background when the SLURM tests are selected: its
    waiting (package install, daemons, the plugin's status polls) overlaps the rest of the suite."""
    slurm = any("tests/workflow/test_slurm.py" in item.nodeid for item in session.items)
    if slurm and not session.config.option.collectonly:
        start_background(session.config._tmp_path_factory, set(), slurm=True)


def pytest_sessionfinish(session):
    """The cluster is stopped whatever happened (the SLURM tests' fixture stops it too)."""
    module = sys.modules.get("tests.workflow.test_slurm")
    if module is not None:
        module.stop()
