"""The ``data_processing`` pipeline: one node for every dataset; the Kedro environment picks the dataset."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_dataset

OUTPUTS = (
    "image_manifest",
    "labels",
    "categories",
    "pretrain_pool",
    "data_report",
    "mosaic_layout",
    "mosaic_images",
    "vocabulary_report",
    "dataset_build",
)


def create_pipeline(**kwargs) -> Pipeline:
    """``raw_source`` -> the data contracts of ``docs/architecture.md`` (+ rendered mosaics)."""
    return Pipeline(
        [
            Node(
                build_dataset,
                inputs=["raw_source", "params:data_processing.sources", "params:data_processing.seed"],
                outputs={name: name for name in OUTPUTS},
                name="build_dataset_node",
            )
        ]
    )
