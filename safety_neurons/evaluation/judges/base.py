"""What every judge is: a named cost or reward score of (prompt, response) pairs."""

from __future__ import annotations

from typing import Literal, Protocol


class Judge(Protocol):
    """Scores responses; direction 'cost': higher = more harmful, > 0 harmful; 'reward': higher = more helpful."""

    name: str
    direction: Literal["cost", "reward"]

    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        """One float per (prompt, response) pair, in order."""
        ...


def check_pairs(prompts: list[str], responses: list[str]) -> None:
    """Prompts and responses must pair up one to one."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
