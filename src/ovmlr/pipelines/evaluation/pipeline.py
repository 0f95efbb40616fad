"""The ``evaluation`` pipeline: the registered model and the baselines on the test split (Supplement A
metrics, per-category AP) and the visual reports (Figs. 2/6, 6b, 7, 8/11, 10)."""

from kedro.pipeline import Node, Pipeline

from ovmlr.core.features import assemble_full_split

from .nodes import (
    choose_report_images,
    collect_scores,
    compute_category_ap,
    encode_for_champion,
    evaluate_methods,
    extract_champion,
    fit_zero_shot_alignment,
    plot_category_ap_bars,
    plot_isr_patches,
    plot_ist_attention,
    plot_pr_curves,
    plot_relation_neighbourhoods,
    plot_top_predictions_grid,
    report_metrics,
    report_pico_weights,
    score_baselines,
    score_champion,
    select_isr_patches,
    select_ist_attention,
    select_top_predictions,
)

P = "params:evaluation."


def _scoring_nodes() -> list[Node]:
    return [
        Node(
            extract_champion,
            ["c2srt_champion", P + "model_name", P + "model_alias"],
            ["evaluation_vocabulary", "evaluation_model_info"],
            name="extract_champion_node",
        ),
        Node(
            assemble_full_split,
            ["image_embeddings", "image_keys", "test_labels", "evaluation_vocabulary"],
            "evaluation_test_split",
            name="assemble_evaluation_split_node",
        ),
        Node(
            encode_for_champion,
            [
                "c2srt_champion",
                "evaluation_test_split",
                "image_manifest",
                P + "image_root",
                P + "batch_size",
            ],
            "evaluation_model_split",
            name="encode_for_champion_node",
        ),
        Node(
            score_champion,
            ["c2srt_champion", "evaluation_model_split", P + "batch_size"],
            "evaluation_champion_scores",
            name="score_champion_node",
        ),
        Node(
            fit_zero_shot_alignment,
            [
                "image_embeddings",
                "image_keys",
                "train_labels",
                "evaluation_vocabulary",
                "text_features",
                P + "baselines",
                "params:training.pico",
            ],
            "evaluation_pico_weights",
            name="fit_zero_shot_alignment_node",
        ),
        Node(
            score_baselines,
            [
                "evaluation_test_split",
                "evaluation_vocabulary",
                "text_features",
                "evaluation_pico_weights",
                P + "baselines",
                P + "batch_size",
                P + "device",
            ],
            ["evaluation_baseline_scores", "evaluation_baseline_info"],
            name="score_baselines_node",
        ),
        Node(
            collect_scores,
            ["evaluation_champion_scores", "evaluation_baseline_scores"],
            "evaluation_method_scores",
            name="collect_scores_node",
        ),
    ]


def _metric_nodes() -> list[Node]:
    split_and_vocabulary = ["evaluation_method_scores", "evaluation_test_split", "evaluation_vocabulary"]
    return [
        Node(
            evaluate_methods,
            [
                *split_and_vocabulary,
                "evaluation_model_info",
                "evaluation_baseline_info",
                P + "ks",
                P + "retrieval_ks",
            ],
            "evaluation_summary",
            name="evaluate_methods_node",
        ),
        Node(
            report_metrics,
            "evaluation_summary",
            ["evaluation_metrics", "evaluation_metrics_table"],
            name="report_metrics_node",
        ),
        Node(
            report_pico_weights,
            "evaluation_pico_weights",
            ["evaluation_pico_weights_table", "evaluation_pico_weights_plot"],
            name="report_pico_weights_node",
        ),
        Node(
            compute_category_ap,
            split_and_vocabulary,
            "evaluation_category_ap",
            name="compute_category_ap_node",
        ),
    ]


def _report_nodes() -> list[Node]:
    split_and_vocabulary = ["evaluation_method_scores", "evaluation_test_split", "evaluation_vocabulary"]
    reports = P + "reports."
    return [
        Node(
            choose_report_images,
            ["evaluation_test_split", "evaluation_vocabulary", reports + "n_images", reports + "seed"],
            "evaluation_report_images",
            name="choose_report_images_node",
        ),
        Node(
            select_top_predictions,
            [*split_and_vocabulary, "evaluation_report_images", reports + "top_predictions.top_k"],
            "evaluation_top_predictions",
            name="select_top_predictions_node",
        ),
        Node(
            select_isr_patches,
            [
                "c2srt_champion",
                "evaluation_model_split",
                "evaluation_report_images",
                reports + "isr_selection.top_categories",
                P + "device",
            ],
            "evaluation_isr_selection",
            name="select_isr_patches_node",
        ),
        Node(
            select_ist_attention,
            [
                "c2srt_champion",
                "evaluation_model_split",
                reports + "attention.targets",
                reports + "attention.max_targets",
                reports + "attention.max_images",
                reports + "seed",
                P + "batch_size",
                P + "device",
            ],
            "evaluation_ist_attention",
            name="select_ist_attention_node",
        ),
        Node(
            plot_pr_curves,
            [*split_and_vocabulary, reports + "pr_curves", reports + "seed"],
            "evaluation_pr_curves_plot",
            name="plot_pr_curves_node",
        ),
        Node(
            plot_category_ap_bars,
            ["evaluation_category_ap", reports + "category_ap"],
            "evaluation_category_ap_plot",
            name="plot_category_ap_bars_node",
        ),
        Node(
            plot_isr_patches,
            [
                "evaluation_isr_selection",
                "image_manifest",
                "evaluation_model_split",
                reports + "isr_selection.crop",
            ],
            "evaluation_isr_selection_plot",
            name="plot_isr_patches_node",
        ),
        Node(
            plot_ist_attention,
            ["evaluation_ist_attention", reports + "attention.layer"],
            "evaluation_ist_attention_plot",
            name="plot_ist_attention_node",
        ),
        Node(
            plot_relation_neighbourhoods,
            ["relation_edges", "evaluation_vocabulary", reports + "relation_graphs"],
            "evaluation_relation_graphs_plot",
            name="plot_relation_neighbourhoods_node",
        ),
        Node(
            plot_top_predictions_grid,
            [
                "evaluation_top_predictions",
                "evaluation_test_split",
                "evaluation_vocabulary",
                "image_manifest",
            ],
            "evaluation_top_predictions_plot",
            name="plot_top_predictions_grid_node",
        ),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([*_scoring_nodes(), *_metric_nodes(), *_report_nodes()], tags=["evaluation"])
