"""``TrainedC2SRT``: one trained model, everything a caller needs to tag images with any label names.

It owns the backbone reference (spec and weights), the student image encoder when the model was fine-tuned,
the C²SRT head, the training vocabulary (names, roles, text features, IST neighbours), the prompt templates
that make text features for new names, and the backbone's image preprocessing. Training, evaluation, the
ablation runner, the MLflow model and the ``predict`` pipeline all go through it:

- :meth:`encode_images` (PIL images) and :meth:`encode_split` (a cached-feature split, re-encoded through
  the student when fine-tuned) give the features the head expects;
- :meth:`labels` builds a :class:`~ovmlr.trained.labels.LabelSet` for any list of names;
- :meth:`score` scores features over a label set or the model's own vocabulary, :meth:`score_split` a whole
  cached split, :meth:`ensemble_parts` gives the two terms of the output ensemble.

Saved and loaded as one folder by :mod:`ovmlr.trained.artifact` (safetensors + JSON + parquet, no pickle).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ovmlr.backbones.features import category_text_features, encode_image_tokens
from ovmlr.backbones.loading import LoadedBackbone, load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.backbones.student import StudentImageEncoder, split_images, student_features
from ovmlr.backbones.text_cache import TextFeatureCache
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.model_factory import build_model
from ovmlr.core.scoring import predict_scores
from ovmlr.core.thresholds import Thresholds, tags_of
from ovmlr.core.vocabulary import Vocabulary

from .labels import POLICIES, TRAINING, LabelSet, check_labels, similarity_neighbours

logger = logging.getLogger(__name__)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """A short content hash of a state dict (keys, shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        flat = tensor.reshape(-1)  # 0-dim buffers (a BatchNorm's batch counter) have no byte view
        digest.update(flat.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class ModelDescription:
    """What a trained state needs to become a :class:`TrainedC2SRT` (besides its weights)."""

    model_config: dict[str, Any]  # the head's config (C2SRTConfig fields, temperature resolved)
    vocabulary: Vocabulary  # the categories it scores (the training vocabulary)
    backbone_spec: BackboneSpec  # the frozen backbone
    templates: tuple[str, ...]  # the prompt templates that give new names their text features
    trainable_blocks: int = 0  # the student's trained top blocks (finetune mode)
    device: str = "cpu"


@dataclass
class TrainedC2SRT:
    """A trained C²SRT model with its backbone, vocabulary and prompts.

    Attributes:
        model_config: The head's config (``C2SRTConfig`` fields, temperature resolved).
        head_state: The head's weights.
        vocabulary: The training vocabulary (seen + unseen categories of the dataset).
        backbone_spec: The frozen backbone (open_clip name, weights, preprocessing).
        templates: Prompt templates of the text features (Eq. 24 ensemble; one template = single prompt).
        student_state: The fine-tuned student image encoder's weights (``finetune`` mode), else ``None``.
        trainable_blocks: How many top ViT blocks the student trained (rebuilds its module).
        neighbour_policy: Default policy giving new names their seen neighbours (``similarity`` | ``llm``).
        info: Provenance: dataset, epoch, selection metric and value, fingerprint, history, test metrics.
        thresholds: Decision thresholds (one per seen label, one for new names) chosen on validation data;
            ``None`` for a model trained before calibration (its tags need a threshold from the caller).
    """

    model_config: dict[str, Any]
    head_state: dict[str, torch.Tensor]
    vocabulary: Vocabulary
    backbone_spec: BackboneSpec
    templates: tuple[str, ...]
    student_state: dict[str, torch.Tensor] | None = None
    trainable_blocks: int = 0
    neighbour_policy: str = "similarity"
    info: dict[str, Any] = field(default_factory=dict)
    thresholds: Thresholds | None = None
    device: str = "cpu"
    _head: torch.nn.Module | None = field(default=None, init=False, repr=False, compare=False)
    _backbone: LoadedBackbone | None = field(default=None, init=False, repr=False, compare=False)
    _encoder: torch.nn.Module | None = field(default=None, init=False, repr=False, compare=False)
    _text_cache: TextFeatureCache | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.neighbour_policy not in POLICIES:
            raise ValueError(f"neighbour_policy must be one of {POLICIES}, got {self.neighbour_policy!r}")
        if not self.templates or any(t.count("{}") != 1 for t in self.templates):
            raise ValueError(f"templates must be prompt strings with one '{{}}' each, got {self.templates!r}")
        self.templates = tuple(self.templates)

    @classmethod
    def from_state(
        cls, state: dict[str, torch.Tensor], mode: str, description: ModelDescription
    ) -> TrainedC2SRT:
        """The model of a training module's state: the head's (``frozen``), or the head's and the student's
        (``finetune``: a ``FinetuneModel``'s ``head.*`` and ``student.*`` keys)."""
        head_state, student_state = split_module_state(state, mode)
        return cls(
            model_config=description.model_config,
            head_state=head_state,
            vocabulary=description.vocabulary,
            backbone_spec=description.backbone_spec,
            templates=description.templates,
            student_state=student_state,
            trainable_blocks=description.trainable_blocks if student_state is not None else 0,
            device=description.device,
        )

    # ---- what it is --------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``finetune`` when the model carries a student image encoder, else ``frozen``."""
        return "frozen" if self.student_state is None else "finetune"

    @property
    def seen(self) -> Vocabulary:
        """The seen categories of the training vocabulary (what the head was trained on)."""
        return self.vocabulary.subset("seen")

    @property
    def dataset_vocabulary(self) -> Vocabulary:
        """The vocabulary of the dataset it was trained and tested on: :attr:`vocabulary` less the labels kept
        from the model it was fine-tuned from (``info['lineage']['kept_labels']``, the last rows).

        Raises:
            ValueError: The kept labels are not the vocabulary's last rows.
        """
        kept = tuple((self.info.get("lineage") or {}).get("kept_labels") or ())
        if not kept:
            return self.vocabulary
        vocab, n = self.vocabulary, len(self.vocabulary) - len(kept)
        if vocab.names[n:] != kept:
            raise ValueError(
                f"info['lineage']['kept_labels'] {kept[:3]}... are not the vocabulary's last rows"
            )
        return Vocabulary(
            vocab.category_ids[:n], vocab.names[:n], vocab.roles[:n], vocab.text[:n], vocab.neighbours[:n]
        )

    @property
    def needs_frozen_global(self) -> bool:
        """True when scores need the frozen backbone's global feature besides the student's features.

        A fine-tuned model with an output ensemble (``score.zero_shot_weight`` > 0) mixes in zero-shot CLIP,
        whose image feature is the frozen backbone's, not the student's.
        """
        weight = float(self.model_config.get("score", {}).get("zero_shot_weight", 0.0))
        return self.student_state is not None and weight > 0

    @property
    def encoder_id(self) -> str:
        """Identity of the image features: the backbone's id, plus the student's weights when fine-tuned."""
        if self.student_state is None:
            return self.backbone_spec.backbone_id
        return f"{self.backbone_spec.backbone_id}-student-{state_digest(self.student_state)}"

    def __repr__(self) -> str:
        n_unseen = int(self.vocabulary.unseen_mask.sum())
        return (
            f"TrainedC2SRT(mode={self.mode}, backbone={self.backbone_spec.backbone_id!r}, "
            f"vocabulary={len(self.vocabulary) - n_unseen} seen + {n_unseen} unseen, "
            f"templates={len(self.templates)}, policy={self.neighbour_policy})"
        )

    # ---- modules (built once, lazily) ----------------------------------------------------------------
    def head(self) -> torch.nn.Module:
        """The C²SRT head in eval mode."""
        if self._head is None:
            head = build_model(self.model_config)
            head.load_state_dict(self.head_state)
            self._head = head.eval()
        return self._head

    def backbone(self) -> LoadedBackbone:
        """The frozen backbone (loaded on first use)."""
        if self._backbone is None:
            self._backbone = load_backbone(self.backbone_spec, resolve_device(self.device))
        return self._backbone

    def image_encoder(self) -> torch.nn.Module:
        """``images [B, 3, H, W] -> (global [B, D], patches [B, P, D])``: the student, or the frozen tower."""
        if self._encoder is None:
            visual = self.backbone().model.visual
            if self.student_state is None:
                self._encoder = _FrozenTower(visual)
            else:
                student = StudentImageEncoder(visual, self.trainable_blocks)
                try:
                    student.load_state_dict(self.student_state)
                except RuntimeError as exc:
                    spec = self.backbone_spec
                    raise ValueError(
                        f"the fine-tuned student's weights do not fit the image tower of backbone "
                        f"{spec.model_name!r} ({spec.backbone_id or '?'}): was the model trained from "
                        f"another backbone? {exc}"
                    ) from exc
                self._encoder = student.to(self.backbone().device)
            self._encoder.eval()
        return self._encoder

    # ---- features ------------------------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The backbone's inference transform (resize, crop, normalise) of one RGB image."""
        return self.backbone().preprocess(image)

    @torch.inference_mode()
    def encode_images(self, images: Sequence[Image.Image] | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Features the head scores: global [B, D] and patches [B, P, D], float32.

        Args:
            images: RGB PIL images (any size; preprocessed here), or an already preprocessed batch.
        """
        images = self._batch(images)
        g, p = self.image_encoder()(images)
        return g.float().cpu().numpy(), p.float().cpu().numpy()

    @torch.inference_mode()
    def encode_frozen_global(self, images: Sequence[Image.Image] | torch.Tensor) -> np.ndarray:
        """The frozen backbone's global features [B, D] (the zero-shot term of a fine-tuned model)."""
        return self.backbone().model.encode_image(self._batch(images)).float().cpu().numpy()

    @torch.inference_mode()
    def encode_frozen_images(
        self, images: Sequence[Image.Image] | torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        """The frozen backbone's global [B, D] and patch [B, P, D] features (what its cache holds)."""
        g, p = encode_image_tokens(self.backbone().model.visual, self._batch(images))
        return g.float().cpu().numpy(), p.float().cpu().numpy()

    def _batch(self, images: Sequence[Image.Image] | torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            images = torch.stack([self.preprocess(image) for image in images])
        return images.to(self.backbone().device)

    def encode_split(
        self, split: FeatureSplit, image_manifest: pd.DataFrame, image_root: str = ".", batch_size: int = 256
    ) -> FeatureSplit:
        """The split as the head sees it: cached frozen features, or the images re-encoded by the student."""
        if self.student_state is None:
            return split
        logger.info("Encoding %d images through the model's fine-tuned student encoder", len(split))
        images = split_images(image_manifest, split, self.backbone(), False, image_root)
        g, p = student_features(self.image_encoder(), images, batch_size, 0, self.backbone().device)
        return FeatureSplit(split.image_ids, g, p, split.labels, frozen_global=split.global_feats)

    def use_text_cache(self, folder: str | Path | None) -> None:
        """Keep new names' per-prompt text features in ``folder`` (:mod:`ovmlr.backbones.text_cache`), shared
        by every run and server that uses the same backbone; ``None``: no cache."""
        spec = self.backbone_spec
        tower_id = spec.backbone_id or spec.with_id().backbone_id
        self._text_cache = None if folder is None else TextFeatureCache(folder, tower_id)

    def text_features(self, names: Sequence[str]) -> np.ndarray:
        """L2-normalised prompt-ensemble text features [N, D] of ``names`` (the model's own templates; through
        the text cache when :meth:`use_text_cache` set one)."""
        loaded = self.backbone()
        _, ensemble = category_text_features(
            loaded.model,
            loaded.tokenizer,
            list(names),
            list(self.templates),
            256,
            loaded.device,
            cache=self._text_cache,
        )
        return ensemble.numpy().astype(np.float32)

    # ---- vocabularies --------------------------------------------------------------------------------
    def labels(
        self,
        names: Sequence[str] | None = None,
        policy: str | None = None,
        llm: Any | None = None,
    ) -> LabelSet:
        """A label set for any names: training entries where known, new text features and neighbours else.

        Args:
            names: Label names (``None``: the model's own vocabulary).
            policy: ``similarity`` or ``llm`` for names not in the training vocabulary (default: the
                model's ``neighbour_policy``).
            llm: For the ``llm`` policy: an :class:`~ovmlr.trained.llm_policy.LLMNeighbourSource`.

        Raises:
            ValueError: Empty list, empty or duplicated names, unknown policy, ``llm`` without a source.
        """
        if names is None:
            return self._own_labels()
        names = check_labels(names)
        policy = policy or self.neighbour_policy
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        known = {n.casefold(): i for i, n in enumerate(self.vocabulary.names)}
        new = [n for n in names if n.casefold() not in known]
        seen = self.seen
        k = self.vocabulary.neighbours.shape[1]
        text = self.text_features(new) if new else np.zeros((0, seen.text.shape[1]), np.float32)
        if not new:
            new_neighbours = np.zeros((0, k), np.int64)
        elif policy == "similarity":
            new_neighbours = similarity_neighbours(text, seen.text, k)
        elif llm is None:
            raise ValueError(
                "the llm neighbour policy needs an LLM source (backend, cache and prompt settings)"
            )
        else:
            new_neighbours = llm.neighbours(seen.names, seen.text, new, text, k)
        return self._label_set(names, known, new, text, new_neighbours, policy)

    def _own_labels(self) -> LabelSet:
        vocab = self.vocabulary
        return LabelSet(vocab.names, vocab, (TRAINING,) * len(vocab))

    def _graph_depth(self) -> int:
        """Hops of the IST graph one category's score depends on (its GAT layers; 0 without IST)."""
        if not self.model_config.get("use_ist", True) or self.model_config.get("head", "c2srt") == "mkt":
            return 0
        return int(self.model_config.get("ist", {}).get("layers", 1))

    def _label_set(
        self,
        names: tuple[str, ...],
        known: dict[str, int],
        new: list[str],
        new_text: np.ndarray,
        new_neighbours: np.ndarray,
        policy: str,
    ) -> LabelSet:
        """Requested names first, then the seen categories their scores depend on through IST.

        A category's score depends on its own features and, through L GAT layers, on the categories within
        L hops of the neighbour graph; every other category is left out (exact, and what makes a short label
        list cheap to score). A context category at the last hop keeps only the neighbours present (the
        others point to another entry of the list): its own output is never read.
        """
        vocab, seen_rows = self.vocabulary, np.flatnonzero(~self.vocabulary.unseen_mask)
        requested = [known.get(n.casefold(), -1) for n in names]
        new_index = {n: i for i, n in enumerate(new)}
        first_hop = [int(seen_rows[j]) for n in new for j in new_neighbours[new_index[n]]]
        first_hop += [int(j) for r in requested if r >= 0 for j in vocab.neighbours[r]]
        depth_left = max(0, self._graph_depth() - 1)
        context = set(first_hop) if self._graph_depth() else set()
        frontier = list(dict.fromkeys(first_hop))
        for _ in range(depth_left):
            frontier = [int(j) for row in frontier for j in vocab.neighbours[row] if int(j) not in context]
            frontier = list(dict.fromkeys(frontier))
            context.update(frontier)
        extra = sorted(context - {r for r in requested if r >= 0})
        order = requested + extra  # rows of the training vocabulary; -1 = a new name
        position = {row: i for i, row in enumerate(order) if row >= 0}
        text, neighbours, roles = [], [], []
        for i, (name, row) in enumerate(zip([*names, *(vocab.names[r] for r in extra)], order, strict=True)):
            other = 1 if i == 0 and len(order) > 1 else 0  # a placeholder neighbour that is not itself
            if row >= 0:
                text.append(vocab.text[row])
                neighbours.append([position.get(int(j), other) for j in vocab.neighbours[row]])
                roles.append(vocab.roles[row])
            else:
                text.append(new_text[new_index[name]])
                rows = seen_rows[new_neighbours[new_index[name]]]
                neighbours.append([position.get(int(j), other) for j in rows])
                roles.append("unseen")
        scoring = Vocabulary(
            category_ids=np.array([vocab.category_ids[r] if r >= 0 else -1 for r in order], dtype=np.int64),
            names=tuple([*names, *(vocab.names[r] for r in extra)]),
            roles=tuple(roles),
            text=np.stack(text).astype(np.float32),
            neighbours=np.array(neighbours, dtype=np.int64).reshape(len(order), -1),
        )
        policies = tuple(TRAINING if r >= 0 else policy for r in requested)
        return LabelSet(names, scoring, policies)

    # ---- scores --------------------------------------------------------------------------------------
    def score(
        self,
        global_feats: np.ndarray,
        patch_feats: np.ndarray,
        labels: LabelSet | None = None,
        batch_size: int = 256,
        frozen_global: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores [N, L] of the images over the requested labels (Eq. 10, the model's ensemble weight).

        Args:
            frozen_global: The frozen backbone's global features [N, D]; required when
                :attr:`needs_frozen_global` (see :meth:`encode_frozen_global`).

        Raises:
            ValueError: A fine-tuned model with an output ensemble scored without ``frozen_global``.
        """
        if self.needs_frozen_global and frozen_global is None:
            raise ValueError(
                "this model was fine-tuned and mixes in zero-shot CLIP (score.zero_shot_weight > 0): its "
                "zero-shot term needs the frozen backbone's global features (frozen_global), not the "
                "student's"
            )
        labels = labels or self._own_labels()
        scores = predict_scores(
            self.head(),
            global_feats,
            patch_feats,
            labels.vocabulary,
            batch_size,
            torch.device("cpu"),
            zero_shot_global=frozen_global if self.student_state is not None else None,
        )
        return scores[:, : len(labels)]

    def tags(
        self, names: Sequence[str], scores: np.ndarray, threshold: float | None = None
    ) -> list[list[str]]:
        """Per image, the ``names`` whose score reaches their threshold (best first): the calibrated
        thresholds (:meth:`Thresholds.for_names`), or one ``threshold`` for every name when given.

        A model without thresholds tags nothing unless a ``threshold`` is given.

        Shapes:
            scores: [N, L] over ``names`` -> N lists of names
        """
        if threshold is not None:
            values = np.full(len(names), float(threshold))
        elif self.thresholds is None:
            values = np.full(len(names), np.nan)
        else:
            values = self.thresholds.for_names(names)
        return tags_of(tuple(names), scores, values)

    @torch.inference_mode()
    def ensemble_parts(self, split: FeatureSplit, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """The two terms of the output ensemble over the model's vocabulary: Eq. (10) cosines and zero-shot.

        What choosing ``score.zero_shot_weight`` needs: every weight's scores are a blend of these two
        (:func:`~ovmlr.models.prediction.zero_shot_ensemble`), from one forward pass. ``split`` as given by
        :meth:`encode_split`.

        Shapes:
            split: N images → (cosine [N, C], zero_shot [N, C])
        """
        head, vocab = self.head(), self.vocabulary
        text, neighbours = torch.from_numpy(vocab.text), torch.from_numpy(vocab.neighbours)
        frozen = split.frozen_global if split.frozen_global is not None else split.global_feats
        cosine, zero_shot = [], []
        for start in range(0, len(split), batch_size):
            rows = slice(start, start + batch_size)
            out = head(
                torch.from_numpy(split.global_feats[rows]),
                torch.from_numpy(split.patch_feats[rows]),
                text,
                neighbours,
                torch.from_numpy(frozen[rows]),
            )
            cosine.append(out["cosine"].float().numpy())
            zero_shot.append(out["zero_shot"].float().numpy())
        return np.concatenate(cosine), np.concatenate(zero_shot)

    def score_split(self, split: FeatureSplit, batch_size: int = 256) -> pd.DataFrame:
        """``image_id`` + one score column per category of the model's vocabulary."""
        frozen = split.frozen_global if split.frozen_global is not None else split.global_feats
        if self.student_state is not None and split.frozen_global is None:
            raise ValueError("score_split of a fine-tuned model needs the split re-encoded by encode_split")
        scores = self.score(
            split.global_feats, split.patch_feats, batch_size=batch_size, frozen_global=frozen
        )
        frame = pd.DataFrame(scores, columns=list(self.vocabulary.names))
        frame.insert(0, "image_id", np.asarray(split.image_ids).astype(str))
        return frame


class _FrozenTower(torch.nn.Module):
    """The frozen backbone's image tower as an encoder: ``images -> (global, patches)`` (Eq. 1)."""

    def __init__(self, visual: torch.nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_image_tokens(self.visual, images)


def split_module_state(
    state: dict[str, torch.Tensor], mode: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """``(head_state, student_state)`` of a training module's state (``FinetuneModel`` in finetune mode)."""
    if mode == "frozen":
        return dict(state), None

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    return part("head."), part("student.")
