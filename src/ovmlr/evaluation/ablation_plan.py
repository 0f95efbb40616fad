"""The ablation runner's parameter sets: each row's training and relation parameters, the paper's
hyper-parameter sweeps as rows, and how a row ran compared with the paper's."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ovmlr.models.config import C2SRTConfig, deep_merge


def variant_training_params(
    training: dict[str, Any], common: dict[str, Any], variant: dict[str, Any], seed: int
) -> dict[str, Any]:
    """The ``training`` parameters of one variant and seed (base ← common ← variant ← seed).

    The project's ``model.alignment`` switch is folded into ``model.overrides`` (where a variant's own
    ``alignment`` override wins) and dropped at the model's default (``cosine``), so a row's parameters —
    and the key of its stored result — name the alignment only when it is not the paper's cosine.
    """
    merged = deep_merge(deep_merge(training, common), variant.get("training", {}))
    merged["loop"] = {**merged["loop"], "seed": int(seed), "resume": False}
    if "model" in merged and "alignment" in merged["model"]:
        model = dict(merged["model"])
        alignment = model.pop("alignment")
        overrides = dict(model.get("overrides") or {})
        if alignment is not None and alignment != C2SRTConfig.alignment:
            overrides.setdefault("alignment", alignment)
        model["overrides"] = overrides
        merged["model"] = model
    return merged


RELATION_KEYS = ("source", "k", "fallback", "seed", "wordnet")


def row_relation(relation_params: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """The relation parameters of one row: the relation_mining stage's, with the variant's
    ``relation_source`` and ``relation`` overrides (e.g. ``{k: 8}`` in the Fig. 4 sweep)."""
    relation = {key: relation_params.get(key) for key in RELATION_KEYS}
    relation = deep_merge(relation, variant.get("relation", {}))
    if "relation_source" in variant:
        relation["source"] = variant["relation_source"]
    return relation


def _nested(path: str, value: Any) -> dict[str, Any]:
    """``"a.b.c", v`` → ``{"a": {"b": {"c": v}}}``."""
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def sweep_variants(name: str, sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """The variants of a sweep (the paper's Fig. 4, 5, 9): one per value of one parameter.

    ``sweep``: ``figure`` (the table name of its rows), ``label``, ``parameter`` (``training.<path>`` or
    ``relation_mining.<key>``), ``values``, and optionally ``training`` / ``relation_source`` applied to every
    value (e.g. finetune mode for the λ sweep).

    Raises:
        ValueError: On a missing key or a parameter outside ``training`` / ``relation_mining``.
    """
    missing = [k for k in ("figure", "label", "parameter", "values") if k not in sweep]
    if missing:
        raise ValueError(f"ablation.sweeps.{name} lacks {missing}")
    stage, _, path = sweep["parameter"].partition(".")
    if stage not in ("training", "relation_mining") or not path:
        raise ValueError(
            f"ablation.sweeps.{name}.parameter must be training.<path> or relation_mining.<key>, "
            f"got {sweep['parameter']!r}"
        )
    variants = []
    for value in sweep["values"]:
        variant = {"name": f"{sweep['label']} = {value}", "table": sweep["figure"], "sweep_value": value}
        variant["training"] = deep_merge(
            sweep.get("training", {}), _nested(path, value) if stage == "training" else {}
        )
        variant["relation"] = _nested(path, value) if stage == "relation_mining" else {}
        if "relation_source" in sweep:
            variant["relation_source"] = sweep["relation_source"]
        variants.append(variant)
    return variants


def run_variants(ablation_params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """``(run name, variants)``: the tables' variants (``run: tables``) or a sweep's (``run: <sweep name>``).

    Raises:
        ValueError: If ``run`` names no sweep.
    """
    run = ablation_params.get("run", "tables")
    if run == "tables":
        return run, only_variants(list(ablation_params["variants"]), ablation_params.get("only"))
    sweeps = ablation_params.get("sweeps", {})
    if run not in sweeps:
        raise ValueError(
            f"ablation.run must be 'tables' or a sweep of ablation.sweeps {sorted(sweeps)}, got {run!r}"
        )
    return run, sweep_variants(run, sweeps[run])


def only_variants(variants: list[dict[str, Any]], only: list[str] | None) -> list[dict[str, Any]]:
    """The variants named in ``only`` (``ablation.only``; ``None``: all of them), in the tables' order.

    Raises:
        ValueError: If ``only`` names a variant the tables do not have.
    """
    if only is None:
        return variants
    names = [v.get("name") for v in variants]
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise ValueError(f"ablation.only names unknown variant(s) {unknown}; known: {names}")
    return [v for v in variants if v.get("name") in set(only)]


def row_setting(group: pd.DataFrame, paper: dict[str, Any] | None) -> str:
    """How a row was run (mode, selected / trained epochs, selection), and how that differs from the paper's
    row when it has paper numbers (``paper``: its ``mode`` and ``epochs``).

    Baselines (training-free) read ``training-free``.
    """
    first = group.iloc[0]
    params = json.loads(first["params"]) if isinstance(first.get("params"), str) else {}
    if "loop" not in params:
        return "training-free"
    mode = params["loop"].get("mode", "frozen")
    epochs = int(params["loop"].get("epochs", 0))
    selected = sorted({int(e) for e in group["epoch"].dropna()}) if "epoch" in group else []
    chosen = "/".join(str(e) for e in selected) or "?"
    text = f"{mode}, epoch {chosen} of {epochs}"
    if "selection" in group and group["selection"].notna().any():
        text += f", by {group['selection'].dropna().iloc[0]}"
    if paper:
        differs = [f"{mode} (paper {paper['mode']})"] if mode != paper["mode"] else []
        if epochs != int(paper["epochs"]):
            differs.append(f"{epochs} epochs (paper {paper['epochs']})")
        if differs:
            text += "; differs from the paper's row: " + ", ".join(differs)
    return text
