"""The ``wordnet`` relation source: related seen categories from WordNet 3.0's noun graph (Table 4).

A knowledge-graph counterpart of the LLM source (Supplement B.3): no model call, no training label, so unseen
categories get real neighbours (unlike ``cooccurrence``). It returns the long score table of
:mod:`.llm_scores` (``category_id`` target, ``source_id`` seen, ``score``, ``relation_types``).

Design choices:

* **Reader.** NLTK's WordNet reader over the dict files of the Debian package ``wordnet-base``
  (``relation_mining.wordnet.root``), the library made for the job; :mod:`.wordnet_reader` bridges the
  two files that package lacks. It is loaded once per root (about 2 s) and kept for the process.
* **Name → synsets.** Lower case, spaces → underscores (WordNet's multiword lemmas); then the same with
  hyphens → underscores, then with hyphens dropped. Each form goes through NLTK's ``synsets(form, "n")``,
  which applies morphy (plurals: "teeth" → tooth). Noun senses only; the first ``max_senses`` (WordNet
  orders senses by frequency in tagged text, so 1, the default, is the most frequent sense: with every
  sense, "dog" also relates to "flag" and "stop" through rare senses). A multiword name with no
  synset ("pride flag") stands, with ``head_noun``, for a hyponym of its last word's senses, one edge below
  them. Any other name without a noun synset (adjectives such as "happy", run-together tags such as
  "unitedstates") gets no WordNet relation: the similarity fallback tops it up; the count is logged.
* **Distance.** The length of the shortest path between a sense of the target and a sense of the source
  through a common hypernym (instance hypernyms included), as NLTK's ``shortest_path_distance``; a direct
  part/member/substance link (meronymy) counts one edge. Pairs further apart than ``max_distance`` are
  dropped, so very general common ancestors ("entity") relate nothing.
* **Score and type.** With :math:`S_c` the anchor synsets of category :math:`c` and :math:`d` the
  distance above (an anchor through the head noun adds its edge),

  .. math::
      r_{c,s} = \\frac{1}{1 + \\min_{a \\in S_c,\\, b \\in S_s} d(a, b)},
      \\qquad \\text{kept when } \\min d \\le \\texttt{max\\_distance}

  1 for synonyms, 1/2 for a parent, child, part or whole, 1/3 for siblings and grandparents, ...: NLTK's
  ``path_similarity`` (without its simulated root) where no meronymy link is shorter. Ranking (descending
  score, ties by ascending source id) is that of :mod:`.neighbours`. ``relation_types`` lists the types
  found at that distance, in the order of :data:`RELATION_TYPES`, from the source's side: ``synonym`` (a
  shared synset), ``hypernym`` (the source is more general), ``hyponym`` (more specific), ``meronym`` (a
  part, member or substance of the target), ``holonym`` (the whole it belongs to), ``sibling`` (the same
  parent), ``cousin`` (a more distant common hypernym). Meronymy is not inherited along the hypernyms.
* **Pairs.** Every (target, seen source) pair within ``max_distance``, for seen and unseen targets; never a
  category as its own neighbour (by id; two names sharing a synset are synonyms, not the same category).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from .config import WordNetConfig
from .llm_scores import SCORE_COLUMNS

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import Synset, WordNetCorpusReader

logger = logging.getLogger(__name__)

RELATION_TYPES = ("synonym", "hypernym", "hyponym", "meronym", "holonym", "sibling", "cousin")


def lemma_forms(name: str) -> list[str]:
    """The WordNet lemma spellings tried for a category name, in order ("Ankle Boot" → ``ankle_boot``)."""
    base = "_".join(name.lower().split())
    return list(dict.fromkeys([base, base.replace("-", "_"), base.replace("-", "")]))


def name_synsets(wordnet: WordNetCorpusReader, name: str, max_senses: int | None) -> list[Synset]:
    """The first ``max_senses`` noun senses of the first spelling of ``name`` that WordNet knows (morphy)."""
    for form in lemma_forms(name):
        synsets = wordnet.synsets(form, pos="n")
        if synsets:
            return synsets[:max_senses]
    return []


def anchor_synsets(wordnet: WordNetCorpusReader, name: str, config: WordNetConfig) -> dict[Synset, int]:
    """The synsets standing for ``name``, each with its distance below it: 0 for the name's own senses, 1
    for those of its last word (``head_noun``, multiword names without a synset); empty when none."""
    own = name_synsets(wordnet, name, config.max_senses)
    if own:
        return dict.fromkeys(own, 0)
    words = name.replace("-", " ").replace("_", " ").split()
    if config.head_noun and len(words) > 1:
        return dict.fromkeys(name_synsets(wordnet, words[-1], config.max_senses), 1)
    return {}


def _hypernyms_within(anchors: dict[Synset, int], max_distance: int) -> dict[Synset, int]:
    """Every hypernym (and the anchors themselves) within ``max_distance`` edges, at its shortest distance."""
    closure: dict[Synset, int] = {}
    for anchor, base in anchors.items():
        for synset, d in anchor.hypernym_distances():
            if base + d <= max_distance and base + d < closure.get(synset, max_distance + 1):
                closure[synset] = base + d
    return closure


def _part_links(anchors: dict[Synset, int]) -> dict[Synset, tuple[int, str]]:
    """Synsets one meronymy edge from an anchor: ``(distance, "meronym" | "holonym")`` as seen from it."""
    links: dict[Synset, tuple[int, str]] = {}
    for anchor, base in anchors.items():
        parts = anchor.part_meronyms() + anchor.member_meronyms() + anchor.substance_meronyms()
        wholes = anchor.part_holonyms() + anchor.member_holonyms() + anchor.substance_holonyms()
        for synset, kind in [(p, "meronym") for p in parts] + [(w, "holonym") for w in wholes]:
            if synset not in links or base + 1 < links[synset][0]:
                links[synset] = (base + 1, kind)
    return links


def _hierarchy_type(d_target: int, d_source: int) -> str:
    """The relation's name from the two distances up to the common hypernym."""
    if d_target == 0 and d_source == 0:
        return "synonym"
    if d_source == 0:
        return "hypernym"
    if d_target == 0:
        return "hyponym"
    return "sibling" if d_target == d_source == 1 else "cousin"


@dataclass(frozen=True)
class Concept:
    """What WordNet knows of one category name.

    Attributes:
        anchors: The synsets standing for the name, with their distance below it (:func:`anchor_synsets`).
        hypernyms: The anchors and their hypernyms within ``max_distance``, at their shortest distance.
        parts: Synsets one meronymy edge from an anchor: ``(distance, "meronym" | "holonym")``.
    """

    anchors: dict[Synset, int]
    hypernyms: dict[Synset, int]
    parts: dict[Synset, tuple[int, str]]

    @classmethod
    def of(cls, anchors: dict[Synset, int], max_distance: int) -> Concept:
        return cls(anchors, _hypernyms_within(anchors, max_distance), _part_links(anchors))


def concept_relation(target: Concept, source: Concept, max_distance: int) -> tuple[int, list[str]] | None:
    """``(distance, relation types at that distance)`` from ``target`` to ``source``; ``None`` beyond
    ``max_distance``."""
    found: dict[int, set[str]] = defaultdict(set)
    for common in target.hypernyms.keys() & source.hypernyms.keys():
        d_target, d_source = target.hypernyms[common], source.hypernyms[common]
        found[d_target + d_source].add(_hierarchy_type(d_target, d_source))
    for synset in source.anchors.keys() & target.parts.keys():
        d_link, kind = target.parts[synset]
        found[d_link + source.anchors[synset]].add(kind)
    distance = min(found, default=max_distance + 1)
    if distance > max_distance:
        return None
    return distance, [kind for kind in RELATION_TYPES if kind in found[distance]]


def wordnet_concepts(category_split: pd.DataFrame, config: WordNetConfig) -> dict[int, Concept]:
    """Category id → its WordNet concept, for the categories WordNet knows (the others are absent)."""
    from .wordnet_reader import open_wordnet  # imports NLTK (about 2 s): only when this source runs

    wordnet = open_wordnet(config.root)
    concepts = {}
    for category_id, name in zip(
        category_split["category_id"].astype(int), category_split["name"], strict=True
    ):
        anchors = anchor_synsets(wordnet, str(name), config)
        if anchors:
            concepts[category_id] = Concept.of(anchors, config.max_distance)
    return concepts


def _log_coverage(category_split: pd.DataFrame, concepts: dict[int, Concept]) -> None:
    ids = category_split["category_id"].astype(int)
    uncovered = category_split.loc[~ids.isin(concepts).to_numpy(), "name"].tolist()
    by_head = sum(min(c.anchors.values()) > 0 for c in concepts.values())
    logger.info(
        "WordNet covers %d of %d categories (%d through the head noun); %d have no noun synset and get the "
        "fallback: %s",
        len(concepts),
        len(category_split),
        by_head,
        len(uncovered),
        ", ".join(map(repr, uncovered[:20])) + (" ..." if len(uncovered) > 20 else ""),
    )


def wordnet_scores(category_split: pd.DataFrame, config: WordNetConfig) -> pd.DataFrame:
    """Relatedness ``1 / (1 + distance)`` in WordNet of every (target, seen source) pair within
    ``config.max_distance`` (see the module docstring for the distance and the relation types).

    Raises:
        FileNotFoundError: When ``config.root`` holds no WordNet database.
    """
    concepts = wordnet_concepts(category_split, config)
    _log_coverage(category_split, concepts)
    ids = category_split["category_id"].astype(int)
    seen = [i for i in ids[(category_split["role"] == "seen").to_numpy()] if i in concepts]
    rows = []
    for target in (i for i in ids if i in concepts):
        for source in (s for s in seen if s != target):  # never a category's own neighbour
            found = concept_relation(concepts[target], concepts[source], config.max_distance)
            if found is not None:
                rows.append((target, source, 1.0 / (1.0 + found[0]), found[1]))
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS).astype(
        {"category_id": "int64", "source_id": "int64", "score": "float64"}
    )
    return frame.sort_values(
        ["category_id", "score", "source_id"], ascending=[True, False, True], ignore_index=True
    )
