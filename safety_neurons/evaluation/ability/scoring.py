"""Answer extraction and exact match, as the authors score GSM8K and BBH (open-instruct + HF ``exact_match``)."""

from __future__ import annotations

import re
import string

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_THOUSANDS = re.compile(r"(\d),(\d)")
_NUMBER = re.compile(r"[-+]?\d*\.\d+|\d+")
_BBH_ANSWER = re.compile(r"So the answer is (.*?)\.")


def normalize(text: str) -> str:
    """HF ``exact_match`` with ignore_case and ignore_punctuation (no stripping: an all-punctuation Dyck target
    keeps its spaces, so an all-punctuation prediction does not match it by vanishing)."""
    return text.lower().translate(_PUNCTUATION)


def exact_match(prediction: str, target: str) -> bool:
    """Equal after normalization."""
    return normalize(prediction) == normalize(target)


def last_number(output: str) -> str:
    """The authors' GSM8K prediction: thousands commas removed, then the last number; the text if it has none.

    Their regex takes no sign on integers: '-5' gives '5' (kept, it produced the published numbers).
    """
    output = _THOUSANDS.sub(r"\1\2", output)
    numbers = _NUMBER.findall(output)
    return numbers[-1] if numbers else output


def bbh_answer(output: str) -> str:
    """The authors' BBH prediction: the first 'So the answer is X.' else the output's first paragraph."""
    found = _BBH_ANSWER.search(output)
    if found:
        return found.group(1).strip()
    return output.strip().split("\n\n")[0].strip()


def mean(values: list[float]) -> float:
    """Arithmetic mean; NaN for no values (a benchmark with no items has no score)."""
    return sum(values) / len(values) if values else float("nan")


def accuracy(per_item: list[dict], **extra) -> dict:
    """A benchmark result whose value is the share of items marked correct."""
    value = mean([float(p["correct"]) for p in per_item])
    return {"metric": "accuracy", "value": value, "n": len(per_item), **extra, "per_item": per_item}
