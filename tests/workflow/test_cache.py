"""Checkpoints computed once across workflows: a second workflow takes the SFT adapter from the output cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import snakemake

TARGET = "results/tiny_llama/s1/sft/adapter_model.safetensors"
LOG = Path("logs") / "sft" / "tiny_llama_s1.log"


@pytest.mark.slow
def test_second_workflow_reuses_the_cached_adapter(embedded_run, tmp_path):
    """Two copies of the finished CI run without their SFT adapter: the first trains it into the cache, the
    second takes it from there without training."""
    env = dict(os.environ, SNAKEMAKE_OUTPUT_CACHE=str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    logs = []
    for name in ("first", "second"):
        wd = tmp_path / name
        shutil.copytree(embedded_run, wd, symlinks=True)
        shutil.rmtree(wd / Path(TARGET).parent)
        (wd / LOG).unlink()
        proc = snakemake(wd, "--cache", "--", TARGET, timeout=900, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        logs.append(proc.stdout + proc.stderr)
    assert f"Moving output file {TARGET} to cache" in logs[0]
    assert len(list((tmp_path / "cache").iterdir())) == 3  # the three adapter files, stored once
    assert f"Symlinking output file {TARGET} from cache" in logs[1] and "to cache" not in logs[1]
    assert "train_runtime" in (tmp_path / "first" / LOG).read_text()
    assert (tmp_path / "second" / LOG).read_text() == ""  # Snakemake creates the log; no training wrote to it
    first, second = (tmp_path / n / TARGET for n in ("first", "second"))
    assert second.resolve() == first.resolve() and second.resolve().parent == tmp_path / "cache"
