"""Causal effect (Eq. 4), ΔGen, the paired t-test and the tables built from them, on hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from safety_neurons.evaluation.metrics import causal_effect, delta_gen, mean_ci, paired_ttest
from safety_neurons.reporting.tables import markdown, row_label, safety_long, table1, table8, ttest_table


def test_causal_effect_worked_example():
    # docs/decisions.md#metrics: M1 +3.0, M2 -12.0, patched -7.5 -> C = -10.5 / -15.0 = 0.70
    assert causal_effect(-7.5, 3.0, -12.0) == pytest.approx(0.70)


@pytest.mark.parametrize(
    ("patched", "unpatched", "guide", "expected"),
    [
        (-12.0, 3.0, -12.0, 1.0),  # full restoration
        (3.0, 3.0, -12.0, 0.0),  # no effect
        (-15.0, 3.0, -12.0, 1.2),  # safer than M2
        (6.0, 3.0, -12.0, -0.2),  # patching made M1 less safe
    ],
)
def test_causal_effect_cases(patched, unpatched, guide, expected):
    assert causal_effect(patched, unpatched, guide) == pytest.approx(expected)


def test_causal_effect_averages_per_prompt_arrays():
    patched, unpatched, guide = [-10.0, -5.0], [4.0, 2.0], [-14.0, -10.0]
    # means -7.5, 3.0, -12.0 -> 0.70
    assert causal_effect(patched, unpatched, np.array(guide)) == pytest.approx(0.70)


def test_causal_effect_undefined_and_bad_input():
    assert math.isnan(causal_effect(1.0, 2.0, 2.0))
    with pytest.raises(ValueError, match="guide is empty"):
        causal_effect([1.0], [2.0], [])
    with pytest.raises(ValueError, match="patched holds non-finite"):
        causal_effect([float("nan")], [2.0], [1.0])


def test_delta_gen_excludes_perplexity():
    patched = {"gsm8k": 0.2, "bbh": 0.3, "mmlu": 0.5, "tqa": 0.4, "ppl": 9.0}
    unpatched = {"gsm8k": 0.1, "bbh": 0.3, "mmlu": 0.4, "tqa": 0.4, "ppl": 5.0}
    assert delta_gen(patched, unpatched) == pytest.approx((0.1 + 0.0 + 0.1 + 0.0) / 4)
    with pytest.raises(ValueError, match="tqa"):
        delta_gen({"gsm8k": 0, "bbh": 0, "mmlu": 0}, unpatched)


def test_paired_ttest_matches_formula():
    a, b = [1.0, 2.0, 4.0, 7.0], [0.5, 2.5, 2.0, 5.0]
    d = np.subtract(a, b)
    t_manual = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    t, p = paired_ttest(a, b)
    assert t == pytest.approx(t_manual)
    assert 0 < p < 1
    with pytest.raises(ValueError, match="pairs must match"):
        paired_ttest([1.0, 2.0], [1.0])


def test_mean_ci():
    m, half = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0
    assert half == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)  # t(0.975, 2) x sd / sqrt(n)
    assert mean_ci([5.0]) == (5.0, 0.0)


def _scores(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_tables_from_scored_files(tmp_path):
    """Table 8 means, Table 1's C and ΔGen and the t-test, from per-prompt files with known values."""
    ids = ["a", "b"]
    sweep = [{"id": i, "k": 0, "score": s} for i, s in zip(ids, [4.0, 2.0], strict=True)]
    sweep += [{"id": i, "k": 10, "score": s} for i, s in zip(ids, [-10.0, -5.0], strict=True)]
    rnd = [{"id": i, "k": 0, "score": s} for i, s in zip(ids, [4.0, 2.0], strict=True)]
    rnd += [{"id": i, "k": 10, "score": s} for i, s in zip(ids, [3.0, 2.0], strict=True)]
    top_f, rnd_f = _scores(tmp_path / "top.jsonl", sweep), _scores(tmp_path / "rnd.jsonl", rnd)
    dpo_f = _scores(tmp_path / "dpo.jsonl", [{"id": "a", "k": 0, "score": -14.0}, {"id": "b", "k": 0, "score": -10.0}])
    e = dict(model="m", seed=1, judge="j", dataset="bt")
    manifest = [
        e | dict(row="sft", k=0, path=top_f),
        e | dict(row="sft+main-top", k=10, path=top_f),
        e | dict(row="sft+main-random", k=10, path=rnd_f),
        e | dict(row="dpo", k=0, path=dpo_f),
    ]
    safety = safety_long(manifest)
    general = pd.DataFrame(
        [
            {"model": "m", "seed": 1, "row": r, "benchmark": b, "metric": "accuracy", "value": v, "n": 10}
            for r, vals in {"sft": 0.4, "sft+main-top": 0.5, "sft+main-random": 0.4, "dpo": 0.3}.items()
            for b, v in {"gsm8k": vals, "bbh": vals, "mmlu": vals, "tqa": vals}.items()
        ]
    )
    t8 = table8(safety, general, "j", ["bt"], ["gsm8k", "bbh", "mmlu", "tqa"])
    assert list(t8["row"]) == ["sft", "sft+main-random", "sft+main-top", "dpo"]
    assert t8.set_index("row").at["sft+main-top", "bt"] == pytest.approx(-7.5)
    t1 = table1(t8, ["bt"], ["gsm8k", "bbh", "mmlu", "tqa"]).set_index("row")
    assert t1.at["sft+main-top", "C_bt"] == pytest.approx(0.70)
    assert t1.at["sft+main-random", "C_bt"] == pytest.approx((2.5 - 3.0) / (-12.0 - 3.0))
    assert t1.at["sft+main-top", "delta_gen"] == pytest.approx(0.1)
    assert t1.at["sft+main-top", "bt_guide"] == pytest.approx(-12.0)
    tt = ttest_table([dict(model="m", seed=1, m1="sft", dataset="bt", k=10, top=top_f, random=rnd_f)])
    assert tt.loc[0, "mean_top"] == pytest.approx(-7.5) and tt.loc[0, "mean_random"] == pytest.approx(2.5)
    md = markdown(t1.reset_index()[["model", "row", "C_bt"]], digits=1, scale={"C_bt": 100})
    assert "| m | sft+main-top | 70.0 |" in md
    assert row_label("sft+main-top") == "SFT + main-top"


def test_tables_keep_each_models_rows_apart(tmp_path):
    """Two models in one run (the workflow test has one): each model's Table 8 means, C and t-test row come from
    its own files only, whatever the order of the manifest."""

    def rows(k10: tuple[float, float], scale: float) -> list[dict]:
        k0 = [{"id": i, "k": 0, "score": 4 * scale} for i in "ab"]
        return k0 + [{"id": i, "k": 10, "score": v * scale} for i, v in zip("ab", k10, strict=True)]

    manifest, pairs, general = [], [], []
    for model, scale in (("m", 1.0), ("n", 2.0)):
        top = _scores(tmp_path / f"{model}_top.jsonl", rows((-8, -6), scale))
        rnd = _scores(tmp_path / f"{model}_rnd.jsonl", rows((4, 2), scale))
        dpo = _scores(tmp_path / f"{model}_dpo.jsonl", [{"id": i, "k": 0, "score": -12 * scale} for i in "ab"])
        e = dict(model=model, seed=1, judge="j", dataset="bt")
        manifest += [
            e | dict(row="dpo", k=0, path=dpo),
            e | dict(row="sft+main-top", k=10, path=top),
            e | dict(row="sft", k=0, path=top),
            e | dict(row="sft+main-random", k=10, path=rnd),
        ]
        pairs.append(dict(model=model, seed=1, m1="sft", dataset="bt", k=10, top=top, random=rnd))
        general += [
            {"model": model, "seed": 1, "row": r, "benchmark": "mmlu", "metric": "accuracy", "value": v * scale, "n": 4}
            for r, v in {"sft": 0.2, "sft+main-top": 0.3, "sft+main-random": 0.2, "dpo": 0.1}.items()
        ]
    t8 = table8(safety_long(manifest[::-1]), pd.DataFrame(general), "j", ["bt"], ["mmlu"])
    by = t8.set_index(["model", "row"])
    assert by.at[("m", "sft+main-top"), "bt"] == -7 and by.at[("n", "sft+main-top"), "bt"] == -14
    assert by.at[("n", "dpo"), "mmlu"] == pytest.approx(0.2)
    t1 = table1(t8, ["bt"], ["mmlu"]).set_index(["model", "row"])
    for model in ("m", "n"):
        assert t1.at[(model, "sft+main-top"), "C_bt"] == pytest.approx(11 / 16)  # (-7 - 4) / (-12 - 4), any scale
        assert t1.at[(model, "sft+main-random"), "C_bt"] == pytest.approx(1 / 16)
    tt = ttest_table(pairs)
    assert list(tt["model"]) == ["m", "n"] and list(tt["mean_top"]) == [-7, -14]


def test_missing_k_is_an_error(tmp_path):
    f = _scores(tmp_path / "s.jsonl", [{"id": "a", "k": 0, "score": 1.0}])
    with pytest.raises(ValueError, match="no scored rows with k=5"):
        safety_long([dict(model="m", seed=1, judge="j", dataset="d", row="sft+x-top", k=5, path=f)])


def test_cross_sets_and_tables(tmp_path):
    """Shared top-k sets (E7), k = 0 always present; Table 3 deltas and Table 10 rows from known scores."""
    import torch

    from safety_neurons.experiments.cross import cross_long, cross_sets, shared_top, table3, table10

    a = torch.tensor([[1, 5], [0, 2], [1, 7], [0, 3]])
    b = torch.tensor([[0, 2], [1, 9], [1, 5], [0, 3]])
    assert shared_top([a, b], 3) == {1: [5], 0: [2]}  # layers in a's order of first appearance
    assert shared_top([a], 2) == {1: [5], 0: [2]}
    sets = cross_sets([a, b], [3], [0.5])  # 0.5 x 4 ranked -> k = 2
    assert set(sets) == {0, 2, 3} and sets[0] == {} and sets[2] == {0: [2]}
    rows = [
        {"id": i, "k": k, "score": s, "n_neurons": n}
        for i, k, s, n in [("a", 0, 1.0, 0), ("b", 0, 3.0, 0), ("a", 3, -2.0, 2), ("b", 3, -4.0, 2)]
    ]
    e = dict(name="help_to_safe", model="m", dataset="bt", m1="hh_harmless", guide="hh_helpful")
    cost = _scores(tmp_path / "c.jsonl", rows)
    reward = _scores(tmp_path / "r.jsonl", [r | {"score": -r["score"]} for r in rows])
    guide = _scores(tmp_path / "g.jsonl", [{"id": "a", "k": 0, "score": -5.0}, {"id": "b", "k": 0, "score": -7.0}])
    long = cross_long(
        [e | dict(judge="cost", path=cost, guide_path=guide), e | dict(judge="reward", path=reward, guide_path=guide)]
    )
    patched = long[(long.judge == "cost") & (long.k == 3)].iloc[0]
    assert patched["delta"] == pytest.approx(-5.0) and patched["C"] == pytest.approx(-5.0 / -8.0)
    t3 = table3(long, ["help_to_safe"])
    assert t3.loc[0, "delta_cost"] == pytest.approx(-5.0) and t3.loc[0, "delta_reward"] == pytest.approx(5.0)
    t10 = table10(long[long.judge == "cost"].assign(name="joint_hh"), "joint_hh")
    assert list(t10["row"]) == ["DPO hh_harmless", "DPO hh_harmless patched (k=3, 2 neurons)", "DPO hh_helpful"]
    assert list(t10["bt"]) == pytest.approx([2.0, -3.0, -6.0])
