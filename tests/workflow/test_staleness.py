"""Only stale stages rerun: after a completed embedded run, each kind of change reruns exactly its stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import snakemake

TRAINING = {"tiny_world", "tiny_tokenizer", "pretrain_tiny", "prepare_dataset", "sft"}
SCORING = {"change_scores", "baseline_scores", "dpo", "alignment_check", "train_judge"}
# what a new neuron set can touch: the patched jobs and everything scored or tabled from them
AFTER_SETS = {
    "neuron_sets",
    "patched_generation",
    "patched_generation_sets",  # main-top/random: one job over the sets (patching.sets_per_job: all)
    "judge_responses",  # the windows' and curves' sweeps: a job per set, judged per file
    "judge_responses_sets",  # main-top/random: judged as they were generated, every set in one job
    "general_eval_benchmarks",  # the patched rows: one job over the benchmarks (benchmarks_per_job: all)
    "tables",
    "paper_comparison",
    "headline",
    "figure_causal_effect",
    "figure_curves",
    "figure_windows",
}


def planned(workdir: Path, *extra: str) -> dict[str, int]:
    """Jobs per rule that a dry run would execute (``all`` left out)."""
    proc = snakemake(workdir, "-n", "--quiet", "rules", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total", "all"):
            counts[parts[0]] = int(parts[1])
    return counts


def with_config(workdir: Path, name: str, text: str) -> list[str]:
    path = workdir / "tests" / "configs" / name
    path.write_text(text)
    return ["--configfile", "configs/tiny.yaml", "tests/configs/ci.yaml", str(path.relative_to(workdir))]


@pytest.mark.slow
def test_nothing_reruns_after_a_complete_run(embedded_run):
    assert planned(embedded_run) == {}


@pytest.mark.slow
def test_changing_k_reruns_only_patching(embedded_run):
    counts = planned(embedded_run, *with_config(embedded_run, "ks.yaml", "patching: {ks: [0, 25, 50, 100]}\n"))
    assert set(counts) == AFTER_SETS
    assert counts["neuron_sets"] >= 2  # at least main for 2 seeds: every set file of the sweep
    assert counts["patched_generation_sets"] >= 2 * 2  # at least main top/random, 2 seeds
    assert counts["judge_responses_sets"] >= counts["patched_generation_sets"]  # every rerun sweep is judged again


@pytest.mark.slow
def test_changing_beta_reruns_dpo_and_downstream_not_sft(embedded_run):
    counts = planned(embedded_run, *with_config(embedded_run, "beta.yaml", "dpo: {beta: 0.2}\n"))
    assert counts["dpo"] == 2 + 4  # hh_harmless for 2 seeds; 4 preference DPOs
    assert counts["alignment_check"] == 2 and {"change_scores", "patched_generation_sets", "tables"} <= set(counts)
    assert not TRAINING & set(counts)


@pytest.mark.slow
def test_a_models_own_training_key_reruns_that_model_as_the_top_level_key_would(embedded_run):
    """models.{m}.sft over the top-level sft: the embedded run's one model retrains (as with the top-level
    key); another model's own key leaves this model's jobs as they are."""
    top = planned(embedded_run, *with_config(embedded_run, "lr.yaml", "sft: {lr: 0.04}\n"))
    own = planned(embedded_run, *with_config(embedded_run, "own.yaml", "models: {tiny_llama: {sft: {lr: 0.04}}}\n"))
    assert own == top and own["sft"] == 2 and own["dpo"] == 2 + 4
    other = with_config(embedded_run, "other.yaml", "models: {tiny_gemma: {sft: {lr: 0.04}}}\n")
    assert planned(embedded_run, *other) == {}


@pytest.mark.slow
def test_code_change_reruns_the_stages_that_import_it(embedded_run):
    module = embedded_run / "safety_neurons" / "experiments" / "value_vectors.py"  # imported by the Table 9 script only
    original = module.read_text()
    try:
        module.write_text(original + "\n# a comment changes nothing\n")
        assert planned(embedded_run) == {}
        module.write_text(original + "\n\ndef unused_helper() -> int:\n    return 1\n")
        assert planned(embedded_run) == {"neuron_vocabulary": 1}
    finally:
        module.write_text(original)
    assert planned(embedded_run) == {}


@pytest.mark.slow
def test_run_only_settings_rerun_nothing(embedded_run):
    steps = "sft: {save_steps: 7, logging_steps: 3}\ndpo: {save_steps: 9}\n"
    steps += "models: {tiny_llama: {dpo: {save_steps: 2}}}\n"  # a model's own: run-only as well
    extra = with_config(embedded_run, "steps.yaml", steps)
    assert planned(embedded_run, *extra) == {}
