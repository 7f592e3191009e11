"""Chat formats: the paper's Tülu format, or the model's own chat template, and their tokenization."""

from __future__ import annotations

from typing import Any

CHAT_FORMATS = ("tulu", "model")
USER_TAG = "<|user|>\n"
ASSISTANT_TAG = "<|assistant|>\n"


def render_tulu(messages: list[dict], eos: str, add_generation_prompt: bool = False) -> str:
    """Tülu text as open-instruct writes it: user turns verbatim, assistant turns stripped and closed by EOS."""
    parts = []
    for m in messages:
        if m["role"] == "user":
            parts.append(USER_TAG + m["content"] + "\n")
        elif m["role"] == "assistant":
            parts.append(ASSISTANT_TAG + m["content"].strip() + eos + "\n")
        else:
            raise ValueError(f"unknown role {m['role']!r} (expected 'user' or 'assistant')")
    if add_generation_prompt:
        parts.append(ASSISTANT_TAG)
    return "".join(parts)


def render(messages: list[dict], tokenizer: Any, chat_format: str, add_generation_prompt: bool = False) -> str:
    """Render a conversation as text in the configured chat format."""
    if chat_format == "tulu":
        return render_tulu(messages, tokenizer.eos_token, add_generation_prompt)
    if chat_format == "model":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "chat_format 'model' needs a tokenizer with a chat template; this base model has none "
                "(set chat_format: tulu)"
            )
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    raise ValueError(f"unknown chat_format {chat_format!r}; expected one of {CHAT_FORMATS}")


def prompt_text(prompt: str, tokenizer: Any, chat_format: str) -> str:
    """One user turn ready for generation (Tülu: ``<|user|>\\n{p}\\n<|assistant|>\\n``)."""
    return render([{"role": "user", "content": prompt}], tokenizer, chat_format, add_generation_prompt=True)


def first_turn(text: str) -> str:
    """A completion up to any next user turn a policy went on to write, as the authors cut it before judging."""
    return text.split(USER_TAG.rstrip("\n"), 1)[0]


def adds_special_tokens(chat_format: str) -> bool:
    """Tülu text gets the tokenizer's BOS; a model's chat template writes its own special tokens."""
    return chat_format == "tulu"


def tokenize_chat(messages: list[dict], tokenizer: Any, chat_format: str, max_length: int) -> dict:
    """Token ids of a conversation and a mask that is 1 on assistant content (and its EOS) only.

    Uses open-instruct's prefix rule: an assistant turn spans from the end of the rendered prefix with a
    generation prompt to the end of the rendered prefix that includes the turn.
    """
    special = adds_special_tokens(chat_format)

    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=special)["input_ids"])

    ids = tokenizer(render(messages, tokenizer, chat_format), add_special_tokens=special)["input_ids"]
    mask = [0] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = n_tokens(render(messages[:i], tokenizer, chat_format, add_generation_prompt=True))
        end = n_tokens(render(messages[: i + 1], tokenizer, chat_format))
        for j in range(start, min(end, len(ids))):
            mask[j] = 1
    return {"input_ids": ids[:max_length], "assistant_masks": mask[:max_length]}
