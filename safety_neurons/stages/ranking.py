"""What the two ranking stages share: the model's shape check, the prompt pool, and writing scores and summary."""

from __future__ import annotations

import logging

from safety_neurons.files import read_jsonl, write_json
from safety_neurons.stages.common import load
from safety_neurons.workflow.contracts import RankingParams

log = logging.getLogger(__name__)


def load_checked(base_dir: str, p: RankingParams):
    """Tokenizer and base model (``stages.common.load``), failing when the configured n_layers/d_mlp do not
    match the model on disk."""
    from safety_neurons.files import ArtifactError
    from safety_neurons.neurons.hooks import mlp_width

    tok, base = load(base_dir, p)
    if mlp_width(base) != (p.n_layers, p.d_mlp):
        raise ArtifactError(
            f"config key models.{p.model}: n_layers/d_mlp {p.n_layers}/{p.d_mlp} do not match "
            f"{base_dir} ({'/'.join(map(str, mlp_width(base)))})"
        )
    return tok, base


def pool(path: str, n: int | None) -> list[dict]:
    """The rows neurons are found on; all of them, with a warning in the log, when the file has fewer than n."""
    rows = read_jsonl(path)
    if n and len(rows) < n:
        log.warning("%s: %d prompts, the variant's n_prompts asks for %d: using all %d", path, len(rows), n, len(rows))
    return rows


def save_ranking(stats, ranking, p: RankingParams, out_scores: str, out_summary: str, **extra) -> dict:
    """Write a ranking stage's scores file (scores, ranking, moments) and its summary; return the summary."""
    from safety_neurons.neurons.change_scores import save, summary

    info = summary(stats, ranking) | extra
    save(stats, ranking, out_scores, {"variant": p.asdict(), "n_tokens": stats.n_tokens} | extra)
    write_json(info | {"variant": p.asdict()}, out_summary)
    return info
