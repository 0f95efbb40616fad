"""Evaluation nodes on the tiny seeded world: scores through the pyfunc, metrics, AP table, selections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ovmlr.alignment.pico import PICOWeights, weighted_cosine
from ovmlr.backbones.loading import load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.backbones.student import StudentImageEncoder, split_images, student_features
from ovmlr.core.features import assemble_full_split
from ovmlr.core.model_factory import build_model
from ovmlr.core.scoring import predict_scores
from ovmlr.evaluation.scoring import effective_mkt_k
from ovmlr.evaluation.selection import choose_relation_targets, top_k_entries
from ovmlr.evaluation.summary import method_metrics, split_ks
from ovmlr.metrics import (
    average_precision,
    precision_recall_f1_at_k,
    zsl_gzsl_metrics,
    zsl_gzsl_retrieval,
)
from ovmlr.models import mkt_style_scores, zero_shot_scores
from ovmlr.pipelines.evaluation.nodes import (
    choose_report_images,
    collect_scores,
    compute_category_ap,
    encode_for_champion,
    evaluate_methods,
    extract_champion,
    fit_zero_shot_alignment,
    report_metrics,
    report_pico_weights,
    score_baselines,
    score_champion,
    select_isr_patches,
    select_top_predictions,
)

BASELINES = {"prompt": "__ensemble__", "mkt_k": 16}
PICO = {"iterations": 2, "n_style_prototypes": 2, "seed": 0}
NAMES = ("cat", "dog", "car", "tree", "lion", "truck")  # the world's vocabulary (conftest)
P = 16  # the world's patches per image


def _split(world):
    inputs = world.inputs
    return assemble_full_split(
        inputs["image_embeddings"], inputs["image_keys"], inputs["test_labels"], world.vocabulary
    )


def _direct_scores(world) -> np.ndarray:
    model = build_model(world.model_config)
    model.load_state_dict(world.champion.head_state)
    return predict_scores(
        model, world.global_feats, world.patch_feats, world.vocabulary, 256, torch.device("cpu")
    )


def _pico(world, params=BASELINES) -> PICOWeights:
    inputs = world.inputs
    return fit_zero_shot_alignment(
        inputs["image_embeddings"],
        inputs["image_keys"],
        inputs["train_labels"],
        world.vocabulary,
        inputs["text_features"],
        params,
        PICO,
    )


def _baselines(world, split, params=BASELINES) -> tuple[dict[str, pd.DataFrame], dict]:
    text = world.inputs["text_features"]
    return score_baselines(split, world.vocabulary, text, _pico(world, BASELINES), params, 5, "cpu")


def _method_scores(world) -> dict[str, pd.DataFrame]:
    split = _split(world)
    champion = score_champion(world.champion, split, batch_size=5)
    baselines, _ = _baselines(world, split)
    return collect_scores(champion, baselines)


def test_extract_champion_returns_the_registered_vocabulary(world) -> None:
    vocabulary, info = extract_champion(world.champion, "ovmlr-c2srt", "champion")
    assert vocabulary.names == NAMES and vocabulary.unseen_mask.tolist() == [False] * 4 + [True] * 2
    assert info == {
        "name": "ovmlr-c2srt",
        "alias": "champion",
        "mode": "frozen",
        "dataset": "test",
        "epoch": 1,
        "fingerprint": "f",
        "backbone_id": "",
    }


def test_champion_scores_equal_the_module(world) -> None:
    frame = score_champion(world.champion, _split(world), batch_size=5)
    assert frame["image_id"].tolist() == [f"img{i:02d}" for i in range(12)]
    np.testing.assert_allclose(frame[list(NAMES)].to_numpy(), _direct_scores(world), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        score_champion(world.champion, _split(world), batch_size=0)


def test_a_frozen_champion_scores_the_cached_features(world) -> None:
    split = _split(world)
    out = encode_for_champion(world.champion, split, world.inputs["image_manifest"], ".", 4)
    assert out is split


@pytest.mark.slow
def test_a_fine_tuned_champion_scores_its_student_features(
    world, tiny_spec, make_model, save_model, tmp_path
) -> None:
    backbone = load_backbone(tiny_spec, "cpu")
    student = StudentImageEncoder(backbone.model.visual, trainable_blocks=1)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in student.visual.transformer.resblocks[-1].parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model = make_model(
        world.model_config, world.vocabulary, student_state=student.state_dict(), trainable_blocks=1
    )
    split = _split(world)
    manifest = world.inputs["image_manifest"]
    out = encode_for_champion(save_model(model, tmp_path / "ft"), split, manifest, ".", 5)

    images = split_images(manifest, split, backbone, False, ".")
    expected_g, expected_p = student_features(student, images, 3, 0, torch.device("cpu"))
    np.testing.assert_allclose(out.global_feats, expected_g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.patch_feats, expected_p, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out.image_ids, split.image_ids)
    np.testing.assert_array_equal(out.labels, split.labels)
    teacher = StudentImageEncoder(backbone.model.visual, trainable_blocks=0)
    teacher_g, _ = student_features(teacher, images, 3, 0, torch.device("cpu"))
    assert not np.allclose(out.global_feats, teacher_g, atol=1e-4)  # the student's, not the backbone's


def test_baselines_match_the_model_functions(world) -> None:
    split = _split(world)
    frames, info = _baselines(world, split)
    g, p, text = (torch.from_numpy(a) for a in (world.global_feats, world.patch_feats, world.vocabulary.text))
    np.testing.assert_allclose(frames["zero_shot"][list(NAMES)], zero_shot_scores(g, text).numpy(), atol=1e-6)
    np.testing.assert_allclose(
        frames["mkt_style"][list(NAMES)], mkt_style_scores(g, p, text, k=P).numpy(), atol=1e-6
    )
    pico = weighted_cosine(g, text, _pico(world).weights).numpy()
    np.testing.assert_allclose(frames["zero_shot_pico"][list(NAMES)], pico, atol=1e-6)
    assert info == {"prompt": "__ensemble__", "mkt_k": P}  # 16 requested, P = 16


def test_baselines_use_the_requested_prompt(world) -> None:
    split = _split(world)
    params = {"prompt": "a photo of a {}.", "mkt_k": 4}  # the fixture stores -text for this template
    frames, info = _baselines(world, split, params)
    ensemble, _ = _baselines(world, split)
    np.testing.assert_allclose(
        frames["zero_shot"][list(NAMES)], -ensemble["zero_shot"][list(NAMES)], atol=1e-6
    )
    assert info["mkt_k"] == 4
    with pytest.raises(ValueError, match="no template 'nope'"):
        _baselines(world, split, {"prompt": "nope", "mkt_k": 4})


def test_mkt_k_is_capped_at_the_patch_count() -> None:
    assert effective_mkt_k(16, 9) == 9 and effective_mkt_k(4, 9) == 4
    with pytest.raises(ValueError, match="mkt_k must be >= 1"):
        effective_mkt_k(0, 9)


def test_evaluation_metrics_equal_a_direct_computation(world) -> None:
    split = _split(world)
    scores = _method_scores(world)
    summary = evaluate_methods(
        scores,
        split,
        world.vocabulary,
        {"name": "m", "alias": "a", "run_id": None},
        {"prompt": "__ensemble__", "mkt_k": P},
        [1, 2, 3],
        [1, 5],
    )
    direct = zsl_gzsl_metrics(_direct_scores(world), world.labels, world.vocabulary.unseen_mask, ks=(1, 2))
    for key, value in direct.items():
        assert summary["methods"]["c2srt"]["metrics"][key] == pytest.approx(value, abs=1e-6), key
    gzsl3 = precision_recall_f1_at_k(_direct_scores(world), world.labels, 3)
    metrics = summary["methods"]["c2srt"]["metrics"]
    assert (metrics["gzsl/P_at_3"], metrics["gzsl/R_at_3"], metrics["gzsl/F1_at_3"]) == pytest.approx(gzsl3)
    assert metrics["zsl/P_at_3"] is None and summary["zsl_skipped_ks"] == [3]  # only 2 unseen categories
    assert list(summary["methods"]) == ["c2srt", "zero_shot", "mkt_style", "zero_shot_pico"]
    assert (summary["n_images"], summary["n_categories"], summary["n_unseen"]) == (12, 6, 2)
    retrieval = zsl_gzsl_retrieval(_direct_scores(world), world.labels, world.vocabulary.unseen_mask, (1, 5))
    for key, value in retrieval.items():
        expected = None if np.isnan(value) else pytest.approx(value)
        assert metrics[key] == expected, key
    assert metrics["zsl/i2t/R_at_5"] is None  # 2 unseen categories: fewer candidates than K


def test_zsl_top_k_above_the_unseen_count_is_none() -> None:
    assert split_ks([3, 5], 3) == ([3], [5])
    rng = np.random.default_rng(1)
    scores, labels = rng.random((20, 10)), (rng.random((20, 10)) < 0.3).astype(np.int8)
    mask = np.arange(10) >= 7
    metrics = method_metrics(scores, labels, mask, [3, 5])
    expected = zsl_gzsl_metrics(scores, labels, mask, ks=(3,))
    assert {k: metrics[k] for k in expected} == expected
    assert metrics["gzsl/F1_at_5"] == pytest.approx(precision_recall_f1_at_k(scores, labels, 5)[2])
    assert metrics["zsl/P_at_5"] is None and metrics["zsl/F1_at_5"] is None


def test_report_metrics_formats_mlflow_and_markdown(world) -> None:
    summary = evaluate_methods(
        _method_scores(world),
        _split(world),
        world.vocabulary,
        {"name": "ovmlr-c2srt", "alias": "champion", "mode": "frozen", "dataset": "d", "epoch": 2},
        {},
        [1, 3],
        [1],
    )
    mlflow_metrics, markdown = report_metrics(summary)
    zsl_map = summary["methods"]["c2srt"]["metrics"]["zsl/mAP"]
    assert mlflow_metrics["c2srt/zsl/mAP"] == {"value": zsl_map, "step": 0}
    assert "c2srt/zsl/P_at_3" not in mlflow_metrics
    assert f"| C²SRT | {100 * zsl_map:.1f} |" in markdown
    assert "`ovmlr-c2srt@champion` (frozen, dataset `d`, epoch 2" in markdown and "K = [3]" in markdown
    assert markdown.count("\n| ") == 2 * 5  # two tables (metrics, retrieval): header + 4 methods each
    assert "| method | ZSL image→text R@1 | ZSL text→image R@1 | GZSL image→text R@1 |" in markdown


def test_category_ap_table_agrees_with_map(world) -> None:
    split = _split(world)
    scores = _method_scores(world)
    table = compute_category_ap(scores, split, world.vocabulary)
    assert len(table) == 4 * len(NAMES)
    c2srt = table[table["method"] == "c2srt"]
    np.testing.assert_allclose(c2srt["ap"], average_precision(_direct_scores(world), world.labels), atol=1e-6)
    assert c2srt["n_positive"].tolist() == (world.labels == 1).sum(axis=0).tolist()
    assert c2srt["n_unknown"].tolist() == [1, 0, 0, 1, 1, 0]
    summary = evaluate_methods(scores, split, world.vocabulary, {}, {}, [1], [])
    unseen_mean = c2srt.loc[c2srt["role"] == "unseen", "ap"].mean()
    assert summary["methods"]["c2srt"]["metrics"]["zsl/mAP"] == pytest.approx(unseen_mean)


def test_report_images_prefer_unseen_positives_and_are_deterministic(world) -> None:
    split = _split(world)
    chosen = choose_report_images(split, world.vocabulary, n_images=3, seed=0)
    assert chosen == choose_report_images(split, world.vocabulary, n_images=3, seed=0)
    rows = [int(i[3:]) for i in chosen]
    assert all((world.labels[r, 4:] == 1).any() for r in rows)
    everything = choose_report_images(split, world.vocabulary, n_images=12, seed=5)
    assert everything == [f"img{i:02d}" for i in range(12)]


def test_top_predictions_rank_by_score_and_carry_labels(world) -> None:
    split = _split(world)
    table = select_top_predictions(_method_scores(world), split, world.vocabulary, ["img02", "img04"], 3)
    assert len(table) == 4 * 2 * 3
    direct = _direct_scores(world)
    ours = table[(table["method"] == "c2srt") & (table["image_id"] == "img04")]
    assert ours["name"].tolist() == [NAMES[c] for c in np.argsort(-direct[4])[:3]]
    assert ours["label"].tolist() == [int(world.labels[4, NAMES.index(n)]) for n in ours["name"]]


def test_top_k_entries_break_ties_towards_the_lower_index(world) -> None:
    entries = top_k_entries(np.array([0.5, 0.9, 0.5, 0.1, 0.5, 0.0]), np.zeros(6), world.vocabulary, 3)
    assert [column for column, _ in entries] == [1, 0, 2]
    with pytest.raises(ValueError, match="top-k must be in"):
        top_k_entries(np.zeros(6), np.zeros(6), world.vocabulary, 7)


def test_isr_selection_is_the_models_mask(world) -> None:
    split = _split(world)
    table = select_isr_patches(world.champion, split, ["img01", "img05"], top_categories=2, device="cpu")
    model = build_model(world.model_config)
    model.load_state_dict(world.champion.head_state)
    with torch.inference_mode():
        out = model.eval()(
            torch.from_numpy(world.global_feats[[1, 5]]),
            torch.from_numpy(world.patch_feats[[1, 5]]),
            torch.from_numpy(world.vocabulary.text),
            torch.from_numpy(world.vocabulary.neighbours),
        )
    for row in table.itertuples():
        n = 0 if row.image_id == "img01" else 1
        expected = np.flatnonzero(out["isr_mask"][n, NAMES.index(row.name)].numpy()).tolist()
        assert row.patches == expected and 1 <= len(row.patches) <= 8
    assert table.groupby("image_id").size().tolist() == [2, 2]


def test_isr_selection_is_empty_without_isr(world, tmp_path, small_config, make_model, save_model) -> None:
    config = small_config(use_isr=False)
    champion = save_model(make_model(config, world.vocabulary), tmp_path / "no_isr")
    table = select_isr_patches(champion, _split(world), ["img01"], top_categories=2, device="cpu")
    assert table.empty and "patches" in table.columns


def test_relation_targets_default_to_unseen_and_reject_unknown_names(world) -> None:
    assert choose_relation_targets(world.vocabulary, None, 3) == ["lion", "truck"]
    assert choose_relation_targets(world.vocabulary, ["dog", "lion"], 1) == ["dog"]
    with pytest.raises(ValueError, match=r"\['zebra'\] are not categories"):
        choose_relation_targets(world.vocabulary, ["zebra"], 3)


@pytest.mark.slow
def test_a_student_from_another_backbone_is_named(world, tiny_spec, make_model) -> None:
    tiny = tiny_spec.model_config
    wider = {**tiny, "vision_cfg": {**tiny["vision_cfg"], "width": 48}}
    other = BackboneSpec(model_name="ovmlr-test-wider-clip", model_config=wider, allow_random_weights=True)
    student = StudentImageEncoder(load_backbone(other, "cpu").model.visual, trainable_blocks=1)
    model = make_model(
        world.model_config, world.vocabulary, student_state=student.state_dict(), trainable_blocks=1
    )
    split, manifest = _split(world), world.inputs["image_manifest"]
    with pytest.raises(ValueError, match="do not fit the image tower of backbone 'ovmlr-test-tiny-clip'"):
        encode_for_champion(model, split, manifest, ".", 5)


def test_pico_weights_report_sorts_dimensions_by_semantic_probability(world) -> None:
    fitted = _pico(world)
    assert fitted.weights.shape == (world.global_feats.shape[1],)
    table, figure = report_pico_weights(fitted)
    p = fitted.semantic_probability.numpy()
    np.testing.assert_allclose(table["semantic_probability"], np.sort(p)[::-1], rtol=1e-6)
    assert sorted(table["dimension"]) == list(range(len(p))) and table["rank"].tolist() == list(range(len(p)))
    np.testing.assert_allclose(table["style_probability"], 1 - table["semantic_probability"])
    np.testing.assert_allclose(table["weight"], fitted.weights.numpy()[table["dimension"]], rtol=1e-6)
    assert len(figure.axes) == 2 and all(ax.has_data() for ax in figure.axes)


def test_a_retrieval_k_below_one_names_the_parameter(world) -> None:
    with pytest.raises(ValueError, match=r"evaluation.retrieval_ks must hold K >= 1, got \[0\]"):
        evaluate_methods(_method_scores(world), _split(world), world.vocabulary, {}, {}, [1], [0, 5])
