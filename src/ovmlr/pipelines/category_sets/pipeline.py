"""The ``category_sets`` pipeline: seen/unseen partition and everything that follows from it."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_modality_category_sets,
    plot_category_summary,
    split_categories,
    split_labels,
    summarise_categories,
)


def create_pipeline(**kwargs) -> Pipeline:
    """``categories`` + ``labels`` -> ``category_split``, split labels, modality sets, summary (+ plot)."""
    return Pipeline(
        [
            Node(
                split_categories,
                inputs=[
                    "categories",
                    "labels",
                    "image_manifest",
                    "unseen_category_names",
                    "params:category_sets.strategy",
                    "params:category_sets.unseen_names",
                    "params:category_sets.num_unseen",
                    "params:category_sets.frequency_order",
                    "params:category_sets.seed",
                ],
                outputs="category_split",
                name="split_categories_node",
            ),
            Node(
                build_modality_category_sets,
                inputs=[
                    "category_split",
                    "params:category_sets.heterogeneous.enabled",
                    "params:category_sets.heterogeneous.modalities",
                    "params:category_sets.heterogeneous.explicit_sets",
                    "params:category_sets.heterogeneous.overlap",
                    "params:category_sets.heterogeneous.seed",
                ],
                outputs="modality_category_sets",
                name="build_modality_category_sets_node",
            ),
            Node(
                split_labels,
                inputs=["labels", "image_manifest", "category_split"],
                outputs=["train_labels", "val_labels", "test_labels"],
                name="split_labels_node",
            ),
            Node(
                summarise_categories,
                inputs=["labels", "image_manifest", "category_split"],
                outputs="category_summary",
                name="summarise_categories_node",
            ),
            Node(
                plot_category_summary,
                inputs=["category_summary", "params:category_sets.plot_max_bars"],
                outputs="category_summary_plot",
                name="plot_category_summary_node",
            ),
        ]
    )
