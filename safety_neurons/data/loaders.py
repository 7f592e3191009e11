"""Raw dataset rows -> normalized records (chat, preference, prompt and benchmark items).

A source is a local file of the upstream schema, a hub dataset or a URL; all go through the same
normalizers, so tests run on tiny fixtures and the cluster on the real data (docs/decisions.md#datasets).
Every error names the file (or hub id), the row and the offending key.
"""

from __future__ import annotations

import csv
import gzip
import inspect
import io
import json
import logging
import lzma
import random
import re
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from safety_neurons.files import DataError, jsonl_objects, read_bytes  # DataError also as loaders.DataError

log = logging.getLogger(__name__)

ROW = "_row"  # per-row marker added by read_rows: the 1-based line (jsonl/csv) or array position (json/hub)
HUB_KEYS = ("path", "name", "data_dir", "data_files", "split", "revision")
SOURCE_KINDS = ("local", "hub", "url")

Normalizer = Callable[..., list[dict]]


# ---------------------------------------------------------------------------------------------- reading


def read_rows(source: dict) -> tuple[list[dict], str]:
    """Raw rows, each tagged with its row number under ROW, plus an origin label for messages.

    source is {"local": path}, {"hub": {path, split, [name, data_dir, data_files, revision]}} or
    {"url": url}. Row numbers are 1-based lines for jsonl/csv (csv header = line 1), else positions.
    """
    how, where = _unpack(source)
    if how == "hub":
        return _read_hub(where)
    if how == "url":
        return _parse(_fetch(where), urlparse(where).path, where), where
    return _parse(read_bytes(where), str(where), str(where)), str(where)


def _unpack(source: dict) -> tuple[str, Any]:
    """The single (how, where) pair of a source dict; anything else is an error."""
    if not isinstance(source, dict) or len(source) != 1 or next(iter(source)) not in SOURCE_KINDS:
        raise DataError(f"source must be a dict with exactly one of {list(SOURCE_KINDS)}, got {source!r}")
    return next(iter(source.items()))


def describe(source: dict) -> str:
    """Where a source's rows come from, with every argument that selects them (hub: the load_dataset call)."""
    how, where = _unpack(source)
    if how == "hub":
        args = ", ".join(f"{k}={v!r}" for k, v in _hub_kwargs(where).items())
        return f"datasets.load_dataset({args})"
    return f"{how} {where}"


def _origin(source: dict) -> str:
    """The label read_rows would give this source, computed without reading it."""
    how, where = _unpack(source)
    return _hub_origin(_hub_kwargs(where)) if how == "hub" else str(where)


def _fetch(url: str) -> bytes:
    """Response body of a URL (GitHub CSVs), held in memory."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except OSError as e:
        raise DataError(f"{url}: cannot fetch ({e})") from e


def _hub_kwargs(spec: Any) -> dict:
    """datasets.load_dataset kwargs from a hub spec: path and split required, None values dropped."""
    if not isinstance(spec, dict):
        raise DataError(f"hub source must be a dict of {list(HUB_KEYS)}, got {spec!r}")
    unknown = sorted(set(spec) - set(HUB_KEYS))
    missing = [key for key in ("path", "split") if spec.get(key) is None]
    if unknown or missing:
        raise DataError(f"hub source {spec!r}: unknown keys {unknown}, missing keys {missing}")
    return {key: spec[key] for key in HUB_KEYS if spec.get(key) is not None}


def _hub_origin(kwargs: dict) -> str:
    """'hub:<path>[name=...,split=...]', naming the hub id and everything that selects the rows."""
    selectors = ",".join(f"{key}={value}" for key, value in kwargs.items() if key != "path")
    return f"hub:{kwargs['path']}[{selectors}]"


def _read_hub(spec: Any) -> tuple[list[dict], str]:
    """Rows of one hub split via datasets.load_dataset (imported here: it is slow to import)."""
    import datasets

    kwargs = _hub_kwargs(spec)
    origin = _hub_origin(kwargs)
    rows = [dict(row) for row in datasets.load_dataset(**kwargs)]
    return _mark(rows, range(1, len(rows) + 1), origin), origin


def _parse(data: bytes, name: str, origin: str) -> list[dict]:
    """Rows from file bytes, by the name's suffix: .json/.jsonl/.csv, optionally .gz or .xz."""
    lower = name.lower()
    try:
        if lower.endswith(".gz"):
            data, lower = gzip.decompress(data), lower[:-3]
        elif lower.endswith(".xz"):
            data, lower = lzma.decompress(data), lower[:-3]
        text = data.decode("utf-8-sig")
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as e:
        raise DataError(f"{origin}: cannot decode file ({e})") from e
    suffix = Path(lower).suffix
    if suffix == ".json":
        return _parse_json(text, origin)
    if suffix == ".jsonl":
        return _parse_jsonl(text, origin)
    if suffix == ".csv":
        return _parse_csv(text, origin)
    raise DataError(f"{origin}: unsupported file type {suffix!r} (expected .json, .jsonl or .csv)")


def _parse_json(text: str, origin: str) -> list[dict]:
    """A JSON array of objects, or an object holding exactly one list (e.g. BBH's {canary, examples})."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{origin}: line {e.lineno}: malformed JSON ({e.msg})") from e
    if isinstance(data, dict):
        lists = [key for key, value in data.items() if isinstance(value, list)]
        if len(lists) != 1:
            raise DataError(f"{origin}: expected a JSON array or an object with one list value, got keys {lists}")
        data = data[lists[0]]
    if not isinstance(data, list):
        raise DataError(f"{origin}: expected a JSON array, got {type(data).__name__}")
    return _mark(data, range(1, len(data) + 1), origin)


def _parse_jsonl(text: str, origin: str) -> list[dict]:
    """One object per line; a file that starts with '[' is one JSON array (red_team_attempts.jsonl)."""
    if text.lstrip().startswith("["):
        return _parse_json(text, origin)
    numbered = jsonl_objects(text, origin)
    return _mark([obj for _, obj in numbered], [n for n, _ in numbered], origin)


def _parse_csv(text: str, origin: str) -> list[dict]:
    """Rows keyed by the header; each row numbered by the line it starts on (quoted fields may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    rows, numbers, start = [], [], reader.line_num + 1
    for record in reader:
        if record:
            if len(record) != len(header):
                raise DataError(f"{origin}: line {start}: {len(record)} fields, header has {len(header)}")
            rows.append(dict(zip(header, record, strict=True)))
            numbers.append(start)
        start = reader.line_num + 1
    return _mark(rows, numbers, origin)


def _mark(rows: list, numbers: Iterable[int], origin: str) -> list[dict]:
    """Tag each row (which must be an object) with its row number under ROW."""
    for row, n in zip(rows, numbers, strict=True):
        if not isinstance(row, dict):
            raise DataError(f"{origin}: row {n}: expected a JSON object, got {type(row).__name__}")
        row[ROW] = n
    return rows


# ---------------------------------------------------------------------------------------------- rows


class _Row:
    """One raw row with its origin and number, so every error names file, row and key."""

    def __init__(self, data: dict, origin: str, number: int) -> None:
        self.data, self.origin, self.number = data, origin, number

    def fail(self, problem: str) -> DataError:
        """A DataError for this row."""
        return DataError(f"{self.origin}: row {self.number}: {problem}")

    def get(self, *path: str | int, typ: type | tuple[type, ...] = str) -> Any:
        """The value at path (keys and list indices), checked to be of type typ (bool never counts as int)."""
        value: Any = self.data
        for depth, step in enumerate(path):
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                raise self.fail(f"missing key '{_label(path[: depth + 1])}'") from None
        if not isinstance(value, typ) or (isinstance(value, bool) and typ is int):
            raise self.fail(f"key '{_label(path)}' has type {type(value).__name__}, expected {_type_name(typ)}")
        return value


def _label(path: tuple[str | int, ...]) -> str:
    """'messages[0].content' for ('messages', 0, 'content')."""
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path).lstrip(".")


def _type_name(typ: type | tuple[type, ...]) -> str:
    """'str' or 'str or int'."""
    return " or ".join(t.__name__ for t in (typ if isinstance(typ, tuple) else (typ,)))


def _rows(rows: list[dict], origin: str) -> Iterator[tuple[int, _Row]]:
    """(0-based position, wrapped row); ids use the position, messages the row number."""
    for i, data in enumerate(rows):
        yield i, _Row(data, origin, data.get(ROW, i + 1))


def _option(origin: str, name: str, value: Any, typ: type) -> None:
    """Reject an option value of the wrong type instead of misreading it."""
    if not isinstance(value, typ):
        raise DataError(f"{origin}: option '{name}' must be {typ.__name__}, got {value!r}")


# ---------------------------------------------------------------------------------------------- records


def _prompt(dataset: str, record_id: str, prompt: str) -> dict:
    """A prompt record, the schema of the processed safety files."""
    return {"dataset": dataset, "id": record_id, "prompt": prompt}


def _preference(record_id: str, prompt: str, chosen: str, rejected: str, **extra: Any) -> dict:
    """A single-turn preference record; all text stripped as in the authors' DPO data prep."""
    return {
        "id": record_id,
        "prompt_messages": [{"role": "user", "content": prompt.strip()}],
        "chosen": chosen.strip(),
        "rejected": rejected.strip(),
        **extra,
    }


def first_human_turn(transcript: str) -> str:
    """The authors' first-human-turn rule: text between the first 'Human:' and the next 'Assistant:'.

    Splits on the literal markers (so also inside message text) and keeps a trailing newline.
    """
    pieces = transcript.split("Human:")
    if len(pieces) < 2:
        raise ValueError("transcript has no 'Human:' turn")
    return pieces[1].split("Assistant:")[0].strip() + "\n"


def _first_turn(row: _Row, key: str) -> str:
    """first_human_turn of row[key], as a row error when there is no human turn."""
    transcript = row.get(key)
    try:
        return first_human_turn(transcript)
    except ValueError as e:
        raise row.fail(f"key '{key}': {e}") from None


_HH_MARKER = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def _hh_turns(row: _Row, key: str) -> list[dict]:
    """Stripped role/content turns of an HH transcript that ends with an assistant turn."""
    pieces = _HH_MARKER.split(row.get(key))
    if pieces[0].strip() or len(pieces) < 3:
        raise row.fail(f"key '{key}' is not a '\\n\\nHuman:' / '\\n\\nAssistant:' transcript")
    turns = [{"role": _HH_ROLES[r], "content": c.strip()} for r, c in zip(pieces[1::2], pieces[2::2], strict=True)]
    if turns[-1]["role"] != "assistant":
        raise row.fail(f"key '{key}' does not end with an assistant turn")
    return turns


def _hh_pair(row: _Row) -> dict:
    """The preference fields of one HH row; chosen and rejected must share every turn but the last."""
    chosen, rejected = _hh_turns(row, "chosen"), _hh_turns(row, "rejected")
    if chosen[:-1] != rejected[:-1]:
        raise row.fail("keys 'chosen' and 'rejected' do not share the prompt turns")
    return {
        "prompt_messages": chosen[:-1],
        "chosen": chosen[-1]["content"],
        "rejected": rejected[-1]["content"],
    }


# ---------------------------------------------------------------------------------------------- kinds


_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant"}
_SHAREGPT_DROPPED = {"system", "bing"}


def _sharegpt_messages(row: _Row) -> list[dict]:
    """Mapped turns, or [] when the conversation is dropped (system/bing turn, roles not alternating)."""
    messages = []
    for j in range(len(row.get("conversations", typ=list))):
        sender = row.get("conversations", j, "from")
        if sender in _SHAREGPT_DROPPED:
            return []
        if sender not in _SHAREGPT_ROLES:
            raise row.fail(f"key 'conversations[{j}].from' has unknown sender {sender!r}")
        messages.append({"role": _SHAREGPT_ROLES[sender], "content": row.get("conversations", j, "value")})
    first_user = next((k for k, m in enumerate(messages) if m["role"] == "user"), len(messages))
    messages = messages[first_user:]
    messages = messages[: len(messages) // 2 * 2]
    if any(m["role"] != ("user", "assistant")[k % 2] for k, m in enumerate(messages)):
        return []
    return messages


def _sharegpt(rows: list[dict], origin: str) -> list[dict]:
    """ShareGPT conversations -> chat records (docs/decisions.md#datasets, ShareGPT note; split with split_chat)."""
    out = []
    for _, row in _rows(rows, origin):
        messages = _sharegpt_messages(row)
        if messages:
            out.append(
                {
                    "dataset": "sharegpt",
                    "id": f"sharegpt_{row.get('id', typ=(str, int))}",
                    "messages": messages,
                }
            )
    return out


def split_chat(record: dict, n_tokens: Callable[[str], int], max_length: int) -> list[dict]:
    """Greedily pack consecutive (user, assistant) pairs of a chat record into chunks <= max_length tokens.

    A turn costs n_tokens(text) + 6; a pair over the limit on its own is skipped. Chunk id: f"{id}_{start}".
    """
    messages = record["messages"]
    spans, start, used = [], 0, 0
    for i in range(0, len(messages) - 1, 2):
        cost = n_tokens(messages[i]["content"]) + n_tokens(messages[i + 1]["content"]) + 12
        if cost > max_length:
            spans.append((start, i))
            start, used = i + 2, 0
        elif used + cost > max_length:
            spans.append((start, i))
            start, used = i, cost
        else:
            used += cost
    spans.append((start, len(messages) // 2 * 2))
    return [{**record, "id": f"{record['id']}_{s}", "messages": messages[s:e]} for s, e in spans if e > s]


def _lima(rows: list[dict], origin: str) -> list[dict]:
    """LIMA string conversations -> chat records alternating user/assistant from the user."""
    out = []
    for i, row in _rows(rows, origin):
        n_turns = len(row.get("conversations", typ=list))
        if not n_turns:
            raise row.fail("key 'conversations' is empty")
        roles = ("user", "assistant")
        messages = [{"role": roles[k % 2], "content": row.get("conversations", k)} for k in range(n_turns)]
        out.append({"dataset": "lima", "id": f"lima_{i}", "messages": messages})
    return out


def _hh_pairs(rows: list[dict], origin: str, *, skip_unpaired: bool = False) -> list[dict]:
    """HH transcripts -> multi-turn preference records; chosen and rejected must share the prompt turns.

    skip_unpaired=True drops (and logs) rows that do not split into shared prompt + final assistant turn.
    """
    _option(origin, "skip_unpaired", skip_unpaired, bool)
    out, skipped = [], []
    for i, row in _rows(rows, origin):
        for key in ("chosen", "rejected"):
            row.get(key)  # a missing or non-text field is an error even with skip_unpaired
        try:
            out.append({"id": f"hh_{i}", **_hh_pair(row)})
        except DataError:
            if not skip_unpaired:
                raise
            skipped.append(row.number)
    if skipped:
        log.warning("%s: skipped %d unpaired rows (first: %s)", origin, len(skipped), skipped[:10])
    return out


def _hh_prompts(rows: list[dict], origin: str) -> list[dict]:
    """HH rows -> prompt records: the first human turn of 'chosen'."""
    return [_prompt("hh", f"hh_{i}", _first_turn(row, "chosen")) for i, row in _rows(rows, origin)]


def _red_team(rows: list[dict], origin: str) -> list[dict]:
    """Red-team attempts -> prompt records: the first human turn of 'transcript'."""
    return [_prompt("red_team", f"red_team_{i}", _first_turn(row, "transcript")) for i, row in _rows(rows, origin)]


def _beavertails(rows: list[dict], origin: str) -> list[dict]:
    """BeaverTails -> prompt records, duplicates and order kept (sampling is positional)."""
    return [_prompt("beavertails", f"beavertails_{i}", row.get("prompt")) for i, row in _rows(rows, origin)]


def _harmbench(rows: list[dict], origin: str) -> list[dict]:
    """HarmBench CSV -> prompt records from 'Behavior' (no ContextString), id = BehaviorID when given."""
    out = []
    for i, row in _rows(rows, origin):
        behavior_id = row.get("BehaviorID") if "BehaviorID" in row.data else ""
        out.append(_prompt("harmbench", behavior_id or f"harmbench_{i}", row.get("Behavior")))
    return out


def _jailbreak_questions(rows: list[dict], origin: str) -> list[dict]:
    """jailbreak_llms questions.csv -> prompt records from 'question'."""
    out = []
    for _, row in _rows(rows, origin):
        policy, q_id = row.get("content_policy_id", typ=(str, int)), row.get("q_id", typ=(str, int))
        out.append(_prompt("jailbreak", f"jailbreak_{policy}_{q_id}", row.get("question")))
    return out


def _rewardbench(rows: list[dict], origin: str, *, subsets: list[str] | None = None) -> list[dict]:
    """RewardBench -> preference records, keeping the rows whose 'subset' is in subsets (all if None)."""
    if subsets is not None and (isinstance(subsets, str) or not all(isinstance(s, str) for s in subsets)):
        raise DataError(f"{origin}: option 'subsets' must be a list of subset names, got {subsets!r}")
    out, seen = [], set()
    for _, row in _rows(rows, origin):
        subset = row.get("subset")
        seen.add(subset)
        if subsets is None or subset in subsets:
            record_id = f"rewardbench_{row.get('id', typ=(str, int))}"
            texts = (row.get("prompt"), row.get("chosen"), row.get("rejected"))
            out.append(_preference(record_id, *texts, subset=subset))
    absent = sorted(set(subsets or ()) - seen)
    if absent:
        raise DataError(f"{origin}: no row has key 'subset' in {absent} (option 'subsets'); present: {sorted(seen)}")
    return out


def _shp(
    rows: list[dict],
    origin: str,
    *,
    invert_labels: bool = False,
    max_history_words: int | None = None,
    per_domain: int | None = None,
    seed: int = 42,
) -> list[dict]:
    """SHP -> preference records. Card convention: labels == 1 means A is preferred.

    invert_labels=True reproduces the authors' code (chosen = A when labels == 0). The authors keep histories
    of <= 256 Llama-2 tokens and sample 2,000 pairs per domain: ``max_history_words`` (a word count, as the
    loader has no tokenizer; ~197 words ~ 256 Llama-2 tokens) and ``per_domain`` (seeded) do the same.
    """
    _option(origin, "invert_labels", invert_labels, bool)
    out = []
    for i, row in _rows(rows, origin):
        label = row.get("labels", typ=int)
        if label not in (0, 1):
            raise row.fail(f"key 'labels' must be 0 or 1, got {label!r}")
        history = row.get("history")
        if max_history_words is not None and len(history.split()) > max_history_words:
            continue
        a, b = row.get("human_ref_A"), row.get("human_ref_B")
        chosen, rejected = (a, b) if (label == 1) != invert_labels else (b, a)
        out.append(_preference(f"shp_{i}", history, chosen, rejected, domain=row.get("domain")))
    return out if per_domain is None else _per_domain(out, per_domain, seed)


def _per_domain(records: list[dict], n: int, seed: int) -> list[dict]:
    """At most n records per domain, drawn with one seeded stream over the domains in sorted order."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["domain"], []).append(r)
    rng = random.Random(seed)
    return [r for d in sorted(groups) for r in rng.sample(groups[d], min(n, len(groups[d])))]


def _h4_stackexchange(rows: list[dict], origin: str) -> list[dict]:
    """Math StackExchange preferences (question, chosen, rejected) -> preference records."""
    return [
        _preference(f"h4_stackexchange_{i}", row.get("question"), row.get("chosen"), row.get("rejected"))
        for i, row in _rows(rows, origin)
    ]


def _iefeedback(rows: list[dict], origin: str) -> list[dict]:
    """IEFeedback -> preference records: first message vs last chosen/rejected message."""
    return [
        _preference(
            f"iefeedback_{i}",
            row.get("messages", 0, "content"),
            row.get("chosen", -1, "content"),
            row.get("rejected", -1, "content"),
        )
        for i, row in _rows(rows, origin)
    ]


def _wikitext(rows: list[dict], origin: str) -> list[dict]:
    """Wikitext lines -> one record with the '\\n\\n'-joined text, as the authors' PPL tokenizes it."""
    texts = [row.get("text") for _, row in _rows(rows, origin)]
    return [{"text": "\n\n".join(texts)}] if texts else []


def _mmlu(rows: list[dict], origin: str) -> list[dict]:
    """MMLU -> items with 4 choices and an answer index 0-3."""
    out = []
    for i, row in _rows(rows, origin):
        n_choices = len(row.get("choices", typ=list))
        if n_choices != 4:
            raise row.fail(f"key 'choices' must hold 4 choices, got {n_choices}")
        answer = row.get("answer", typ=int)
        if not 0 <= answer <= 3:
            raise row.fail(f"key 'answer' must be 0-3, got {answer}")
        out.append(
            {
                "id": f"mmlu_{i}",
                "subject": row.get("subject"),
                "question": row.get("question"),
                "choices": [row.get("choices", k) for k in range(4)],
                "answer": answer,
            }
        )
    return out


def _gsm8k(rows: list[dict], origin: str) -> list[dict]:
    """GSM8K -> items whose target is the number after '####', commas removed."""
    out = []
    for i, row in _rows(rows, origin):
        answer = row.get("answer")
        target = answer.split("####")[-1].strip().replace(",", "")
        if "####" not in answer or not target:
            raise row.fail("key 'answer' has no '#### N' final answer")
        out.append({"id": f"gsm8k_{i}", "question": row.get("question"), "answer": answer, "target": target})
    return out


def _bbh(rows: list[dict], origin: str, *, task: str | None = None, tasks: list[str] | None = None) -> list[dict]:
    """BBH -> items; the task comes from a 'task' column or the task option. Ids count per task.

    tasks: keep only these tasks' rows (a '{task}' source instead loads one file per task, see load).
    """
    if task is not None:
        _option(origin, "task", task, str)
    out = _bbh_items(rows, origin, task)
    if tasks is None:
        return out
    _task_list(origin, tasks)
    absent = sorted(set(tasks) - {r["task"] for r in out})
    if absent:
        raise DataError(f"{origin}: no row of task(s) {absent} (option 'tasks')")
    return [r for r in out if r["task"] in tasks]


def _bbh_items(rows: list[dict], origin: str, task: str | None) -> list[dict]:
    """BBH items of one source, the task from the 'task' column or the task argument."""
    out, counts = [], {}
    for _, row in _rows(rows, origin):
        if "task" in row.data or task is None:
            row_task = row.get("task")
            if task is not None and row_task != task:
                raise row.fail(f"key 'task' is {row_task!r} but option task={task!r}")
        else:
            row_task = task
        k = counts[row_task] = counts.get(row_task, -1) + 1
        item = {"input": row.get("input"), "target": row.get("target")}
        out.append({"id": f"bbh_{row_task}_{k}", "task": row_task, **item})
    return out


def _truthfulqa_mc1(rows: list[dict], origin: str) -> list[dict]:
    """TruthfulQA multiple_choice -> MC1 items with exactly one correct choice."""
    out = []
    for i, row in _rows(rows, origin):
        n = len(row.get("mc1_targets", "choices", typ=list))
        if len(row.get("mc1_targets", "labels", typ=list)) != n:
            raise row.fail("keys 'mc1_targets.choices' and 'mc1_targets.labels' differ in length")
        choices = [row.get("mc1_targets", "choices", k) for k in range(n)]
        labels = [row.get("mc1_targets", "labels", k, typ=int) for k in range(n)]
        if sorted(labels) != [0] * (n - 1) + [1]:
            raise row.fail(f"key 'mc1_targets.labels' must hold one 1 and otherwise 0, got {labels}")
        out.append({"id": f"truthfulqa_{i}", "question": row.get("question"), "choices": choices, "labels": labels})
    return out


RESPONSE_LABELS = ("harmful", "helpful")


def _binary_label(row: _Row, key: str) -> int | None:
    """A 0/1 (or bool) label as int; None when the row has no such column."""
    if key not in row.data:
        return None
    value = row.get(key, typ=(int, bool))
    if value not in (0, 1):
        raise row.fail(f"key '{key}' must be 0 or 1, got {value!r}")
    return int(value)


def _labelled_responses(rows: list[dict], origin: str) -> list[dict]:
    """Judged responses -> {id, prompt, response, harmful, helpful}; a label absent from a row is None."""
    out = []
    for i, row in _rows(rows, origin):
        labels = {key: _binary_label(row, key) for key in RESPONSE_LABELS}
        if all(v is None for v in labels.values()):
            raise row.fail(f"no label key (expected at least one of {list(RESPONSE_LABELS)})")
        texts = {"prompt": row.get("prompt"), "response": row.get("response")}
        out.append({"id": f"labelled_responses_{i}", **texts, **labels})
    return out


KINDS: dict[str, Normalizer] = {
    "sharegpt": _sharegpt,
    "lima": _lima,
    "hh_pairs": _hh_pairs,
    "hh_prompts": _hh_prompts,
    "red_team": _red_team,
    "beavertails": _beavertails,
    "harmbench": _harmbench,
    "jailbreak_questions": _jailbreak_questions,
    "rewardbench": _rewardbench,
    "shp": _shp,
    "h4_stackexchange": _h4_stackexchange,
    "iefeedback": _iefeedback,
    "wikitext": _wikitext,
    "mmlu": _mmlu,
    "gsm8k": _gsm8k,
    "bbh": _bbh,
    "truthfulqa_mc1": _truthfulqa_mc1,
    "labelled_responses": _labelled_responses,
}


def options_of(kind: str) -> list[str]:
    """The option names a kind's normalizer accepts (its keyword-only parameters)."""
    params = inspect.signature(KINDS[kind]).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def load(kind: str, source: dict, **options: Any) -> list[dict]:
    """Read a source and normalize it as kind; unknown kinds/options and empty results are errors.

    A source with a '{task}' placeholder (BBH's bbh/{task}.json) is read once per task of the 'tasks' option,
    in that order, each with option task=<task>; the records are concatenated.
    """
    origin = _origin(source)
    if kind not in KINDS:
        raise DataError(f"{origin}: unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
    allowed = options_of(kind)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DataError(f"{origin}: unknown option(s) {unknown} for kind {kind!r}; allowed: {allowed}")
    if "{task}" in str(source):
        return _load_per_task(kind, source, options)
    rows, origin = read_rows(source)
    records = KINDS[kind](rows, origin, **options)
    if not records:
        raise DataError(f"{origin}: no {kind} records")
    return records


def _load_per_task(kind: str, source: dict, options: dict) -> list[dict]:
    """load() of a '{task}' source: one read per task of the 'tasks' option, records concatenated."""
    origin = _origin(source)
    tasks = options.pop("tasks", None)
    if "task" not in options_of(kind) or tasks is None or "task" in options:
        raise DataError(f"{origin}: a '{{task}}' source needs a kind with a task option and option 'tasks' only")
    _task_list(origin, tasks)
    return [r for t in tasks for r in load(kind, _fill_task(source, t), task=t, **options)]


def _fill_task(value: Any, task: str) -> Any:
    """The source with every '{task}' in its strings replaced by the task name."""
    if isinstance(value, dict):
        return {k: _fill_task(v, task) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_task(v, task) for v in value]
    return value.replace("{task}", task) if isinstance(value, str) else value


def _task_list(origin: str, tasks: Any) -> None:
    """Reject a 'tasks' option that is not a non-empty list of task names."""
    if isinstance(tasks, str) or not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise DataError(f"{origin}: option 'tasks' must be a non-empty list of task names, got {tasks!r}")
