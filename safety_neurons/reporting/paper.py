"""The paper's published values beside this run's: results/tables/paper_comparison.{csv,md}.

One row per (table, model, row, column) that both have: the paper's value, the run's, their difference and,
for the causal effect C, the run's 95% bootstrap interval over prompts and whether it contains the paper's
value. A model whose base is not one of the paper's (the tiny world) gets one row saying so. The published
values live in ``paper_values.yaml`` beside this module, with their sources.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from safety_neurons.evaluation.metrics import GENERAL_FOR_DELTA, causal_effect, delta_gen
from safety_neurons.reporting.tables import STAGE_LABELS

REFERENCE = Path(__file__).with_name("paper_values.yaml")
SAFETY_COLUMNS = {"beavertails": "BT", "red_team": "RT", "harmbench": "HB", "jailbreak_questions": "JL"}  # loader kinds
GENERAL_COLUMNS = {"ppl": "PPL", "gsm8k": "GSM", "bbh": "BBH", "mmlu": "MMLU", "tqa": "TQA"}  # by benchmark key
MARKS = {"wanda": "†", "sn_tune": "‡", "change_scores": "§"}  # a patched row's method -> Table 8's mark
COLUMNS = [
    "table",
    "model",
    "paper_model",
    "row",
    "column",
    "paper",
    "run",
    "difference",
    "run_lo",
    "run_hi",
    "paper_in_ci",
    "note",
]


@dataclass(frozen=True)
class RunNames:
    """How this run names what the paper names: models by base hub id, datasets by loader kind, neuron
    variants by method; ``table_k`` is the k of the run's "Ours" rows, ``judges`` each judge's direction,
    ``joint`` the preferences of Table 10's patched DPO and guide."""

    hub_ids: Mapping[str, str | None]
    kinds: Mapping[str, str]
    methods: Mapping[str, str]
    table_k: int | str
    judges: Mapping[str, str]
    joint: Sequence[str] | None = None  # Table 10's cross entry (joint_hh): its patched DPO and its guide

    def paper_model(self, model: str, reference: dict) -> str | None:
        by_hub = {hub: name for name, hub in reference["models"].items()}
        return by_hub.get(self.hub_ids.get(model) or "")

    def paper_row(self, row: str) -> str | None:
        """'sft' -> 'SFT', 'sft+main-top' -> 'SFT§' (a method's top-k); None for rows the paper has not."""
        m1, _, source = row.partition("+")
        if not source:
            return STAGE_LABELS[m1]
        variant, _, kind = source.rpartition("-")
        return STAGE_LABELS[m1] + MARKS[self.methods[variant]] if kind == "top" else None

    def column(self, name: str) -> str | None:
        """A run's dataset or benchmark column as the paper's (BT, RT, HB, JL, PPL, GSM, ...)."""
        return SAFETY_COLUMNS.get(self.kinds.get(name, "")) or GENERAL_COLUMNS.get(name)


def load_reference(path: str | Path = REFERENCE) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _record(table: str, model: str, paper_model: str, row: str, column: str, paper: float, run: float, **extra):
    diff = run - paper if np.isfinite([run, paper]).all() else math.nan
    return (
        dict(
            table=table,
            model=model,
            paper_model=paper_model,
            row=row,
            column=column,
            paper=paper,
            run=run,
            difference=diff,
        )
        | extra
    )


def table8_rows(ref: dict, names: RunNames, t8: pd.DataFrame) -> list[dict]:
    """Every Table 8 cell the run has, raw values (mean cost, perplexity, accuracy)."""
    paper, out = ref["table8"], []
    for r in t8.itertuples(index=False):
        pm, label = names.paper_model(r.model, ref), names.paper_row(r.row)
        published = paper["rows"].get(pm, {}).get(label)
        if published is None:
            continue
        for name in t8.columns[2:]:
            column = names.column(name)
            if column in paper["columns"]:
                value = published[paper["columns"].index(column)]
                out.append(_record("Table 8", r.model, pm, label, column, value, float(getattr(r, name))))
    return out


def paper_table1(published: Mapping[str, list[float]], columns: list[str], m1: str, row: str) -> dict[str, float]:
    """Table 1's entries of one patched row from Table 8's means, as the paper derives them: C per safety set
    (Eq. 4, guide = DPO) and ΔGen (mean change of GSM, BBH, MMLU, TQA)."""
    u, p, g = (dict(zip(columns, published[label], strict=True)) for label in (m1, row, "DPO"))
    out = {s: causal_effect(p[s], u[s], g[s]) for s in SAFETY_COLUMNS.values()}
    out["C mean"] = float(np.mean(list(out.values())))
    benchmarks = {b: GENERAL_COLUMNS[b] for b in GENERAL_FOR_DELTA}
    out["ΔGen"] = delta_gen({b: p[c] for b, c in benchmarks.items()}, {b: u[c] for b, c in benchmarks.items()})
    return out


def table1_rows(ref: dict, names: RunNames, t1: pd.DataFrame) -> list[dict]:
    """C per set (with the run's interval), C averaged over the sets and ΔGen, for every patched row."""
    paper, out = ref["table8"], []
    for r in t1.to_dict("records"):
        pm, label = names.paper_model(r["model"], ref), names.paper_row(r["row"])
        rows = paper["rows"].get(pm, {})
        if label not in rows:
            continue
        published = paper_table1(rows, paper["columns"], STAGE_LABELS[r["m1"]], label)
        note = "" if label[-1] != "§" or names.table_k == paper["table_k"] else f"run k = {names.table_k}"
        for name in [c.removeprefix("C_") for c in r if c.startswith("C_") and c[2:] in names.kinds]:
            column = names.column(name)
            if column not in published:  # a set the paper did not table
                continue
            lo, hi = r[f"C_{name}_lo"], r[f"C_{name}_hi"]
            inside = bool(lo <= published[column] <= hi) if np.isfinite([lo, hi]).all() else None
            out.append(
                _record(
                    "Table 1",
                    r["model"],
                    pm,
                    label,
                    f"C {column}",
                    published[column],
                    r[f"C_{name}"],
                    run_lo=lo,
                    run_hi=hi,
                    paper_in_ci=inside,
                    note=note,
                )
            )
        out.append(_record("Table 1", r["model"], pm, label, "C mean", published["C mean"], r["C_mean"], note=note))
        if "delta_gen" in r:
            out.append(_record("Table 1", r["model"], pm, label, "ΔGen", published["ΔGen"], r["delta_gen"], note=note))
    return out


def ttest_rows(ref: dict, names: RunNames, ttest: pd.DataFrame) -> list[dict]:
    """The paired t-test's p, safety vs random neurons; the difference is in log10 p."""
    paper, out = ref["ttest"], []
    for r in ttest.itertuples(index=False):
        pm, m1 = names.paper_model(r.model, ref), STAGE_LABELS[r.m1]
        published = paper["p"].get(pm, {}).get(m1)
        if published is None or names.column(r.dataset) != paper["dataset"]:
            continue
        rec = _record("t-test", r.model, pm, m1, "p", published, float(r.p))
        rec["difference"] = math.log10(max(float(r.p), 1e-300)) - math.log10(published)
        notes = ["difference in log10 p"] + ([f"run k = {r.k}"] if r.k != paper["k"] else [])
        out.append(rec | {"note": "; ".join(notes)})
    return out


def table3_rows(ref: dict, names: RunNames, t3: pd.DataFrame) -> list[dict]:
    """Table 3's magnitudes: |change| of mean cost (safety) and mean reward (helpfulness) by cross-patching."""
    out = []
    for r in t3.to_dict("records"):
        pm = names.paper_model(r["model"], ref)
        published = ref["table3"]["rows"].get(pm, {}).get(r["direction"])
        if published is None:
            continue
        for judge, direction in names.judges.items():
            if f"delta_{judge}" in r and direction in ("cost", "reward"):
                value, column = (
                    published[direction == "reward"],
                    "Δ safety (cost)" if direction == "cost" else "Δ helpfulness (reward)",
                )
                out.append(
                    _record(
                        "Table 3",
                        r["model"],
                        pm,
                        r["direction"],
                        column,
                        value,
                        abs(r[f"delta_{judge}"]),
                        note=f"magnitudes; run k = {r['k']}, {r['n_neurons']} neurons",
                    )
                )
    return out


def table10_rows(ref: dict, names: RunNames, t10: pd.DataFrame) -> list[dict]:
    """Table 10's mean costs: the helpful DPO, it patched at its helpful neurons, and the HH DPO."""
    paper, out = ref["table10"], []
    if names.joint is None:
        return out
    m1, guide = names.joint
    for r in t10.to_dict("records"):
        pm = names.paper_model(r["model"], ref)
        patched = r["row"].startswith(f"DPO {m1} patched")
        label = {f"DPO {m1}": "Helpful DPO", f"DPO {guide}": "HH DPO"}.get(
            r["row"], "Helpful DPO †" if patched else None
        )
        if pm != paper["model"] or label is None:
            continue
        for name in [c for c in r if names.column(c) in paper["columns"]]:
            value = paper["rows"][label][paper["columns"].index(names.column(name))]
            note = r["row"].removeprefix(f"DPO {m1} patched ") if patched else ""
            out.append(_record("Table 10", r["model"], pm, label, names.column(name), value, r[name], note=note))
    return out


def seeds_rows(ref: dict, names: RunNames, seeds: pd.DataFrame) -> list[dict]:
    """The seeds claim: overlap and Spearman of the top-k neurons across training seeds both exceed 0.95."""
    bound, out = ref["seeds"]["bound"], []
    for model, g in seeds.groupby("model", sort=False):
        pm = names.paper_model(model, ref)
        if pm is None:
            continue
        for column in ("overlap", "spearman"):
            run = float(g[column].min())
            note = f"paper: every pair > {bound}; {'holds' if run > bound else 'does not hold'} here"
            out.append(
                _record("Seeds", model, pm, f"k = {int(g['k'].iloc[0])}", f"min {column}", bound, run, note=note)
            )
    return out


def safeguard_rows(ref: dict, names: RunNames, acc: pd.DataFrame) -> list[dict]:
    """The safeguard's accuracy with the paper's 1,500 safety neurons of the guarded SFT model."""
    paper, out = ref["safeguard"], []
    sel = acc[(acc["neurons"] == "safety") & (acc["guarded"] == paper["guarded"]) & (acc["k"] == paper["k"])]
    for r in sel.itertuples(index=False):
        pm = names.paper_model(r.model, ref)
        if pm == paper["model"]:
            out.append(
                _record(
                    "Safeguard",
                    r.model,
                    pm,
                    "SFT",
                    f"accuracy (k = {paper['k']})",
                    paper["accuracy"],
                    float(r.accuracy),
                )
            )
    return out


def comparison(ref: dict, names: RunNames, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every comparable value of the run's tables (keys: table8, table1, ttest, and table3, table10, seeds,
    safeguard when the run made them) beside the paper's; one row per model the paper does not have."""
    makers = {
        "table8": table8_rows,
        "table1": table1_rows,
        "ttest": ttest_rows,
        "table3": table3_rows,
        "table10": table10_rows,
        "seeds": seeds_rows,
        "safeguard": safeguard_rows,
    }
    records = [rec for key, df in tables.items() if len(df) for rec in makers[key](ref, names, df)]
    for model in names.hub_ids:
        if names.paper_model(model, ref) is None:
            note = f"no published reference: {model}'s base is not one of the paper's models"
            records.append(dict(table="-", model=model, paper_model=None, note=note))
    return pd.DataFrame.from_records(records, columns=COLUMNS)
