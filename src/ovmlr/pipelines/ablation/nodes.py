"""Nodes of the ``ablation`` pipeline: the paper's Tables 3–5 as parameter overrides of one training recipe.

Every variant is the ``training`` parameters deep-merged with the variant's overrides, trained with the same
``fit`` loop, seeds and splits, selected on the validation split and scored on the test split. Variants with
no trainable parameter (e.g. ISR without IST on frozen features) are evaluated as they are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ovmlr.alignment.pico import PICOConfig
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.params import fingerprint
from ovmlr.core.vocabulary import COOP_PROMPT, Vocabulary, build_vocabulary_from_tables, text_prompt
from ovmlr.evaluation.ablation_plan import (
    row_relation,
    row_setting,
    run_variants,
    variant_training_params,
)
from ovmlr.evaluation.scoring import (
    BASELINES,
    baseline_scores,
    effective_mkt_k,
    fit_zero_shot_pico,
    score_trained,
)
from ovmlr.evaluation.summary import RETRIEVAL_KS, category_ap_by_name, split_metrics
from ovmlr.prompting.vocabulary import coop_vocabulary
from ovmlr.relations.select import relation_neighbours
from ovmlr.reporting.sweeps import (
    best_value_per_category,
    category_ap_gain,
    plot_sweep,
    plot_table_run,
    sweep_curve,
    sweep_markdown,
)
from ovmlr.reporting.tables import markdown_table
from ovmlr.selection import train_and_select
from ovmlr.training.checkpoints import MemoryCheckpointStore
from ovmlr.training.distributed import DistributedConfig
from ovmlr.training.recipe import TrainingRecipe
from ovmlr.training.runs import TrainingContext, plan_runs

logger = logging.getLogger(__name__)

TABLE_METRICS = ("mAP", "F1_at_{k0}", "F1_at_{k1}")


def _variant_vocabulary(
    relation: dict[str, Any], mined: dict[str, Any], prompt: str, tables: dict[str, pd.DataFrame]
) -> Vocabulary:
    """The vocabulary of a row: the mined neighbours when the row's relation parameters are the stage's,
    else neighbours selected again from the row's source (the LLM's stored scores included)."""
    neighbours = tables["category_neighbours"]
    if relation == row_relation(mined, {}):
        pass  # the relation_mining stage's own neighbours
    elif relation["source"] == "llm" and mined["source"] != "llm":
        raise ValueError(
            "an ablation variant asks for LLM relations but relation_mining.source is "
            f"{mined['source']!r}, "
            "so no LLM relations were mined: run `kedro run --pipeline=relation_mining --params "
            "relation_mining.source=llm` first, or drop the variant"
        )
    else:
        _, neighbours, _ = relation_neighbours(
            tables["category_split"],
            tables["text_features"],
            tables["train_labels"],
            tables["llm_relation_scores"],
            tables["llm_parse_stats"],
            relation["source"],
            relation["k"],
            relation["fallback"],
            relation["seed"],
            relation.get("wordnet"),
        )
    return build_vocabulary_from_tables(
        tables["category_split"], tables["text_features"], neighbours, text_prompt(prompt)
    )


@dataclass(frozen=True)
class AblationData:
    """What every ablation row runs on: the feature splits and the training context."""

    train: FeatureSplit
    val: FeatureSplit
    test: FeatureSplit
    context: TrainingContext


def train_and_test(
    params: dict[str, Any], vocabulary: Vocabulary, data: AblationData
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one configuration through the one train-and-select path (``selection.train_and_select``,
    checkpoints in memory), and test the selected model through the one scoring path
    (``evaluation.scoring.score_trained``), as the training pipeline does.

    Args:
        params: The row's ``training`` parameters (a CoOp row's ``coop`` settings are only part of its key).
        vocabulary: The row's vocabulary (prompt set and neighbours).
        data: The feature splits and the training context.
    """
    recipe = replace(
        TrainingRecipe.from_params({k: v for k, v in params.items() if k != "coop"}),
        distributed=DistributedConfig(),
    )
    plan = plan_runs(recipe, vocabulary, data.train, data.val, data.context)
    trained = train_and_select(plan, data.context, MemoryCheckpointStore())
    loop = recipe.loop
    encoded, scores = score_trained(
        trained, data.test, data.context.image_manifest, recipe.finetune.image_root, loop.eval_batch_size
    )
    info = trained.info
    facts = {k: info[k] for k in ("trainable", "epoch", "zero_shot_weight")} | {
        "mode": loop.mode,
        "selection": info["selection_metric"],
    }
    if info["trainable"]:
        facts["val_selection"] = info["selection_value"]
    return test_metrics(scores, encoded.labels, vocabulary, loop.ks), facts


def test_metrics(
    scores: np.ndarray, labels: np.ndarray, vocabulary: Vocabulary, ks: tuple[int, ...]
) -> dict[str, Any]:
    """ZSL/GZSL test metrics and image↔text retrieval recall (:func:`ovmlr.evaluation.summary.split_metrics`),
    plus every category's AP as JSON (``test/category_ap``, for Fig. 6)."""
    found = split_metrics(scores, labels, vocabulary.unseen_mask, ks, RETRIEVAL_KS)
    metrics: dict[str, Any] = {f"test/{k}": v for k, v in found.items()}
    metrics["test/category_ap"] = json.dumps(category_ap_by_name(scores, labels, vocabulary.names))
    return metrics


def baseline_metrics(
    name: str, data: AblationData, vocabulary: Vocabulary, params: dict[str, Any]
) -> dict[str, Any]:
    """Test metrics of a training-free baseline (:func:`ovmlr.evaluation.scoring.baseline_scores`, the
    evaluation's): ``zero_shot``, ``zero_shot_pico`` (PICO's weights fitted on the training split) or
    ``mkt_style``."""
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    weights = None
    if name == "zero_shot_pico":
        seen = vocabulary.subset("seen")
        config = PICOConfig.from_params(params.get("pico"))
        fitted = fit_zero_shot_pico(data.train.global_feats, data.train.labels, seen.text, config)
        weights = torch.as_tensor(fitted.weights, dtype=torch.float32)
    mkt_k = effective_mkt_k(int(params["mkt_k"]), data.test.patch_feats.shape[1])
    device = resolve_device(str(params.get("device", "cpu")))
    scores = baseline_scores(data.test, vocabulary.text, mkt_k, 256, device, weights)[name]
    return test_metrics(scores, data.test.labels, vocabulary, tuple(int(k) for k in params["ks"]))


def bundle_ablation_data(
    train_split: FeatureSplit,
    val_split: FeatureSplit,
    test_split: FeatureSplit,
    training_context: TrainingContext,
) -> AblationData:
    """The splits and the training context every row runs on, as one input of the runner."""
    return AblationData(train_split, val_split, test_split, training_context)


PLAN_COLUMNS = [
    "key",
    "kind",
    "table",
    "variant",
    "seed",
    "relation_source",
    "relation",
    "sweep_value",
    "params",
]


def _data_id(
    splits: tuple[FeatureSplit, ...],
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    llm_relation_scores: pd.DataFrame,
    backbone_info: dict[str, Any],
) -> str:
    """What every ablation result depends on besides its parameters: backbone, splits, texts, LLM scores."""
    parts: list[Any] = [backbone_info.get("backbone_id")]
    for split in splits:
        parts += [split.image_ids.astype(str), split.labels]
    parts += [
        category_split.to_json(orient="split"),
        text_features.drop(columns="embedding").to_json(orient="split"),
        np.stack(text_features["embedding"].to_numpy()).astype(np.float32)
        if len(text_features)
        else np.zeros(0),
        llm_relation_scores.to_json(orient="split"),
    ]
    return fingerprint(*parts)


def _plan_rows(
    training_params: dict[str, Any], ablation_params: dict[str, Any], relation_params: dict[str, Any]
) -> list[tuple]:
    """``(kind, table, name, seed, relation, sweep value, params)`` of every baseline and (variant, seed).

    Raises:
        ValueError: When a variant lacks ``name`` or ``table``.
    """
    rows = []
    mkt_k = int(ablation_params.get("mkt_k", 16))
    run, variants = run_variants(ablation_params)
    if run == "tables":
        for name in ablation_params.get("baselines", []):
            params = {"baseline": name, "mkt_k": mkt_k, "ks": list(training_params["loop"]["ks"])}
            if name == "zero_shot_pico":
                params["pico"] = training_params.get("pico", {})
            rows.append(("baseline", "Baselines", name, 0, {}, None, params))
    for i, variant in enumerate(variants):
        missing = [k for k in ("name", "table") if k not in variant]
        if missing:
            raise ValueError(f"ablation.variants[{i}] lacks {missing}")
        relation = row_relation(relation_params, variant)
        for seed in ablation_params["seeds"]:
            merged = variant_training_params(
                training_params, ablation_params.get("common", {}), variant, seed
            )
            if merged.get("prompt") == COOP_PROMPT:
                merged["coop"] = ablation_params.get("coop", {})  # its settings are part of its key
            value = variant.get("sweep_value")
            rows.append(("variant", variant["table"], variant["name"], int(seed), relation, value, merged))
    return rows


def plan_ablation(  # noqa: PLR0913 - a Kedro node: one argument per catalog dataset
    train_split: FeatureSplit,
    val_split: FeatureSplit,
    test_split: FeatureSplit,
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    llm_relation_scores: pd.DataFrame,
    backbone_info: dict[str, Any],
    training_params: dict[str, Any],
    ablation_params: dict[str, Any],
    relation_params: dict[str, Any],
) -> pd.DataFrame:
    """One row per baseline and per (variant, seed), with the key of its result.

    The variants are the tables' (``ablation.run: tables``) or one sweep's (``ablation.run: fig4_k``...). A
    variant's relation parameters are the relation_mining stage's with its ``relation_source`` /
    ``relation`` overrides.

    The key hashes the row's full training parameters (base ← common ← variant ← seed), its relation
    parameters and the data it runs on, never the table or variant name: the same configuration in two
    tables (the full model) has one key and trains once, and a result computed by an earlier run is found
    again.

    Raises:
        ValueError: When a variant lacks ``name`` or ``table``.
    """
    data_id = _data_id(
        (train_split, val_split, test_split),
        category_split,
        text_features,
        llm_relation_scores,
        backbone_info,
    )
    rows = _plan_rows(training_params, ablation_params, relation_params)
    dumps = partial(json.dumps, sort_keys=True, default=str)
    plan = pd.DataFrame(
        [
            {
                "key": fingerprint(data_id, kind, dumps(relation), dumps(params)),
                "kind": kind,
                "table": table,
                "variant": name,
                "seed": seed,
                "relation_source": relation.get("source", ""),
                "relation": dumps(relation),
                "sweep_value": np.nan if value is None else float(value),
                "params": dumps(params),
            }
            for kind, table, name, seed, relation, value, params in rows
        ],
        columns=PLAN_COLUMNS,
    )
    return plan


def _compute_row(
    row: Any,
    ablation_data: AblationData,
    vocabulary: Vocabulary,
    tables: dict[str, pd.DataFrame],
    relation_params: dict[str, Any],
    coop_params: dict[str, Any],
) -> tuple[dict[str, float], dict[str, Any]]:
    """``(test metrics, facts)`` of one planned row: a baseline scored, or a variant trained and tested."""
    params = json.loads(row.params)
    if row.kind == "baseline":
        metrics = baseline_metrics(params["baseline"], ablation_data, vocabulary, params)
        return metrics, {"trainable": False, "epoch": 0, "mode": ""}
    variant_vocabulary = _variant_vocabulary(
        json.loads(row.relation), relation_params, params["prompt"], tables
    )
    if params["prompt"] == COOP_PROMPT:
        variant_vocabulary = coop_vocabulary(
            variant_vocabulary,
            ablation_data.train,
            ablation_data.context.backbone_spec,
            coop_params,
            params["loop"]["seed"],
        )
    return train_and_test(params, variant_vocabulary, ablation_data)


def run_ablation(  # noqa: PLR0913 - a Kedro node: one argument per catalog dataset
    ablation_plan: pd.DataFrame,
    ablation_rows_before: pd.DataFrame,
    ablation_data: AblationData,
    vocabulary: Vocabulary,
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    train_labels: pd.DataFrame,
    category_neighbours: pd.DataFrame,
    llm_relation_scores: pd.DataFrame,
    llm_parse_stats: pd.DataFrame,
    relation_params: dict[str, Any],
    coop_params: dict[str, Any],
) -> Iterator[pd.DataFrame]:
    """Train and test every planned configuration whose result is not stored yet.

    A generator: each result is yielded (one row: ``key``, facts, ``test/*`` metrics) as soon as it is
    computed, and the catalog appends it to the stored results at once. An interrupted ablation therefore
    resumes where it stopped, and a re-run with more seeds or variants trains only what is new.
    """
    done = set(ablation_rows_before["key"]) if "key" in ablation_rows_before.columns else set()
    todo = ablation_plan.drop_duplicates("key")
    todo = todo[~todo["key"].isin(done)]
    logger.info(
        "ablation: %d planned results, %d stored by an earlier run, %d to compute",
        ablation_plan["key"].nunique(),
        ablation_plan["key"].nunique() - len(todo),
        len(todo),
    )
    tables = {
        "category_split": category_split,
        "text_features": text_features,
        "train_labels": train_labels,
        "category_neighbours": category_neighbours,
        "llm_relation_scores": llm_relation_scores,
        "llm_parse_stats": llm_parse_stats,
    }
    yielded = False
    for row in todo.itertuples(index=False):
        metrics, facts = _compute_row(row, ablation_data, vocabulary, tables, relation_params, coop_params)
        logger.info(
            "ablation %s / %s seed %d: %s",
            row.table,
            row.variant,
            row.seed,
            {k: round(v, 4) for k, v in metrics.items() if k.endswith("mAP")},
        )
        yielded = True
        yield pd.DataFrame([{"key": row.key, **facts, **metrics}])
    if not yielded:
        yield pd.DataFrame({"key": pd.Series(dtype=str)})  # nothing new: the store is left as it is


def collect_ablation(
    ablation_plan: pd.DataFrame, ablation_rows: pd.DataFrame
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The planned rows with their stored results, and the same as MLflow child runs.

    Raises:
        ValueError: When a planned row has no stored result.
    """
    stored = ablation_rows.drop_duplicates("key", keep="last") if len(ablation_rows) else ablation_rows
    if "key" not in stored.columns:
        stored = pd.DataFrame({"key": pd.Series(dtype=str)})
    results = ablation_plan.merge(stored, on="key", how="left", validate="many_to_one")
    missing = results.loc[~results["key"].isin(set(stored["key"])), ["table", "variant", "seed"]]
    if not missing.empty:
        raise ValueError(f"no stored ablation result for {missing.to_dict('records')[:5]}")
    runs = [
        {
            "run_name": f"{r['table']} | {r['variant']} | seed {r['seed']}",
            "params": _flat_params(json.loads(r["params"])) | {"relation_source": r["relation_source"]},
            "metrics": {
                k: v
                for k, v in r.items()
                if k.startswith("test/") and isinstance(v, int | float) and pd.notna(v)
            },
            "tags": {"ovmlr.table": r["table"], "ovmlr.variant": r["variant"]},
        }
        for r in results.to_dict("records")
    ]
    return results, runs


def _flat_params(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flat_params(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def _cell(values: pd.Series) -> str:
    values = values.dropna() * 100
    if values.empty:
        return "n/a"
    return f"{values.mean():.1f}" if len(values) == 1 else f"{values.mean():.1f} ± {values.std(ddof=0):.1f}"


def summarise_ablation(
    results: pd.DataFrame,
    training_params: dict[str, Any],
    ablation_params: dict[str, Any],
    category_split: pd.DataFrame,
) -> tuple[pd.DataFrame, str, Figure]:
    """Paper-shaped tables (mean ± std over seeds, in %), with the paper's NUS-WIDE numbers beside them
    when the dataset is NUS-WIDE, and a figure: the tables' mAP bars, or a sweep's curves (Fig. 4, 5, 9)
    with, for a relation_mining sweep, each category's best value (Fig. 6a).

    Returns:
        The summary table, the same as markdown, and the figure.
    """
    run = ablation_params.get("run", "tables")
    if run != "tables":
        return _summarise_sweep(results, run, ablation_params["sweeps"][run], category_split)
    summary, markdown = _summarise_tables(results, training_params, ablation_params)
    roles = dict(zip(category_split["name"].astype(str), category_split["role"].astype(str), strict=True))
    gain = None
    if ablation_params.get("fig6b"):
        with_row, without_row = ablation_params["fig6b"]["with"], ablation_params["fig6b"]["without"]
        gain = category_ap_gain(results, with_row, without_row)
        gain.attrs["title"] = f"Fig. 6b: AP of '{with_row}' minus '{without_row}'"
        if len(gain):
            unseen = gain[gain["category"].map(roles) == "unseen"]["gain"]
            better = int((gain["gain"] > 0).sum())
            markdown += (
                f"\nFig. 6b: '{with_row}' vs '{without_row}': AP higher for {better} of "
                f"{len(gain)} categories ({int((unseen > 0).sum())} of {len(unseen)} unseen), mean change "
                f"{100 * gain['gain'].mean():+.2f} points.\n"
            )
    return summary, markdown, plot_table_run(summary, gain=gain, roles=roles)


def _summarise_sweep(
    results: pd.DataFrame, run: str, sweep: dict[str, Any], category_split: pd.DataFrame
) -> tuple[pd.DataFrame, str, Figure]:
    curve = sweep_curve(results)
    best = None
    if sweep.get("per_category"):
        roles = dict(zip(category_split["name"].astype(str), category_split["role"].astype(str), strict=True))
        best = best_value_per_category(results, roles)
    figure = plot_sweep(curve, sweep["label"], sweep["figure"], best)
    markdown = f"### {sweep['figure']}: {sweep['label']} ({run})\n\n" + sweep_markdown(curve, sweep["label"])
    if best is not None and len(best):
        counts = best.groupby(["role", "best_value"]).size().unstack(fill_value=0)
        markdown += "\nCategories whose test AP is best at each value:\n\n" + markdown_table(
            counts.reset_index()
        )
    return curve, markdown, figure


def _summarise_tables(
    results: pd.DataFrame, training_params: dict[str, Any], ablation_params: dict[str, Any]
) -> tuple[pd.DataFrame, str]:
    """The table run's summary and markdown (see :func:`summarise_ablation`)."""
    k0, k1 = (int(k) for k in training_params["loop"]["ks"][:2])
    columns = [m.format(k0=k0, k1=k1) for m in TABLE_METRICS]
    paper = {(v["table"], v["name"]): v.get("paper", {}) for v in ablation_params["variants"]}
    paper |= {("Baselines", k): v for k, v in ablation_params.get("paper_baselines", {}).items()}
    show_paper = training_params.get("registry", {}).get("dataset") == "nus_wide"
    records = []
    reference = ablation_params.get("paper_setting", {"mode": "finetune", "epochs": 20})
    for (table, variant), group in results.groupby(["table", "variant"], sort=False):
        has_paper = bool(paper.get((table, variant)))
        setting = row_setting(group, reference if has_paper else None)
        for task in ("zsl", "gzsl"):
            record = {"table": table, "variant": variant, "setting": setting, "task": task.upper()}
            record["seeds"] = len(group)
            record |= {c: _cell(group[f"test/{task}/{c}"]) for c in columns}
            if show_paper:
                ref = paper.get((table, variant), {}).get(task)
                record["paper (NUS-WIDE)"] = " / ".join(f"{x:.1f}" for x in ref) if ref else ""
            records.append(record)
    summary = pd.DataFrame(records)
    parts = []
    for table, frame in summary.groupby("table", sort=False):
        parts.append(f"### {table}\n\n" + markdown_table(frame.drop(columns="table")))
    return summary, "\n\n".join(parts) + "\n"
