"""Image encoding into cache chunks: the local engine, and the unit of work of the Ray engine.

:func:`encode_images` decodes and encodes a list of image files batch by batch and yields
:class:`~ovmlr.datasets.embedding_cache.EmbeddingChunk` objects of ``chunk_size`` images (whole batches),
each saved as one cache shard by the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ovmlr.backbones.features import encode_image_tokens
from ovmlr.backbones.images import ImageFileDataset
from ovmlr.backbones.loading import LoadedBackbone
from ovmlr.core.features import EmbeddingChunk
from ovmlr.reporting.progress import refresh_interval

logger = logging.getLogger(__name__)


def image_batches(loaded: LoadedBackbone, paths: list[str], params: dict[str, Any]) -> DataLoader:
    size = tuple(int(s) for s in loaded.model.visual.image_size)
    dataset = ImageFileDataset(paths, loaded.preprocess, size, skip_errors=True)
    return DataLoader(
        dataset,
        batch_size=params["batch_size"],
        num_workers=params["num_workers"],
        shuffle=False,
        pin_memory=loaded.device.type == "cuda",
    )


@torch.inference_mode()
def encode_images(
    loaded: LoadedBackbone, todo: pd.DataFrame, params: dict[str, Any]
) -> Iterator[EmbeddingChunk]:
    """Encode ``todo`` images batch by batch, with a progress bar (images/s).

    Yields:
        One :class:`EmbeddingChunk` per ``chunk_size`` images (rounded up to whole batches), so each is
        saved as a cache shard as soon as it is complete.
    """
    keys, paths = todo["image_key"].tolist(), todo["path"].tolist()
    buffer: list[tuple[np.ndarray, np.ndarray, list[str]]] = []
    done = emitted = 0
    bar = {"unit": "img", "desc": "image features", "mininterval": refresh_interval()}
    with tqdm(total=len(paths), **bar) as progress:
        for images, errors in image_batches(loaded, paths, params):
            global_feats, patch_feats = encode_image_tokens(loaded.model.visual, images.to(loaded.device))
            buffer.append(
                (global_feats.float().cpu().numpy(), patch_feats.float().cpu().numpy(), list(errors))
            )
            done += len(errors)
            progress.update(len(errors))
            if done - emitted >= params["chunk_size"] or done == len(paths):
                yield chunk_of(loaded.spec.backbone_id, keys[emitted:done], paths[emitted:done], buffer)
                buffer, emitted = [], done


def chunk_of(
    backbone_id: str,
    keys: list[str],
    paths: list[str],
    buffer: list[tuple[np.ndarray, np.ndarray, list[str]]],
) -> EmbeddingChunk:
    errors = [e or None for part in buffer for e in part[2]]
    for path, error in zip(paths, errors, strict=True):
        if error:
            logger.warning("Image %s skipped: %s", path, error)
    return EmbeddingChunk(
        backbone_id,
        keys,
        np.concatenate([p[0] for p in buffer]),
        np.concatenate([p[1] for p in buffer]),
        errors,
    )
