"""The model card of a registered model: what it was trained on, with what, and how well it did."""

from __future__ import annotations

from .model import TrainedC2SRT


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
        "`top_labels`, `top_scores`.",
        "",
    ]
    return "\n".join(lines)
