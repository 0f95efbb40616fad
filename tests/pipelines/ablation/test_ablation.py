import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import ENSEMBLE, build_vocabulary_from_tables
from ovmlr.datasets.mlflow_nested_runs import MlflowNestedRunsDataset
from ovmlr.evaluation.ablation_plan import row_setting, run_variants, sweep_variants, variant_training_params
from ovmlr.models.config import deep_merge
from ovmlr.pipelines.ablation.nodes import (
    bundle_ablation_data,
    collect_ablation,
    markdown_table,
    plan_ablation,
    run_ablation,
    summarise_ablation,
)
from ovmlr.relations.llm_scores import SCORE_COLUMNS, STATS_COLUMNS
from ovmlr.reporting.sweeps import best_value_per_category
from ovmlr.training.runs import TrainingContext

D, P = 8, 4
NAMES = ["a", "b", "c", "d", "e"]
ROLES = ["seen", "seen", "seen", "unseen", "unseen"]


def _world(seed: int = 0):
    rng = np.random.default_rng(seed)
    split = pd.DataFrame({"category_id": range(5), "name": NAMES, "role": ROLES})
    text = rng.normal(size=(5, D)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    rows = [
        {"category_id": c, "name": NAMES[c], "template": t, "embedding": (text[c] + 0.01 * j).tolist()}
        for j, t in enumerate([ENSEMBLE, "a photo of a {}."])
        for c in range(5)
    ]
    text_features = pd.DataFrame(rows)
    neighbours = pd.DataFrame(
        {"category_id": range(5), "neighbour_ids": [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1]]}
    )

    def make_split(n, names):
        labels = (rng.random((n, 5)) < 0.4).astype(np.int8)
        g = labels.astype(np.float32) @ text + 0.3 * rng.normal(size=(n, D)).astype(np.float32)
        patches = g[:, None, :] + 0.3 * rng.normal(size=(n, P, D)).astype(np.float32)
        cols = [NAMES.index(x) for x in names]
        return FeatureSplit(
            np.array([f"i{i}" for i in range(n)]), g, patches.astype(np.float32), labels[:, cols]
        )

    vocab = build_vocabulary_from_tables(split, text_features, neighbours)
    seen_names = vocab.subset("seen").names
    train = make_split(48, seen_names)
    train_labels = pd.DataFrame(train.labels, columns=list(seen_names)).assign(image_id=train.image_ids)
    tables = dict(
        category_split=split,
        text_features=text_features,
        train_labels=train_labels,
        category_neighbours=neighbours,
        llm_relation_scores=pd.DataFrame(columns=SCORE_COLUMNS),
        llm_parse_stats=pd.DataFrame(columns=STATS_COLUMNS),
    )
    return vocab, train, make_split(24, NAMES), make_split(24, NAMES), tables


TRAINING = {
    "prompt": ENSEMBLE,
    "loop": {
        "epochs": 3,
        "batch_size": 16,
        "lr": 1e-2,
        "seed": 0,
        "ks": [1, 2],
        "device": "cpu",
    },
    "selection": {"protocol": "seen", "metric": "seen/mAP"},
    "model": {
        "config": "c2srt_small",
        "overrides": {"embed_dim": D, "ist.heads": 2, "ist.hidden_dim": 8, "isr.max_patches": 2},
    },
    "registry": {"dataset": "toy"},
}
BACKBONE = {"embed_dim": D, "logit_scale": 10.0, "backbone_id": "toy"}
RELATION = {"source": "llm", "k": 2, "fallback": "similarity", "seed": 0}


def test_deep_merge_and_variant_params_do_not_mutate():
    base = {"loop": {"epochs": 20, "lr": 1.0}, "model": {"overrides": {}}}
    merged = variant_training_params(
        base, {"loop": {"epochs": 2}}, {"training": {"model": {"overrides": {"use_ist": False}}}}, seed=7
    )
    assert merged["loop"] == {"epochs": 2, "lr": 1.0, "seed": 7, "resume": False}
    assert merged["model"]["overrides"] == {"use_ist": False}
    assert base == {"loop": {"epochs": 20, "lr": 1.0}, "model": {"overrides": {}}}
    assert deep_merge({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}


def test_the_alignment_switch_folds_into_the_overrides():
    base = {"loop": {"epochs": 2}, "model": {"config": "c", "alignment": "cosine", "overrides": {"a": 1}}}
    cosine = variant_training_params(base, {}, {}, seed=0)
    assert cosine["model"] == {"config": "c", "overrides": {"a": 1}}  # the default leaves no trace (row keys)
    pico = variant_training_params({**base, "model": {**base["model"], "alignment": "pico"}}, {}, {}, seed=0)
    assert pico["model"]["overrides"] == {"a": 1, "alignment": "pico"} and "alignment" not in pico["model"]
    variant = {"training": {"model": {"overrides": {"alignment": "pico"}}}}
    assert variant_training_params(base, {}, variant, seed=0)["model"]["overrides"]["alignment"] == "pico"


@pytest.mark.slow
def test_run_ablation_one_row_per_variant_and_seed_with_overrides_applied():
    vocab, train, val, test, tables = _world()
    ablation = {
        "seeds": [0, 1],
        "common": {"loop": {"epochs": 2}},
        "baselines": ["zero_shot", "mkt_style"],
        "mkt_k": 16,
        "variants": [
            {"name": "no IST", "table": "T3", "training": {"model": {"overrides": {"use_ist": False}}}},
            {"name": "full", "table": "T3"},
            {"name": "random", "table": "T4", "relation_source": "random"},
            {"name": "single", "table": "T5", "training": {"prompt": "a photo of a {}."}},
        ],
    }
    plan, computed = _plan_and_run(ablation, pd.DataFrame())
    results, runs = collect_ablation(plan, computed)
    # MLflow takes numbers only: the per-category AP (JSON) stays in the results, not in the runs' metrics
    assert all(isinstance(v, float) for run in runs for v in run["metrics"].values())
    assert "test/category_ap" in results.columns
    assert len(results) == 2 + 4 * 2 and len(runs) == len(results)
    no_ist = results[results.variant == "no IST"]
    assert not no_ist.trainable.any()  # ISR without IST has no trainable parameter: evaluated as is
    full = results[results.variant == "full"]
    assert full.trainable.all() and (full.epoch >= 1).all()
    params = json.loads(full.params.iloc[0])
    assert params["loop"]["epochs"] == 2 and params["loop"]["seed"] == 0
    assert json.loads(results[results.variant == "single"].params.iloc[0])["prompt"] == "a photo of a {}."
    assert set(results[results.variant == "random"].relation_source) == {"random"}
    for column in ("test/zsl/mAP", "test/gzsl/mAP", "test/gzsl/F1_at_2"):
        assert results[column].between(0, 1).all()
    summary, markdown, figure = summarise_ablation(
        results, TRAINING | {"loop": {**TRAINING["loop"]}}, ablation, _world()[4]["category_split"]
    )
    assert len(figure.axes) == 1  # the tables' mAP bars
    assert set(summary.variant) == {"zero_shot", "mkt_style", "no IST", "full", "random", "single"}
    assert "±" in summary[summary.variant == "full"]["mAP"].iloc[0]
    assert "### T3" in markdown and "| variant | setting | task |" in markdown
    assert "frozen, epoch " in summary[summary.variant == "full"]["setting"].iloc[0]
    # the rows of one seed differ from the other (seeds really applied) for a trained variant
    assert full["test/gzsl/mAP"].nunique() == 2 or full["test/zsl/mAP"].nunique() == 2
    assert len(computed) == plan["key"].nunique() == len(plan)  # every configuration computed once

    # A re-run finds every result stored: nothing is computed again, and the results are the same.
    plan_again, nothing = _plan_and_run(ablation, computed)
    assert nothing.empty and plan_again["key"].tolist() == plan["key"].tolist()
    again, _ = collect_ablation(plan_again, computed)
    pd.testing.assert_frame_equal(again, results)

    # One more seed: only its rows are computed.
    _, extra = _plan_and_run(ablation | {"seeds": [0, 1, 2]}, computed)
    assert len(extra) == 4


def _plan_and_run(
    ablation: dict, stored: pd.DataFrame, backbone_spec: dict | None = None, coop: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan, and the rows ``run_ablation`` yields given what is ``stored`` (empty when nothing new)."""
    vocab, train, val, test, tables = _world()
    plan = plan_ablation(*_plan_inputs(), BACKBONE, TRAINING, ablation, RELATION)
    context = TrainingContext(
        BACKBONE,
        backbone_spec or {"model_name": "ovmlr-test-unused"},  # frozen variants never load the backbone
        pd.DataFrame(),
        ("a photo of a {}.",),
    )
    chunks = run_ablation(
        plan,
        stored,
        bundle_ablation_data(train, val, test, context),
        vocab,
        tables["category_split"],
        tables["text_features"],
        tables["train_labels"],
        tables["category_neighbours"],
        tables["llm_relation_scores"],
        tables["llm_parse_stats"],
        RELATION,
        coop or {},
    )
    rows = [c for c in chunks if not c.empty]
    return plan, (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame())


def _plan_inputs() -> tuple:
    """The data arguments of ``plan_ablation``, from the toy world."""
    _, train, val, test, tables = _world()
    return train, val, test, tables["category_split"], tables["text_features"], tables["llm_relation_scores"]


def test_plan_keys_follow_parameters_and_data_not_names():
    ablation = {
        "seeds": [0],
        "variants": [
            {"name": "full", "table": "T3"},
            {"name": "LLM", "table": "T4", "relation_source": "llm"},
            {"name": "random", "table": "T4", "relation_source": "random"},
        ],
    }
    args = _plan_inputs()
    plan = plan_ablation(*args, BACKBONE, TRAINING, ablation, RELATION)
    keys = dict(zip(plan["variant"], plan["key"], strict=True))
    assert keys["full"] == keys["LLM"] != keys["random"]  # the same configuration in two tables: one key
    other_k = plan_ablation(*args, BACKBONE, TRAINING, ablation, RELATION | {"k": 3})
    assert keys["full"] not in set(other_k["key"])  # relation parameters are part of the key
    other_backbone = plan_ablation(*args, BACKBONE | {"backbone_id": "other"}, TRAINING, ablation, RELATION)
    assert not set(other_backbone["key"]) & set(plan["key"])
    with pytest.raises(ValueError, match=r"ablation.variants\[0\] lacks \['table'\]"):
        plan_ablation(*args, BACKBONE, TRAINING, {"seeds": [0], "variants": [{"name": "x"}]}, RELATION)


def test_collect_names_a_missing_result():
    args = _plan_inputs()
    plan = plan_ablation(
        *args, BACKBONE, TRAINING, {"seeds": [3], "variants": [{"name": "v", "table": "T"}]}, RELATION
    )
    with pytest.raises(ValueError, match="no stored ablation result for .*'variant': 'v', 'seed': 3"):
        collect_ablation(plan, pd.DataFrame({"key": ["another"], "test/zsl/mAP": [0.1]}))


@pytest.mark.slow
def test_nested_runs_log_the_overridden_params(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("ablation-test")
    ds = MlflowNestedRunsDataset(parent_run_name="parent")
    ds.save(
        [
            {
                "run_name": "T3 | no IST | seed 0",
                "params": {"model.overrides.use_ist": False, "loop.seed": 0},
                "metrics": {"test/zsl/mAP": 0.5, "test/gzsl/mAP": float("nan")},
                "tags": {"ovmlr.table": "T3"},
            },
            {"run_name": "T3 | full | seed 1", "params": {"loop.seed": 1}, "metrics": {"test/zsl/mAP": 0.7}},
        ]
    )
    logged = ds.load()
    client = MlflowClient()
    first = client.get_run(logged[0]["run_id"])
    assert first.data.params == {"model.overrides.use_ist": "False", "loop.seed": "0"}
    assert first.data.metrics == {"test/zsl/mAP": 0.5}
    parent_id = first.data.tags["mlflow.parentRunId"]
    assert client.get_run(logged[1]["run_id"]).data.tags["mlflow.parentRunId"] == parent_id
    assert client.get_run(parent_id).info.run_name == "parent"


def test_only_keeps_the_named_variants_in_table_order_and_refuses_an_unknown_name():
    variants = [{"name": "a", "table": "T"}, {"name": "b", "table": "T"}, {"name": "c", "table": "T"}]
    assert run_variants({"variants": variants, "only": None})[1] == variants
    assert [v["name"] for v in run_variants({"variants": variants, "only": ["c", "a"]})[1]] == ["a", "c"]
    with pytest.raises(ValueError, match=r"ablation.only names unknown variant\(s\) \['z'\]"):
        run_variants({"variants": variants, "only": ["a", "z"]})


def test_markdown_table():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert markdown_table(frame) == "| a | b |\n| --- | --- |\n| 1 | x |\n| 2 | y |"


def test_a_row_beside_paper_numbers_states_how_it_differs_from_the_papers_row():
    params = json.dumps({"loop": {"mode": "frozen", "epochs": 2}})
    group = pd.DataFrame({"params": [params], "epoch": [2], "selection": ["val/seen/mAP"]})
    paper = {"mode": "finetune", "epochs": 20}
    text = row_setting(group, paper)
    assert text == (
        "frozen, epoch 2 of 2, by val/seen/mAP; differs from the paper's row: frozen (paper finetune), "
        "2 epochs (paper 20)"
    )
    same = json.dumps({"loop": {"mode": "finetune", "epochs": 20}})
    assert "differs" not in row_setting(group.assign(params=[same]), paper)
    assert (
        row_setting(pd.DataFrame({"params": [json.dumps({"baseline": "zero_shot"})]}), paper)
        == "training-free"
    )


def test_a_sweep_plans_one_row_per_value_and_seed_with_the_parameter_applied():
    ablation = {
        "run": "fig",
        "seeds": [0, 1],
        "variants": [{"name": "ignored in a sweep run", "table": "T3"}],
        "baselines": ["zero_shot"],
        "sweeps": {
            "fig": {
                "figure": "Fig. 5",
                "label": "alpha",
                "parameter": "training.model.overrides.isr.alpha",
                "values": [0.0, 0.5],
                "training": {"loop": {"mode": "frozen"}},
            },
            "k": {"figure": "Fig. 4", "label": "k", "parameter": "relation_mining.k", "values": [1, 2]},
        },
    }
    plan = plan_ablation(*_plan_inputs(), BACKBONE, TRAINING, ablation, RELATION)
    assert plan["variant"].tolist() == ["alpha = 0.0", "alpha = 0.0", "alpha = 0.5", "alpha = 0.5"]
    assert plan["sweep_value"].tolist() == [0.0, 0.0, 0.5, 0.5] and plan["key"].nunique() == 4
    params = json.loads(plan["params"].iloc[2])
    assert params["model"]["overrides"]["isr"]["alpha"] == 0.5 and params["loop"]["mode"] == "frozen"
    k_plan = plan_ablation(*_plan_inputs(), BACKBONE, TRAINING, ablation | {"run": "k"}, RELATION)
    assert [json.loads(r)["k"] for r in k_plan["relation"]] == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="ablation.run must be 'tables' or a sweep"):
        plan_ablation(*_plan_inputs(), BACKBONE, TRAINING, ablation | {"run": "fig99"}, RELATION)
    with pytest.raises(ValueError, match="parameter must be training"):
        sweep_variants("bad", {"figure": "F", "label": "x", "parameter": "backbone.lr", "values": [1]})


def test_sweep_summary_curves_and_best_value_per_category():
    results = pd.DataFrame(
        {
            "sweep_value": [1.0, 1.0, 2.0, 2.0],
            "seed": [0, 1, 0, 1],
            "test/zsl/mAP": [0.1, 0.3, 0.5, 0.5],
            "test/gzsl/mAP": [0.2, 0.2, 0.4, 0.6],
            "test/category_ap": [
                json.dumps({"a": 0.9, "d": 0.1}),
                json.dumps({"a": 0.7, "d": 0.3}),
                json.dumps({"a": 0.2, "d": 0.8}),
                json.dumps({"a": 0.2, "d": None}),
            ],
        }
    )
    sweep = {
        "figure": "Fig. 4",
        "label": "k",
        "parameter": "relation_mining.k",
        "values": [1, 2],
        "per_category": True,
    }
    category_split = pd.DataFrame({"category_id": range(5), "name": NAMES, "role": ROLES})
    curve, markdown, figure = summarise_ablation(
        results, TRAINING, {"run": "fig4", "sweeps": {"fig4": sweep}}, category_split
    )
    zsl = curve[curve.task == "zsl"].set_index("value")
    assert zsl.loc[1.0, "mean"] == pytest.approx(20.0) and zsl.loc[1.0, "std"] == pytest.approx(10.0)
    assert "| 2 | 50.00 ± 0.00 | 50.00 ± 10.00 | 2 |" in markdown
    best = best_value_per_category(results, dict(zip(NAMES, ROLES, strict=True)))
    assert best.set_index("category")["best_value"].to_dict() == {"a": 1.0, "d": 2.0}  # d: mean(0.8) at k=2
    assert best.set_index("category")["role"].to_dict() == {"a": "seen", "d": "unseen"}
    assert len(figure.axes) == 3  # ZSL, GZSL curves and Fig. 6a


def test_category_ap_gain_compares_two_rows_per_category():
    from ovmlr.reporting.sweeps import category_ap_gain

    results = pd.DataFrame(
        {
            "variant": ["with", "with", "without"],
            "test/category_ap": [
                json.dumps({"a": 0.5, "d": 0.2}),
                json.dumps({"a": 0.7, "d": None}),
                json.dumps({"a": 0.4, "d": 0.3}),
            ],
        }
    )
    gain = category_ap_gain(results, "with", "without")
    assert gain["category"].tolist() == ["a", "d"]
    assert gain["gain"].tolist() == pytest.approx([0.2, -0.1])  # a: mean(0.5, 0.7) - 0.4; d: NaN skipped
    assert category_ap_gain(results, "with", "missing").empty


def test_the_prompt_tuning_row_trains_and_is_tested():
    """The CoOp row: text features from a learnt context, then trained and tested like any row."""
    tiny_clip = {
        "embed_dim": D,
        "vision_cfg": {"image_size": 32, "patch_size": 16, "width": 32, "layers": 1, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    spec = {"model_name": "ovmlr-test-tiny-clip", "model_config": tiny_clip, "allow_random_weights": True}
    ablation = {
        "seeds": [0],
        "variants": [{"name": "CoOp", "table": "T5", "training": {"prompt": "__coop__"}}],
    }
    _, row = _plan_and_run(
        ablation, pd.DataFrame(), spec, {"n_ctx": 4, "init": "a photo of a", "epochs": 1, "batch_size": 16}
    )
    assert len(row) == 1  # one computed row
    assert 0 <= row["test/gzsl/mAP"].iloc[0] <= 1 and row["trainable"].iloc[0]
