"""Why a trained model gives a label: the patches ISR pooled for it and the IST neighbours it listened to.

For every image and requested label, :func:`explain` returns

- the **score**, from :meth:`TrainedC2SRT.score` (the path ``predict`` and serving use, so the numbers agree);
- **ISR** (Eq. 4-5, Algorithm 1): the patches selected for the label (``patch_mask`` [P]) and their weight
  in the label's local feature :math:`f_L^{(c)}` (``patch_weights`` [P],
  :func:`~ovmlr.models.isr.pooling_weights`: 0 off the selection, summing to 1 over it), laid out on the
  image tower's ``grid`` (rows, cols);
- **IST** (Eq. 22, the paper's Fig. 7): the label's K neighbours (names, seen/unseen/new), the policy that
  gave a new name its neighbours, and the attention coefficients α over them (``attention`` [L, K, H], per
  GAT layer and head) with their mean over layers and heads (``neighbour_weights`` [K]); both sum to 1
  over K.

A head without ISR (``use_isr: false``, α = 0, ``head: mkt``) has ``patch_weights`` ``None``; one without IST
has no neighbours. :func:`model_view` gives the image as the model saw it (resized, cropped), the frame the
patch grid covers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from ovmlr.models.isr import patch_scores, pooling_weights

from .labels import TRAINING, LabelSet
from .model import TrainedC2SRT

NEW = "new"  # the status of a name outside the training vocabulary


@dataclass(frozen=True)
class Neighbour:
    """One IST neighbour of a label: its name, whether it is ``seen``/``unseen``/``new``, its weight."""

    name: str
    status: str
    weight: float


@dataclass(frozen=True)
class LabelExplanation:
    """Why one image got its score for one label (see the module docstring for each part).

    Shapes:
        patch_weights, patch_mask: [P]; attention: [L, K, H]
    """

    label: str
    score: float
    status: str  # seen | unseen (training vocabulary) | new
    policy: str  # where its neighbours came from: training | similarity | llm
    patch_weights: np.ndarray | None
    patch_mask: np.ndarray | None
    neighbours: tuple[Neighbour, ...]
    attention: np.ndarray | None

    @property
    def neighbour_weights(self) -> np.ndarray:
        """The attention over the K neighbours, averaged over layers and heads (sums to 1)."""
        return np.array([n.weight for n in self.neighbours], dtype=np.float64)


@dataclass(frozen=True)
class ImageExplanation:
    """The explanations of one image's labels, in request order, and the patch grid (rows, cols)."""

    labels: tuple[LabelExplanation, ...]
    grid: tuple[int, int]

    def __getitem__(self, label: str) -> LabelExplanation:
        for entry in self.labels:
            if entry.label == label:
                return entry
        raise KeyError(f"no explanation for label {label!r} (labels: {[e.label for e in self.labels]})")


def label_status(labels: LabelSet) -> list[str]:
    """``seen`` / ``unseen`` / ``new`` of every entry of the label set's scoring vocabulary."""
    vocab = labels.vocabulary
    return [NEW if int(c) < 0 else role for c, role in zip(vocab.category_ids, vocab.roles, strict=True)]


def patch_grid(trained: TrainedC2SRT, n_patches: int) -> tuple[int, int]:
    """The (rows, cols) the P patch features tile the model's input with.

    Raises:
        ValueError: When P is neither the image tower's ``grid_size`` nor a square.
    """
    grid = getattr(trained.backbone().model.visual, "grid_size", None)
    if grid is not None and int(grid[0]) * int(grid[1]) == n_patches:
        return int(grid[0]), int(grid[1])
    side = math.isqrt(n_patches)
    if side * side != n_patches:
        raise ValueError(
            f"cannot lay {n_patches} patch features on a grid: not the tower's grid, not a square"
        )
    return side, side


@torch.inference_mode()
def isr_weights(
    trained: TrainedC2SRT, global_feats: torch.Tensor, patch_feats: torch.Tensor, text: torch.Tensor
):
    """ISR's selection and pooling weights of every label, as the head computes them (``None`` without ISR).

    Shapes:
        global_feats: [B, D], patch_feats: [B, P, D], text: [C, D] → (mask [B, C, P], weights [B, C, P])
    """
    head = trained.head()
    isr = getattr(head, "isr", None)
    if isr is None or (isr.config.selection == "alpha" and isr.config.alpha == 0.0):
        return None, None
    global_feats, patch_feats, text = head.aligned(global_feats, patch_feats, text)
    text = F.normalize(text, dim=-1)
    mask = head.image_features(global_feats, patch_feats, text)["isr_mask"]  # [B, C, P]
    scores = patch_scores(F.normalize(patch_feats, dim=-1), text, isr.config.temperature)
    return mask, pooling_weights(mask, scores, isr.config.pooling)


@torch.inference_mode()
def label_attention(
    trained: TrainedC2SRT, global_feats: torch.Tensor, patch_feats: torch.Tensor, labels: LabelSet
) -> torch.Tensor | None:
    """IST's α over every label's K neighbours, ``None`` without IST.

    Shapes:
        global_feats: [B, D], patch_feats: [B, P, D] → [B, C, L, K, H]
    """
    head = trained.head()
    if getattr(head, "ist", None) is None:
        return None
    vocab = labels.vocabulary
    alpha = head.attention(
        global_feats, patch_feats, torch.from_numpy(vocab.text), torch.from_numpy(vocab.neighbours)
    )  # L × [B, C, K, H]
    return torch.stack(alpha, dim=2).float()


def explain(
    trained: TrainedC2SRT,
    global_feats: np.ndarray,
    patch_feats: np.ndarray,
    labels: LabelSet,
    frozen_global: np.ndarray | None = None,
) -> list[ImageExplanation]:
    """Scores, ISR patch weights and IST attention of every image for every requested label.

    Args:
        trained: The model.
        global_feats, patch_feats: The image features the head scores (:meth:`TrainedC2SRT.encode_images`).
        labels: The labels (:meth:`TrainedC2SRT.labels`).
        frozen_global: The frozen backbone's global features, when :attr:`TrainedC2SRT.needs_frozen_global`.

    Shapes:
        global_feats: [B, D], patch_feats: [B, P, D] → B explanations of len(labels) labels
    """
    scores = trained.score(global_feats, patch_feats, labels, frozen_global=frozen_global)  # [B, L]
    g, p = torch.from_numpy(global_feats), torch.from_numpy(patch_feats)
    mask, weights = isr_weights(trained, g, p, torch.from_numpy(labels.vocabulary.text))
    alpha = label_attention(trained, g, p, labels)
    grid = patch_grid(trained, patch_feats.shape[1])
    status, vocab = label_status(labels), labels.vocabulary
    out = []
    for b in range(len(global_feats)):
        entries = []
        for c, name in enumerate(labels.names):
            attention = None if alpha is None else alpha[b, c].numpy()  # [L, K, H]
            mean = None if attention is None else attention.mean(axis=(0, 2))
            neighbours = (
                ()
                if mean is None
                else tuple(
                    Neighbour(vocab.names[j], status[j], float(w))
                    for j, w in zip(vocab.neighbours[c], mean, strict=True)
                )
            )
            entries.append(
                LabelExplanation(
                    label=name,
                    score=float(scores[b, c]),
                    status=status[c],
                    policy=labels.policies[c],
                    patch_weights=None if weights is None else weights[b, c].numpy().astype(np.float64),
                    patch_mask=None if mask is None else mask[b, c].numpy(),
                    neighbours=neighbours,
                    attention=attention,
                )
            )
        out.append(ImageExplanation(tuple(entries), grid))
    return out


def explain_images(
    trained: TrainedC2SRT, images: Sequence[Image.Image] | torch.Tensor, labels: LabelSet
) -> list[ImageExplanation]:
    """:func:`explain` of RGB images (or a preprocessed batch [B, 3, H, W]), encoded by the model."""
    if not isinstance(images, torch.Tensor):
        images = torch.stack([trained.preprocess(image) for image in images])
    batch = images
    g, p = trained.encode_images(batch)
    frozen = trained.encode_frozen_global(batch) if trained.needs_frozen_global else None
    return explain(trained, g, p, labels, frozen_global=frozen)


def model_view(trained: TrainedC2SRT, image: Image.Image) -> np.ndarray:
    """The image as the model sees it (its preprocessing, normalisation undone): uint8 [H, W, 3].

    The frame the patch grid of :func:`patch_grid` covers (after resizing and cropping).
    """
    tensor = trained.preprocess(image).float()  # [3, H, W]
    steps = getattr(trained.backbone().preprocess, "transforms", [])
    for step in steps:
        if isinstance(step, transforms.Normalize):
            mean = torch.as_tensor(step.mean).view(-1, 1, 1)
            std = torch.as_tensor(step.std).view(-1, 1, 1)
            tensor = tensor * std + mean
    return (tensor.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def policy_note(entry: LabelExplanation) -> str:
    """One line: the label's status and where its neighbours came from."""
    if entry.policy == TRAINING:
        return f"{entry.status} (neighbours mined in training)"
    return f"{entry.status} (neighbours by the {entry.policy} policy)"
