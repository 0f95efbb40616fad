"""The trained CSCF model: one object the pipeline, the registry and its users share.

It holds the aligners, the vocabulary (names, roles, text features), every modality's category set, the
fusion parameters chosen on validation and, with ``alignment: pico``, each modality's PICO weights. It
scores a :class:`~ovmlr.multimodal.data.ModalityBatch` with any method of the results table. Saved as one
folder in safe formats: ``cscf_model.json``, ``aligners.safetensors``, ``vocabulary.parquet``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from ovmlr.alignment.pico import PICOConfig, PICOWeights, fit_pico
from ovmlr.integrity import verify_checksums, write_checksums

from .data import CategorySets, ModalityBatch
from .fusion import FusionConfig, class_similarity, fuse, late_fusion, oracle_choice, standardise
from .model import MultimodalAligner
from .training import MultimodalTrainingConfig, modality_scores

FORMAT = "ovmlr-cscf/1"
METHODS = ("late_mean", "late_max", "decision", "cscf")


@dataclass
class TrainedCSCF:
    """A trained CSCF model (see the module docstring).

    Attributes:
        aligner: The modality aligners (eval mode).
        sets: Category sets over the vocabulary.
        text: float32 [C, D] L2-normalised category text features.
        category_ids: int64 [C] dataset ids.
        training: The training configuration.
        fusion: The fusion parameters (γ chosen on validation).
        pico: modality → PICO weights (``alignment: pico``), else empty.
        info: Provenance (best epoch, dataset, balancing, history, …).
    """

    aligner: MultimodalAligner
    sets: CategorySets
    text: np.ndarray
    category_ids: np.ndarray
    training: MultimodalTrainingConfig
    fusion: FusionConfig
    pico: dict[str, PICOWeights] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names, in the aligners' order."""
        return self.aligner.modalities

    @property
    def names(self) -> tuple[str, ...]:
        """Category names of the vocabulary."""
        return self.sets.names

    def with_fusion(self, fusion: FusionConfig) -> TrainedCSCF:
        """The same model with other fusion parameters."""
        return replace(self, fusion=fusion)

    def _check(self, batch: ModalityBatch) -> None:
        missing = [m for m in self.modalities if m not in batch.features]
        if missing:
            raise ValueError(f"the batch lacks modalities {missing}; the model needs {list(self.modalities)}")
        for m in self.modalities:
            expected = self.aligner.aligners[m].encode[0].normalized_shape[0]
            if batch.features[m].shape[1] != expected:
                raise ValueError(
                    f"modality {m!r} features have D={batch.features[m].shape[1]}, "
                    f"the model expects {expected}"
                )

    def modality_scores(self, batch: ModalityBatch) -> dict[str, np.ndarray]:
        r"""Every modality's scores over the vocabulary. modality → [N, C].

        The aligned cosine (PICO-weighted when fitted); for a residual modality (features already in the text
        space) mixed with its zero-shot cosine, as C²SRT's Eq. 10 ensemble does for the image:

        .. math::
            s_m = (1 - w)\cos(g_m(x_m), t) + w \cos(x_m, t),\qquad w = \text{fusion.zero\_shot\_weight}

        Training on :math:`C_m` pulls the space away from the other categories; the zero-shot term keeps
        what the untrained features knew about them (w is chosen on validation). The zero-shot term is the
        plain cosine also under ``alignment: pico`` (the PICO weights are fitted on the aligned features).
        """
        self._check(batch)
        weights = {m: w.weights for m, w in self.pico.items()} or None
        scores = modality_scores(self.aligner, batch, self.text, weights)
        w = self.fusion.zero_shot_weight
        if w == 0:
            return scores
        text_unit = self.text / np.maximum(np.linalg.norm(self.text, axis=1, keepdims=True), 1e-12)
        for m in self.modalities:
            if self.aligner.aligners[m].residual:
                x = batch.features[m]
                unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
                scores[m] = ((1.0 - w) * scores[m] + w * (unit @ text_unit.T)).astype(np.float32)
        return scores

    def similarity(self) -> np.ndarray:
        """The class-similarity matrix S of the refinement. [C, C]."""
        return class_similarity(self.text, self.fusion.neighbours, self.fusion.similarity_temperature)

    def score(
        self, batch: ModalityBatch, method: str = "cscf", scores: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Scores [N, C] of one method: a modality, ``late_mean``, ``late_max``, ``decision``, ``cscf``."""
        scores = scores if scores is not None else self.modality_scores(batch)
        if method in self.modalities:
            return standardise(scores[method])
        if method in ("late_mean", "late_max"):
            return late_fusion(scores, batch.present, method.removeprefix("late_"))
        if method in ("decision", "cscf"):
            fused, _ = fuse(
                scores, batch.present, self.sets.member, self.similarity(), self.fusion, method == "cscf"
            )
            return fused
        raise ValueError(f"unknown method {method!r}; known: {[*self.modalities, *METHODS]}")

    def score_all(
        self,
        batch: ModalityBatch,
        labels: np.ndarray | None = None,
        scores: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Every method's scores; with ``labels`` also ``oracle`` (per-sample best modality, a bound);
        ``scores``: the batch's :meth:`modality_scores` when the caller has them already."""
        scores = scores if scores is not None else self.modality_scores(batch)
        out = {method: self.score(batch, method, scores) for method in (*self.modalities, *METHODS)}
        if labels is not None:
            out["oracle"] = oracle_choice(scores, batch.present, labels)[0]
        return out

    def dominant(self, batch: ModalityBatch, scores: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Each sample's dominant modality name ('' when none is present); ``scores``: the batch's
        :meth:`modality_scores` when the caller has them already. [N] object."""
        _, choice = fuse(
            scores if scores is not None else self.modality_scores(batch),
            batch.present,
            self.sets.member,
            self.similarity(),
            self.fusion,
            False,
        )
        names = np.array([*self.modalities, ""], dtype=object)
        return names[choice]


def save_cscf(model: TrainedCSCF, folder: str | Path) -> Path:
    """Write the model folder (overwrites the three files)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.aligner.state_dict().items()}
    save_file(state, str(folder / "aligners.safetensors"))
    vocabulary = pd.DataFrame(
        {
            "category_id": model.category_ids.astype(np.int64),
            "name": list(model.names),
            "unseen": model.sets.unseen,
            "text": list(model.text.astype(np.float32)),
        }
        | {f"member:{m}": flags for m, flags in model.sets.member.items()}
    )
    vocabulary.to_parquet(folder / "vocabulary.parquet", index=False)
    meta = {
        "format": FORMAT,
        "modalities": list(model.modalities),
        "dims": {m: int(model.aligner.aligners[m].encode[0].normalized_shape[0]) for m in model.modalities},
        "training": model.training.to_dict(),
        "fusion": model.fusion.to_dict(),
        "pico": {m: w.to_dict() for m, w in model.pico.items()},
        "info": model.info,
    }
    (folder / "cscf_model.json").write_text(json.dumps(meta, indent=1, default=float), encoding="utf-8")
    write_checksums(folder, ["aligners.safetensors", "vocabulary.parquet", "cscf_model.json"])
    return folder


def load_cscf(folder: str | Path) -> TrainedCSCF:
    """Read a folder written by :func:`save_cscf`; a ValueError names a missing, damaged
    (:class:`~ovmlr.integrity.DamagedFile`) or wrong-format file."""
    folder = Path(folder)
    for name in ("cscf_model.json", "aligners.safetensors", "vocabulary.parquet"):
        if not (folder / name).is_file():
            raise ValueError(f"{folder} is not a CSCF model folder: {name} is missing")
    verify_checksums(folder, "Delete the model folder and write it again (kedro run --pipeline=multimodal)")
    meta = json.loads((folder / "cscf_model.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{folder / 'cscf_model.json'} has format {meta.get('format')!r}, expected {FORMAT!r}"
        )
    vocabulary = pd.read_parquet(folder / "vocabulary.parquet")
    modalities = meta["modalities"]
    text = np.stack(vocabulary["text"].to_numpy()).astype(np.float32)
    training = MultimodalTrainingConfig.from_params(meta["training"])
    aligner = MultimodalAligner(
        meta["dims"],
        text.shape[1],
        training.hidden,
        training.dropout,
        {m: training.balancing == "cal" for m in modalities},
    )
    aligner.load_state_dict(load_file(str(folder / "aligners.safetensors")))
    aligner.eval()
    sets = CategorySets(
        tuple(vocabulary["name"].astype(str)),
        vocabulary["unseen"].to_numpy(dtype=bool),
        {m: vocabulary[f"member:{m}"].to_numpy(dtype=bool) for m in modalities},
    )
    return TrainedCSCF(
        aligner=aligner,
        sets=sets,
        text=text,
        category_ids=vocabulary["category_id"].to_numpy(dtype=np.int64),
        training=training,
        fusion=FusionConfig(**meta["fusion"]),
        pico={m: PICOWeights.from_dict(w) for m, w in meta["pico"].items()},
        info=meta["info"],
    )


def fit_pico_weights(
    aligner: MultimodalAligner,
    train: ModalityBatch,
    labels: np.ndarray,
    text: np.ndarray,
    sets: CategorySets,
    params: dict[str, Any],
) -> dict[str, PICOWeights]:
    """PICO weights of every modality, fitted on its aligned training features and its own categories only."""
    config = PICOConfig.from_params(params)
    out = {}
    with torch.no_grad():
        for m in aligner.modalities:
            aligned = aligner.align(m, torch.from_numpy(train.features[m])).numpy()
            own = sets.member[m]
            out[m] = fit_pico(aligned, text[own], labels[:, own], config)
    return out
