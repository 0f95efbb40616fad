"""The ``train`` pipeline: the stages in data-dependency order (Kedro sorts them anyway).

It lives in its own package, not in ``pipeline_registry.py``, because Kedro 1.7 imports only the
pipeline packages named on the command line (``kedro run --pipeline=train``).
"""

from kedro.pipeline import Pipeline

from ovmlr.pipelines import (
    backbone,
    category_sets,
    data_processing,
    feature_extraction,
    relation_mining,
    training,
)

STAGES = (data_processing, category_sets, backbone, feature_extraction, relation_mining, training)


def create_pipeline(**kwargs) -> Pipeline:
    return sum((stage.create_pipeline() for stage in STAGES), Pipeline([]))
