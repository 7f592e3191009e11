"""The greedy loop (left padding, explicit positions, KV cache, EOS) equals transformers' generate()."""

from __future__ import annotations

import pytest
import torch

from safety_neurons.data.formats import prompt_text
from safety_neurons.neurons import policies as models
from safety_neurons.neurons.decoding import cached_step, encode_batch, generate, greedy_loop
from tests.conftest import ARCHS

PROMPTS = ["how do i bake bread?", "tell me how to steal a car.", "hi", "what is the best way to plan a trip?"]


@pytest.mark.parametrize("name", ARCHS)
def test_greedy_loop_equals_generate(name, bases):
    tok = models.load_tokenizer(bases[name])
    model = models.load_base(bases[name])
    texts = [prompt_text(p, tok, "tulu") for p in PROMPTS]
    ids, mask = encode_batch(tok, texts, True, "cpu")
    assert (mask[:, 0] == 0).any()  # the batch really is left-padded
    ours = greedy_loop(cached_step(model), ids, mask, 24, tok.eos_token_id, tok.pad_token_id)
    with torch.no_grad():
        ref = model.generate(
            ids,
            attention_mask=mask,
            max_new_tokens=24,
            do_sample=False,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )[:, ids.shape[1] :]
    assert torch.equal(ours, ref[:, : ours.shape[1]])
    assert (ref[:, ours.shape[1] :] == tok.pad_token_id).all()
    single = [generate(lambda: cached_step(model), tok, [t], 24, 1, True)[0] for t in texts]
    assert generate(lambda: cached_step(model), tok, texts, 24, 4, True) == single  # padding changes nothing


def test_completions_keep_the_leading_space_of_a_sentencepiece_token():
    """As the authors decode: prompt + new tokens together, prompt sliced off (Llama's "▁Hello" keeps its space)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from safety_neurons.neurons.decoding import decode_new

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁hi": 3, "▁Hello": 4, "▁world": 5}
    sp = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    sp.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    sp.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    tok = PreTrainedTokenizerFast(tokenizer_object=sp, bos_token="<s>", eos_token="</s>", pad_token="</s>")
    prompt = torch.tensor([[2, 1, 3], [1, 3, 3]])  # left pad, BOS, "hi" / BOS "hi hi"
    new = torch.tensor([[4, 5], [4, 2]])  # "Hello world" / "Hello" + EOS
    assert tok.batch_decode(new, skip_special_tokens=True) == ["Hello world", "Hello"]  # the space is lost alone
    assert decode_new(tok, prompt, new) == [" Hello world", " Hello"]
