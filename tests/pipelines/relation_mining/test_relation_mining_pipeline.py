"""relation_mining through Kedro: an OpenAI-compatible server on 127.0.0.1, then the cache alone."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from recorded_openai_server import RecordedOpenAIServer, Reply

from ovmlr.datasets import ShardedParquetDataset
from ovmlr.llm.openai_backend import OpenAIChatBackend
from ovmlr.pipelines.relation_mining import create_pipeline

PARAMS = {
    "source": "llm",
    "k": 2,
    "fallback": "similarity",
    "seed": 0,
    "llm": {"n_queries": 2, "output_format": "text", "shuffle_candidates": False, "save_every": 4},
    "wordnet": {},  # defaults (wordnet source only)
    "plot.target": "shirt",
    "plot.compare_sources": ["cooccurrence", "similarity", "llm"],
    "plot.compare_targets": None,
    "plot.compare_max_targets": 2,
}


def paper_answer(*items: tuple[str, str, str]) -> str:
    """An answer in the paper's format listing ``(name, relationship type, strength)`` items."""
    return "\n\n".join(
        f"Related Category {i}: {name}\n- **Type of Relationship:** {kind}\n"
        f"- **Association Strength:** {strength}"
        for i, (name, kind, strength) in enumerate(items, start=1)
    )


# Recorded answers per target and query; every other category answers nothing usable.
ANSWERS = {
    "sandal": [
        paper_answer(("sneaker", "Is-a/Hypernym", "High"), ("ankle boot", "Is-a/Hypernym", "Medium")),
        paper_answer(("sneakers", "Co-occurrence", "Medium")),
    ],
    "shirt": [
        paper_answer(("t-shirt", "Synonymy/Similarity", "High"), ("coat", "Co-occurrence", "Low")),
        paper_answer(("T-Shirt", "Synonymy/Similarity", "High"), ("sweater", "Synonymy/Similarity", "High")),
    ],
}


def responder(prompt_target):
    def respond(body: dict, call: int) -> Reply:
        answers = ANSWERS.get(prompt_target(body["messages"]), ["I do not know."] * 2)
        return Reply(answers[body["seed"]])

    return respond


def make_catalog(root: Path, backend, inputs: dict[str, pd.DataFrame], params: dict) -> DataCatalog:
    datasets = {name: MemoryDataset(frame) for name, frame in inputs.items()}
    datasets |= {
        "llm_backend": MemoryDataset(backend, copy_mode="assign"),
        "llm_response_cache_before": ShardedParquetDataset(str(root / "llm_responses")),
        "llm_response_cache": ShardedParquetDataset(str(root / "llm_responses")),
        "relation_edges": ParquetDataset(filepath=str(root / "relation_edges.parquet")),
        "category_neighbours": ParquetDataset(filepath=str(root / "category_neighbours.parquet")),
        "relation_parse_report": ParquetDataset(filepath=str(root / "relation_parse_report.parquet")),
        "relation_graph_plot": MatplotlibDataset(filepath=str(root / "relation_graph.png")),
        "relation_graphs_compared": MatplotlibDataset(filepath=str(root / "relation_graphs_compared.png")),
        "relation_source_overlap": CSVDataset(filepath=str(root / "relation_source_overlap.csv")),
    }
    datasets |= {f"params:relation_mining.{key}": MemoryDataset(value) for key, value in params.items()}
    return DataCatalog(datasets)


@pytest.fixture
def inputs(category_split, text_features, train_labels) -> dict[str, pd.DataFrame]:
    return {"category_split": category_split, "text_features": text_features, "train_labels": train_labels}


def test_mines_through_http_then_reruns_from_the_cache_alone(tmp_path, inputs, caplog, prompt_target):
    with RecordedOpenAIServer(responder(prompt_target)) as server:
        backend = OpenAIChatBackend(
            model="recorded-gpt", base_url=server.base_url, api_key="sk-test", max_concurrency=2
        )
        SequentialRunner().run(create_pipeline(), make_catalog(tmp_path, backend, inputs, PARAMS))
    assert len(server.requests) == 12 and {b["model"] for b in server.requests} == {"recorded-gpt"}
    edges = pd.read_parquet(tmp_path / "relation_edges.parquet")
    shirt = edges[edges["target_name"] == "shirt"]
    assert shirt[["source_name", "score", "rank"]].values.tolist() == [["t-shirt", 3.0, 1], ["coat", 0.5, 2]]
    sandal = edges[edges["target_name"] == "sandal"]
    assert sandal[["source_name", "score"]].values.tolist() == [["sneaker", 2.5], ["ankle boot", 1.0]]
    neighbours = pd.read_parquet(tmp_path / "category_neighbours.parquet")
    assert [list(ids) for ids in neighbours["neighbour_ids"]][4:] == [[0, 3], [2, 1]]
    report = pd.read_parquet(tmp_path / "relation_parse_report.parquet").set_index("name")
    assert report.loc[
        "shirt", ["n_accepted", "n_rejected_not_in_list", "n_fallback_neighbours"]
    ].tolist() == [3, 1, 0]
    assert report.loc["coat", ["n_unparsed_responses", "n_fallback_neighbours", "fallback"]].tolist() == [
        2,
        2,
        "similarity",
    ]
    assert (tmp_path / "relation_graph.png").stat().st_size > 10_000
    assert (tmp_path / "relation_graphs_compared.png").stat().st_size > 10_000
    overlap = pd.read_csv(tmp_path / "relation_source_overlap.csv")
    assert overlap["source"].unique().tolist() == ["cooccurrence", "similarity", "llm"]
    assert len(list((tmp_path / "llm_responses").glob("part-*.parquet"))) == 3  # 12 answers, 4 per shard

    # The cache dropped into another project: no endpoint, no key, no call, same graph.
    other = tmp_path / "offline"
    shutil.copytree(tmp_path / "llm_responses", other / "llm_responses")
    offline = OpenAIChatBackend(
        model="recorded-gpt", base_url="http://127.0.0.1:9/v1", api_key_env="OVMLR_UNSET_KEY"
    )
    with caplog.at_level(logging.INFO, logger="ovmlr.pipelines.relation_mining.nodes"):
        SequentialRunner().run(create_pipeline(), make_catalog(other, offline, inputs, PARAMS))
    assert "0 new LLM calls (12 answers came from the cache)" in caplog.text
    pd.testing.assert_frame_equal(pd.read_parquet(other / "relation_edges.parquet"), edges)


def test_similarity_slice_needs_no_llm(tmp_path, inputs):
    params = {**PARAMS, "source": "similarity"}
    offline = OpenAIChatBackend(
        model="unused", base_url="http://127.0.0.1:9/v1", api_key_env="OVMLR_UNSET_KEY"
    )
    pipeline = create_pipeline().to_nodes("select_neighbours_node")
    SequentialRunner().run(pipeline, make_catalog(tmp_path, offline, inputs, params))
    neighbours = pd.read_parquet(tmp_path / "category_neighbours.parquet")
    assert [list(ids) for ids in neighbours["neighbour_ids"]] == [
        [3, 2],
        [2, 3],
        [3, 1],
        [2, 0],
        [0, 3],
        [1, 2],
    ]
    assert not (tmp_path / "llm_responses").exists()
