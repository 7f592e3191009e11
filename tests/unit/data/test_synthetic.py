"""The tiny world: deterministic, in the real schemas, and designed so alignment has something to learn."""

from __future__ import annotations

import hashlib

from safety_neurons.data.loaders import load
from safety_neurons.data.synthetic import WORLD_FILES, TinyWorld, write_world
from tests.conftest import SMALL_SIZES, TINY


def digest(paths) -> dict:
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()}


def test_world_is_deterministic(world, tmp_path):
    again = {role: tmp_path / name for role, name in WORLD_FILES.items()}
    w = TINY["tiny_world"]
    write_world(again, w["seed"], SMALL_SIZES, w["rates"], w["heldout_fraction"])
    assert digest(again) == digest(world)


def test_every_file_loads_with_the_real_loaders(world):
    kinds = {
        "sharegpt": "sharegpt",
        "hh_harmless_train": "hh_pairs",
        "hh_helpful_train": "hh_pairs",
        "hh_harmless_test": "hh_prompts",
        "hh_helpful_test": "hh_prompts",
        "red_team": "red_team",
        "beavertails": "beavertails",
        "harmbench": "harmbench",
        "jailbreak": "jailbreak_questions",
    }
    sizes = {
        "sharegpt": 200,
        "hh_harmless_train": 200,
        "red_team": 60,
        "beavertails": 60,
        "harmbench": 40,
        "jailbreak": 26,
    }
    for role, kind in kinds.items():
        records = load(kind, {"local": str(world[role])})
        assert records, role
        if role in sizes:
            assert len(records) == sizes[role], role


def test_preferences_refuse_harmful_and_answer_harmless(world):
    pairs = load("hh_pairs", {"local": str(world["hh_harmless_train"])})
    helpful = load("hh_pairs", {"local": str(world["hh_helpful_train"])})
    refusals = sum(p["chosen"].startswith(("i'm sorry", "i cannot", "sorry")) for p in pairs) / len(pairs)
    assert 0.55 < refusals < 0.85  # dpo_harmful_share = 0.7
    assert all(p["chosen"].startswith("sure!") for p in helpful)


def test_evaluation_tasks_are_held_out_of_training():
    w = TinyWorld(TINY["tiny_world"]["seed"], SMALL_SIZES, TINY["tiny_world"]["rates"], 0.25)
    assert not {t.text for t in w.train_tasks} & {t.text for t in w.eval_tasks}
    assert {t.harmful for t in w.eval_tasks} == {True, False}
    held = {t.text for t in w.eval_tasks}
    assert all(not any(h in p["chosen"] for h in held) for p in w.hh_pairs(50, w.train_tasks, 0.7, ["{t}"]))
