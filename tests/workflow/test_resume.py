"""Preemption: SFT killed by SIGKILL mid-run resumes from its last checkpoint, repeats no step, and ends with
the adapter an uninterrupted run produces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from safety_neurons.training.trainers import train_sft
from tests.unit.training.test_trainers import HP

RUN = """
import json, sys, torch
torch.set_num_threads(1)
from safety_neurons.training.trainers import train_sft
train_sft(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), 1, "tulu")
"""


@pytest.mark.slow
def test_killed_training_resumes_without_repeating_steps(llama_base, normalized, tmp_path):
    hp = dict(HP, epochs=2, save_steps=5)
    args = [str(llama_base), str(normalized["sharegpt"])]
    whole = train_sft(*args, str(tmp_path / "whole"), hp, 1, "tulu")

    out = tmp_path / "killed" / "sft"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, *args, str(out), json.dumps(hp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = out.parent / ".checkpoints_sft" / "checkpoint-10" / "trainer_state.json"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (out / "adapter_model.safetensors").exists()  # nothing looks complete

    resumed = train_sft(*args, str(out), hp, 1, "tulu")
    assert resumed["resumed_from_step"] >= 10
    assert resumed["steps"] == whole["steps"]
    executed = [h["step"] for h in resumed["log_history"] if h["step"] > resumed["resumed_from_step"]]
    assert executed == list(range(resumed["resumed_from_step"] + 1, whole["steps"] + 1))  # each step once
    a = load_file(str(out / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "whole" / "adapter_model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
