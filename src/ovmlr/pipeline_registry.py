"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The stages that `kedro run --pipeline=train` runs, in data-dependency order (Kedro sorts them anyway).
TRAIN_STAGES = (
    "data_processing",
    "category_sets",
    "backbone",
    "feature_extraction",
    "relation_mining",
    "training",
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects: every stage under ``ovmlr.pipelines``,
        ``train`` (every stage up to a registered model) and ``__default__`` (= ``train``).
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["train"] = sum((pipelines[name] for name in TRAIN_STAGES if name in pipelines), Pipeline([]))
    pipelines["__default__"] = pipelines["train"]
    return pipelines
