"""The ``ablation`` pipeline: the training pipeline's inputs, then a resumable runner over parameter sets."""

from kedro.pipeline import Node, Pipeline

from ovmlr.pipelines.training import create_pipeline as create_training_pipeline

from .nodes import collect_ablation, plan_ablation, run_ablation, summarise_ablation

SHARED_TRAINING_NODES = (
    "build_vocabulary_node",
    "assemble_train_split_node",
    "assemble_val_split_node",
    "assemble_test_split_node",
)


def create_pipeline(**kwargs) -> Pipeline:
    inputs = create_training_pipeline().filter(node_names=list(SHARED_TRAINING_NODES))
    runner = Pipeline(
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
                    "params:relation_mining.source",
                ],
                "ablation_plan",
                name="plan_ablation_node",
            ),
            Node(
                run_ablation,
                [
                    "ablation_plan",
                    "ablation_rows_before",
                    "train_split",
                    "val_split",
                    "test_split",
                    "vocabulary",
                    "category_split",
                    "text_features",
                    "train_labels",
                    "category_neighbours",
                    "llm_relation_scores",
                    "llm_parse_stats",
                    "backbone_info",
                    "backbone_spec",
                    "image_manifest",
                    "params:relation_mining",
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
                ["ablation_results", "params:training", "params:ablation"],
                ["ablation_table", "ablation_table_markdown"],
                name="summarise_ablation_node",
            ),
        ],
        tags=["ablation"],
    )
    return inputs + runner
