"""The ``export`` pipeline: ``kedro run --pipeline=export`` (the model: ``export.model_uri``, default the
champion of this dataset environment's registered model)."""

from kedro.pipeline import Node, Pipeline

from .nodes import export_label_set, export_onnx_model


def create_pipeline(**kwargs) -> Pipeline:
    """``export_model`` -> ``onnx_model`` + ``onnx_sidecar``."""
    return Pipeline(
        [
            Node(
                export_label_set,
                inputs=["export_model", "params:export.labels"],
                outputs="export_label_set",
                name="export_label_set_node",
            ),
            Node(
                export_onnx_model,
                inputs=["export_model", "export_label_set", "params:export.tolerance"],
                outputs=["onnx_model", "onnx_sidecar"],
                name="export_onnx_model_node",
            ),
        ]
    )
