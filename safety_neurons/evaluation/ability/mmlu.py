"""MMLU, 0-shot as the authors run it (open-instruct ``eval/mmlu``, ``--ntrain 0``, Tülu chat format).

The question sits in one user turn, the response is prefilled with "The answer is:", and the prediction is
the argmax of the next-token logits over the ids of " A" .. " D" (the last token of each); accuracy is micro
(over all questions). The prompt's double space before the subject words is the authors' (their
``format_subject`` prefixes every word with a space).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safety_neurons.evaluation.ability.scoring import accuracy

if TYPE_CHECKING:  # the model wrapper imports torch; the protocols and their options do not
    from safety_neurons.evaluation.ability.lm import EvalLM

LETTERS = "ABCD"
PREFILL = "The answer is:"


def question_text(item: dict) -> str:
    """The user turn: header with the subject's words, the question, lettered choices, 'Answer:'."""
    subject = "".join(" " + word for word in item["subject"].split("_"))
    header = f"The following are multiple choice questions (with answers) about {subject}.\n\n"
    choices = "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, item["choices"], strict=True))
    return f"{header}{item['question']}{choices}\nAnswer:"


def letter_ids(tokenizer) -> list[int]:
    """Token ids of ' A' .. ' D' (the last token of each, as the authors take them)."""
    return [tokenizer.encode(" " + letter, add_special_tokens=False)[-1] for letter in LETTERS]


def run(lm: EvalLM, items: list[dict]) -> dict:
    """Accuracy of the argmax letter over all items; per_item holds each item's letter logits."""
    prompts = [lm.chat(question_text(item), PREFILL) for item in items]
    scores = lm.next_token_logits(prompts)[:, letter_ids(lm.tokenizer)]
    predictions = scores.argmax(-1).tolist()
    per_item = [
        {
            "id": item["id"],
            "subject": item["subject"],
            "answer": item["answer"],
            "prediction": pred,
            "correct": pred == item["answer"],
            "letter_logits": s,
        }
        for item, pred, s in zip(items, predictions, scores.tolist(), strict=True)
    ]
    return accuracy(per_item)
