"""The ``training`` pipeline: the recipe parsed once, C²SRT trained (from scratch, or fine-tuned from a
registered model), selected and calibrated on val, tested, registered."""

from kedro.pipeline import Node, Pipeline

from ovmlr.core.features import assemble_full_split, assemble_seen_split

from .nodes import (
    build_vocabulary,
    calibrate_model,
    compute_test_metrics,
    inherit_from_parent,
    make_training_context,
    package_model,
    parse_training_recipe,
    plan_training,
    plot_threshold_reliability,
    score_test_split,
    select_best_checkpoint,
    train_c2srt,
)

SPLIT_INPUTS = ["image_embeddings", "image_keys"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                parse_training_recipe, "params:training", "training_recipe", name="parse_training_recipe_node"
            ),
            Node(
                build_vocabulary,
                ["category_split", "text_features", "category_neighbours", "training_recipe"],
                "vocabulary",
                name="build_vocabulary_node",
            ),
            Node(
                assemble_seen_split,
                [*SPLIT_INPUTS, "train_labels", "vocabulary"],
                "train_split",
                name="assemble_train_split_node",
            ),
            Node(
                assemble_full_split,
                [*SPLIT_INPUTS, "val_labels", "vocabulary"],
                "val_split",
                name="assemble_val_split_node",
            ),
            Node(
                assemble_full_split,
                [*SPLIT_INPUTS, "test_labels", "vocabulary"],
                "test_split",
                name="assemble_test_split_node",
            ),
            Node(
                make_training_context,
                ["backbone_info", "backbone_spec", "image_manifest", "params:feature_extraction.templates"],
                "training_context",
                name="make_training_context_node",
            ),
            Node(
                plan_training,
                [
                    "training_recipe",
                    "vocabulary",
                    "train_split",
                    "val_split",
                    "training_context",
                    "training_init_model",
                ],
                "training_plan",
                name="plan_training_node",
            ),
            Node(
                train_c2srt,
                ["training_plan", "training_context", "training_resume"],
                ["training_checkpoints", "training_history", "training_run"],
                name="train_c2srt_node",
            ),
            Node(
                select_best_checkpoint,
                ["training_plan", "training_context", "training_checkpoints"],
                "c2srt_selected",
                name="select_best_checkpoint_node",
            ),
            Node(
                calibrate_model,
                [
                    "c2srt_selected",
                    "training_plan",
                    "training_context",
                    "training_checkpoints",
                    "training_recipe",
                ],
                "c2srt_calibrated",
                name="calibrate_model_node",
            ),
            Node(
                inherit_from_parent,
                ["c2srt_calibrated", "training_init_model", "training_recipe"],
                "c2srt_trained",
                name="inherit_from_parent_node",
            ),
            Node(
                plot_threshold_reliability,
                "c2srt_trained",
                "threshold_reliability_plot",
                name="plot_threshold_reliability_node",
            ),
            Node(
                score_test_split,
                ["c2srt_trained", "test_split", "image_manifest", "training_recipe"],
                ["test_split_encoded", "test_scores"],
                name="score_test_split_node",
            ),
            Node(
                compute_test_metrics,
                ["test_scores", "test_split_encoded", "vocabulary", "training_recipe"],
                ["test_metrics", "test_metrics_summary"],
                name="compute_test_metrics_node",
            ),
            Node(
                package_model,
                ["c2srt_trained", "test_metrics_summary", "training_recipe"],
                "c2srt_registered_model",
                name="package_model_node",
            ),
        ],
        tags=["training"],
    )
