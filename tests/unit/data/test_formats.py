"""Chat formatting: the Tülu text of the paper and the assistant-only loss mask."""

from __future__ import annotations

import pytest
from transformers import PreTrainedTokenizerFast

from safety_neurons.data.formats import first_turn, prompt_text, render, tokenize_chat

CONV = [
    {"role": "user", "content": "how do i bake bread?"},
    {"role": "assistant", "content": " sure! first, gather what you need. "},
    {"role": "user", "content": "thanks"},
    {"role": "assistant", "content": "you are welcome."},
]


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    return PreTrainedTokenizerFast.from_pretrained(str(tokenizer_dir))


def test_tulu_text_matches_open_instruct(tok):
    assert render(CONV[:2], tok, "tulu") == (
        "<|user|>\nhow do i bake bread?\n<|assistant|>\nsure! first, gather what you need.</s>\n"
    )
    assert prompt_text("hello ", tok, "tulu") == "<|user|>\nhello \n<|assistant|>\n"  # user text not stripped


def test_model_format_needs_a_chat_template(tok):
    with pytest.raises(ValueError, match="chat_format 'model' needs a tokenizer with a chat template"):
        render(CONV, tok, "model")


def test_loss_mask_covers_exactly_the_assistant_turns(tok):
    out = tokenize_chat(CONV, tok, "tulu", max_length=512)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert ids[0] == tok.bos_token_id and len(ids) == len(mask)
    spans, start = [], None
    for i, m in enumerate(mask + [0]):
        if m and start is None:
            start = i
        if not m and start is not None:
            spans.append(tok.decode(ids[start:i]))
            start = None
    assert spans == ["sure! first, gather what you need.</s>\n", "you are welcome.</s>\n"]


def test_loss_mask_truncates_with_ids(tok):
    out = tokenize_chat(CONV, tok, "tulu", max_length=7)
    assert len(out["input_ids"]) == len(out["assistant_masks"]) == 7


def test_first_turn_cuts_at_the_next_user_turn():
    assert first_turn("sure!\n<|user|>\nmore<|user|>\nagain") == "sure!\n"
    assert first_turn("no second turn") == "no second turn"
