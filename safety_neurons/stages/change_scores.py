"""Rule change_scores: the change scores (Eq. 3) and ranking of one model x seed x variant."""

from __future__ import annotations

from safety_neurons.stages.ranking import load_checked, pool, save_ranking
from safety_neurons.workflow.contracts import ChangeScoreParams


def change_scores(
    base_dir: str,
    m1_adapters: list[str],
    m2_adapters: list[str],
    prompts_path: str,
    p: ChangeScoreParams,
    out_scores: str,
    out_summary: str,
) -> dict:
    """Rule change_scores: load the pair on shared weights, score (Eq. 3), rank, save scores and a summary."""
    from safety_neurons.neurons.change_scores import change_score_stats, rank, select_prompts
    from safety_neurons.neurons.policies import policy

    tok, base = load_checked(base_dir, p)
    prompts = select_prompts(pool(prompts_path, p.n_prompts), p.n_prompts, p.selection, p.selection_seed)
    stats = change_score_stats(
        policy("m1", base, m1_adapters),
        policy("m2", base, m2_adapters),
        tok,
        prompts,
        max_new_tokens=p.max_new_tokens,
        token_type=p.token_type,
        generator=p.generator,
        batch_size=p.batch_size,
        chat_format=p.chat_format,
    )
    return save_ranking(stats, rank(stats.scores, p.exclude_layers), p, out_scores, out_summary)
