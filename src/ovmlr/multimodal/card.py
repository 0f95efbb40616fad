"""The model-version description and model card of a registered :class:`TrainedCSCF`."""

from __future__ import annotations

from collections.abc import Mapping

from .trained import TrainedCSCF


def cscf_description(model: TrainedCSCF, test: Mapping[str, float], dataset: str) -> str:
    """One line: balancing, alignment, modalities and the CSCF row's test union / ZSL / GZSL mAP."""
    return (
        f"CSCF ({model.info['balancing']} balancing, {model.info['alignment']} alignment) on '{dataset}', "
        f"modalities {list(model.modalities)}; test union mAP {test['union/mAP']:.4f}, "
        f"ZSL mAP {test['zsl/mAP']:.4f}, GZSL mAP {test['gzsl/mAP']:.4f}"
    )


def cscf_card(model: TrainedCSCF, test: Mapping[str, float], dataset: str) -> str:
    """Markdown model card: the description, best epoch, fusion parameters and the category sets' sizes."""
    sets = ", ".join(f"{m}: {int(f.sum())}" for m, f in model.sets.member.items())
    return "\n".join(
        [
            f"# CSCF model ({dataset})",
            "",
            cscf_description(model, test, dataset),
            "",
            f"- best epoch {model.info['best_epoch']}, fusion {model.fusion.to_dict()}",
            f"- category sets: {sets}, unseen: {int(model.sets.unseen.sum())}",
            "- input: one feature-vector column per modality (a missing cell: the modality is absent); "
            "params: method (cscf, decision, late_mean, late_max, a modality), top_k",
        ]
    )
