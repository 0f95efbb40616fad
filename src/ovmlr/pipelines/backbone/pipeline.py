"""The ``backbone`` pipeline: demo backbone -> ``backbone_spec`` -> ``backbone_info`` + zero-shot accuracy."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    describe_backbone,
    evaluate_item_zero_shot,
    fit_demo_backbone,
    release_demo_backbone,
    specify_backbone,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Train (or reuse) the demo backbone, then describe the frozen backbone the later stages use."""
    return Pipeline(
        [
            node(
                fit_demo_backbone,
                inputs=[
                    "pretrain_pool",
                    "demo_backbone_previous",
                    "shipped_demo_backbone",
                    "params:backbone",
                ],
                outputs=[
                    "demo_backbone_checkpoint",
                    "demo_backbone_config",
                    "demo_backbone_training_metrics",
                ],
                name="fit_demo_backbone_node",
                tags=["training"],
            ),
            node(
                specify_backbone,
                inputs=["params:backbone", "demo_backbone_config"],
                outputs="backbone_spec",
                name="specify_backbone_node",
            ),
            node(
                describe_backbone,
                inputs=["backbone_spec", "params:backbone.device"],
                outputs="backbone_info",
                name="describe_backbone_node",
            ),
            node(
                evaluate_item_zero_shot,
                inputs=["backbone_spec", "pretrain_pool", "params:backbone"],
                outputs="backbone_zero_shot_item_metrics",
                name="evaluate_item_zero_shot_node",
            ),
        ]
    )


def create_release_pipeline(**kwargs) -> Pipeline:
    """``make backbone``: train the demo backbone's recipe over the release seeds and write the shipped
    weights and manifest (``shipped_demo_backbone``)."""
    return Pipeline(
        [
            node(
                release_demo_backbone,
                inputs=["pretrain_pool", "params:backbone"],
                outputs="shipped_demo_backbone",
                name="release_demo_backbone_node",
                tags=["training"],
            )
        ]
    )
