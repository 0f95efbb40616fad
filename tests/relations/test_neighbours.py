"""Top-K selection with deterministic ties and the explicit fallback; the neighbour table and report."""

from __future__ import annotations

import pandas as pd
import pytest

from ovmlr.relations.neighbours import FALLBACK_TYPE, check_k, log_fallbacks, neighbour_table, select_top_k
from ovmlr.relations.report import relation_report
from ovmlr.relations.sources import similarity_scores


def scores(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"category_id": t, "source_id": s, "score": v, "relation_types": ["Co-occurrence"]}
            for t, s, v in rows
        ]
    )


@pytest.fixture
def llm_scores() -> pd.DataFrame:
    # sneaker: a tie between coat and ankle boot (lower id first); sandal: one source only; others: none
    return scores([(0, 3, 2.0), (0, 1, 2.0), (0, 2, 1.0), (4, 3, 1.5)])


def test_top_k_breaks_ties_by_id_and_tops_up_from_similarity(category_split, text_features, llm_scores):
    fallback = similarity_scores(category_split, text_features)
    edges = select_top_k(llm_scores, fallback, category_split, k=2)
    sneaker = edges[edges["target_name"] == "sneaker"]
    assert sneaker["source_name"].tolist() == ["coat", "ankle boot"]
    assert sneaker["rank"].tolist() == [1, 2]
    sandal = edges[edges["target_name"] == "sandal"]
    assert sandal["source_name"].tolist() == [
        "ankle boot",
        "sneaker",
    ]  # LLM first, then the most similar other
    assert sandal["relation_types"].tolist() == [["Co-occurrence"], [FALLBACK_TYPE]]
    shirt = edges[edges["target_name"] == "shirt"]
    assert shirt["source_name"].tolist() == ["coat", "t-shirt"]  # all from the fallback
    assert edges.groupby("target_id").size().eq(2).all()
    assert (edges["source_id"] != edges["target_id"]).all()
    assert edges["source_id"].isin([0, 1, 2, 3]).all()


def test_fail_fallback_names_every_short_category(category_split, llm_scores):
    with pytest.raises(
        ValueError, match=r"fewer than k=2.*'coat' \(0 of 2\).*'sandal' \(1 of 2\).*'shirt' \(0 of 2\)"
    ):
        select_top_k(llm_scores, None, category_split, k=2)


def test_neighbour_table_lists_k_ids_best_first(category_split, text_features, llm_scores):
    edges = select_top_k(llm_scores, similarity_scores(category_split, text_features), category_split, k=2)
    table = neighbour_table(edges, category_split)
    assert table["category_id"].tolist() == list(range(6))
    assert table["neighbour_ids"].tolist()[0] == [1, 3]
    assert table["neighbour_ids"].tolist()[4] == [3, 0]
    assert all(
        len(ids) == 2 and i not in ids
        for i, ids in zip(table["category_id"], table["neighbour_ids"], strict=True)
    )


@pytest.mark.parametrize("k", [0, 4])
def test_k_must_leave_room_for_distinct_seen_neighbours(category_split, k):
    with pytest.raises(ValueError, match=r"relation_mining.k must be in \[1, 3\] with 4 seen categories"):
        check_k(category_split, k)


def test_report_records_parse_counts_and_fallbacks(category_split, text_features, llm_scores):
    edges = select_top_k(llm_scores, similarity_scores(category_split, text_features), category_split, k=2)
    stats = pd.DataFrame(
        [
            {
                "category_id": 4,
                "n_requests": 3,
                "n_unparsed_responses": 3,
                "n_accepted": 0,
                "n_rejected_not_in_list": 2,
                "n_rejected_self": 0,
                "n_rejected_unknown_strength": 0,
                "n_rejected_duplicate": 0,
            }
        ]
    )
    report = relation_report(category_split, edges, stats, "llm").set_index("name")
    assert report.loc[
        "sandal", ["n_requests", "n_rejected_not_in_list", "n_source_neighbours", "n_fallback_neighbours"]
    ].tolist() == [3, 2, 1, 1]
    assert (
        bool(report.loc["sandal", "all_responses_unparsed"])
        and report.loc["sandal", "fallback"] == "similarity"
    )
    assert report.loc["sneaker", ["n_requests", "n_fallback_neighbours", "fallback"]].tolist() == [0, 0, ""]
    assert not report["all_responses_unparsed"].drop("sandal").any()


def test_fallbacks_are_one_warning_with_counts_and_the_first_names(caplog):
    edges = pd.DataFrame(
        {
            "target_name": ["a", "a", "b", "c", "c", "d"],
            "relation_types": [
                [FALLBACK_TYPE],
                ["LLM"],
                [FALLBACK_TYPE],
                [FALLBACK_TYPE],
                [FALLBACK_TYPE],
                ["LLM"],
            ],
        }
    )
    with caplog.at_level("WARNING", logger="ovmlr.relations.neighbours"):
        log_fallbacks(edges, "wordnet", shown=2)
        log_fallbacks(edges[edges["target_name"] == "d"], "wordnet")
    assert [r.getMessage() for r in caplog.records] == [
        "relation source 'wordnet': 3 categories got 4 neighbours in all from the similarity fallback: "
        "'a' (1), 'b' (1) and 1 more"
    ]
