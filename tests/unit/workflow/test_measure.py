"""The GPU check's training part (``safety-neurons bench --train``), run here at the tiny size on CPU: the real
trainers take config.yaml's settings in bf16 with activation checkpointing and report seconds per step."""

from __future__ import annotations

import math

import torch

from safety_neurons.workflow.measure import time_training


def test_training_check_runs_the_paper_path_and_reports_seconds_per_step():
    report = time_training("tiny", "cpu", steps=2, words=40)
    for stage in ("sft", "dpo"):
        r = report[stage]
        assert r["steps"] == 2 and 0 < r["s_per_step"] and r["s_per_step"] * 2 <= r["stage_seconds"]
        assert r["precision"] == {
            "device": "cpu",
            "dtype": "bfloat16",
            "bf16_mixed": True,
            "activation_checkpointing": True,
        }
        assert math.isfinite(r["loss_first"]) and r["peak_gpu_gb"] is None
    assert torch.get_default_dtype() == torch.float32  # building the model in bf16 left the default alone
