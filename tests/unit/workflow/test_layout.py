"""The layout: path templates, the run wildcard, and what Table 1/8 and the figures read, as functions of the
config (no Snakemake)."""

from __future__ import annotations

import copy
import re

import pytest

from safety_neurons.workflow import layout
from safety_neurons.workflow.config import load
from safety_neurons.workflow.contracts import BaselineParams, GenerationParams, ParamsError, Source
from tests.conftest import REPO


@pytest.fixture(scope="module")
def paper() -> dict:
    return load(REPO / "config.yaml")


@pytest.fixture(scope="module")
def tiny() -> dict:
    return load(REPO / "config.yaml", REPO / "configs" / "tiny.yaml")


def test_source_parses_and_prints():
    s = Source.of("main_first-top")
    assert (s.variant, s.kind, str(s)) == ("main_first", "top", "main_first-top")
    assert Source.of(s) is s
    for bad in ("main", "main-best", "-top"):
        with pytest.raises(ValueError, match="neuron source"):
            Source.of(bad)


def test_params_reject_unknown_and_missing_keys_by_name():
    raw = dict(
        dtype="bfloat16",
        cpu_precision="float32",
        neuron_site="model.layers.*.mlp.down_proj",
        chat_format="tulu",
        batch_size=4,
        max_new_tokens=8,
        source="x-top",
        m1="sft",
    )
    assert GenerationParams.of(raw).ks == []
    with pytest.raises(ParamsError, match=r"unknown keys \['kz'\], missing keys \[\]"):
        GenerationParams.of(raw | {"kz": [1]})
    with pytest.raises(ParamsError, match=r"BaselineParams: unknown keys \[\], missing keys \['agg'"):
        BaselineParams.of({k: 0 for k in ("dtype", "cpu_precision", "chat_format", "batch_size", "model", "n_layers")})


def test_run_pattern_matches_every_run_and_nothing_else(tiny):
    constraints = dict(
        m1="base|sft", source="main-top|main-random", stage="base|sft|dpo_hh_harmless", cross="help", guarded="sft|dpo"
    )
    run = re.compile(f"^(?:{layout.run_pattern(constraints)})$")
    for ok in ("patching/sft/main-top", "generations/dpo_hh_harmless", "cross/help", "safeguard/dpo/generations"):
        assert run.match(ok), ok
    for bad in ("patching/dpo/main-top", "patching/sft/other-top", "generations/dpo_x", "scores/x/cross/help"):
        assert not run.match(bad), bad


def test_adapters_stack_sft_then_dpo():
    assert layout.adapters("m", 1, "base", None) == []
    assert layout.adapters("m", 1, "dpo", "hh") == [
        "results/m/s1/sft/adapter_model.safetensors",
        "results/m/s1/dpo_hh/adapter_model.safetensors",
    ]
    assert layout.stage_pref("dpo_hh_harmless") == ("dpo", "hh_harmless") and layout.stage_pref("sft") == ("sft", None)


def test_table_rows_and_k(paper):
    assert layout.eval_rows(paper)[:2] == [("base", None), ("sft", None)]
    assert layout.source_k(paper, "llama2", "main-top") == paper["evaluation"]["table_k"] == 20_000
    # baselines at their top 5% (E3): Wanda per layer, round(0.05 * 11,008) in each of Llama-2's 31 ranked layers
    assert layout.source_k(paper, "llama2", "wanda-top") == 31 * round(0.05 * 11008)
    assert layout.source_k(paper, "llama2", "sn_tune-top") == round(0.05 * 31 * 11008)
    assert layout.sweep_keys(paper, "llama2", "wanda-top") == [0, 31 * round(0.05 * 11008)]
    assert layout.set_sizes(paper, "llama2", "wanda")[-1] == max(paper["patching"]["ks"] + [31 * 550])


def test_table_k_as_a_share_is_each_models_own_k(paper):
    share = paper | {"evaluation": paper["evaluation"] | {"table_k": "5%"}}
    k = round(0.05 * 31 * 11008)  # Llama-2: 5% of its 31 ranked layers of 11,008 neurons
    assert layout.table_k(share, "llama2") == layout.source_k(share, "llama2", "main-top") == k == 17_062
    assert layout.table_k(share, "gemma") == round(0.05 * 28 * 24576)  # no layer excluded
    assert layout.sweep_keys(share, "llama2", "main-random") == sorted([*paper["patching"]["ks"], k])
    assert layout.sweep_keys(paper, "llama2", "main-random") == paper["patching"]["ks"]  # 20,000 is swept already
    assert {e["k"] for e in layout.ttest_manifest(share) if e["model"] == "llama2"} == {k}


def test_safety_manifest_reads_unpatched_rows_from_k0_of_the_first_source(tiny):
    m = layout.safety_manifest(tiny)
    first = tiny["patching"]["sources"][0]
    unpatched = [e for e in m if e["row"] == "sft"]
    assert unpatched and all(f"/patching/sft/{first}/" in e["path"] and e["k"] == 0 for e in unpatched)
    guide = [e for e in m if e["row"] == "dpo"]
    assert all("/generations/dpo_" in e["path"] for e in guide)
    n = len(tiny["active_models"]) * len(layout.score_judges(tiny)) * len(tiny["patching"]["datasets"])
    assert len(m) == n * (len(layout.eval_rows(tiny)) + 1)


def test_fig2_pairs_top_with_random_and_every_seed(tiny):
    pairs = layout.top_random_pairs(tiny)
    assert pairs and all(Source.of(t).kind == "top" and Source.of(r).kind == "random" for t, r in pairs)
    fig2 = layout.fig2_manifest(tiny)
    assert {e["seed"] for e in fig2} == set(tiny["seeds"])
    assert {e["kind"] for e in fig2} == {"top", "random"}
    assert all(e["path"].startswith(f"results/{e['model']}/s{e['seed']}/scores/") for e in fig2)


def test_a_models_own_training_keys_go_over_the_top_level_for_that_model_only(tiny):
    config = copy.deepcopy(tiny)
    config["models"]["tiny_gemma"]["dpo"] = {"lr": 0.5, "loss_type": ["sigmoid"], "loss_weights": None}
    own = layout.training(config, "dpo", "tiny_gemma")
    assert (own["lr"], own["loss_type"], own["loss_weights"]) == (0.5, ["sigmoid"], None)
    assert own["beta"] == tiny["dpo"]["beta"] and own["preferences"] == tiny["dpo"]["preferences"]  # inherited
    assert layout.training(config, "dpo", "tiny_llama") == tiny["dpo"]  # its own sft key stays in SFT
    assert layout.training(config, "sft", "tiny_llama")["epochs"] == tiny["models"]["tiny_llama"]["sft"]["epochs"]
