"""The ``ablation`` pipeline: a resumable runner over parameter sets.

Its inputs (the vocabulary and the feature splits) are the training stage's first nodes; the pipeline
registry puts them in front (``pipeline_registry.py``): pipelines never import each other.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import bundle_ablation_data, collect_ablation, plan_ablation, run_ablation, summarise_ablation


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                plan_ablation,
                [
                    "train_split",
                    "val_split",
                    "test_split",
                    "category_split",
                    "text_features",
                    "llm_relation_scores",
                    "backbone_info",
                    "params:training",
                    "params:ablation",
                    "params:relation_mining",
                ],
                "ablation_plan",
                name="plan_ablation_node",
            ),
            Node(
                bundle_ablation_data,
                ["train_split", "val_split", "test_split", "training_context"],
                "ablation_data",
                name="bundle_ablation_data_node",
            ),
            Node(
                run_ablation,
                [
                    "ablation_plan",
                    "ablation_rows_before",
                    "ablation_data",
                    "vocabulary",
                    "category_split",
                    "text_features",
                    "train_labels",
                    "category_neighbours",
                    "llm_relation_scores",
                    "llm_parse_stats",
                    "params:relation_mining",
                    "params:ablation.coop",
                ],
                "ablation_rows",
                name="run_ablation_node",
            ),
            Node(
                collect_ablation,
                ["ablation_plan", "ablation_rows"],
                ["ablation_results", "ablation_runs"],
                name="collect_ablation_node",
            ),
            Node(
                summarise_ablation,
                ["ablation_results", "params:training", "params:ablation", "category_split"],
                ["ablation_table", "ablation_table_markdown", "ablation_figure"],
                name="summarise_ablation_node",
            ),
        ],
        tags=["ablation"],
    )
