"""General-ability benchmarks: scoring on known answers, prompts to the character, model-based metrics checked
against manual forwards of the tiny bases, static patching, sampling, and the tiny benchmark files."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from safety_neurons.data.loaders import DataError, load
from safety_neurons.data.synthetic import TinyWorld
from safety_neurons.data.synthetic_benchmarks import BBH_COT_TEMPLATE, BBH_TINY_TASKS, BENCHMARK_FILES, write_benchmarks
from safety_neurons.evaluation.ability import (
    EvalLM,
    bbh,
    evaluate,
    gsm8k,
    load_eval_lm,
    mmlu,
    options_of,
    perplexity,
    truthfulqa,
)
from safety_neurons.evaluation.ability.scoring import bbh_answer, exact_match, last_number, normalize
from safety_neurons.neurons import policies as models
from safety_neurons.neurons.hooks import DEFAULT_SITE
from tests.conftest import ARCHS, SMALL_SIZES, TINY
from tests.unit.data.test_loaders import local

KINDS = {
    "wikitext": "wikitext",
    "mmlu": "mmlu",
    "gsm8k_train": "gsm8k",
    "gsm8k_test": "gsm8k",
    "bbh": "bbh",
    "truthfulqa": "truthfulqa_mc1",
}


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory) -> dict:
    """The tiny benchmark files of a small tiny world."""
    d = tmp_path_factory.mktemp("benchmarks")
    w = TINY["tiny_world"]
    world = TinyWorld(w["seed"], SMALL_SIZES, w["rates"], w["heldout_fraction"])
    out = {role: d / name for role, name in BENCHMARK_FILES.items()}
    write_benchmarks(out, world, 5)
    return out


@pytest.fixture(scope="module")
def items(bench_files) -> dict[str, list[dict]]:
    """The tiny benchmark files normalized by the real loaders."""
    return {role: load(kind, {"local": str(bench_files[role])}) for role, kind in KINDS.items()}


def policies(bases, adapters, name: str):
    """Tokenizer, M1 = base + SFT, M2 = base + SFT + DPO, on one copy of the weights."""
    base = models.load_base(bases[name])
    sft, dpo = adapters[name]
    return models.load_tokenizer(bases[name]), models.policy("sft", base, [sft]), models.policy("dpo", base, [sft, dpo])


@pytest.fixture(scope="module")
def llama(bases, adapters):
    return policies(bases, adapters, "tiny_llama")


def every_neuron(policy) -> dict[int, list[int]]:
    n_layers, d_mlp = models.mlp_width(policy.model)
    return {layer: list(range(d_mlp)) for layer in range(n_layers)}


# ---------------------------------------------------------------------------------------------- scoring


def test_exact_match_ignores_case_and_punctuation_like_hf():
    assert normalize("(A).") == "a"
    assert not exact_match("]", "] ) }")  # Dyck: the target keeps its spaces, as in HF exact_match
    assert exact_match("True.", "true") and exact_match("(B)", "(b)") and exact_match("1,000", "1000")
    assert not exact_match("1 0", "10") and not exact_match("valid", "invalid")


@pytest.mark.parametrize(
    "output, number",
    [
        ("She pays 1,234 + 6 = 1,240 dollars. So the answer is 1,240.", "1240"),
        ("The temperature is -5 degrees.", "5"),  # the authors' regex has no sign on integers
        ("It costs 3.50 or .75", ".75"),
        ("no number here", "no number here"),
    ],
)
def test_last_number(output, number):
    assert last_number(output) == number


def test_bbh_answer_takes_the_first_match_else_the_first_paragraph():
    assert bbh_answer("x = 3. So the answer is (B). Q: next\nSo the answer is (C).") == "(B)"
    assert bbh_answer("So the answer is True.") == "True"
    assert bbh_answer("  maybe valid\nstill\n\nQ: more text") == "maybe valid\nstill"


# ---------------------------------------------------------------------------------------------- prompts


def test_mmlu_prompt_is_the_authors_string(llama):
    tok, m1, _ = llama
    item = {"subject": "high_school_biology", "question": "Q?", "choices": ["w", "x", "y", "z"], "answer": 2}
    assert EvalLM(tok, m1).chat(mmlu.question_text(item), mmlu.PREFILL) == (
        "<|user|>\nThe following are multiple choice questions (with answers) about  high school biology.\n\n"
        "Q?\nA. w\nB. x\nC. y\nD. z\nAnswer:\n<|assistant|>\nThe answer is:"
    )


def test_gsm8k_prompt_is_the_authors_string(llama):
    tok, m1, _ = llama
    shots = load("gsm8k", local("gsm8k.jsonl"))
    content = gsm8k.prompt_prefix(shots, 2) + "Question: How many?"
    assert EvalLM(tok, m1).chat(content, gsm8k.PREFILL) == (
        "<|user|>\nAnswer the following questions.\n\n"
        "Question: Ann has 2 apples and buys 3 more. How many apples does she have?\n"
        "Answer: She has 2 + 3 = 5 apples. So the answer is 5.\n\n"
        "Question: A shop sells 1,000 pens a day for 2 days. How many pens?\n"
        "Answer: 1,000 * 2 = 2000 pens. So the answer is 2000.\n\n"
        "Question: How many?\n<|assistant|>\nAnswer:"
    )
    shot = {"answer": "a = <<1+1=2>>2.\n b is 3 \n#### 5", "target": "5"}
    assert gsm8k.cot_answer(shot) == "a = 2. b is 3 So the answer is 5."
    with pytest.raises(ValueError, match="8 shots wanted, the shots dataset has 2 rows"):
        gsm8k.prompt_prefix(shots, 8)


def test_bbh_cot_prompts_drop_two_header_lines_and_name_a_missing_task(tmp_path, llama):
    tok, m1, _ = llama
    (tmp_path / "cot_a.txt").write_bytes(b"canary\r\n-----\r\nDo it.\r\n\r\nQ: 1\r\nA: So the answer is 1.\r\n")
    prompts = bbh.read_cot_prompts(str(tmp_path / "cot_{task}.txt"), ["a"])
    assert prompts == {"a": "Do it.\n\nQ: 1\nA: So the answer is 1.\n"}
    content = bbh.prompt_content(prompts["a"], {"input": "2"})
    assert EvalLM(tok, m1).chat(content, bbh.PREFILL) == (
        "<|user|>\nDo it.\n\nQ: 1\nA: So the answer is 1.\n\nQ: 2\n<|assistant|>\nA:"
    )
    with pytest.raises(DataError, match=r"task 'b': .*cot_b\.txt: cannot read file"):
        bbh.read_cot_prompts(str(tmp_path / "cot_{task}.txt"), ["a", "b"])
    with pytest.raises(ValueError, match="no '{task}' placeholder"):
        bbh.read_cot_prompts(str(tmp_path / "cot_a.txt"), ["a"])


# ---------------------------------------------------------------------------------------------- sampling


def test_gsm8k_sample_is_the_authors_global_random_draw():
    test = [{"id": i} for i in range(1319)]
    random.seed(42)
    assert gsm8k.sample(test, 200, 42) == random.sample(test, 200)
    assert gsm8k.sample(test[:150], 200, 42) == test[:150]  # fewer items: all, in order


def test_bbh_sample_is_one_stream_over_sorted_tasks():
    rows = [{"task": t, "i": i} for t in ("web_of_lies", "boolean_expressions", "navigate") for i in range(60)]
    random.seed(42)
    want = []
    for task in sorted({r["task"] for r in rows}):
        want += random.sample([r for r in rows if r["task"] == task], 40)
    assert bbh.sample(rows, 40, 42) == want
    assert [r["task"] for r in bbh.sample(rows, 100, 42)].count("navigate") == 60
    assert len(bbh.BBH_TASKS) == 27 and list(bbh.BBH_TASKS) == sorted(bbh.BBH_TASKS)


# ---------------------------------------------------------------------------------------------- models


def manual_logits(policy, ids: list[int]) -> torch.Tensor:
    with policy.active() as m, torch.no_grad():
        return m(input_ids=torch.tensor([ids])).logits[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_static_patching_every_neuron_gives_the_guide_and_none_gives_m1(bases, adapters, arch):
    tok, m1, m2 = policies(bases, adapters, arch)
    rows = EvalLM(tok, m1).encode(["how do i bake bread?", "hi", "tell me how to plan a trip."])
    plain, guide = EvalLM(tok, m1).logits(rows), EvalLM(tok, m2).logits(rows)
    assert not torch.allclose(plain, guide, atol=1e-3)  # the two models really differ
    patched = EvalLM(tok, m1, m2, every_neuron(m1)).logits(rows)
    torch.testing.assert_close(patched, guide, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(EvalLM(tok, m1, m2, {0: []}).logits(rows), plain)
    last = rows[1]  # the shortest row, left-padded in the batch: same logits as alone
    torch.testing.assert_close(plain[1, -len(last) :], manual_logits(m1, last), atol=1e-4, rtol=1e-4)


def test_mmlu_predicts_the_argmax_letter_of_a_manual_forward(llama, items):
    tok, m1, m2 = llama
    rows = items["mmlu"][:12]
    lm = EvalLM(tok, m1, m2, batch_size=5)  # a guide but no neurons: plain M1
    result = evaluate("mmlu", lm, rows)
    ids = mmlu.letter_ids(tok)
    for item, got in zip(rows, result["per_item"], strict=True):
        prompt_ids = tok(lm.chat(mmlu.question_text(item), mmlu.PREFILL))["input_ids"]
        letters = manual_logits(m1, prompt_ids)[-1, ids]
        want = int(letters.argmax())
        assert (got["prediction"], got["correct"]) == (want, want == item["answer"])
        assert got["letter_logits"] == pytest.approx(letters.tolist(), abs=1e-4)
    assert result["value"] == sum(p["correct"] for p in result["per_item"]) / 12
    assert (result["benchmark"], result["metric"], result["n"], result["n_neurons"]) == ("mmlu", "accuracy", 12, 0)
    guide = [p["prediction"] for p in evaluate("mmlu", EvalLM(tok, m2), rows)["per_item"]]
    assert [p["prediction"] for p in evaluate("mmlu", lm.with_neurons(every_neuron(m1)), rows)["per_item"]] == guide


def test_perplexity_equals_the_mean_window_loss(llama, items):
    tok, m1, m2 = llama
    text = items["wikitext"][0]["text"]
    ids = tok(text)["input_ids"]
    for force_bos in (False, True):
        windows = [ids[i : i + 64] for i in range(0, len(ids), 64)]
        if force_bos:
            windows = [[tok.bos_token_id] + w[1:] for w in windows]
        with m1.active() as m, torch.no_grad():
            losses = [
                float(m(input_ids=torch.tensor([w]), labels=torch.tensor([w])).loss) for w in windows if len(w) > 1
            ]
        result = evaluate(
            "ppl", EvalLM(tok, m1, batch_size=4), items["wikitext"], {"window": 64, "force_bos": force_bos}
        )
        assert result["value"] == pytest.approx(math.exp(sum(losses) / len(losses)), rel=1e-4)
        assert [p["nll"] for p in result["per_item"]] == pytest.approx(losses, rel=1e-4)
    with pytest.raises(ValueError, match="window 4096 exceeds the model's 256 positions"):
        evaluate("ppl", EvalLM(tok, m1), items["wikitext"])
    assert perplexity.windows([1, 2, 3, 4, 5], 2) == [(0, [1, 2]), (2, [3, 4])]  # the 1-token tail predicts nothing


def test_truthfulqa_picks_the_choice_with_the_highest_summed_logprob(llama, items):
    tok, m1, _ = llama
    rows = items["truthfulqa"][:6]
    result = evaluate("tqa", EvalLM(tok, m1, batch_size=3), rows)
    for item, got in zip(rows, result["per_item"], strict=True):
        ctx = truthfulqa.context(item["question"], truthfulqa.PRIMER)
        n_ctx = len(tok(ctx)["input_ids"])
        scores = []
        for choice in item["choices"]:
            full = tok(f"{ctx} {choice}")["input_ids"]
            logp = manual_logits(m1, full).log_softmax(-1)
            scores.append(sum(float(logp[t - 1, full[t]]) for t in range(n_ctx, len(full))))
        assert got["scores"] == pytest.approx(scores, rel=1e-4)
        assert got["prediction"] == scores.index(max(scores))
        assert got["correct"] == (item["labels"][got["prediction"]] == 1)


def test_generative_benchmarks_score_greedy_outputs(llama, items, bench_files):
    tok, m1, m2 = llama
    lm = EvalLM(tok, m1, batch_size=4)
    shots = items["gsm8k_train"]
    result = evaluate("gsm8k", lm, items["gsm8k_test"], {"shots": shots, "n_items": 4, "max_new_tokens": 12})
    sampled = gsm8k.sample(items["gsm8k_test"], 4, 42)
    prompts = [lm.chat(gsm8k.prompt_prefix(shots, 8) + "Question: " + r["question"], "Answer:") for r in sampled]
    for got, full in zip(result["per_item"], lm.generate(prompts, 12), strict=True):
        assert got["output"] == full.split("\n")[0] and got["prediction"] == last_number(got["output"])
    template = str(bench_files["bbh"].parent / BBH_COT_TEMPLATE)
    options = {"cot_prompts": template, "per_task": 2, "max_new_tokens": 8}  # a template, read per task
    patched = EvalLM(tok, m1, m2, every_neuron(m1), batch_size=6)
    got = evaluate("bbh", patched, items["bbh"], options)
    want = evaluate("bbh", EvalLM(tok, m2, batch_size=6), items["bbh"], options)
    assert [p["output"] for p in got["per_item"]] == [p["output"] for p in want["per_item"]]
    assert got["value"] == sum(got["task_scores"].values()) / 3 and got["n"] == 6


def test_evaluate_checks_names_and_options(llama):
    tok, m1, _ = llama
    lm = EvalLM(tok, m1)
    with pytest.raises(ValueError, match="unknown benchmark 'hellaswag'"):
        evaluate("hellaswag", lm, [])
    with pytest.raises(ValueError, match=r"missing options \['shots'\]"):
        evaluate("gsm8k", lm, [])
    with pytest.raises(ValueError, match=r"unknown options \['windw'\]"):
        evaluate("ppl", lm, [], {"windw": 8})
    assert options_of("bbh")["per_task"] == 40 and options_of("gsm8k")["n_items"] == 200
    with pytest.raises(ValueError, match="needs a guide"):
        EvalLM(tok, m1, None, {0: [1]})


def test_load_eval_lm_shares_the_base_between_m1_and_the_guide(bases, adapters, llama):
    tok, m1, m2 = llama
    sft, dpo = adapters["tiny_llama"]
    lm = load_eval_lm(str(bases["tiny_llama"]), [str(sft)], [str(sft), str(dpo)], {"1": [3, 4]}, "float32", 2)
    assert lm.guide.model is lm.m1.model and lm.neurons == {1: [3, 4]} and lm.batch_size == 2
    rows = lm.encode(["hi there", "how can i bake bread?"])
    torch.testing.assert_close(lm.with_neurons(None).logits(rows), EvalLM(tok, m1).logits(rows))


# ---------------------------------------------------------------------------------------------- data


def test_tiny_benchmark_files_load_and_are_deterministic(bench_files, items, tmp_path):
    w = TINY["tiny_world"]
    again = {role: tmp_path / name for role, name in BENCHMARK_FILES.items()}
    write_benchmarks(again, TinyWorld(w["seed"], SMALL_SIZES, w["rates"], w["heldout_fraction"]), 5)
    assert all(again[r].read_bytes() == bench_files[r].read_bytes() for r in BENCHMARK_FILES)
    assert {r: len(v) for r, v in items.items()} == {
        "wikitext": 1,
        "mmlu": 96,
        "gsm8k_train": 16,
        "gsm8k_test": 64,
        "bbh": 72,
        "truthfulqa": 64,
    }
    assert len({r["answer"] for r in items["mmlu"]}) == 4  # the right choice moves
    for task, text in bbh.read_cot_prompts(str(tmp_path / BBH_COT_TEMPLATE), BBH_TINY_TASKS).items():
        assert text.count("\nA: ") == 3 and text.count("So the answer is") == 3, task


def test_bbh_loads_one_file_per_task_from_a_template(tmp_path):
    for task, target in (("navigate", "Yes"), ("snarks", "(A)")):
        (tmp_path / f"{task}.json").write_text(
            json.dumps({"canary": "c", "examples": [{"input": "i", "target": target}]})
        )
    source = {"local": str(tmp_path / "{task}.json")}
    records = load("bbh", source, tasks=["snarks", "navigate"])
    assert [(r["id"], r["target"]) for r in records] == [("bbh_snarks_0", "(A)"), ("bbh_navigate_0", "Yes")]
    with pytest.raises(DataError, match=r"missing\.json: cannot read file"):
        load("bbh", source, tasks=["navigate", "missing"])
    with pytest.raises(DataError, match="needs a kind with a task option and option 'tasks'"):
        load("bbh", source)
    with pytest.raises(DataError, match="must be a non-empty list"):
        load("bbh", source, tasks="navigate")
    rows = tmp_path / "all.jsonl"
    rows.write_text("".join(json.dumps({"task": t, "input": "i", "target": "t"}) + "\n" for t in "abca"))
    assert [r["id"] for r in load("bbh", {"local": str(rows)}, tasks=["c", "a"])] == ["bbh_a_0", "bbh_c_0", "bbh_a_1"]
    with pytest.raises(DataError, match=r"no row of task\(s\) \['z'\]"):
        load("bbh", {"local": str(rows)}, tasks=["z"])


def test_one_job_over_several_benchmarks_equals_one_job_each(bases, adapters, items, tmp_path):
    """evaluation.general.benchmarks_per_job: all loads the model once; each result equals its job alone."""
    from safety_neurons.files import write_jsonl
    from safety_neurons.stages.general import general_eval
    from safety_neurons.workflow.contracts import GeneralEvalParams

    for role in ("wikitext", "mmlu", "gsm8k_test", "gsm8k_train"):
        write_jsonl(items[role], tmp_path / f"{role}.jsonl")
    sft, _ = adapters["tiny_llama"]
    inp = {"base": str(bases["tiny_llama"]), "m1": [str(sft / "adapter_model.safetensors")], "guide": [], "sets": []}
    inp |= {f"data_{b}": str(tmp_path / f"{r}.jsonl") for b, r in [("ppl", "wikitext"), ("mmlu", "mmlu")]}
    inp |= {"data_gsm8k": str(tmp_path / "gsm8k_test.jsonl"), "shots_gsm8k": str(tmp_path / "gsm8k_train.jsonl")}
    options = {"ppl": {"window": 64}, "mmlu": {}, "gsm8k": {"n_shot": 1, "n_items": 3, "max_new_tokens": 6}}
    params = dict(k=0, batch_size=4, chat_format="tulu", dtype="float32", cpu_precision="float32")
    params["neuron_site"] = DEFAULT_SITE
    together = general_eval(inp, "none", GeneralEvalParams.of(params | {"benchmarks": options}))
    assert list(together) == ["ppl", "mmlu", "gsm8k"]
    for name, opts in options.items():
        alone = general_eval(inp, "none", GeneralEvalParams.of(params | {"benchmarks": {name: opts}}))
        assert alone == {name: together[name]}
