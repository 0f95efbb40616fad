"""The ``training`` pipeline: C²SRT trained on cached features, selected on val, tested, registered."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assemble_eval_split,
    assemble_train_split,
    build_vocabulary,
    compute_test_metrics,
    encode_split,
    package_model,
    prepare_selection,
    score_split,
    select_best_checkpoint,
    train_c2srt,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_vocabulary,
                ["category_split", "text_features", "category_neighbours", "params:training.prompt"],
                "vocabulary",
                name="build_vocabulary_node",
            ),
            Node(
                assemble_train_split,
                ["image_embeddings", "image_keys", "train_labels", "vocabulary"],
                "train_split",
                name="assemble_train_split_node",
            ),
            Node(
                assemble_eval_split,
                ["image_embeddings", "image_keys", "val_labels", "vocabulary"],
                "val_split",
                name="assemble_val_split_node",
            ),
            Node(
                assemble_eval_split,
                ["image_embeddings", "image_keys", "test_labels", "vocabulary"],
                "test_split",
                name="assemble_test_split_node",
            ),
            Node(
                prepare_selection,
                ["train_split", "val_split", "vocabulary", "params:training.selection"],
                "selection_data",
                name="prepare_selection_node",
            ),
            Node(
                train_c2srt,
                [
                    "train_split",
                    "selection_data",
                    "vocabulary",
                    "backbone_info",
                    "backbone_spec",
                    "image_manifest",
                    "training_resume",
                    "params:training.loop",
                    "params:training.model",
                    "params:training.finetune",
                    "params:training.selection",
                    "params:training.pico",
                    "params:training.distributed",
                ],
                ["training_checkpoints", "training_history", "training_run"],
                name="train_c2srt_node",
            ),
            Node(
                select_best_checkpoint,
                [
                    "training_checkpoints",
                    "training_run",
                    "vocabulary",
                    "selection_data",
                    "backbone_spec",
                    "image_manifest",
                    "params:training.loop",
                    "params:training.finetune",
                    "params:training.selection",
                    "params:training.prompt",
                    "params:feature_extraction.templates",
                    "params:training.registry",
                ],
                "c2srt_trained",
                name="select_best_checkpoint_node",
            ),
            Node(
                encode_split,
                [
                    "c2srt_trained",
                    "test_split",
                    "image_manifest",
                    "params:training.loop",
                    "params:training.finetune",
                ],
                "test_split_encoded",
                name="encode_test_split_node",
            ),
            Node(
                score_split,
                ["c2srt_trained", "test_split_encoded"],
                "test_scores",
                name="score_test_split_node",
            ),
            Node(
                compute_test_metrics,
                ["test_scores", "test_split_encoded", "vocabulary", "params:training.loop"],
                ["test_metrics", "test_metrics_summary"],
                name="compute_test_metrics_node",
            ),
            Node(
                package_model,
                ["c2srt_trained", "test_metrics_summary", "params:training.registry"],
                "c2srt_registered_model",
                name="package_model_node",
            ),
        ],
        tags=["training"],
    )
