"""The embedded chain through Snakemake in a temporary directory: every stage runs, outputs are complete."""

from __future__ import annotations

import json

import pytest

from tests.conftest import snakemake

MODELS = ["tiny_llama"]  # tests/configs/ci.yaml; the other architectures are tested in tests/unit


@pytest.mark.slow
def test_chain_produces_every_stage(embedded_run):
    for model in MODELS:
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

    for model, n_layers, d_mlp, excluded in (("tiny_llama", 4, 256, 3),):
        d = embedded_run / "results" / model / "s1"
        scores = load_file(str(d / "neurons" / "main" / "scores.safetensors"))
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
        "stage_generation",
        "train_judge",
        "judge_responses",
        "general_eval",
        "tables",
        "figures",
        "baseline_scores",
        "cross_patching",
        "experiments",
        "safeguard_generation",
        "safeguard_features",
        "safeguard_eval",
    ):
        assert list((embedded_run / "logs" / rule).rglob("*.log")), rule
        bench = list((embedded_run / "benchmarks" / rule).rglob("*.tsv"))
        assert bench and bench[0].read_text().startswith("s\t"), rule


@pytest.mark.slow
def test_judged_scores_and_tables(embedded_run):
    """Scores for every generation and judge; Table 8/1 consistent with the score files and Eq. 4."""
    import pandas as pd

    from safety_neurons.evaluation.metrics import causal_effect

    res = embedded_run / "results"
    judge = json.loads((res / "judges" / "tiny_cost.json").read_text())
    assert judge["accuracy"] > judge["majority_baseline"] + 0.1
    t8 = pd.read_csv(res / "tables" / "table8.csv").set_index(["model", "row"])
    rows = {"sft", "dpo", "sft+main-top", "sft+main-random"}
    for model in MODELS:
        assert set(t8.loc[model].index) == rows | {"sft+wanda-top", "sft+sn_tune-top"}  # baselines: safety only
        d = res / model / "s1" / "scores"
        refusal = [json.loads(line) for line in (d / "refusal/generations/dpo_hh_harmless/tiny_red_team.jsonl").open()]
        assert len(refusal) == 12 and {r["score"] for r in refusal} <= {0.0, 1.0}
        top = [json.loads(line) for line in (d / "tiny_cost/patching/sft/main-top/tiny_red_team.jsonl").open()]
        mean_top = sum(r["score"] for r in top if r["k"] == 25) / 12
        assert t8.at[(model, "sft+main-top"), "tiny_red_team"] == pytest.approx(mean_top)
        for row in rows:
            g = t8.loc[(model, row)]
            assert g["ppl"] > 1 and all(0 <= g[b] <= 1 for b in ("mmlu", "gsm8k", "bbh", "tqa")), row
    t1 = pd.read_csv(res / "tables" / "table1.csv").set_index(["model", "row"])
    for model in MODELS:
        m = t8.loc[model]
        expected = causal_effect(
            m.at["sft+main-top", "tiny_red_team"], m.at["sft", "tiny_red_team"], m.at["dpo", "tiny_red_team"]
        )
        assert t1.at[(model, "sft+main-top"), "C_tiny_red_team"] == pytest.approx(expected, nan_ok=True)
        dgen = sum(m.at["sft+main-top", b] - m.at["sft", b] for b in ("gsm8k", "bbh", "mmlu", "tqa")) / 4
        assert t1.at[(model, "sft+main-top"), "delta_gen"] == pytest.approx(dgen)
        c, lo, hi = (t1.at[(model, "sft+main-top"), f"C_tiny_red_team{s}"] for s in ("", "_lo", "_hi"))
        assert lo <= c <= hi and lo < hi  # C's bootstrap interval over prompts surrounds it
    tt = pd.read_csv(res / "tables" / "ttest.csv")
    assert len(tt) == len(MODELS) and set(tt["k"]) == {25}
    assert "| model | row |" in (res / "tables" / "table1.md").read_text()
    versus = pd.read_csv(res / "tables" / "paper_comparison.csv")
    assert versus["model"].tolist() == MODELS and versus["paper"].isna().all()  # tiny models: nothing to compare
    assert versus["note"].str.startswith("no published reference").all()


@pytest.mark.slow
def test_figures_and_report(embedded_run):
    for fig in ("fig2_causal_effect.png", "fig5_neurons.png"):
        assert (embedded_run / "results" / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
    proc = snakemake(embedded_run, "--report", "report.html")
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (embedded_run / "report.html").read_text()
    for caption in ("Table 8 (raw values)", "Table 1 (causal effect)", "Figure 2", "Figure 5"):
        assert caption in html, caption


@pytest.mark.slow
def test_experiments_outputs(embedded_run):
    """Every experiment of the CI config lands its table: seeds, windows, value vectors, preferences, cross,
    safeguard, and the baseline rankings that Table 8 patches."""
    import pandas as pd

    tables = embedded_run / "results" / "tables"
    seeds = pd.read_csv(tables / "seeds.csv")
    assert len(seeds) == len(MODELS) and seeds["overlap"].between(0, 1).all() and set(seeds["k"]) == {25}
    assert set(pd.read_csv(tables / "windows.csv")["start"]) == {0, 25, 50}
    t9 = pd.read_csv(tables / "table9.csv")
    assert list(t9["rank"]) == [1, 2, 3] and t9["vector"].str.match(r"v\^\d+_\d+").all()
    assert len(pd.read_csv(tables / "preferences.csv")) == 3  # 3 rankings -> 3 pairs
    t3 = pd.read_csv(tables / "table3.csv")
    assert set(t3["direction"]) == {"help_to_safe", "safe_to_help"} and {"delta_tiny_cost", "delta_tiny_reward"} <= set(
        t3
    )
    assert len(pd.read_csv(tables / "table10.csv")) == 3  # helpful DPO, patched, HH DPO
    cross = pd.read_csv(tables / "cross.csv").drop_duplicates("name").set_index("name")
    assert cross.loc["other_preferences", ["m1", "guide"]].tolist() == ["hh_harmless", "hh_helpful"]  # E8 both ways
    assert cross.loc["other_iefeedback_s2h", ["m1", "guide"]].tolist() == ["hh_helpful", "hh_harmless"]
    acc = pd.read_csv(tables / "safeguard_accuracy.csv")
    assert set(acc["neurons"]) == {"safety", "rn_same", "rn_last", "rn_all"} and acc["accuracy"].between(0, 1).all()
    deploy = pd.read_csv(tables / "safeguard_deployment.csv")
    assert set(deploy["dataset"]) == {"tiny_red_team", "tiny_beavertails"}
    assert (deploy["n_accepted"] <= deploy["n"]).all()
    for variant in ("wanda", "sn_tune"):
        summary = json.loads((embedded_run / "results/tiny_llama/s1/neurons" / variant / "summary.json").read_text())
        assert summary["n_ranked"] == 3 * 256  # layer 3 excluded, as for the change scores
    for fig in ("fig3a_preferences", "fig3b_cross", "fig6_windows", "fig7_curves", "fig10_safeguard"):
        assert (embedded_run / "results" / "figures" / f"{fig}.png").stat().st_size > 1000, fig


@pytest.mark.slow
def test_headline_agrees_with_table1(embedded_run):
    import pandas as pd

    tables = embedded_run / "results" / "tables"
    head = pd.read_csv(tables / "headline.csv").set_index("model")
    t1 = pd.read_csv(tables / "table1.csv").set_index(["model", "row"])
    for model in MODELS:
        for kind in ("top", "random"):
            expected = t1.at[(model, f"sft+main-{kind}"), "C_mean"]  # one set: its C is the mean
            assert head.at[model, f"C_{kind}"] == pytest.approx(expected, nan_ok=True), (model, kind)
        assert head.at[model, "k"] == 25 and head.at[model, "share"] == pytest.approx(25 / (3 * 256))
    text = (tables / "headline.txt").read_text()
    assert all(model in text for model in MODELS) and "C top k" in text
