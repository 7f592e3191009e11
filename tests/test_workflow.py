"""The embedded chain through Snakemake in a temporary directory: every stage runs, outputs are complete."""

from __future__ import annotations

import json

import pytest

from .conftest import snakemake


@pytest.mark.slow
def test_chain_produces_every_stage(embedded_run):
    for model in ("tiny_llama", "tiny_qwen2"):
        assert (embedded_run / "resources" / "base" / model / "model.safetensors").exists()
        for stage in ("sft", "dpo_hh_harmless"):
            d = embedded_run / "results" / model / "s1" / stage
            assert (d / "adapter_model.safetensors").stat().st_size > 0
            assert json.loads((d / "adapter_metrics.json").read_text())["steps"] > 0
        check = json.loads((embedded_run / "results" / model / "s1" / "alignment_check.json").read_text())
        assert set(check) == {"base", "sft", "dpo"}
        assert check["dpo"]["harmful"]["n"] == 16


@pytest.mark.slow
def test_neurons_and_patched_generations(embedded_run):
    from safetensors.torch import load_file

    for model, n_layers, d_mlp, excluded in (("tiny_llama", 4, 256, 3), ("tiny_qwen2", 5, 192, None)):
        d = embedded_run / "results" / model / "s1"
        scores = load_file(str(d / "neurons" / "main" / "change_scores.safetensors"))
        assert scores["scores"].shape == (n_layers, d_mlp)
        ranked_layers = set(scores["ranking"][:, 0].tolist())
        assert excluded not in ranked_layers and len(scores["ranking"]) == d_mlp * len(ranked_layers)
        sets = json.loads((d / "neurons" / "main" / "sets.json").read_text())
        for k in ("25", "100"):
            top, rnd = sets["top"][k], sets["random"][k]
            assert {layer: len(ids) for layer, ids in top.items()} == {layer: len(ids) for layer, ids in rnd.items()}
        for source in ("main-top", "main-random"):
            rows = [json.loads(line) for line in (d / "patching" / "sft" / source / "tiny_red_team.jsonl").open()]
            assert len(rows) == 3 * 12 and {r["k"] for r in rows} == {0, 25, 100}
            assert {r["m1"] for r in rows} == {"sft"} and {r["source"] for r in rows} == {source}
            assert set(rows[0]) == {"id", "dataset", "prompt", "completion", "k", "source", "m1"}
        unpatched = {
            r["completion"]
            for r in map(json.loads, (d / "patching/sft/main-top/tiny_red_team.jsonl").open())
            if r["k"] == 0
        }
        again = {
            r["completion"]
            for r in map(json.loads, (d / "patching/sft/main-random/tiny_red_team.jsonl").open())
            if r["k"] == 0
        }
        assert unpatched == again  # k = 0 is the same unpatched SFT in both jobs


@pytest.mark.slow
def test_every_job_wrote_its_log_and_benchmark(embedded_run):
    for rule in ("sft", "dpo"):  # cached between workflows, so no benchmark: training times itself
        assert list((embedded_run / "logs" / rule).glob("*.log")), rule
        for metrics in (embedded_run / "results").glob(f"*/s1/{rule}*/adapter_metrics.json"):
            assert json.loads(metrics.read_text())["seconds"] > 0
    for rule in (
        "tiny_world",
        "tiny_tokenizer",
        "pretrain_tiny",
        "prepare_dataset",
        "alignment_check",
        "change_scores",
        "neuron_sets",
        "eval_prompts",
        "patched_generation",
    ):
        assert list((embedded_run / "logs" / rule).glob("*.log")), rule
        bench = list((embedded_run / "benchmarks" / rule).glob("*.tsv"))
        assert bench and bench[0].read_text().startswith("s\t"), rule


@pytest.mark.slow
def test_completed_run_has_nothing_left_to_do(embedded_run):
    proc = snakemake(embedded_run, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr
