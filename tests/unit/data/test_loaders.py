"""Loaders: each kind on a hand-written fixture of the real schema, plus every error path (no network)."""

import gzip
import io
import json
import lzma
import sys
import types
from pathlib import Path

import pytest

from safety_neurons.data import loaders
from safety_neurons.data.loaders import (
    DataError,
    first_human_turn,
    load,
    read_rows,
    split_chat,
)
from safety_neurons.files import read_jsonl, write_jsonl

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "loaders"


def local(name: str) -> dict:
    """A local source for a fixture file."""
    return {"local": str(FIX / name)}


def write_lines(path: Path, lines: list[str]) -> Path:
    """A text file with the given lines (for error cases)."""
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- prompts


def test_hh_prompts_first_human_turn_keeps_trailing_newline():
    assert load("hh_prompts", local("hh.jsonl")) == [
        {"dataset": "hh", "id": "hh_0", "prompt": "How do I keep basil fresh?\n"},
        {"dataset": "hh", "id": "hh_1", "prompt": "Suggest a name for a cat.\n"},
        {"dataset": "hh", "id": "hh_2", "prompt": "Tell me a fact about owls.\n"},
    ]


def test_first_human_turn_rule_splits_on_literal_markers():
    assert first_human_turn("\n\nHuman:  hi there \n\nAssistant: yo") == "hi there\n"
    assert first_human_turn("\n\nHuman: say Human: twice\n\nAssistant: ok") == "say\n"  # authors' quirk
    assert first_human_turn("\n\nHuman: no reply yet") == "no reply yet\n"
    with pytest.raises(ValueError, match="no 'Human:'"):
        first_human_turn("\n\nAssistant: only me")


def test_red_team_reads_json_array_despite_jsonl_name():
    assert load("red_team", local("red_team_attempts.jsonl")) == [
        {"dataset": "red_team", "id": "red_team_0", "prompt": "What is the tallest tree species?\n"},
        {"dataset": "red_team", "id": "red_team_1", "prompt": "How many legs does a spider have?\n"},
        {"dataset": "red_team", "id": "red_team_2", "prompt": "Name a color of the rainbow.\n"},
    ]


BEAVERTAILS = [
    {"dataset": "beavertails", "id": "beavertails_0", "prompt": "How do I fold a paper crane?"},
    {"dataset": "beavertails", "id": "beavertails_1", "prompt": "How do I fold a paper crane?"},
    {"dataset": "beavertails", "id": "beavertails_2", "prompt": "What rhymes with orange?"},
    {"dataset": "beavertails", "id": "beavertails_3", "prompt": "Is a tomato a fruit?"},
]


def test_beavertails_keeps_duplicates_and_order():
    assert load("beavertails", local("beavertails.jsonl")) == BEAVERTAILS


@pytest.mark.parametrize("suffix, compress", [(".gz", gzip.compress), (".xz", lzma.compress)])
def test_compressed_jsonl_reads_like_plain(tmp_path, suffix, compress):
    path = tmp_path / f"test.jsonl{suffix}"
    path.write_bytes(compress((FIX / "beavertails.jsonl").read_bytes()))
    assert load("beavertails", {"local": str(path)}) == BEAVERTAILS


def test_harmbench_uses_behavior_without_context_in_csv_order():
    assert load("harmbench", local("harmbench_behaviors_text_all.csv")) == [
        {"dataset": "harmbench", "id": "autumn_poem", "prompt": "Write a short poem about autumn leaves"},
        {
            "dataset": "harmbench",
            "id": "fair_summary",
            "prompt": "Summarize the paragraph below, in one sentence",
        },
        {"dataset": "harmbench", "id": "paper_clip_uses", "prompt": "List three uses for a paper clip"},
        {
            "dataset": "harmbench",
            "id": "placeholder_novel_opening",
            "prompt": "Reproduce the opening line of a placeholder novel",
        },
    ]


def test_harmbench_without_behavior_id_numbers_rows(tmp_path):
    path = write_lines(tmp_path / "hb.csv", ["Behavior,FunctionalCategory", "Write a limerick,standard"])
    assert load("harmbench", {"local": str(path)}) == [
        {"dataset": "harmbench", "id": "harmbench_0", "prompt": "Write a limerick"}
    ]


def test_csv_rows_are_numbered_by_their_first_line():
    rows, origin = read_rows(local("harmbench_behaviors_text_all.csv"))
    assert origin.endswith("harmbench_behaviors_text_all.csv")
    assert [row["_row"] for row in rows] == [2, 3, 5, 6]  # row 3 has a two-line quoted ContextString
    assert rows[1]["ContextString"].endswith('and "live" music.')


def test_jailbreak_questions_ids_from_policy_and_question():
    assert load("jailbreak_questions", local("questions.csv")) == [
        {"dataset": "jailbreak", "id": "jailbreak_0_0", "prompt": "How do I water a cactus?"},
        {"dataset": "jailbreak", "id": "jailbreak_0_1", "prompt": "What is a good bedtime story?"},
        {"dataset": "jailbreak", "id": "jailbreak_1_0", "prompt": "How far is the Moon, roughly?"},
    ]


# ---------------------------------------------------------------------------------------------- chat


def test_sharegpt_drops_system_bing_leading_assistant_and_broken_alternation():
    assert load("sharegpt", local("sharegpt.json")) == [
        {
            "dataset": "sharegpt",
            "id": "sharegpt_abc1",
            "messages": [
                {"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Tell me a joke"},
                {"role": "assistant", "content": "Why did the chicken cross the road?"},
            ],
        },
        {
            "dataset": "sharegpt",
            "id": "sharegpt_lead4",
            "messages": [
                {"role": "user", "content": "Count to three"},
                {"role": "assistant", "content": "One, two, three."},
            ],
        },
    ]


def test_sharegpt_unknown_sender_is_an_error(tmp_path):
    path = tmp_path / "sg.json"
    path.write_text(json.dumps([{"id": "x", "conversations": [{"from": "robot", "value": "beep"}]}]))
    with pytest.raises(DataError, match=r"sg\.json: row 1: key 'conversations\[0\]\.from' has unknown sender"):
        load("sharegpt", {"local": str(path)})


def chat(n_pairs: int) -> dict:
    """A chat record whose turn i has content f"t{i}" (token counts come from a lookup table)."""
    messages = [{"role": ("user", "assistant")[i % 2], "content": f"t{i}"} for i in range(2 * n_pairs)]
    return {"dataset": "sharegpt", "id": "sharegpt_c", "messages": messages}


def test_split_chat_packs_pairs_and_skips_oversized_pair():
    lengths = {
        "t0": 10,
        "t1": 10,
        "t2": 20,
        "t3": 20,
        "t4": 100,
        "t5": 1,
        "t6": 5,
        "t7": 5,
        "t8": 30,
        "t9": 30,
    }
    chunks = split_chat(chat(5), lengths.__getitem__, max_length=80)
    # pair costs (turn = tokens + 6): 32, 52, 113 (> 80, skipped), 22, 72
    assert [(c["id"], [m["content"] for m in c["messages"]]) for c in chunks] == [
        ("sharegpt_c_0", ["t0", "t1"]),
        ("sharegpt_c_2", ["t2", "t3"]),
        ("sharegpt_c_6", ["t6", "t7"]),
        ("sharegpt_c_8", ["t8", "t9"]),
    ]
    assert all(c["dataset"] == "sharegpt" for c in chunks)


def test_split_chat_keeps_short_chat_whole_and_drops_odd_tail():
    record = chat(2)
    record["messages"].append({"role": "user", "content": "dangling"})
    (chunk,) = split_chat(record, lambda text: 1, max_length=4096)
    assert chunk["id"] == "sharegpt_c_0" and len(chunk["messages"]) == 4


def test_lima_alternates_roles_from_user():
    assert load("lima", local("lima.jsonl")) == [
        {
            "dataset": "lima",
            "id": "lima_0",
            "messages": [
                {"role": "user", "content": "How do I boil an egg?"},
                {"role": "assistant", "content": "Place it in boiling water for nine minutes."},
            ],
        },
        {
            "dataset": "lima",
            "id": "lima_1",
            "messages": [
                {"role": "user", "content": "Write a haiku about rain."},
                {"role": "assistant", "content": "Soft rain on the roof"},
                {"role": "user", "content": "Now one about snow."},
                {"role": "assistant", "content": "White hush on the hill"},
            ],
        },
    ]


# ---------------------------------------------------------------------------------------------- preferences


def test_hh_pairs_splits_prompt_turns_chosen_and_rejected():
    records = load("hh_pairs", local("hh.jsonl"))
    assert records[1] == {
        "id": "hh_1",
        "prompt_messages": [
            {"role": "user", "content": "Suggest a name for a cat."},
            {"role": "assistant", "content": "How about Pepper?"},
            {"role": "user", "content": "Something longer, please."},
        ],
        "chosen": "Sir Whiskers of the Windowsill.",
        "rejected": "Cat.",
    }
    assert records[2] == {
        "id": "hh_2",
        "prompt_messages": [{"role": "user", "content": "Tell me a fact about owls."}],
        "chosen": "Owls can turn their heads a long way.",
        "rejected": "",
    }
    assert [r["id"] for r in records] == ["hh_0", "hh_1", "hh_2"]


def hh_file(tmp_path: Path, rows: list[dict]) -> dict:
    """A local source holding the given hh rows as jsonl."""
    path = write_lines(tmp_path / "hh.jsonl", [json.dumps(row) for row in rows])
    return {"local": str(path)}


GOOD_HH = {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"}
MISMATCHED_HH = {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: other\n\nAssistant: c"}


def test_hh_pairs_mismatched_prompt_turns_is_an_error(tmp_path):
    source = hh_file(tmp_path, [GOOD_HH, MISMATCHED_HH])
    with pytest.raises(DataError, match=r"hh\.jsonl: row 2: keys 'chosen' and 'rejected' do not share"):
        load("hh_pairs", source)


def test_hh_pairs_skip_unpaired_drops_only_unpaired_rows(tmp_path, caplog):
    ends_with_human = {"chosen": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c", "rejected": GOOD_HH["rejected"]}
    source = hh_file(tmp_path, [GOOD_HH, MISMATCHED_HH, ends_with_human, GOOD_HH])
    assert [r["id"] for r in load("hh_pairs", source, skip_unpaired=True)] == ["hh_0", "hh_3"]
    assert "skipped 2 unpaired rows (first: [2, 3])" in caplog.text
    with pytest.raises(DataError, match="row 2: missing key 'rejected'"):
        load("hh_pairs", hh_file(tmp_path, [GOOD_HH, {"chosen": "x"}]), skip_unpaired=True)


def test_hh_pairs_rejects_text_that_is_not_a_transcript(tmp_path):
    with pytest.raises(DataError, match=r"row 1: key 'chosen' is not a"):
        load("hh_pairs", hh_file(tmp_path, [{"chosen": "plain text", "rejected": "x"}]))


def test_rewardbench_filters_subsets_and_strips():
    assert load("rewardbench", local("rewardbench.jsonl"), subsets=["xstest-should-respond", "hep-go"]) == [
        {
            "id": "rewardbench_12",
            "prompt_messages": [{"role": "user", "content": "Describe a cloud."}],
            "chosen": "White and fluffy.",
            "rejected": "Green.",
            "subset": "xstest-should-respond",
        },
        {
            "id": "rewardbench_13",
            "prompt_messages": [{"role": "user", "content": "Write hello world in Go."}],
            "chosen": 'fmt.Println("hello world")',
            "rejected": "print hi",
            "subset": "hep-go",
        },
    ]
    assert len(load("rewardbench", local("rewardbench.jsonl"))) == 4


def test_rewardbench_absent_or_malformed_subsets_are_errors():
    with pytest.raises(DataError, match=r"rewardbench\.jsonl: no row has key 'subset' in \['do not answer'\]"):
        load("rewardbench", local("rewardbench.jsonl"), subsets=["donotanswer", "do not answer"])
    with pytest.raises(DataError, match="option 'subsets' must be a list"):
        load("rewardbench", local("rewardbench.jsonl"), subsets="hep-go")


@pytest.mark.parametrize(
    "invert, expected",
    [
        (False, [("In a bread box.", "In the fridge."), ("Wrapped in a cloth.", "On the floor.")]),
        (True, [("In the fridge.", "In a bread box."), ("On the floor.", "Wrapped in a cloth.")]),
    ],
)
def test_shp_label_direction(invert, expected):
    records = load("shp", local("shp.jsonl"), invert_labels=invert)
    assert [(r["chosen"], r["rejected"]) for r in records] == expected
    assert records[0]["prompt_messages"] == [{"role": "user", "content": "What is the best way to store bread?"}]
    assert records[0]["id"] == "shp_0" and records[0]["domain"] == "askculinary_train"


def test_shp_rejects_non_bool_invert_labels():
    with pytest.raises(DataError, match="option 'invert_labels' must be bool"):
        load("shp", local("shp.jsonl"), invert_labels="yes")


def test_h4_stackexchange_and_iefeedback():
    assert load("h4_stackexchange", local("math_stack_exchange.json"))[1] == {
        "id": "h4_stackexchange_1",
        "prompt_messages": [{"role": "user", "content": "Is 7 prime?"}],
        "chosen": "Yes, 7 is prime.",
        "rejected": "No.",
    }
    assert load("iefeedback", local("iefeedback.json")) == [
        {
            "id": "iefeedback_0",
            "prompt_messages": [{"role": "user", "content": "Extract the city: I live in Paris."}],
            "chosen": "Paris",
            "rejected": "France",
        }
    ]


def test_iefeedback_empty_chosen_names_nested_key(tmp_path):
    path = tmp_path / "ief.json"
    path.write_text(json.dumps([{"messages": [{"content": "q"}], "chosen": [], "rejected": [{"content": "r"}]}]))
    with pytest.raises(DataError, match=r"ief\.json: row 1: missing key 'chosen\[-1\]'"):
        load("iefeedback", {"local": str(path)})


# ---------------------------------------------------------------------------------------------- general


def test_wikitext_joins_all_lines_into_one_record():
    assert load("wikitext", local("wikitext.jsonl")) == [
        {"text": "\n\n = Placeholder Article = \n\n\n\n\n The placeholder article has one line . \n"}
    ]


def test_mmlu_gsm8k_truthfulqa():
    assert load("mmlu", local("mmlu.jsonl"))[0] == {
        "id": "mmlu_0",
        "subject": "astronomy",
        "question": "Which planet is closest to the Sun?",
        "choices": ["Venus", "Mercury", "Earth", "Mars"],
        "answer": 1,
    }
    assert [(r["id"], r["target"]) for r in load("gsm8k", local("gsm8k.jsonl"))] == [
        ("gsm8k_0", "5"),
        ("gsm8k_1", "2000"),
    ]
    assert load("truthfulqa_mc1", local("truthfulqa_mc1.jsonl")) == [
        {
            "id": "truthfulqa_0",
            "question": "What color is a clear daytime sky?",
            "choices": ["Blue", "Green", "Purple"],
            "labels": [1, 0, 0],
        }
    ]


@pytest.mark.parametrize(
    "kind, row, message",
    [
        (
            "mmlu",
            {"question": "q", "subject": "s", "choices": ["a", "b", "c"], "answer": 0},
            "'choices' must hold 4",
        ),
        (
            "mmlu",
            {"question": "q", "subject": "s", "choices": list("abcd"), "answer": 4},
            "'answer' must be 0-3",
        ),
        (
            "mmlu",
            {"question": "q", "subject": "s", "choices": list("abcd"), "answer": True},
            "'answer' has type bool",
        ),
        ("gsm8k", {"question": "q", "answer": "no marker 5"}, "'answer' has no '#### N'"),
        (
            "truthfulqa_mc1",
            {"question": "q", "mc1_targets": {"choices": ["a", "b"], "labels": [1, 1]}},
            "'mc1_targets.labels' must hold one 1",
        ),
        (
            "shp",
            {"history": "h", "human_ref_A": "a", "human_ref_B": "b", "labels": 2, "domain": "d"},
            "'labels' must be 0 or 1",
        ),
    ],
)
def test_invalid_benchmark_rows_are_errors(tmp_path, kind, row, message):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(row)])
    with pytest.raises(DataError, match=rf"bad\.jsonl: row 1: key {message}"):
        load(kind, {"local": str(path)})


def test_bbh_task_from_option_or_column(tmp_path):
    assert load("bbh", local("bbh_boolean_expressions.json"), task="boolean_expressions") == [
        {
            "id": "bbh_boolean_expressions_0",
            "task": "boolean_expressions",
            "input": "True and False is",
            "target": "False",
        },
        {
            "id": "bbh_boolean_expressions_1",
            "task": "boolean_expressions",
            "input": "not False is",
            "target": "True",
        },
    ]
    rows = [{"task": "a", "input": "x", "target": "1"}, {"task": "b", "input": "y", "target": "2"}]
    rows.append({"task": "a", "input": "z", "target": "3"})
    source = {"local": str(write_lines(tmp_path / "bbh.jsonl", [json.dumps(r) for r in rows]))}
    assert [r["id"] for r in load("bbh", source)] == ["bbh_a_0", "bbh_b_0", "bbh_a_1"]
    with pytest.raises(DataError, match="row 2: key 'task' is 'b' but option task='a'"):
        load("bbh", source, task="a")
    with pytest.raises(DataError, match=r"bbh_boolean_expressions\.json: row 1: missing key 'task'"):
        load("bbh", local("bbh_boolean_expressions.json"))


# ---------------------------------------------------------------------------------------------- errors


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "broken.jsonl", ['{"prompt": "fine"}', "", '{"prompt": oops}'])
    with pytest.raises(DataError, match=r"broken\.jsonl: line 3: malformed JSON"):
        load("beavertails", {"local": str(path)})


def test_missing_key_names_file_row_and_key(tmp_path):
    path = write_lines(tmp_path / "hh.jsonl", [json.dumps(GOOD_HH), json.dumps({"chosen": GOOD_HH["chosen"]})])
    with pytest.raises(DataError, match=r"hh\.jsonl: row 2: missing key 'rejected'"):
        load("hh_pairs", {"local": str(path)})


def test_missing_csv_column_names_file_line_and_key(tmp_path):
    path = write_lines(tmp_path / "q.csv", ["content_policy_id,q_id,prompt", "0,0,hello"])
    with pytest.raises(DataError, match=r"q\.csv: row 2: missing key 'question'"):
        load("jailbreak_questions", {"local": str(path)})


def test_ragged_csv_row_names_its_line(tmp_path):
    path = write_lines(tmp_path / "r.csv", ["Behavior,BehaviorID", "a,b", "c,d,e"])
    with pytest.raises(DataError, match=r"r\.csv: line 3: 3 fields, header has 2"):
        read_rows({"local": str(path)})


def test_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match=r"nope\.jsonl: cannot read file"):
        load("beavertails", {"local": str(tmp_path / "nope.jsonl")})


def test_unknown_kind_lists_known_kinds():
    with pytest.raises(DataError, match=r"beavertails\.jsonl: unknown kind 'beaver'; known kinds: .*hh_pairs"):
        load("beaver", local("beavertails.jsonl"))


def test_unknown_option_is_named():
    with pytest.raises(
        DataError,
        match=r"unknown option\(s\) \['subsets'\] for kind 'shp'; allowed: "
        r"\['invert_labels', 'max_history_words', 'per_domain', 'seed'\]",
    ):
        load("shp", local("shp.jsonl"), subsets=["x"])


def test_empty_result_is_an_error(tmp_path):
    path = tmp_path / "sg.json"
    path.write_text(json.dumps([{"id": "s", "conversations": [{"from": "system", "value": "x"}]}]))
    with pytest.raises(DataError, match=r"sg\.json: no sharegpt records"):
        load("sharegpt", {"local": str(path)})


@pytest.mark.parametrize(
    "source",
    [
        {},
        {"local": "a", "url": "b"},
        {"file": "a"},
        {"hub": {"path": "x"}},
        {"hub": {"path": "x", "split": "t", "foo": 1}},
    ],
)
def test_bad_sources_are_errors(source):
    with pytest.raises(DataError):
        read_rows(source)


def test_json_object_needs_exactly_one_list(tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"a": [], "b": []}))
    with pytest.raises(DataError, match=r"two\.json: expected a JSON array or an object with one list value"):
        read_rows({"local": str(path)})


def test_non_object_row_is_an_error(tmp_path):
    path = write_lines(tmp_path / "x.jsonl", ['{"prompt": "a"}', '["not", "an", "object"]'])
    with pytest.raises(DataError, match=r"x\.jsonl: row 2: expected a JSON object, got list"):
        read_rows({"local": str(path)})


# ------------------------------------------------------------------------------------------- remote sources


def test_hub_branch_builds_load_dataset_kwargs(monkeypatch):
    calls = []

    def fake_load_dataset(**kwargs):
        calls.append(kwargs)
        return [{"prompt": "first"}, {"prompt": "second"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=fake_load_dataset))
    spec = {"path": "PKU-Alignment/BeaverTails", "split": "330k_test", "name": None, "revision": "abc123"}
    rows, origin = read_rows({"hub": spec})
    assert calls == [{"path": "PKU-Alignment/BeaverTails", "split": "330k_test", "revision": "abc123"}]
    assert origin == "hub:PKU-Alignment/BeaverTails[split=330k_test,revision=abc123]"
    assert rows == [{"prompt": "first", "_row": 1}, {"prompt": "second", "_row": 2}]

    hh = {"path": "Anthropic/hh-rlhf", "data_dir": "red-team-attempts", "split": "train"}
    monkeypatch.setattr(sys.modules["datasets"], "load_dataset", lambda **kw: calls.append(kw) or [{}])
    with pytest.raises(DataError, match=r"hub:Anthropic/hh-rlhf\[data_dir=red-team-attempts,split=train\]: row 1: "):
        load("red_team", {"hub": hh})
    assert calls[-1] == hh


def test_url_branch_parses_by_url_suffix(monkeypatch):
    body = (FIX / "questions.csv").read_bytes()
    monkeypatch.setattr(loaders.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(body))
    url = "https://example.org/jailbreak_llms/data/questions.csv?raw=true"
    records = load("jailbreak_questions", {"url": url})
    assert [r["id"] for r in records] == ["jailbreak_0_0", "jailbreak_0_1", "jailbreak_1_0"]


# ---------------------------------------------------------------------------------------------- jsonl io


def test_write_and_read_jsonl_round_trip(tmp_path):
    records = load("lima", local("lima.jsonl"))
    path = tmp_path / "out" / "lima.jsonl"
    write_jsonl(records, path)
    assert read_jsonl(path) == records
    assert [p.name for p in path.parent.iterdir()] == ["lima.jsonl"]


def test_write_jsonl_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    real_dumps = json.dumps

    def dumps_then_fail(obj, *args, **kwargs):
        if obj["n"] == 2:
            raise RuntimeError("interrupted")
        return real_dumps(obj, *args, **kwargs)

    monkeypatch.setattr(json, "dumps", dumps_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_jsonl([{"n": 1}, {"n": 2}, {"n": 3}], path)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp file

    monkeypatch.setattr(json, "dumps", real_dumps)
    write_jsonl([{"n": 0}], path)
    monkeypatch.setattr(json, "dumps", dumps_then_fail)
    with pytest.raises(RuntimeError):
        write_jsonl([{"n": 1}, {"n": 2}], path)
    assert path.read_text() == '{"n": 0}\n'  # the previous complete file survives


def test_read_jsonl_malformed_line_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", ['{"a": 1}', "{"])
    with pytest.raises(DataError, match=r"r\.jsonl: line 2: malformed JSON"):
        read_jsonl(path)


def test_shp_history_cap_and_per_domain_sample(tmp_path):
    """The authors' SHP subset: short histories only, then a seeded sample of n pairs per domain."""
    rows = [
        {"history": "w " * (i % 5 + 1), "human_ref_A": "a", "human_ref_B": "b", "labels": i % 2, "domain": f"d{i % 3}"}
        for i in range(30)
    ]
    path = tmp_path / "shp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = load("shp", {"local": str(path)}, max_history_words=3, per_domain=2, seed=1)
    assert sorted(r["domain"] for r in out) == ["d0", "d0", "d1", "d1", "d2", "d2"]
    assert all(len(r["prompt_messages"][0]["content"].split()) <= 3 for r in out)
    assert out == load("shp", {"local": str(path)}, max_history_words=3, per_domain=2, seed=1)  # seeded
