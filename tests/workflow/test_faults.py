"""Faults: a stage killed by SIGKILL while it runs leaves nothing that looks complete, and the rerun ends with
the outputs an uninterrupted run wrote (one case per kind of stage; training: tests/workflow/test_resume.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import CONFIGS, LOCAL, snakemake

# (stage, an output of the finished CI run it rebuilds, what the stage writes)
KINDS = [
    ("tiny_tokenizer", "resources/tiny/tokenizer", "a directory"),
    ("change_scores", "results/tiny_llama/s1/neurons/main/scores.safetensors", "a safetensors file"),
    ("patched_generation", "results/tiny_llama/s1/patching/sft/main-top/tiny_red_team.jsonl", "a jsonl file"),
    ("judge_responses", "results/tiny_llama/s1/scores/tiny_cost/patching/sft/main-top/tiny_red_team.jsonl", "jsonl"),
    ("tables", "results/tables/table1.csv", "tables"),
]


def _same(a: Path, b: Path) -> bool:
    """Equal outputs: the same files with the same bytes (safetensors: the same tensors)."""
    if a.is_dir():
        names = sorted(p.name for p in a.iterdir())
        return names == sorted(p.name for p in b.iterdir()) and all(_same(a / n, b / n) for n in names)
    if a.suffix == ".safetensors":
        ta, tb = load_file(str(a)), load_file(str(b))
        return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    return a.read_bytes() == b.read_bytes()


def _kill_when_started(wd: Path, target: str, rule: str) -> None:
    """Start Snakemake on ``target`` and SIGKILL its whole process group as soon as the rule's job has begun."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *LOCAL, *CONFIGS, "--", target],
        cwd=wd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    logs = wd / "logs" / rule
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and not (logs.exists() and any(logs.rglob("*.log"))):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@dataclass
class Fault:
    """What one case left: the output after the kill, the killed job's temporary files, and the two runs after."""

    looked_complete: bool
    leftovers: list[Path]
    unlock: subprocess.CompletedProcess
    rerun: subprocess.CompletedProcess
    same: bool


def _kill_and_rerun(rule: str, output: str, embedded_run: Path, tmp: Path) -> Fault:
    """A copy of the finished run without ``output``: its stage SIGKILLed as it starts, then unlock and rerun."""
    wd = tmp / "wd"
    shutil.copytree(embedded_run, wd, symlinks=True)
    reference = tmp / "reference"
    out = wd / output
    (shutil.copytree if out.is_dir() else shutil.copy2)(out, reference)
    (shutil.rmtree if out.is_dir() else os.remove)(out)
    shutil.rmtree(wd / "logs" / rule, ignore_errors=True)

    _kill_when_started(wd, output, rule)
    looked_complete = out.exists()
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    unlock = snakemake(wd, "--unlock")  # the killed Snakemake left its lock, as after any kill
    rerun = snakemake(wd, "--", output)
    return Fault(looked_complete, leftovers, unlock, rerun, rerun.returncode == 0 and _same(out, reference))


@pytest.fixture(scope="module")
def faults(request, embedded_run, tmp_path_factory) -> dict[str, Fault]:
    """Every selected case, two at a time: each is one Snakemake job after another, so two fill both cores."""
    selected = {item.callspec.params["rule"] for item in request.session.items if item.module is request.module}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            rule: pool.submit(_kill_and_rerun, rule, output, embedded_run, tmp_path_factory.mktemp(rule))
            for rule, output, _ in KINDS
            if rule in selected
        }
        return {rule: future.result() for rule, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize(("rule", "what"), [(k[0], k[2]) for k in KINDS], ids=[k[0] for k in KINDS])
def test_a_killed_stage_leaves_nothing_complete_and_reruns_to_the_same_output(rule, what, faults):
    fault = faults[rule]
    assert not fault.looked_complete, f"{what} of {rule} looks complete after SIGKILL"
    assert fault.unlock.returncode == 0
    assert fault.rerun.returncode == 0, fault.rerun.stderr[-3000:]
    assert fault.same, f"{rule}: the rerun's output differs from the uninterrupted run's"
    assert not [p for p in fault.leftovers if p.exists()], "the rerun left the killed job's temporary files"
