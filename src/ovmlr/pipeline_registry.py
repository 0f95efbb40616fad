"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        Every package under ``ovmlr.pipelines`` by its name (each stage, ``train`` = all stages up to a
        registered model, ``evaluation``, ``ablation``), and ``__default__`` = ``train``.
    """
    pipelines = find_pipelines(raise_errors=True)
    if "train" in pipelines:
        pipelines["__default__"] = pipelines["train"]
    return pipelines
