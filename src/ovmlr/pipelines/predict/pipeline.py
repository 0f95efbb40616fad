"""The ``predict`` pipeline: tag your own images with your own label names.

``kedro run --pipeline=predict --params "predict.images=<folder or glob>,predict.labels=<file or a,b,c>"``;
the model is ``predict.model_uri`` (default: the champion of this dataset's registered model).
"""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    encode_prediction_images,
    explain_predictions,
    list_prediction_images,
    plot_prediction_sheet,
    prepare_labels,
    score_prediction_images,
)

P = "params:predict."


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                list_prediction_images, P + "images", "prediction_images", name="list_prediction_images_node"
            ),
            Node(
                prepare_labels,
                [
                    "predict_model",
                    P + "labels",
                    P + "policy",
                    "llm_backend",
                    "prediction_llm_cache_before",
                    "params:relation_mining.llm",
                ],
                ["prediction_label_set", "prediction_labels", "prediction_llm_cache"],
                name="prepare_labels_node",
            ),
            Node(
                encode_prediction_images,
                ["predict_model", "prediction_images", "prediction_embedding_index", P + "encoding"],
                "prediction_embeddings",
                name="encode_prediction_images_node",
            ),
            Node(
                score_prediction_images,
                [
                    "predict_model",
                    "prediction_label_set",
                    "prediction_images",
                    "prediction_embeddings",
                    P + "top_k",
                    P + "encoding.batch_size",
                    P + "threshold",
                ],
                ["predictions", "predictions_csv", "prediction_skipped"],
                name="score_prediction_images_node",
            ),
            Node(
                plot_prediction_sheet,
                ["predictions", P + "contact_sheet"],
                "prediction_contact_sheet",
                name="plot_prediction_sheet_node",
            ),
            Node(
                explain_predictions,
                [
                    "predict_model",
                    "prediction_label_set",
                    "prediction_images",
                    "predictions",
                    "prediction_embeddings",
                    P + "explain",
                    P + "explanation",
                ],
                "prediction_explanations",
                name="explain_predictions_node",
            ),
        ],
        tags=["predict"],
    )
