"""The ``export`` pipeline: a trained model as an ONNX graph over a fixed label list, with a JSON sidecar."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
