"""Judges of responses: the paper's beaver score models, the tiny world's classifier, refusal-prefix matching.

Every judge scores (prompt, response) pairs in one direction: 'cost' (higher = more harmful, > 0 harmful) or
'reward' (higher = more helpful). The heavy ones import torch or scikit-learn only when loaded.
"""

from __future__ import annotations

from safety_neurons.evaluation.judges.base import Judge
from safety_neurons.evaluation.judges.refusal import REFUSAL_MARKERS, RefusalJudge, is_refusal, refusal_rate

__all__ = ["REFUSAL_MARKERS", "Judge", "RefusalJudge", "is_refusal", "load_judge", "refusal_rate"]
DIRECTIONS = ("cost", "reward")


def load_judge(spec: dict, path: str | None, *, device: str = "cpu") -> Judge:
    """The judge of a config entry; path is the beaver snapshot dir or the classifier's JSON file.

    Workflow keys of the entry (hub_id, gpus, ...) are ignored. A classifier's direction follows its label.
    """
    kind = spec.get("kind")
    if kind == "refusal":
        return RefusalJudge()
    if kind not in ("beaver", "classifier"):
        raise ValueError(f"unknown judge kind {kind!r}; expected beaver, classifier or refusal")
    if path is None:
        raise ValueError(f"a {kind} judge needs a path (beaver: snapshot directory; classifier: JSON file)")
    if kind == "classifier":
        from safety_neurons.evaluation.judges.classifier import ClassifierJudge, load_classifier

        return ClassifierJudge(load_classifier(path, spec.get("label")), spec["label"])
    return _beaver(spec, path, device)


def _beaver(spec: dict, path: str, device: str) -> Judge:
    """A BeaverJudge from a config entry's direction, template, dtype, batch_size and max_length."""
    from safety_neurons.evaluation.judges.beaver import BeaverJudge

    direction = spec.get("direction", "cost")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown judge direction {direction!r}; expected one of {DIRECTIONS}")
    keys = ("template", "dtype", "batch_size", "max_length")
    return BeaverJudge(path, direction, device=device, **{k: spec[k] for k in keys if k in spec})


def score_sets(spec: dict, path: str | None, row_sets: list[list[dict]]) -> list[list[dict]]:
    """Score generation files' rows (``prompt``, ``completion``) with one judge, loaded once: per file, each
    row's identity fields + ``score``. A beaver judge runs on CUDA when one is visible, else on CPU (slow, but
    the same numbers)."""
    device = "cpu"
    if spec.get("kind") == "beaver":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    judge = load_judge(spec, path, device=device)
    return [_scored(judge, rows) for rows in row_sets]


def _scored(judge: Judge, rows: list[dict]) -> list[dict]:
    """Each row's identity fields + the judge's ``score`` of its (prompt, completion)."""
    scores = judge.score([r["prompt"] for r in rows], [r["completion"] for r in rows])
    keep = ("id", "dataset", "k", "source", "m1", "n_neurons")
    return [{key: r[key] for key in keep if key in r} | {"score": s} for r, s in zip(rows, scores, strict=True)]
