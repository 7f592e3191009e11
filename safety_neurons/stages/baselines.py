"""Rule baseline_scores: a Wanda or SN-Tune ranking of one model x seed x variant (E3)."""

from __future__ import annotations

from safety_neurons.stages.ranking import load_checked, pool, save_ranking
from safety_neurons.workflow.contracts import BaselineParams


def baseline_scores(
    base_dir: str, adapter_dirs: list[str], texts_path: str, p: BaselineParams, out_scores: str, out_summary: str
) -> dict:
    """Rule baseline_scores: Wanda or SN-Tune scores of base + adapters on the selected texts, ranked."""
    from safety_neurons.neurons.baselines import baseline_stats, calibration_text, rank_baseline
    from safety_neurons.neurons.change_scores import select_prompts
    from safety_neurons.neurons.policies import policy
    from safety_neurons.neurons.sizes import top_fraction_k

    tok, base = load_checked(base_dir, p)
    rows = [{"prompt": r} for r in pool(texts_path, p.n_texts)]  # select_prompts returns each row's "prompt"
    chosen = select_prompts(rows, p.n_texts or len(rows), p.selection, p.selection_seed)
    texts = [calibration_text(r, tok, p.chat_format) for r in chosen]
    stats = baseline_stats(
        policy("calibration", base, adapter_dirs),
        tok,
        texts,
        method=p.method,
        agg=p.agg,
        batch_size=p.batch_size,
        max_length=p.max_length,
        chat_format=p.chat_format,
    )
    k = top_fraction_k(p.ranking, p.n_layers - len(set(p.exclude_layers)), p.d_mlp, p.top_fraction)
    ranking = rank_baseline(stats.scores, p.exclude_layers, p.ranking)
    return save_ranking(stats, ranking, p, out_scores, out_summary, k_top_fraction=k)
