"""The contract between rules and package: a typed parameter object per stage, and the neuron ``Source``.

Rules keep their ``params:`` plain dicts (Snakemake's params rerun trigger compares plain values); a stage
turns its dict into one of these with ``.of()``, which names any unknown or missing key, so a rule and the
package cannot drift apart silently. Pure Python: the Snakefile imports this at parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Self

from safety_neurons.files import UserError

SOURCE_KINDS = ("top", "random", "window")


@dataclass(frozen=True)
class Source:
    """A family of neuron sets: a neurons variant's top-k, matched random, or window sets ("main-top")."""

    variant: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"neuron source {self}: kind must be one of {SOURCE_KINDS}")

    @classmethod
    def of(cls, source: Source | str) -> Source:
        """A ``Source`` as given, or parsed from "variant-kind"."""
        if isinstance(source, Source):
            return source
        variant, sep, kind = source.rpartition("-")
        if not sep or not variant:
            raise ValueError(f"neuron source {source!r}: expected '<variant>-<{'|'.join(SOURCE_KINDS)}>'")
        return cls(variant, kind)

    def __str__(self) -> str:
        return f"{self.variant}-{self.kind}"


class ParamsError(UserError):
    """A rule's params do not match its stage's parameter object."""


@dataclass(frozen=True)
class StageParams:
    """Base of the stage parameter objects: built from a rule's plain dict, refusing unknown and missing keys."""

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Self:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        missing = sorted(
            n for n, f in known.items() if n not in raw and f.default is MISSING and f.default_factory is MISSING
        )
        if unknown or missing:
            raise ParamsError(f"{cls.__name__}: unknown keys {unknown}, missing keys {missing}")
        return cls(**raw)

    def asdict(self) -> dict[str, Any]:
        """The plain dict again (written into outputs' metadata)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ModelParams(StageParams):
    """What every model-loading stage knows of its model."""

    dtype: str
    chat_format: str
    batch_size: int
    cpu_precision: str  # `configured`: the configured dtype, bf16 and checkpointing on CPU too
    neuron_site: str  # where the neurons live: models.<m>.neuron_site


@dataclass(frozen=True)
class RankingParams(ModelParams):
    """What every neuron-ranking stage knows: the model's shape and the variant's selection and ranking."""

    model: str
    n_layers: int
    d_mlp: int
    exclude_layers: list[int]
    selection: str
    selection_seed: int
    method: str
    agg: str
    ranking: str
    top_fraction: float
    max_length: int


@dataclass(frozen=True)
class ChangeScoreParams(RankingParams):
    """Rule change_scores: one neurons variant of one model (Eq. 3)."""

    max_new_tokens: int
    prompts: str
    pair: str
    generator: str
    token_type: str
    n_prompts: int
    preference: str


@dataclass(frozen=True)
class BaselineParams(RankingParams):
    """Rule baseline_scores: a Wanda or SN-Tune ranking (E3)."""

    n_texts: int


@dataclass(frozen=True)
class GenerationParams(ModelParams):
    """Rules patched_generation, stage_generation, safeguard_generation: greedy (patched) decoding."""

    max_new_tokens: int
    source: str
    m1: str
    ks: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CrossParams(GenerationParams):
    """Rule cross_patching: one DPO patched with another's activations at shared top neurons (E7-E9)."""

    fractions: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class GeneralEvalParams(ModelParams):
    """Rules general_eval and general_eval_benchmarks: ability benchmarks (name -> options) on one row."""

    benchmarks: dict[str, dict]
    k: int


@dataclass(frozen=True)
class SafeguardParams(StageParams):
    """Rules safeguard_features and safeguard_eval (E10)."""

    ks: list[int]
    seeds: list[int]
    batch_size: int
    d_mlp: int
    disjoint: bool
    chat_format: str
    neuron_site: str
    dtype: str | None = None
    cpu_precision: str | None = None
    deploy_k: int | None = None
    train: str | None = None
