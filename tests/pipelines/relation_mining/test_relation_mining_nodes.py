"""The nodes: request building, the resumable mining generator, scoring and selection."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from ovmlr.datasets import ShardedParquetDataset
from ovmlr.llm.backend import LLMBackendError
from ovmlr.pipelines.relation_mining.nodes import (
    build_llm_requests,
    mine_llm_responses,
    plot_relation_graph,
    score_llm_relations,
)
from ovmlr.relations.select import relation_neighbours

LLM = {"n_queries": 2, "save_every": 3, "shuffle_candidates": False, "output_format": "json"}
SNEAKER_FIRST = '{"related":[{"category":"sneaker","relationship":"Co-occurrence","strength":"High"}]}'


def mine_into(cache: ShardedParquetDataset, requests: pd.DataFrame, backend, params=LLM) -> int:
    """Run the generator like Kedro does (save each chunk as it is yielded); return the chunks saved."""
    chunks = 0
    for chunk in mine_llm_responses(requests, cache.load(), backend, params):
        cache.save(chunk)
        chunks += 1
    return chunks


def test_non_llm_sources_build_no_request(category_split):
    assert build_llm_requests(category_split, "similarity", 2, LLM).empty
    with pytest.raises(ValueError, match="relation_mining.source must be one of"):
        build_llm_requests(category_split, "gpt", 2, LLM)


def test_max_relations_below_k_is_warned_about(category_split, caplog):
    with caplog.at_level(logging.WARNING, logger="ovmlr.pipelines.relation_mining.nodes"):
        build_llm_requests(category_split, "llm", 3, {**LLM, "max_relations": 2})
    assert "max_relations=2 < k=3: one answer cannot name all k neighbours" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ovmlr.pipelines.relation_mining.nodes"):
        build_llm_requests(category_split, "llm", 3, {**LLM, "max_relations": 3})
    assert caplog.text == ""


def test_mining_saves_a_shard_per_batch_and_a_rerun_makes_no_call(
    tmp_path, category_split, scripted_backend_class, caplog
):
    requests = build_llm_requests(category_split, "llm", 2, LLM)
    cache = ShardedParquetDataset(str(tmp_path / "cache"))
    backend = scripted_backend_class({"sandal": [SNEAKER_FIRST, SNEAKER_FIRST]})
    assert mine_into(cache, requests, backend) == 4  # 12 requests, 3 per shard
    assert len(backend.calls) == 12 and len(cache.shard_paths()) == 4
    stored = cache.load()
    assert stored.loc[stored["target_name"] == "sandal", "n_accepted"].tolist() == [1, 1]

    again = scripted_backend_class({})
    with caplog.at_level(logging.INFO, logger="ovmlr.pipelines.relation_mining.nodes"):
        assert mine_into(cache, requests, again) == 1  # one empty chunk: a generator node must yield
    assert again.calls == [] and len(cache.shard_paths()) == 4
    assert "0 new LLM calls (12 answers came from the cache)" in caplog.text


def test_a_failure_keeps_the_answers_obtained_and_a_rerun_resumes(
    tmp_path, category_split, scripted_backend_class
):
    requests = build_llm_requests(category_split, "llm", 2, LLM)
    cache = ShardedParquetDataset(str(tmp_path / "cache"))
    with pytest.raises(
        LLMBackendError, match=r"endpoint down \(4 new answers were cached; re-run to resume\)"
    ):
        mine_into(cache, requests, scripted_backend_class({}, fail_on_call=5))
    assert len(cache.load()) == 4  # batch 1 (3) + the answer before the failure in batch 2
    resumed = scripted_backend_class({})
    mine_into(cache, requests, resumed)
    assert len(resumed.calls) == 8 and len(cache.load()) == 12


def test_answers_of_another_model_are_not_reused(tmp_path, category_split, scripted_backend_class):
    requests = build_llm_requests(category_split, "llm", 2, LLM)
    cache = ShardedParquetDataset(str(tmp_path / "cache"))
    mine_into(cache, requests, scripted_backend_class({}, model_id="model-a"))
    other = scripted_backend_class({}, model_id="model-b")
    mine_into(cache, requests, other)
    assert len(other.calls) == 12


def test_scoring_needs_every_answer(tmp_path, category_split, scripted_backend_class):
    requests = build_llm_requests(category_split, "llm", 2, LLM)
    cache = ShardedParquetDataset(str(tmp_path / "cache"))
    backend = scripted_backend_class({})
    mine_into(cache, requests.iloc[:5], backend)
    with pytest.raises(
        ValueError, match=r"7 LLM answers for model 'scripted' are missing .*first: 't-shirt', query 1"
    ):
        score_llm_relations(requests, cache.load(), backend)


def test_llm_source_end_to_end_in_nodes(
    tmp_path, category_split, text_features, train_labels, scripted_backend_class
):
    requests = build_llm_requests(category_split, "llm", 2, LLM)
    cache = ShardedParquetDataset(str(tmp_path / "cache"))
    backend = scripted_backend_class({"sandal": [SNEAKER_FIRST, "no idea"]})
    mine_into(cache, requests, backend)
    scores, stats = score_llm_relations(requests, cache.load(), backend)
    edges, neighbours, report = relation_neighbours(
        category_split, text_features, train_labels, scores, stats, "llm", 2, "similarity", 0
    )
    sandal = edges[edges["target_name"] == "sandal"]
    assert sandal[["source_name", "score"]].values.tolist() == [
        ["sneaker", 1.5],
        ["ankle boot", pytest.approx(0.86 / 1.005, abs=1e-3)],
    ]
    assert neighbours.set_index("category_id").loc[4, "neighbour_ids"] == [0, 3]
    assert report.set_index("name").loc[
        "sandal", ["n_unparsed_responses", "n_fallback_neighbours"]
    ].tolist() == [1, 1]
    assert report["n_fallback_neighbours"].sum() == 6 * 2 - 1  # every other category: fallback only ("{}")
    figure = plot_relation_graph(edges, category_split, None, "llm")
    assert figure.axes[0].get_title() == "llm relations of 'sandal' (K=2)"


@pytest.mark.parametrize(
    ("source", "sandal"), [("similarity", [0, 3]), ("cooccurrence", [0, 3]), ("random", None)]
)
def test_non_llm_sources_give_k_neighbours_for_everyone(
    category_split, text_features, train_labels, source, sandal
):
    empty = pd.DataFrame(columns=["category_id", "source_id", "score", "relation_types"])
    edges, neighbours, report = relation_neighbours(
        category_split,
        text_features,
        train_labels,
        empty,
        pd.DataFrame(columns=["category_id"]),
        source,
        2,
        "similarity",
        5,
    )
    assert neighbours["neighbour_ids"].map(len).eq(2).all()
    if sandal is not None:
        assert neighbours.set_index("category_id").loc[4, "neighbour_ids"] == sandal
    fallback = report.set_index("name")["n_fallback_neighbours"]
    if source == "cooccurrence":  # unseen: fallback only; coat and ankle boot co-occur with one category only
        assert fallback.to_dict() == {
            "sneaker": 0,
            "coat": 1,
            "t-shirt": 0,
            "ankle boot": 1,
            "sandal": 2,
            "shirt": 2,
        }
    else:
        assert fallback.eq(0).all()
    assert (report["source"] == source).all()
