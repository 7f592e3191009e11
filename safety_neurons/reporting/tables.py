"""The paper's tables as files: Table 8 (raw means), Table 1 (causal effect C and ΔGen), the t-test table.

Inputs are manifests: one entry per scored file with what it holds (model, seed, row, dataset or benchmark,
k, judge, path), built by the workflow so this module never parses paths. A row id is ``base``/``sft``/``dpo``
(unpatched) or ``{m1}+{source}`` (M1 patched with the guide's activations at ``source``'s neurons).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from safety_neurons.evaluation.metrics import bootstrap_c, causal_effect, delta_gen, paired_ttest
from safety_neurons.files import read_jsonl

STAGE_LABELS = {"base": "Base", "sft": "SFT", "dpo": "DPO"}


def row_id(m1: str, source: str | None) -> str:
    """``sft`` for unpatched SFT, ``sft+main-top`` for SFT patched at the main variant's top neurons."""
    return m1 if source in (None, "none") else f"{m1}+{source}"


def row_label(row: str) -> str:
    """A readable row name: 'SFT', 'SFT + main-top'."""
    m1, _, source = row.partition("+")
    return STAGE_LABELS[m1] + (f" + {source}" if source else "")


def read_scores(path: str | Path, k: int | None = None) -> dict[str, float]:
    """Per-prompt judge scores of one file (id -> score), only the rows of patch size ``k`` when given."""
    rows = read_jsonl(path)
    out = {r["id"]: float(r["score"]) for r in rows if k is None or int(r["k"]) == k}
    if not out:
        raise ValueError(f"{path}: no scored rows" + (f" with k={k}" if k is not None else ""))
    return out


def safety_long(manifest: Sequence[dict]) -> pd.DataFrame:
    """One row per (model, seed, row, dataset, judge, k): mean, std, share > 0 (harmful/positive), n."""
    records = []
    for e in manifest:
        s = np.array(list(read_scores(e["path"], e.get("k")).values()))
        records.append(
            {
                **{key: e[key] for key in ("model", "seed", "row", "dataset", "judge")},
                "k": e.get("k", 0),
                "mean": s.mean(),
                "std": s.std(),
                "positive_rate": float((s > 0).mean()),
                "n": len(s),
            }
        )
    return pd.DataFrame.from_records(records)


def general_long(manifest: Sequence[dict]) -> pd.DataFrame:
    """One row per (model, seed, row, benchmark): the benchmark's metric value and item count."""
    records = []
    for e in manifest:
        res = json.loads(Path(e["path"]).read_text())
        records.append(
            {
                **{key: e[key] for key in ("model", "seed", "row", "benchmark")},
                "metric": res["metric"],
                "value": float(res["value"]),
                "n": int(res["n"]),
            }
        )
    return pd.DataFrame.from_records(records)


def _wide(df: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    return df.pivot_table(index=["model", "row"], columns=column, values=value, aggfunc="first")


def table8(
    safety: pd.DataFrame, general: pd.DataFrame, judge: str, datasets: list[str], benchmarks: list[str]
) -> pd.DataFrame:
    """Model x row: mean cost per safety set (``judge``), then each general benchmark (Table 8's layout)."""
    cost = _wide(safety[safety["judge"] == judge], "dataset", "mean").reindex(columns=datasets)
    parts = [cost]
    if len(general):
        parts.append(_wide(general, "benchmark", "value").reindex(columns=benchmarks))
    out = pd.concat(parts, axis=1).reset_index()
    order = {r: i for i, r in enumerate(_row_order(out["row"]))}
    out = out.sort_values(["model", "row"], key=lambda s: s.map(order) if s.name == "row" else s)
    return out.reset_index(drop=True)


def _row_order(rows: Sequence[str]) -> list[str]:
    """Base rows, then SFT rows, then DPO; unpatched first within each M1."""
    stage = {"base": 0, "sft": 1, "dpo": 2}
    return sorted(set(rows), key=lambda r: (stage[r.partition("+")[0]], "+" in r, r))


def c_intervals(manifest: Sequence[dict], judge: str, n_boot: int = 1000, seed: int = 0) -> dict[tuple, tuple]:
    """(model, row, dataset) -> 95% bootstrap interval over prompts of a patched row's C on one safety set
    (``judge``'s scores; the same resampled prompts for the patched, unpatched and guide scores)."""
    rng, out = np.random.default_rng(seed), {}
    entries = {(e["model"], e["row"], e["dataset"]): e for e in manifest if e["judge"] == judge}
    for (model, row, dataset), e in entries.items():
        m1, _, source = row.partition("+")
        if source:
            trio = (e, entries[(model, m1, dataset)], entries[(model, "dpo", dataset)])
            scores = [read_scores(x["path"], x.get("k")) for x in trio]
            ids = sorted(set.intersection(*(set(s) for s in scores)))
            rows = np.array([[s[i] for s in scores] for i in ids])
            out[(model, row, dataset)] = interval(bootstrap_c(rows, rng.integers(0, len(ids), (n_boot, len(ids)))))
    return out


def table1(
    t8: pd.DataFrame, datasets: list[str], benchmarks: list[str], intervals: dict[tuple, tuple] | None = None
) -> pd.DataFrame:
    """Per model and patched row: C per safety set (fraction; Eq. 4 over means, guide = DPO) with its
    ``intervals`` (``c_intervals``) and the raw means beside it, and ΔGen over GSM8K/BBH/MMLU/TQA when those
    benchmarks are in ``benchmarks``."""
    intervals, records = intervals or {}, []
    for model, g in t8.groupby("model", sort=False):
        rows = g.set_index("row")
        for row in rows.index:
            m1, _, source = row.partition("+")
            if not source:
                continue
            rec: dict = {"model": model, "row": row, "m1": m1, "source": source}
            for d in datasets:
                u, p, guide = rows.at[m1, d], rows.at[row, d], rows.at["dpo", d]
                lo, hi = intervals.get((model, row, d), (np.nan, np.nan))
                rec |= {
                    f"C_{d}": causal_effect(p, u, guide),
                    f"C_{d}_lo": lo,
                    f"C_{d}_hi": hi,
                    f"{d}_unpatched": u,
                    f"{d}_patched": p,
                    f"{d}_guide": guide,
                }
            rec["C_mean"] = float(np.nanmean([rec[f"C_{d}"] for d in datasets]))
            if all(b in benchmarks for b in ("gsm8k", "bbh", "mmlu", "tqa")):
                rec["delta_gen"] = delta_gen(rows.loc[row].to_dict(), rows.loc[m1].to_dict())
            records.append(rec)
    return pd.DataFrame.from_records(records)


def ttest_table(pairs: Sequence[dict]) -> pd.DataFrame:
    """Paired t-test of per-prompt costs, safety vs random neurons at the same k (same prompts, Fig. 2)."""
    records = []
    for e in pairs:
        top, rnd = read_scores(e["top"], e["k"]), read_scores(e["random"], e["k"])
        if top.keys() != rnd.keys():
            raise ValueError(f"{e['top']} and {e['random']} score different prompts")
        ids = sorted(top)
        t, p = paired_ttest([top[i] for i in ids], [rnd[i] for i in ids])
        records.append(
            {
                **{key: e[key] for key in ("model", "seed", "m1", "dataset", "k")},
                "n": len(ids),
                "mean_top": float(np.mean([top[i] for i in ids])),
                "mean_random": float(np.mean([rnd[i] for i in ids])),
                "t": t,
                "p": p,
            }
        )
    return pd.DataFrame.from_records(records)


def headline(pairs: Sequence[dict], alignment: dict[str, dict], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The paper's claim per model and M1, in one row: C of the top-k safety neurons and of k random ones
    (Eq. 4, averaged over the safety sets; 95% bootstrap interval over each set's prompts), a paired t-test of
    their per-prompt costs over all sets, and the alignment check's refusal rates of SFT and DPO (harmful)."""
    rng, records = np.random.default_rng(seed), []
    groups: dict[tuple, list[dict]] = {}
    for e in pairs:
        groups.setdefault((e["model"], e["m1"], e["k"]), []).append(e)
    for (model, m1, k), entries in groups.items():
        c, boot, top_all, rnd_all = {"top": [], "random": []}, {"top": [], "random": []}, [], []
        for e in entries:
            unpatched, guide = read_scores(e["top"], 0), read_scores(e["guide"])
            scores = {kind: read_scores(e[kind], k) for kind in c}
            ids = sorted(set(unpatched) & set(guide) & set(scores["top"]) & set(scores["random"]))
            draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
            for kind in c:
                rows = np.array([[scores[kind][i], unpatched[i], guide[i]] for i in ids])
                c[kind].append(causal_effect(rows[:, 0], rows[:, 1], rows[:, 2]))
                boot[kind].append(bootstrap_c(rows, draws))
            top_all += [scores["top"][i] for i in ids]
            rnd_all += [scores["random"][i] for i in ids]
        rec = {"model": model, "m1": m1, "k": k, "share": k / entries[0]["n_neurons"], "sets": len(entries)}
        for kind in c:
            lo, hi = interval(np.mean(boot[kind], axis=0))
            rec |= {f"C_{kind}": float(np.mean(c[kind])), f"C_{kind}_lo": float(lo), f"C_{kind}_hi": float(hi)}
        rec["t"], rec["p"] = paired_ttest(top_all, rnd_all)
        checked = alignment[model]
        rec |= {f"refusal_{stage}": checked[stage]["harmful"]["refusal_rate"] for stage in ("sft", "dpo")}
        records.append(rec)
    return pd.DataFrame.from_records(records)


def interval(draws: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap draws over the draws where C is defined (a draw whose M1 and
    M2 means agree has none); NaN when no draw has one."""
    finite = draws[np.isfinite(draws)]
    return tuple(np.percentile(finite, [2.5, 97.5])) if finite.size else (np.nan, np.nan)


def headline_text(df: pd.DataFrame) -> str:
    """A few lines a person reads at the end of a run."""
    if df.empty:
        return "no headline: patching.sources holds no {variant}-top with its {variant}-random\n"
    lines = ["model        M1    k (share)    C top k [95% CI]     C random k [95% CI]  paired t   refusals SFT->DPO"]
    for r in df.itertuples(index=False):
        lines.append(
            f"{r.model:12s} {r.m1:5s} {r.k:4d} ({r.share:4.1%})  "
            f"{r.C_top:5.2f} [{r.C_top_lo:5.2f}, {r.C_top_hi:5.2f}]  "
            f"{r.C_random:5.2f} [{r.C_random_lo:5.2f}, {r.C_random_hi:5.2f}]  p={r.p:<8.1e} "
            f"{r.refusal_sft:4.0%} -> {r.refusal_dpo:4.0%}"
        )
    lines.append(
        "M1 patched at its top-k safety neurons (or k random ones) with the DPO model's activations; C = 1: DPO's"
        f" safety fully restored, 0: none. Mean over {df.sets.iloc[0]} red-team sets; refusals: harmful prompts."
    )
    return "\n".join(lines) + "\n"


def markdown(df: pd.DataFrame, digits: int = 2, scale: dict[str, float] | None = None) -> str:
    """A GitHub markdown table; numbers rounded to ``digits`` after multiplying the ``scale`` columns."""
    scale = scale or {}

    def cell(col: str, v) -> str:
        if isinstance(v, float | np.floating):
            return "nan" if np.isnan(v) else f"{v * scale.get(col, 1.0):.{digits}f}"
        return str(v)

    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    body = "".join(
        "| " + " | ".join(cell(c, v) for c, v in zip(df.columns, r, strict=True)) + " |\n"
        for r in df.itertuples(index=False)
    )
    return head + body
