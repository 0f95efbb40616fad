"""Typed parameters of the ``relation_mining`` pipeline (``conf/base/parameters_relation_mining.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ovmlr.core.params import known_fields
from ovmlr.llm.prompt import MAX_SCHEMA_ENUM_VALUES, OUTPUT_FORMATS

SOURCES = ("llm", "similarity", "cooccurrence", "random", "wordnet")
FALLBACKS = ("similarity", "fail")


@dataclass(frozen=True)
class LLMQueryConfig:
    """How the LLM is queried (``relation_mining.llm``).

    Attributes:
        n_queries: Queries per category and chunk; strengths are averaged over them (Supplement B.3).
        temperature: Sampling temperature (with ``n_queries`` > 1 the answers should differ).
        seed: Base sampling seed; query ``q`` uses ``seed + q``.
        max_tokens: Bound on each answer's tokens (keeps a CPU run short).
        output_format: ``json`` (constrained decoding where the backend supports it) or ``text`` (the
            paper's answer format, verbatim).
        chunk_size: Seen categories listed per prompt; ``None`` lists all in one prompt. Smaller chunks fit
            small context windows at the cost of more calls (scores of the chunks are merged).
        max_relations: ``json`` only: most related categories one answer may list.
        max_explanation_chars: ``json`` only: longest explanation.
        save_every: Answers per cache shard (an interruption loses at most this many).
        shuffle_candidates: List each query's candidates in a different seeded order (against a small
            model's bias for the first names listed); ``False`` keeps category order in every query.
        max_schema_enum_values: ``json`` only: the most enum values the answer schema may hold (OpenAI's
            structured-output limit, 500); past it the category name is a free string checked by the
            parser. ``None``: no limit (llama.cpp grammars, vLLM).
    """

    n_queries: int = 3
    temperature: float = 0.7
    seed: int = 0
    max_tokens: int = 256
    output_format: str = "json"
    chunk_size: int | None = None
    max_relations: int = 8
    max_explanation_chars: int = 60
    save_every: int = 10
    shuffle_candidates: bool = True
    max_schema_enum_values: int | None = MAX_SCHEMA_ENUM_VALUES

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"relation_mining.llm.output_format must be one of {OUTPUT_FORMATS}, "
                f"got {self.output_format!r}"
            )
        for name in ("n_queries", "max_tokens", "max_relations", "max_explanation_chars", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"relation_mining.llm.{name} must be >= 1, got {getattr(self, name)}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"relation_mining.llm.chunk_size must be >= 1 or null, got {self.chunk_size}")
        if self.max_schema_enum_values is not None and self.max_schema_enum_values < 9:
            raise ValueError(
                "relation_mining.llm.max_schema_enum_values must be >= 9 (the schema's own 8 enum values) or "
                f"null, got {self.max_schema_enum_values}"
            )

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LLMQueryConfig:
        """Build from the parameters dict; an unknown key is an error naming it."""
        return cls(**known_fields(params, (f.name for f in fields(cls)), "relation_mining.llm"))


@dataclass(frozen=True)
class WordNetConfig:
    """How the ``wordnet`` source reads WordNet (``relation_mining.wordnet``; :mod:`.wordnet`).

    Attributes:
        root: Directory of the WordNet 3.0 dict files (``index.noun``, ``data.noun``, ...); the Debian
            package ``wordnet-base`` installs them in ``/usr/share/wordnet``.
        max_senses: Noun senses of a category name, most frequent first (WordNet's sense order); ``None``
            takes every sense (more relations, more of them from senses the images never show).
        max_distance: Longest relation kept, in edges of the hypernym graph (a part/member/substance link
            counts one edge); the score of a relation at distance ``d`` is ``1 / (1 + d)``.
        head_noun: A multiword name without a synset of its own ("pride flag") stands for a hyponym of its
            last word's synsets (one edge below "flag"); ``False``: such a name gets no relation.
    """

    root: str = "/usr/share/wordnet"
    max_senses: int | None = 1
    max_distance: int = 4
    head_noun: bool = True

    def __post_init__(self) -> None:
        if self.max_senses is not None and self.max_senses < 1:
            raise ValueError(
                f"relation_mining.wordnet.max_senses must be >= 1 or null, got {self.max_senses}"
            )
        if self.max_distance < 1:
            raise ValueError(f"relation_mining.wordnet.max_distance must be >= 1, got {self.max_distance}")

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> WordNetConfig:
        """Build from the parameters dict (``None``: the defaults); an unknown key is an error naming it."""
        return cls(**known_fields(params, (f.name for f in fields(cls)), "relation_mining.wordnet"))


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming the parameter."""
    if value not in choices:
        raise ValueError(f"relation_mining.{name} must be one of {choices}, got {value!r}")
    return value
