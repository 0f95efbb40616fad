"""The model card of a registered model: what it was trained on, with what, and how well it did."""

from __future__ import annotations

import math

from ovmlr.core.thresholds import LabelThreshold

from .model import TrainedC2SRT

RELIABILITY_PLOT = "threshold_reliability.png"  # the run artifact of the training pipeline's plot


def _weights(trained: TrainedC2SRT) -> str:
    spec = trained.backbone_spec
    if spec.pretrained is None:
        return f"random (seed {spec.random_seed})"
    return spec.pretrained.rsplit("/", 1)[-1]


def model_card(trained: TrainedC2SRT, test_metrics: dict[str, float], dataset: str) -> str:
    """Markdown: dataset, backbone, vocabulary, selection, test metrics and the validation history."""
    info, vocab = trained.info, trained.vocabulary
    n_unseen = int(vocab.unseen_mask.sum())
    spec = trained.backbone_spec
    lines = [
        f"# C²SRT model — dataset `{dataset}`",
        "",
        "| | |",
        "| --- | --- |",
        f"| backbone | `{spec.model_name}` (`{spec.backbone_id}`), weights `{_weights(trained)}` |",
        f"| mode | {trained.mode} |",
        f"| vocabulary | {len(vocab) - n_unseen} seen + {n_unseen} unseen categories, "
        f"K = {vocab.neighbours.shape[1]} |",
        f"| prompts | {len(trained.templates)} template(s), e.g. `{trained.templates[0]}` |",
        f"| new label names | text features from the prompts; neighbours by `{trained.neighbour_policy}` |",
        f"| selection | epoch {info.get('epoch')} by val `{info.get('selection_metric')}` = "
        f"{info.get('selection_value', float('nan')):.4f} |",
        "",
        "## Test metrics (%)",
        "",
        "| task | metric | value |",
        "| --- | --- | --- |",
    ]
    for key, value in sorted(test_metrics.items()):
        _, task, metric = key.split("/", 2) if key.count("/") >= 2 else ("", "", key)
        lines.append(f"| {task.upper()} | {metric} | {100 * value:.2f} |")
    lines += _lineage(trained) + _thresholds(trained)
    history = info.get("history") or []
    if history:
        keys = [k for k in history[0] if k.startswith("val/") and k.endswith("mAP")]
        lines += ["", "## Validation history", "", "| epoch | " + " | ".join(keys) + " |"]
        lines.append("| --- |" + " --- |" * len(keys))
        for row in history:
            cells = " | ".join(f"{100 * row.get(k, float('nan')):.2f}" for k in keys)
            lines.append(f"| {int(row['epoch'])} | {cells} |")
    lines += [
        "",
        "## Use",
        "",
        "Input: one image per row (`image`: base64 of the file bytes, or `path`); params `labels` "
        "(any names; none = the vocabulary above) and `top_k`. Output: a score column per label, "
        "`top_labels`, `top_scores` and `tags` (the labels at or above their threshold below; params "
        "`threshold` sets one threshold for every label instead).",
        "",
    ]
    return "\n".join(lines)


def _lineage(trained: TrainedC2SRT) -> list[str]:
    """The parent model of a fine-tuned model (``info['lineage']``), else nothing."""
    lineage = trained.info.get("lineage")
    if not lineage:
        return []
    kept = lineage.get("kept_labels") or []
    return [
        "",
        "## Lineage",
        "",
        f"Fine-tuned from `{lineage.get('parent_uri')}` (registered model `{lineage.get('parent_name')}` "
        f"version {lineage.get('parent_version')}, dataset `{lineage.get('parent_dataset')}`): its head was "
        f"the starting point. Vocabulary `{lineage.get('vocabulary')}`: {len(kept)} of its labels kept"
        + (f" ({', '.join(f'`{n}`' for n in kept[:10])}{', …' if len(kept) > 10 else ''})." if kept else "."),
    ]


def _cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _row(name: str, t: LabelThreshold) -> str:
    return (
        f"| {name} | {_cell(t.threshold, 4)} | {_cell(t.precision)} | {_cell(t.recall)} | {t.positives} | "
        f"{t.source}{' — ' + t.note if t.note else ''} |"
    )


def _thresholds(trained: TrainedC2SRT) -> list[str]:
    """Per-label precision and recall at the threshold on the data it was chosen on, and the reliability."""
    thresholds = trained.thresholds
    if thresholds is None:
        return ["", "## Decision thresholds", "", "None: this model was trained before calibration."]
    lines = [
        "",
        f"## Decision thresholds (rule `{thresholds.rule}`)",
        "",
        "A label is a tag when its score is at or above its threshold. Seen labels: chosen on the "
        "validation split (`val`); new names: one threshold chosen on the class-disjoint validation's "
        "pseudo-unseen categories (`disjoint-val`); never on test. Precision and recall are those on the "
        "data the threshold was chosen on.",
        "",
        "| label | threshold | precision | recall | positives | chosen on |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    if thresholds.new_name is not None:
        lines.append(_row("*(any new name)*", thresholds.new_name))
    lines += [_row(name, t) for name, t in thresholds.labels.items()]
    lines += ["", f"Reliability plot: `{RELIABILITY_PLOT}` (run artifact).", ""]
    lines += ["| group | score bin | pairs | observed positive rate |", "| --- | --- | --- | --- |"]
    for group, rows in thresholds.reliability.items():
        lines += [
            f"| {group} | [{r['lower']:.3f}, {r['upper']:.3f}] | {r['count']} | {r['positive_rate']:.3f} |"
            for r in rows
        ]
    return lines
