"""The greedy decoding loop: left padding, explicit positions, a KV cache per model, stop at EOS.

Plain and patched generation are the same loop; patched generation passes a step function that runs the
guide model before the patched one (``patching.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# step(input_ids [B, t], attention_mask [B, T], position_ids [B, t]) -> logits of the last position [B, V]
Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cached_step(model: torch.nn.Module) -> Step:
    """A step function that runs ``model`` with its own KV cache, kept across calls."""
    from transformers import DynamicCache  # here: reading rankings and scores needs no transformers

    cache = DynamicCache()

    def step(input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[:, -1, :]

    return step


def start_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids of a left-padded batch: 0 at each row's first real token (pads get 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def greedy_loop(
    step: Step,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
) -> torch.Tensor:
    """New token ids [B, <=max_new_tokens], pad after each row's EOS; stops once every row has ended."""
    mask = attention_mask
    cur_ids, cur_pos = input_ids, start_positions(attention_mask)
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    new = []
    for _ in range(max_new_tokens):
        nxt = step(cur_ids, mask, cur_pos).argmax(-1)
        nxt = torch.where(finished, torch.full_like(nxt, pad_token_id), nxt)
        new.append(nxt)
        finished |= nxt == eos_token_id
        if finished.all():
            break
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        cur_ids, cur_pos = nxt[:, None], cur_pos[:, -1:] + 1
    if not new:
        return input_ids.new_zeros((input_ids.shape[0], 0))
    return torch.stack(new, dim=1)


def encode_batch(tokenizer, texts: list[str], add_special_tokens: bool, device: torch.device | str):
    """Left-padded input ids and attention mask for a batch of prompt texts."""
    tokenizer.padding_side = "left"
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens)
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)


def decode_new(tokenizer, prompt_ids: torch.Tensor, new_ids: torch.Tensor) -> list[str]:
    """Completions as text, as the authors decode them: prompt + new tokens decoded together (special tokens,
    pads and EOS skipped), then the decoded prompt sliced off. Decoding the new tokens alone would drop the
    leading space of a first SentencePiece token ("▁Hello" -> "Hello")."""
    full = tokenizer.batch_decode(torch.cat([prompt_ids, new_ids], dim=1), skip_special_tokens=True)
    prompts = tokenizer.batch_decode(prompt_ids, skip_special_tokens=True)
    return [f[len(p) :] for p, f in zip(prompts, full, strict=True)]


def generate(
    make_step: Callable[[], Step],
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int,
    add_special_tokens: bool,
    device: torch.device | str = "cpu",
) -> list[str]:
    """Greedy completions of formatted prompts, ``make_step()`` giving fresh caches for each batch."""
    out: list[str] = []
    for i in range(0, len(prompts), batch_size):
        ids, mask = encode_batch(tokenizer, prompts[i : i + batch_size], add_special_tokens, device)
        new = greedy_loop(make_step(), ids, mask, max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id)
        out += decode_new(tokenizer, ids, new)
    return out
