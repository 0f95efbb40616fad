"""The ``wordnet`` relation source on the installed WordNet 3.0 (Debian ``wordnet-base``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from ovmlr.pipelines.relation_mining import create_pipeline
from ovmlr.relations.config import SOURCES, WordNetConfig
from ovmlr.relations.neighbours import FALLBACK_TYPE
from ovmlr.relations.select import relation_neighbours
from ovmlr.relations.wordnet import (
    Concept,
    anchor_synsets,
    concept_relation,
    lemma_forms,
    name_synsets,
    wordnet_scores,
)
from ovmlr.settings import CONFIG_LOADER_ARGS

ROOT = WordNetConfig().root
CONF = Path(__file__).resolve().parents[3] / "conf"
pytestmark = pytest.mark.skipif(
    not (Path(ROOT) / "data.noun").is_file(), reason="Debian wordnet-base is not installed"
)

# Seen: dog, animal, eye, telephone, cat; unseen: poodle, face, phone and a name WordNet lacks.
ANIMALS = pd.DataFrame(
    {
        "category_id": range(9),
        "name": ["dog", "animal", "eye", "telephone", "cat", "poodle", "face", "phone", "qwzxv"],
        "role": ["seen"] * 5 + ["unseen"] * 4,
    }
)


@pytest.fixture(scope="module")
def wordnet():
    from ovmlr.relations.wordnet_reader import open_wordnet

    return open_wordnet(ROOT)


def concept(wordnet, name: str, config: WordNetConfig | None = None) -> Concept:
    config = config or WordNetConfig()
    return Concept.of(anchor_synsets(wordnet, name, config), config.max_distance)


def relations(scores: pd.DataFrame, split: pd.DataFrame, target: str) -> list[tuple[str, float, list[str]]]:
    names = dict(zip(split["category_id"], split["name"], strict=True))
    part = scores[scores["category_id"] == split.loc[split["name"] == target, "category_id"].item()]
    return [
        (names[s], round(float(v), 4), list(t))
        for s, v, t in zip(part["source_id"], part["score"], part["relation_types"], strict=True)
    ]


def test_names_become_lemmas_with_underscores_hyphens_and_morphy(wordnet):
    assert lemma_forms("Ankle  Boot") == ["ankle_boot"]
    assert lemma_forms("t-shirt") == ["t-shirt", "t_shirt", "tshirt"]
    assert [s.name() for s in name_synsets(wordnet, "T-Shirts", 1)] == ["jersey.n.03"]  # plural, any case
    assert [s.name() for s in name_synsets(wordnet, "fairy tale", 1)] == ["fairytale.n.01"]
    assert [s.name() for s in name_synsets(wordnet, "teeth", 2)] == ["dentition.n.02", "tooth.n.01"]
    assert name_synsets(wordnet, "qwzxv", None) == []


def test_a_multiword_name_without_synset_hangs_below_its_head_noun(wordnet):
    boot = wordnet.synset("boot.n.01")
    assert anchor_synsets(wordnet, "ankle boot", WordNetConfig()) == {boot: 1}
    assert anchor_synsets(wordnet, "ankle boot", WordNetConfig(head_noun=False)) == {}
    assert concept_relation(concept(wordnet, "ankle boot"), concept(wordnet, "boot"), 4) == (1, ["hypernym"])


def test_hierarchy_part_and_synonym_relations_with_their_distance(wordnet):
    poodle, dog, cat = (concept(wordnet, n) for n in ("poodle", "dog", "cat"))
    assert concept_relation(poodle, dog, 4) == (1, ["hypernym"])  # poodle's hypernym chain reaches dog
    assert concept_relation(dog, poodle, 4) == (1, ["hyponym"])
    assert concept_relation(poodle, concept(wordnet, "animal"), 4) == (3, ["hypernym"])  # via domestic animal
    assert concept_relation(dog, cat, 4) == (4, ["cousin"])  # dog - canine - carnivore - feline - cat
    assert concept_relation(poodle, cat, 4) is None  # 5 edges: beyond max_distance
    assert concept_relation(concept(wordnet, "sandal"), concept(wordnet, "sneaker"), 4) == (2, ["sibling"])
    assert concept_relation(concept(wordnet, "face"), concept(wordnet, "eye"), 4) == (1, ["meronym"])
    assert concept_relation(concept(wordnet, "eye"), concept(wordnet, "face"), 4) == (1, ["holonym"])
    assert concept_relation(concept(wordnet, "phone"), concept(wordnet, "telephone"), 4) == (0, ["synonym"])


def test_scores_of_real_names_seen_and_unseen_targets():
    scores = wordnet_scores(ANIMALS, WordNetConfig())
    assert relations(scores, ANIMALS, "poodle") == [
        ("dog", 0.5, ["hypernym"]),
        ("animal", 0.25, ["hypernym"]),
    ]
    assert relations(scores, ANIMALS, "phone") == [("telephone", 1.0, ["synonym"])]
    assert relations(scores, ANIMALS, "face") == [("eye", 0.5, ["meronym"])]
    assert relations(scores, ANIMALS, "dog") == [("animal", 0.3333, ["hypernym"]), ("cat", 0.2, ["cousin"])]
    assert relations(scores, ANIMALS, "qwzxv") == []  # no synset: no WordNet relation
    assert (scores["category_id"] != scores["source_id"]).all()  # never its own neighbour
    assert set(scores["source_id"]) <= set(range(5))  # sources are seen categories


def test_scores_are_one_over_one_plus_distance_best_first_and_match_nltk_path_similarity(wordnet):
    scores = wordnet_scores(ANIMALS, WordNetConfig())
    ordered = scores.sort_values(["category_id", "score", "source_id"], ascending=[True, False, True])
    pd.testing.assert_frame_equal(scores, ordered.reset_index(drop=True))
    names = dict(zip(ANIMALS["category_id"], ANIMALS["name"], strict=True))
    hierarchy = scores[scores["relation_types"].map(lambda t: "meronym" not in t and "holonym" not in t)]
    assert len(hierarchy) >= 5
    for row in hierarchy.itertuples():
        a, b = (name_synsets(wordnet, names[i], 1)[0] for i in (row.category_id, row.source_id))
        assert row.score == pytest.approx(a.path_similarity(b, simulate_root=False))


def test_more_senses_keep_every_relation_at_least_as_strong():
    one = wordnet_scores(ANIMALS, WordNetConfig(max_senses=1)).set_index(["category_id", "source_id"])
    every = wordnet_scores(ANIMALS, WordNetConfig(max_senses=None)).set_index(["category_id", "source_id"])
    assert set(one.index) <= set(every.index)
    assert (every.loc[one.index, "score"] >= one["score"]).all()


def test_a_missing_root_names_the_path_and_the_debian_package(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"no WordNet 3.0 database at '{tmp_path}'.*wordnet-base"):
        wordnet_scores(ANIMALS, WordNetConfig(root=str(tmp_path)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_sense": 2}, r"unknown relation_mining.wordnet parameter\(s\) \['max_sense'\]"),
        ({"max_senses": 0}, r"relation_mining.wordnet.max_senses must be >= 1 or null, got 0"),
        ({"max_distance": 0}, r"relation_mining.wordnet.max_distance must be >= 1, got 0"),
    ],
)
def test_invalid_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        WordNetConfig.from_params(params)


def test_dispatch_gives_k_neighbours_per_category_topped_up_by_similarity(category_split, text_features):
    # sneaker (0), coat (1), t-shirt (2), ankle boot (3) seen; sandal (4), shirt (5) unseen
    edges, neighbours, report = relation_neighbours(
        category_split,
        text_features,
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        "wordnet",
        2,
        "similarity",
        0,
        {"root": ROOT, "max_distance": 4},
    )
    assert edges.groupby("target_id").size().eq(2).all()
    assert (edges["source_id"] != edges["target_id"]).all()
    shirt = edges[edges["target_name"] == "shirt"]
    assert shirt[["source_name", "relation_types"]].values.tolist() == [
        ["t-shirt", ["hyponym"]],  # a T-shirt is a shirt
        ["coat", ["cousin"]],  # coat - overgarment - garment - shirt
    ]
    sandal = edges[edges["target_name"] == "sandal"]
    assert sandal[["source_name", "score"]].values.tolist() == [["sneaker", 1 / 3], ["ankle boot", 0.2]]
    coat = edges[edges["target_name"] == "coat"]
    assert coat["relation_types"].tolist() == [["cousin"], [FALLBACK_TYPE]]  # one WordNet relation only
    assert report.set_index("name").loc[
        "coat", ["n_source_neighbours", "n_fallback_neighbours"]
    ].tolist() == [1, 1]
    assert all(len(ids) == 2 for ids in neighbours["neighbour_ids"])


def test_fail_fallback_names_the_categories_wordnet_leaves_short(category_split, text_features):
    with pytest.raises(ValueError, match=r"fewer than k=2.*'sneaker' \(1 of 2\).*'coat' \(1 of 2\)"):
        relation_neighbours(
            category_split,
            text_features,
            pd.DataFrame(),
            pd.DataFrame(),
            pd.DataFrame(),
            "wordnet",
            2,
            "fail",
            0,
        )


def test_configuration_offers_wordnet_with_valid_parameters_and_a_table_4_row():
    params = OmegaConfigLoader(str(CONF), **CONFIG_LOADER_ARGS)["parameters"]
    assert "wordnet" in SOURCES
    assert WordNetConfig.from_params(params["relation_mining"]["wordnet"]) == WordNetConfig()
    rows = [v for v in params["ablation"]["variants"] if v.get("relation_source") == "wordnet"]
    assert [(r["name"], r["table"]) for r in rows] == [("WordNet", "Table 4")]


def test_pipeline_slice_reads_the_wordnet_parameters(category_split, text_features, train_labels):
    params = {"source": "wordnet", "k": 2, "fallback": "similarity", "seed": 0}
    params["wordnet"] = {"root": ROOT, "max_distance": 2}  # keeps sandal - sneaker (2), drops the cousins (4)
    inputs = {"category_split": category_split, "text_features": text_features, "train_labels": train_labels}
    inputs |= {"llm_relation_scores": pd.DataFrame(), "llm_parse_stats": pd.DataFrame()}
    catalog = DataCatalog(
        {name: MemoryDataset(frame) for name, frame in inputs.items()}
        | {f"params:relation_mining.{key}": MemoryDataset(value) for key, value in params.items()}
        | {"relation_edges": MemoryDataset()}
    )
    SequentialRunner().run(create_pipeline().filter(node_names=["select_neighbours_node"]), catalog)
    edges = catalog.load("relation_edges")
    assert edges.groupby("target_id").size().eq(2).all()
    from_wordnet = edges[edges["relation_types"].map(lambda types: FALLBACK_TYPE not in types)]
    assert from_wordnet[["target_name", "source_name", "rank"]].values.tolist() == [
        ["sandal", "sneaker", 1],
        ["shirt", "t-shirt", 1],
    ]
