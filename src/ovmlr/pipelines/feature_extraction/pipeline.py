"""The ``feature_extraction`` pipeline: image keys -> embedding cache -> ``image_keys``; text features."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    encode_category_texts,
    evaluate_zero_shot,
    extract_image_embeddings,
    hash_images,
    index_image_features,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Encode the images missing from the cache, index the cache, encode the category prompts."""
    return Pipeline(
        [
            node(
                hash_images,
                inputs=["image_manifest", "image_file_hashes_index", "params:feature_extraction"],
                outputs=["image_hashes", "image_file_hashes"],
                name="hash_images_node",
            ),
            node(
                extract_image_embeddings,
                inputs=[
                    "image_hashes",
                    "image_embedding_index",
                    "backbone_spec",
                    "params:feature_extraction",
                ],
                outputs="image_embeddings",
                name="extract_image_embeddings_node",
            ),
            node(
                index_image_features,
                inputs=["image_hashes", "image_embeddings"],
                outputs=["image_keys", "image_feature_report"],
                name="index_image_features_node",
            ),
            node(
                encode_category_texts,
                inputs=["categories", "backbone_spec", "params:feature_extraction"],
                outputs="text_features",
                name="encode_category_texts_node",
            ),
            node(
                evaluate_zero_shot,
                inputs=[
                    "image_embeddings",
                    "image_keys",
                    "text_features",
                    "test_labels",
                    "category_split",
                    "params:feature_extraction.zero_shot_top_k",
                ],
                outputs="backbone_zero_shot_metrics",
                name="evaluate_zero_shot_node",
            ),
        ]
    )
