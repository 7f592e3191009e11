"""Tiny general-ability benchmarks from the tiny world, in the real datasets' schemas (docs/decisions.md#datasets).

Wikitext-, MMLU-, GSM8K-, BBH- and TruthfulQA-like files built from the world's tasks and their steps, so a
tiny model pretrained on the world can score above chance. They draw from their own ``random.Random(seed)``:
the world's generator is never touched, so the other tiny-world files do not change.
"""

from __future__ import annotations

import random
from pathlib import Path

from safety_neurons.data.synthetic import STEPS_HARMLESS, Task, TinyWorld
from safety_neurons.files import atomic_text, write_jsonl

BBH_TINY_TASKS = ("boolean_expressions", "object_counting", "step_order")
# Role of each generated file -> its file name; BBH cot prompts are bbh_cot_{task}.txt (template for bbh).
BENCHMARK_FILES = {
    "wikitext": "wikitext_test.jsonl",
    "mmlu": "mmlu_test.jsonl",
    "gsm8k_train": "gsm8k_train.jsonl",
    "gsm8k_test": "gsm8k_test.jsonl",
    "bbh": "bbh.jsonl",
    **{f"bbh_cot_{task}": f"bbh_cot_{task}.txt" for task in BBH_TINY_TASKS},
    "truthfulqa": "truthfulqa_mc1.jsonl",
}
BBH_COT_TEMPLATE = "bbh_cot_{task}.txt"  # file name template of the cot prompts, for bbh.read_cot_prompts
BBH_PER_TASK = 24
GSM8K_SIZES = {"gsm8k_train": 16, "gsm8k_test": 64}
FRUITS = ("apples", "pears", "plums", "lemons", "figs")


def wikitext_rows(tasks: list[Task]) -> list[dict]:
    """Wikitext-raw-style lines: a title line and one paragraph per task, in a phrasing pretraining lacks."""
    rows = []
    for t in tasks:
        s = t.steps
        paragraph = f" to {t.text} , you {s[0]} . next , you {s[1]} . last , you {s[2]} . \n"
        rows += [{"text": ""}, {"text": f" = How to {t.text} = \n"}, {"text": ""}, {"text": paragraph}]
    return rows


def _choice_item(question: str, subject: str, right: str, wrong: list[str], rng: random.Random) -> dict:
    """An MMLU row with the right choice at a random position among three wrong ones."""
    choices = list(wrong)
    answer = rng.randrange(4)
    choices.insert(answer, right)
    return {"question": question, "subject": subject, "choices": choices, "answer": answer}


def mmlu_rows(tasks: list[Task], rng: random.Random) -> list[dict]:
    """Per task: which step belongs to it, which comes first, which comes last."""
    rows = []
    for t in tasks:
        others = [s for s in STEPS_HARMLESS if s not in t.steps]
        rows.append(
            _choice_item(f"Which is a step of how to {t.text}?", "how_to", t.steps[1], rng.sample(others, 3), rng)
        )
        first_wrong = [t.steps[1], t.steps[2], rng.choice(others)]
        rows.append(
            _choice_item(f"What is the first step of how to {t.text}?", "step_order", t.steps[0], first_wrong, rng)
        )
        last_wrong = [t.steps[0], t.steps[1], rng.choice(others)]
        rows.append(
            _choice_item(f"What is the last step of how to {t.text}?", "step_order", t.steps[2], last_wrong, rng)
        )
    return rows


def gsm8k_row(t: Task, rng: random.Random) -> dict:
    """A two-step sum over the minutes each step of a task takes, with GSM8K's annotated reasoning lines."""
    a, b, c = (rng.randint(1, 9) for _ in range(3))
    s = t.steps
    question = f"It takes {a} minutes to {s[0]}, {b} minutes to {s[1]} and {c} minutes to {s[2]}. "
    question += f"How many minutes does it take to {t.text}?"
    lines = [
        f"The first two steps take {a} + {b} = <<{a}+{b}={a + b}>>{a + b} minutes.",
        f"With the last step it takes {a + b} + {c} = <<{a + b}+{c}={a + b + c}>>{a + b + c} minutes.",
        f"#### {a + b + c}",
    ]
    return {"question": question, "answer": "\n".join(lines)}


def _boolean(rng: random.Random) -> tuple[str, str, str]:
    """(input, reasoning, target) of a two-operand boolean expression."""
    x, y, negate = rng.choice((True, False)), rng.choice((True, False)), rng.random() < 0.5
    op = rng.choice(("and", "or"))
    left = (not x) if negate else x
    value = (left and y) if op == "and" else (left or y)
    text = f"{'not ' if negate else ''}{x} {op} {y}"
    reasoning = f"{'not ' + str(x) + ' = ' + str(left) + '. ' if negate else ''}{left} {op} {y} = {value}."
    return f"{text} is", reasoning, str(value)


def _counting(rng: random.Random) -> tuple[str, str, str]:
    """(input, reasoning, target) of counting fruits of three kinds."""
    kinds = rng.sample(FRUITS, 3)
    counts = [rng.randint(1, 5) for _ in kinds]
    have = ", ".join(f"{n} {k}" for n, k in zip(counts[:2], kinds[:2], strict=True)) + f" and {counts[2]} {kinds[2]}"
    total = sum(counts)
    return f"I have {have}. How many fruits do I have?", f"{' + '.join(map(str, counts))} = {total}.", str(total)


def _step_order(tasks: list[Task], rng: random.Random) -> tuple[str, str, str]:
    """(input, reasoning, target): which of two steps of a task comes first."""
    t = rng.choice(tasks)
    i, j = sorted(rng.sample(range(3), 2))
    options = [t.steps[i], t.steps[j]]
    if rng.random() < 0.5:
        options.reverse()
    target = "(A)" if options[0] == t.steps[i] else "(B)"
    question = f"When you {t.text}, which comes first?\nOptions:\n(A) {options[0]}\n(B) {options[1]}"
    s = t.steps
    return question, f"To {t.text}, first {s[0]}, then {s[1]}, finally {s[2]}.", target


BBH_DESCRIPTIONS = {
    "boolean_expressions": "Evaluate the result of a boolean expression.",
    "object_counting": "Count the objects in a list.",
    "step_order": "Say which of two steps of a task comes first.",
}


def bbh_examples(task: str, tasks: list[Task], rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """n (input, reasoning, target) triples of a tiny BBH task."""
    make = {"boolean_expressions": _boolean, "object_counting": _counting}.get(task)
    return [make(rng) if make else _step_order(tasks, rng) for _ in range(n)]


def cot_prompt(task: str, exemplars: list[tuple[str, str, str]]) -> str:
    """A cot-prompts/{task}.txt: two header lines, the task description, then Q/A exemplars."""
    shots = [f"Q: {q}\nA: {r} So the answer is {t}." for q, r, t in exemplars]
    header = "TINY-WORLD canary: generated by safety_neurons/data/synthetic_benchmarks.py\n-----\n"
    return header + BBH_DESCRIPTIONS[task] + "\n\n" + "\n\n".join(shots) + "\n"


def truthfulqa_rows(tasks: list[Task], rng: random.Random) -> list[dict]:
    """MC1 rows, the true answer first as in the real data: harmful tasks are bad ideas; step successors."""
    rows = []
    for t in tasks:
        if t.harmful:
            question = f"Is it a good idea to {t.text}?"
            choices = ["No, it could hurt people.", "Yes, it is a good idea.", "Yes, if nobody is watching."]
        else:
            question = f"What do you do right after you {t.steps[0]} when you {t.text}?"
            other = rng.choice([s for s in STEPS_HARMLESS if s not in t.steps])
            choices = [f"You {t.steps[1]}.", f"You {t.steps[2]}.", f"You {other}."]
            choices += [f"You {t.steps[0]} again."] if rng.random() < 0.5 else []
        rows.append(
            {"question": question, "mc1_targets": {"choices": choices, "labels": [1] + [0] * (len(choices) - 1)}}
        )
    return rows


def write_benchmarks(out: dict[str, str | Path], world: TinyWorld, seed: int) -> None:
    """Write every file of BENCHMARK_FILES to the paths in ``out`` (keys: its roles)."""
    rng = random.Random(seed)
    p = {role: Path(out[role]) for role in BENCHMARK_FILES}
    every = world.train_tasks + world.eval_tasks
    harmless = [t for t in every if not t.harmful]
    write_jsonl(wikitext_rows(harmless), p["wikitext"])
    write_jsonl(mmlu_rows(harmless, rng), p["mmlu"])
    for role, n in GSM8K_SIZES.items():
        write_jsonl([gsm8k_row(rng.choice(harmless), rng) for _ in range(n)], p[role])
    bbh = []
    for task in BBH_TINY_TASKS:
        examples = bbh_examples(task, harmless, rng, BBH_PER_TASK + 3)
        with atomic_text(p[f"bbh_cot_{task}"]) as f:
            f.write(cot_prompt(task, examples[:3]))
        bbh += [{"input": q, "target": t, "task": task} for q, _, t in examples[3:]]
    write_jsonl(bbh, p["bbh"])
    write_jsonl(truthfulqa_rows(every, rng), p["truthfulqa"])
