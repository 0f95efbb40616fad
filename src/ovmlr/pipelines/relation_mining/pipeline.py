"""The ``relation_mining`` pipeline: requests → cached LLM answers → scores → K neighbours → graph plots."""

from kedro.pipeline import Node, Pipeline

from ovmlr.relations.select import relation_neighbours

from .nodes import (
    build_llm_requests,
    compare_relation_sources,
    mine_llm_responses,
    plot_relation_graph,
    score_llm_relations,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_llm_requests,
                [
                    "category_split",
                    "params:relation_mining.source",
                    "params:relation_mining.k",
                    "params:relation_mining.llm",
                ],
                "llm_requests",
                name="build_llm_requests_node",
            ),
            Node(
                mine_llm_responses,
                ["llm_requests", "llm_response_cache_before", "llm_backend", "params:relation_mining.llm"],
                "llm_response_cache",
                name="mine_llm_responses_node",
            ),
            Node(
                score_llm_relations,
                ["llm_requests", "llm_response_cache", "llm_backend"],
                ["llm_relation_scores", "llm_parse_stats"],
                name="score_llm_relations_node",
            ),
            Node(
                relation_neighbours,  # the library function is the node
                [
                    "category_split",
                    "text_features",
                    "train_labels",
                    "llm_relation_scores",
                    "llm_parse_stats",
                    "params:relation_mining.source",
                    "params:relation_mining.k",
                    "params:relation_mining.fallback",
                    "params:relation_mining.seed",
                    "params:relation_mining.wordnet",
                ],
                ["relation_edges", "category_neighbours", "relation_parse_report"],
                name="select_neighbours_node",
            ),
            Node(
                plot_relation_graph,
                [
                    "relation_edges",
                    "category_split",
                    "params:relation_mining.plot.target",
                    "params:relation_mining.source",
                ],
                "relation_graph_plot",
                name="plot_relation_graph_node",
            ),
            Node(
                compare_relation_sources,
                [
                    "category_split",
                    "text_features",
                    "train_labels",
                    "llm_relation_scores",
                    "params:relation_mining.k",
                    "params:relation_mining.fallback",
                    "params:relation_mining.seed",
                    "params:relation_mining.wordnet",
                    "params:relation_mining.plot.compare_sources",
                    "params:relation_mining.plot.compare_targets",
                    "params:relation_mining.plot.compare_max_targets",
                ],
                ["relation_graphs_compared", "relation_source_overlap"],
                name="compare_relation_sources_node",
            ),
        ]
    )
