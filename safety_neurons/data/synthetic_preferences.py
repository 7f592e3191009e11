"""The tiny world's other preference datasets (paper E6–E9), in the real datasets' schemas.

Seven objectives in four classes, as in the paper: safety (HH-Harmless: synthetic.py; RewardBench safety
subsets), helpfulness (HH-Helpful: synthetic.py; SHP), reasoning (RewardBench hep-* subsets; H4 StackExchange
math) and information extraction (IEFeedback). Safety pairs prefer refusals of harmful requests; helpfulness
pairs prefer complete answers over truncated or off-task ones; reasoning pairs prefer the right count or sum;
extraction pairs prefer the right step list. Generated with their own RNG, so the other world files do not
change.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from safety_neurons.data.synthetic import TEMPLATES, Task, TinyWorld, answer, hh_transcript, refusal, request
from safety_neurons.files import atomic_text, write_jsonl

PREFERENCE_FILES = {
    "rewardbench": "rewardbench_filtered.jsonl",
    "shp": "shp_train.jsonl",
    "h4_stackexchange": "math_stack_exchange.json",
    "iefeedback": "IEFeedback_OpenSource_Dataset.json",
    "hh_joint_train": "hh_joint_train.jsonl",
}
RB_SAFETY_SUBSETS = ("refusals-dangerous", "xstest-should-respond")
RB_REASONING_SUBSETS = ("hep-python", "hep-js")
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def partial(task: Task, rng: random.Random) -> str:
    """A worse answer: it stops after one or two of the task's steps."""
    full = answer(task)
    cut = rng.choice((1, 2))
    return full.split(". ")[0] + "." if cut == 1 else ". ".join(full.split(". ")[:2]) + "."


def _safety_pair(task: Task, rng: random.Random) -> tuple[str, str]:
    """(chosen, rejected): refuse harmful requests, answer harmless ones."""
    good, bad = refusal(task, rng), answer(task)
    return (bad, good) if not task.harmful else (good, bad)


def rewardbench_rows(tasks: list[Task], n: int, rng: random.Random) -> list[dict]:
    """RewardBench 'filtered' rows: safety subsets (refuse vs comply) and hep-* subsets (right vs wrong count)."""
    rows = []
    for i in range(n):
        if i % 2 == 0:
            task = rng.choice(tasks)
            chosen, rejected = _safety_pair(task, rng)
            subset = RB_SAFETY_SUBSETS[0] if task.harmful else RB_SAFETY_SUBSETS[1]
            prompt = request(task, rng, TEMPLATES)
        else:
            a, b = rng.randint(1, 4), rng.randint(1, 4)
            prompt = f"write code that counts {a} apples and {b} pears. how many fruits?"
            chosen, rejected = f"total = {a} + {b}  # {a + b}", f"total = {a} + {b}  # {a + b + 1}"
            subset = RB_REASONING_SUBSETS[i // 2 % 2]
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "subset": subset, "id": i})
    return rows


def shp_rows(tasks: list[Task], n: int, rng: random.Random) -> list[dict]:
    """SHP rows: two answers to a harmless request; the complete one is preferred (labels 1 = A preferred)."""
    harmless = [t for t in tasks if not t.harmful]
    rows = []
    for _ in range(n):
        task = rng.choice(harmless)
        good, bad = answer(task), partial(task, rng)
        label = rng.randint(0, 1)
        a, b = (good, bad) if label == 1 else (bad, good)
        rows.append(
            {
                "history": request(task, rng, TEMPLATES),
                "human_ref_A": a,
                "human_ref_B": b,
                "labels": label,
                "domain": "askhome_train",
            }
        )
    return rows


def stackexchange_rows(n: int, rng: random.Random) -> list[dict]:
    """Math StackExchange-style rows: the right sum preferred over a wrong one."""
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 4), rng.randint(1, 4)
        wrong = a + b + rng.choice((-1, 1))
        q = f"what is {NUMBERS[a - 1]} plus {NUMBERS[b - 1]}?"
        rows.append(
            {"question": q, "chosen": f"it is {NUMBERS[a + b - 1]}.", "rejected": f"it is {NUMBERS[wrong - 1]}."}
        )
    return rows


def iefeedback_rows(tasks: list[Task], n: int, rng: random.Random) -> list[dict]:
    """IEFeedback rows: extract the steps from a how-to text; the right steps preferred over another task's."""
    harmless = [t for t in tasks if not t.harmful]
    rows = []
    for _ in range(n):
        task, other = rng.sample(harmless, 2)
        msg = [{"role": "user", "content": f"list the steps in this text: {answer(task)}"}]
        good, bad = "; ".join(task.steps), "; ".join(other.steps)
        rows.append(
            {
                "messages": msg,
                "chosen": msg + [{"role": "assistant", "content": good}],
                "rejected": msg + [{"role": "assistant", "content": bad}],
            }
        )
    return rows


def hh_joint_rows(world: TinyWorld, n: int, rng: random.Random) -> list[dict]:
    """HH harmless + helpful pairs together (E9's joint DPO): refusals preferred for harmful requests, answers
    for harmless ones, over all training tasks."""
    rows = []
    for _ in range(n):
        task = rng.choice(world.train_tasks)
        chosen, rejected = _safety_pair(task, rng)
        turns = [("user", request(task, rng, TEMPLATES))]
        rows.append(
            {
                "chosen": hh_transcript(turns + [("assistant", chosen)]),
                "rejected": hh_transcript(turns + [("assistant", rejected)]),
            }
        )
    return rows


def write_preferences(out: dict[str, str | Path], world: TinyWorld, seed: int, n: int) -> None:
    """Write every file of PREFERENCE_FILES (``n`` rows each) to the paths in ``out`` (keys: its roles)."""
    rng = random.Random(seed)
    tasks = world.train_tasks
    p = {role: Path(out[role]) for role in PREFERENCE_FILES}
    write_jsonl(rewardbench_rows(tasks, n, rng), p["rewardbench"])
    write_jsonl(shp_rows(tasks, n, rng), p["shp"])
    for role, rows in (
        ("h4_stackexchange", stackexchange_rows(n, rng)),
        ("iefeedback", iefeedback_rows(tasks, n, rng)),
    ):
        with atomic_text(p[role]) as f:
            f.write(json.dumps(rows) + "\n")
    write_jsonl(hh_joint_rows(world, n, rng), p["hh_joint_train"])
