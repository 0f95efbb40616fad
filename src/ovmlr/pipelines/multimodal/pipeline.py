"""The ``multimodal`` pipeline: CSCF under heterogeneous category sets, with CAL / OGM-GE balancing.

Two parts: ``default_modalities`` writes the offline default's modality tables (the image's cached global
feature, and the text tower's feature of its items' titles) into ``multimodal_features``; ``fit`` trains,
evaluates and registers from whatever tables that folder holds — a user with their own encoders writes
``<modality>.parquet`` there and runs ``kedro run --pipeline=multimodal_fit``.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assemble_multimodal_splits,
    collect_default_modalities,
    encode_sample_texts,
    evaluate_cscf,
    image_modality_table,
    register_cscf,
    robustness,
    tagged_art_sample_texts,
    train_cscf_models,
)


def create_default_modalities_pipeline() -> Pipeline:
    """Offline default: tagged-art mosaics as images + the titles of their items as text."""
    return Pipeline(
        [
            Node(
                tagged_art_sample_texts,
                ["mosaic_layout", "tagged_art_items"],
                "multimodal_sample_texts",
                name="tagged_art_sample_texts_node",
            ),
            Node(
                encode_sample_texts,
                ["multimodal_sample_texts", "backbone_spec", "params:feature_extraction"],
                "text_modality_table",
                name="encode_sample_texts_node",
            ),
            Node(
                image_modality_table,
                ["image_embeddings", "image_keys"],
                "image_modality_table",
                name="image_modality_table_node",
            ),
            Node(
                collect_default_modalities,
                ["image_modality_table", "text_modality_table"],
                "multimodal_features",
                name="collect_default_modalities_node",
            ),
        ],
        tags=["multimodal"],
    )


def create_fit_pipeline() -> Pipeline:
    """Modality tables + labels + category sets → CSCF models, results, robustness, registered model."""
    return Pipeline(
        [
            Node(
                assemble_multimodal_splits,
                [
                    "multimodal_features",
                    "train_labels",
                    "val_labels",
                    "test_labels",
                    "category_split",
                    "text_features",
                    "modality_category_sets",
                    "params:multimodal.modalities",
                ],
                "multimodal_splits",
                name="assemble_multimodal_splits_node",
            ),
            Node(
                train_cscf_models,
                [
                    "multimodal_splits",
                    "params:multimodal",
                    "params:multimodal.alignment",
                    "params:training.pico",
                    "params:multimodal.registry.dataset",
                ],
                "cscf_models",
                name="train_cscf_models_node",
            ),
            Node(
                evaluate_cscf,
                ["cscf_models", "multimodal_splits", "params:multimodal.ks"],
                ["multimodal_results", "multimodal_results_md", "multimodal_metrics"],
                name="evaluate_cscf_node",
            ),
            Node(
                robustness,
                ["cscf_models", "multimodal_splits", "params:multimodal.robustness"],
                ["multimodal_robustness", "multimodal_robustness_plot"],
                name="robustness_node",
            ),
            Node(
                register_cscf,
                [
                    "cscf_models",
                    "multimodal_results",
                    "params:multimodal.registry.dataset",
                    "params:multimodal.registry.force_champion",
                ],
                ["cscf_trained", "cscf_registered_model"],
                name="register_cscf_node",
            ),
        ],
        tags=["multimodal"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Both parts: the default modalities, then the fit."""
    return create_default_modalities_pipeline() + create_fit_pipeline()
