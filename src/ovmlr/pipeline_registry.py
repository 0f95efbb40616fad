"""Project pipelines: every stage package under ``ovmlr.pipelines`` as a namespaced modular pipeline, and
the compositions ``train`` (all stages up to a registered model, the default), ``ablation`` and
``multimodal_fit``.

Each stage gets its name as Kedro namespace, so ``kedro viz`` shows it as one collapsible group; the datasets
keep their catalog names (``prefix_datasets_with_namespace=False``): one catalog, no ``stage.`` prefixes.
Node names become ``<stage>.<node>`` (``kedro run --from-nodes training.train_c2srt_node``).
Stages never import each other; compositions live here.
"""

from __future__ import annotations

import importlib

from kedro.pipeline import Pipeline

STAGES = (
    "data_processing",
    "category_sets",
    "backbone",
    "feature_extraction",
    "relation_mining",
    "training",
    "evaluation",
    "ablation",
    "predict",
    "multimodal",
    "export",
)
TRAIN_STAGES = STAGES[:6]
# The training nodes the ablation runner needs in front of it (vocabulary and feature splits).
ABLATION_INPUT_NODES = (
    "parse_training_recipe_node",
    "make_training_context_node",
    "build_vocabulary_node",
    "assemble_train_split_node",
    "assemble_val_split_node",
    "assemble_test_split_node",
)


def stage_pipeline(name: str, nodes: Pipeline | None = None) -> Pipeline:
    """The stage ``name`` (or some of its nodes) under its namespace, datasets un-prefixed."""
    if nodes is None:
        nodes = importlib.import_module(f"ovmlr.pipelines.{name}").create_pipeline()
    return Pipeline(nodes, namespace=name, prefix_datasets_with_namespace=False)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        Every stage by its name, ``train`` (data_processing → training, registered model), ``ablation``
        (the training stage's inputs + the runner), ``multimodal_fit`` (CSCF from the modality tables
        already in ``multimodal_features``), ``backbone_release`` (data_processing + the demo backbone's
        shipped release, ``make backbone``), and ``__default__`` = ``train``.
    """
    pipelines = {name: stage_pipeline(name) for name in STAGES}
    training = importlib.import_module("ovmlr.pipelines.training").create_pipeline()
    ablation_inputs = stage_pipeline("training", training.filter(node_names=list(ABLATION_INPUT_NODES)))
    pipelines["ablation"] = ablation_inputs + pipelines["ablation"]
    fit = importlib.import_module("ovmlr.pipelines.multimodal").create_fit_pipeline()
    pipelines["multimodal_fit"] = stage_pipeline("multimodal", fit)
    release = importlib.import_module("ovmlr.pipelines.backbone").create_release_pipeline()
    pipelines["backbone_release"] = pipelines["data_processing"] + stage_pipeline("backbone", release)
    pipelines["train"] = sum((pipelines[name] for name in TRAIN_STAGES), Pipeline([]))
    pipelines["__default__"] = pipelines["train"]
    return pipelines
