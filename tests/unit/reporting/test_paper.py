"""The paper comparison: published values mapped onto a run's names, Table 1 derived from Table 8 by Eq. 4."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from safety_neurons.reporting.paper import RunNames, comparison, load_reference, paper_table1

NAMES = RunNames(
    hub_ids={"llama2": "meta-llama/Llama-2-7b-hf", "tiny_llama": None},
    kinds={"bt": "beavertails", "rt": "red_team", "hb": "harmbench", "jl": "jailbreak_questions"},
    methods={"main": "change_scores", "wanda": "wanda"},
    table_k=20000,
    judges={"cost": "cost", "reward": "reward", "refusal": ""},
    joint=["hh_helpful", "hh_joint"],
)


def test_reference_holds_every_table8_row_with_a_value_per_column():
    ref = load_reference()
    rows = ref["table8"]["rows"]
    assert set(rows) == set(ref["models"]) == {"Llama2", "Mistral", "Gemma", "Qwen2.5"}
    for model, table in rows.items():
        assert list(table) == [f"{m}{mark}" for m in ("Base", "SFT") for mark in ("", "†", "‡", "§")] + ["DPO"], model
        assert all(len(v) == len(ref["table8"]["columns"]) for v in table.values()), model


def test_table1_is_derived_from_table8_by_eq4():
    ref = load_reference()["table8"]
    got = paper_table1(ref["rows"]["Llama2"], ref["columns"], "SFT", "SFT§")
    assert got["BT"] == pytest.approx((-11.9 - -2.4) / (-11.8 - -2.4))  # (patched - SFT) / (DPO - SFT)
    assert got["JL"] == pytest.approx((-6.6 - 4.0) / (-10.5 - 4.0))
    assert got["C mean"] == pytest.approx(sum(got[c] for c in ("BT", "RT", "HB", "JL")) / 4)
    assert got["ΔGen"] == pytest.approx(((0.105 - 0.095) + (0.131 - 0.110) + (0.399 - 0.398) + (0.277 - 0.263)) / 4)


def run_tables() -> dict[str, pd.DataFrame]:
    """A run's tables for Llama2 (paper model) and a tiny model, in the tables stage's layout."""
    t8 = pd.DataFrame(
        [
            ["llama2", "sft", -2.0, -3.0, 5.0, 4.0, 5.4, 0.1],
            ["llama2", "sft+main-top", -11.0, -12.0, -7.0, -6.0, 5.4, 0.12],
            ["llama2", "sft+main-random", -2.1, -3.1, 5.1, 4.1, 5.4, 0.1],
            ["llama2", "sft+wanda-top", -3.0, -3.0, 4.0, 4.0, 5.4, 0.1],
            ["llama2", "dpo", -12.0, -12.0, -11.0, -10.0, 5.5, 0.09],
            ["tiny_llama", "sft", 1.0, 1.0, 1.0, 1.0, 9.0, 0.5],
        ],
        columns=["model", "row", "bt", "rt", "hb", "jl", "ppl", "gsm8k"],
    )
    t1 = pd.DataFrame(
        [
            {"model": "llama2", "row": "sft+main-top", "m1": "sft", "C_bt": 0.9, "C_bt_lo": 0.8, "C_bt_hi": 1.2,
             "C_rt": 0.5, "C_rt_lo": 0.4, "C_rt_hi": 0.6, "C_mean": 0.7},
            {"model": "llama2", "row": "sft+main-random", "m1": "sft", "C_bt": 0.0, "C_bt_lo": -0.1, "C_bt_hi": 0.1,
             "C_rt": 0.0, "C_rt_lo": -0.1, "C_rt_hi": 0.1, "C_mean": 0.0},
        ]
    )  # fmt: skip
    ttest = pd.DataFrame([{"model": "llama2", "m1": "sft", "dataset": "bt", "k": 20000, "p": 1e-10}])
    table3 = pd.DataFrame(
        [{"model": "llama2", "direction": "help_to_safe", "k": 20000, "n_neurons": 900, "delta_cost": 5.0,
          "delta_reward": -1.0}]
    )  # fmt: skip
    table10 = pd.DataFrame(
        [
            {"model": "llama2", "row": "DPO hh_helpful", "bt": 3.0, "rt": 1.0},
            {"model": "llama2", "row": "DPO hh_helpful patched (k=0.05, 17062 neurons)", "bt": -10.0, "rt": -9.0},
            {"model": "llama2", "row": "DPO hh_joint", "bt": -12.0, "rt": -12.5},
        ]
    )
    return {"table8": t8, "table1": t1, "ttest": ttest, "table3": table3, "table10": table10}


def test_comparison_maps_models_rows_and_columns():
    df = comparison(load_reference(), NAMES, run_tables())
    t8 = df[df["table"] == "Table 8"].set_index(["row", "column"])
    assert set(t8.index.get_level_values("row")) == {"SFT", "SFT§", "SFT†", "DPO"}  # random neurons: no paper row
    assert t8.at[("SFT§", "BT"), "paper"] == -11.9 and t8.at[("SFT§", "BT"), "run"] == -11.0
    assert t8.at[("SFT§", "BT"), "difference"] == pytest.approx(0.9)
    assert t8.at[("SFT", "GSM"), "paper"] == 0.095 and ("SFT", "BBH") not in t8.index  # the run has no BBH
    t1 = df[df["table"] == "Table 1"].set_index("column")
    published = (-11.9 - -2.4) / (-11.8 - -2.4)  # 1.011: inside [0.8, 1.2]
    assert t1.at["C BT", "paper"] == pytest.approx(published) and t1.at["C BT", "paper_in_ci"]
    assert t1.at["C RT", "paper_in_ci"] == False  # noqa: E712  (paper 1.0 outside [0.4, 0.6])
    assert set(t1["row"]) == {"SFT§"}
    tt = df[df["table"] == "t-test"].iloc[0]
    assert tt["paper"] == 8.752e-12 and tt["difference"] == pytest.approx(-10 - math.log10(8.752e-12))
    t3 = df[df["table"] == "Table 3"].set_index("column")
    assert t3.at["Δ safety (cost)", "paper"] == 7.3 and t3.at["Δ safety (cost)", "run"] == 5.0
    assert t3.at["Δ helpfulness (reward)", "paper"] == 7.97 and t3.at["Δ helpfulness (reward)", "run"] == 1.0
    t10 = df[df["table"] == "Table 10"].set_index(["row", "column"])
    assert t10.at[("Helpful DPO", "BT"), "paper"] == 3.42 and t10.at[("HH DPO", "RT"), "run"] == -12.5
    assert t10.at[("Helpful DPO †", "RT"), "paper"] == -11.09 and t10.at[("Helpful DPO †", "RT"), "run"] == -9.0
    assert len(t10) == 6  # three rows x the two sets the run has
    tiny = df[df["model"] == "tiny_llama"]
    assert len(tiny) == 1 and tiny["note"].iloc[0].startswith("no published reference")


def test_ours_rows_at_another_k_say_so():
    names = RunNames(**{**NAMES.__dict__, "table_k": 25})
    df = comparison(load_reference(), names, run_tables())
    assert set(df[(df["table"] == "Table 1")]["note"]) == {"run k = 25"}


def test_config_yaml_names_map_onto_every_paper_column():
    from safety_neurons.workflow import layout
    from safety_neurons.workflow.config import load
    from tests.conftest import REPO

    config = load(REPO / "config.yaml")
    names = RunNames(**layout.paper_names(config))
    assert {names.column(d) for d in config["patching"]["datasets"]} == {"BT", "RT", "HB", "JL"}
    assert {names.column(b) for b in config["evaluation"]["general"]["benchmarks"]} == {
        "PPL",
        "GSM",
        "BBH",
        "MMLU",
        "TQA",
    }
    assert {names.paper_model(m, load_reference()) for m in config["active_models"]} == set(load_reference()["models"])
    rows = {names.paper_row(r if s is None else f"{r}+{s}") for r, s in layout.eval_rows(config)}
    assert rows == {"Base", "SFT", "Base§", "SFT§", "Base†", "SFT†", "Base‡", "SFT‡", None}  # None: random neurons
