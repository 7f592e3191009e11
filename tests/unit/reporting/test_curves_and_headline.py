"""Fig. 2's curves with prompt-bootstrap bands and the headline: C from per-prompt scores, intervals, t-test."""

from __future__ import annotations

import numpy as np
import pytest

from safety_neurons.files import write_jsonl
from safety_neurons.reporting.figures import effect_curves, plot_effect_curves
from safety_neurons.reporting.tables import headline, headline_text

N = 40


def _sweep(path, unpatched, per_k):
    """A scored patching sweep: k = 0 (unpatched) and each k of per_k."""
    rows = [{"id": f"p{i}", "k": 0, "score": float(s)} for i, s in enumerate(unpatched)]
    for k, scores in per_k.items():
        rows += [{"id": f"p{i}", "k": k, "score": float(s)} for i, s in enumerate(scores)]
    write_jsonl(rows, path)
    return str(path)


def _world(tmp_path, dataset="d1", seed=0):
    """SFT costs ~ +2, DPO ~ -2; the top set restores DPO exactly at k = 50, random neurons change nothing."""
    rng = np.random.default_rng(seed)
    sft = 2 + rng.normal(0, 1, N)
    dpo = -2 + rng.normal(0, 1, N)
    guide = tmp_path / f"{dataset}_guide.jsonl"
    write_jsonl([{"id": f"p{i}", "k": 0, "score": float(s)} for i, s in enumerate(dpo)], guide)
    top = _sweep(tmp_path / f"{dataset}_top.jsonl", sft, {25: (sft + dpo) / 2, 50: dpo})
    rnd = _sweep(tmp_path / f"{dataset}_random.jsonl", sft, {25: sft, 50: sft})
    return top, rnd, str(guide)


def test_effect_curves_give_c_with_a_prompt_bootstrap_band_and_k_as_a_share(tmp_path):
    top, rnd, guide = _world(tmp_path)
    entries = [
        dict(model="m", seed=1, m1="sft", kind=kind, dataset="d1", path=path, guide_path=guide, n_neurons=1000)
        for kind, path in (("top", top), ("random", rnd))
    ]
    curves = effect_curves(entries).set_index(["kind", "k"])
    assert curves.loc[("top", 50), "C"] == pytest.approx(1.0)
    assert curves.loc[("top", 25), "C"] == pytest.approx(0.5)
    assert curves.loc[("top", 50), ["C_lo", "C_hi"]].tolist() == pytest.approx([1.0, 1.0])  # same prompts
    lo, hi = curves.loc[("top", 25), ["C_lo", "C_hi"]]
    assert lo < 0.5 < hi and hi - lo < 0.5  # a band that says something at 40 prompts
    assert curves.loc[("random", 50), "C"] == pytest.approx(0.0)
    assert curves.loc[("top", 50), "share"] == pytest.approx(0.05)
    plot_effect_curves(curves.reset_index(), tmp_path / "fig2.png")
    assert (tmp_path / "fig2.png").stat().st_size > 0


def test_effect_curves_average_seeds_on_the_same_resampled_prompts(tmp_path):
    entries = []
    for seed in (1, 2):
        (tmp_path / f"s{seed}").mkdir()
        top, _, guide = _world(tmp_path / f"s{seed}", seed=seed)
        entries.append(dict(model="m", seed=seed, m1="sft", kind="top", dataset="d1", path=top, guide_path=guide))
    curves = effect_curves(entries).set_index("k")
    assert curves.loc[50, "seeds"] == 2 and curves.loc[50, "C"] == pytest.approx(1.0)
    assert np.isnan(curves.loc[50, "share"])  # no n_neurons given


def test_headline_reports_c_intervals_the_ttest_and_refusals(tmp_path):
    pairs = []
    for d in ("d1", "d2"):
        top, rnd, guide = _world(tmp_path, d, seed=len(pairs))
        pairs.append(
            dict(model="m", seed=1, m1="sft", dataset=d, k=50, top=top, random=rnd, guide=guide, n_neurons=1000)
        )
    checked = {stage: {"harmful": {"refusal_rate": rate}} for stage, rate in (("sft", 0.1), ("dpo", 0.9))}
    row = headline(pairs, {"m": checked}).iloc[0]
    assert row["C_top"] == pytest.approx(1.0) and row["C_random"] == pytest.approx(0.0)
    assert row["C_random_lo"] == pytest.approx(0.0) and row["C_random_hi"] == pytest.approx(0.0)
    assert row["p"] < 1e-6 and row["sets"] == 2 and row["share"] == pytest.approx(0.05)
    assert (row["refusal_sft"], row["refusal_dpo"]) == (0.1, 0.9)
    text = headline_text(headline(pairs, {"m": checked}))
    assert "1.00 [ 1.00,  1.00]" in text and "10% ->  90%" in text
