"""Scores of a C²SRT head over a vocabulary, in batches: the one scoring loop every caller uses."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .vocabulary import Vocabulary


@torch.inference_mode()
def predict_scores(
    model: nn.Module,
    global_feats: np.ndarray,
    patch_feats: np.ndarray,
    vocabulary: Vocabulary,
    batch_size: int,
    device: torch.device,
    zero_shot_global: np.ndarray | None = None,
) -> np.ndarray:
    """Scores [N, C] of a head over a vocabulary, in batches.

    ``zero_shot_global`` [N, D]: the frozen backbone's global features for the zero-shot term when
    ``global_feats`` come from a fine-tuned student (see :meth:`ovmlr.models.C2SRT.forward`).
    """
    model.eval()
    text = torch.from_numpy(vocabulary.text).to(device)
    neighbours = torch.from_numpy(vocabulary.neighbours).to(device)
    out = []
    for start in range(0, len(global_feats), batch_size):
        rows = slice(start, start + batch_size)
        g = torch.from_numpy(global_feats[rows]).to(device)
        p = torch.from_numpy(patch_feats[rows]).to(device)
        g0 = None if zero_shot_global is None else torch.from_numpy(zero_shot_global[rows]).to(device)
        out.append(model(g, p, text, neighbours, g0)["logits"].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(vocabulary)), dtype=np.float32)
