"""Dynamic activation patching, on all four tiny architectures, with tests that cannot pass by accident."""

from __future__ import annotations

import pytest

from safety_neurons.data.formats import prompt_text
from safety_neurons.neurons import policies as models
from safety_neurons.neurons.decoding import cached_step, generate
from safety_neurons.neurons.patching import generate_with_patching
from tests.conftest import ARCHS, generation_params

PROMPTS = [
    "how do i rob a bank?",
    "how can i bake bread?",
    "tell me how to hack an email account.",
    "what is the best way to plan a trip?",
    "hi",
]


@pytest.fixture(scope="module", params=ARCHS)
def pair(request, bases, adapters):
    """Tokenizer, M1 = base + SFT (IA)3, M2 = base + SFT + DPO (IA)3, all on one copy of the base weights."""
    name = request.param
    base = models.load_base(bases[name])
    sft, dpo = adapters[name]
    return (
        models.load_tokenizer(bases[name]),
        models.policy("sft", base, [sft]),
        models.policy("dpo", base, [sft, dpo]),
    )


def own_output(policy, tok):
    with policy.active() as m:
        return generate(lambda: cached_step(m), tok, [prompt_text(p, tok, "tulu") for p in PROMPTS], 20, 5, True)


def every_neuron(policy) -> dict[int, list[int]]:
    n_layers, d_mlp = models.mlp_width(policy.model)
    return {layer: list(range(d_mlp)) for layer in range(n_layers)}


def test_patching_every_neuron_reproduces_the_guide(pair):
    tok, m1, m2 = pair
    guide = own_output(m2, tok)
    assert guide != own_output(m1, tok)  # the two models really differ
    assert generate_with_patching(m1, m2, tok, PROMPTS, every_neuron(m1), 20, batch_size=5) == guide


def test_patching_no_neuron_reproduces_m1(pair):
    tok, m1, m2 = pair
    mine = own_output(m1, tok)
    assert generate_with_patching(m1, m2, tok, PROMPTS, {}, 20, batch_size=5) == mine
    assert generate_with_patching(m1, m2, tok, PROMPTS, {0: []}, 20, batch_size=2) == mine
    assert generate_with_patching(m1, m1, tok, PROMPTS, every_neuron(m1), 20, batch_size=5) == mine


def test_patching_some_neurons_changes_output_and_batching_does_not(pair):
    tok, m1, m2 = pair
    n_layers, d_mlp = models.mlp_width(m1.model)
    half = {layer: list(range(0, d_mlp, 2)) for layer in range(n_layers)}
    batched = generate_with_patching(m1, m2, tok, PROMPTS, half, 20, batch_size=5)
    single = [generate_with_patching(m1, m2, tok, [p], half, 20, batch_size=1)[0] for p in PROMPTS]
    assert batched == single  # left padding and positions are right under patching too


def test_plain_and_peft_models_are_accepted(bases, adapters):
    from peft import PeftModel

    tok = models.load_tokenizer(bases["tiny_llama"])
    sft, _ = adapters["tiny_llama"]
    neurons = {1: [0, 5, 9], 2: list(range(40))}
    shared = models.load_base(bases["tiny_llama"])
    want = generate_with_patching(
        models.policy("base", shared, []), models.policy("sft", shared, [sft]), tok, PROMPTS, neurons, 16
    )
    plain = models.load_base(bases["tiny_llama"])
    guide = PeftModel.from_pretrained(models.load_base(bases["tiny_llama"]), sft).eval()  # unmerged
    assert generate_with_patching(plain, guide, tok, PROMPTS, neurons, 16) == want


def test_a_job_over_several_prompt_sets_writes_what_one_job_per_set_writes(bases, adapters):
    """patching.sets_per_job: all loads the models once; each set's rows equal those of a job of that set alone."""
    from safety_neurons.stages.generation import generate as generate_sets

    sft, dpo = adapters["tiny_llama"]
    p = generation_params(max_new_tokens=6, ks=[0, 20])
    sets = {0: {}, 20: {"0": list(range(10)), "1": list(range(5, 15))}}
    prompt_sets = [
        [{"id": f"{d}{i}", "dataset": d, "prompt": f"how do i {task}?"} for i, task in enumerate(tasks)]
        for d, tasks in (("a", ["bake bread", "knit a scarf", "fix a bike"]), ("b", ["rob a bank", "sing"]))
    ]
    args = (str(bases["tiny_llama"]), [str(sft)], [str(sft), str(dpo)], sets)
    together = generate_sets(*args, prompt_sets, p)
    alone = [generate_sets(*args, [prompts], p)[0] for prompts in prompt_sets]
    assert together == alone
    assert [len(rows) for rows in together] == [2 * 3, 2 * 2] and {r["dataset"] for r in together[1]} == {"b"}
