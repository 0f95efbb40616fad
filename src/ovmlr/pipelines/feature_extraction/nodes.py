"""Nodes of the ``feature_extraction`` pipeline: image embeddings (incremental cache), text features.

Images are keyed by the SHA-256 of their file content; the cache (``image_embeddings``) holds one entry per
key and backbone, so a run encodes only the images not cached yet ("N new images"), shard by shard.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.backbones import BackboneSpec, category_text_features, load_backbone
from ovmlr.backbones.extraction import encode_images
from ovmlr.backbones.images import hash_files, resolve_paths, stat_files
from ovmlr.backbones.ray_engine import check_engine, encode_images_ray
from ovmlr.core.device import resolve_device
from ovmlr.core.features import EmbeddingChunk
from ovmlr.core.vocabulary import ENSEMBLE
from ovmlr.datasets.embedding_cache import EmbeddingStore
from ovmlr.metrics import mean_average_precision, zsl_gzsl_metrics

logger = logging.getLogger(__name__)

HASH_COLUMNS = ["image_id", "path", "image_key", "error"]
INDEX_COLUMNS = ["path", "size", "mtime_ns", "image_key"]


def hash_images(
    image_manifest: pd.DataFrame, image_file_hashes_index: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Content key of every manifest image, re-hashing only files changed since they were last hashed.

    A file whose resolved path, size and modification time (ns) match an entry of the hash index keeps
    that entry's key (as git's index does); every other file is read and hashed.

    Args:
        image_manifest: ``image_id``, ``path``, ``split``.
        image_file_hashes_index: Earlier hashes: ``path``, ``size``, ``mtime_ns``, ``image_key``.
        params: ``feature_extraction`` parameters (``image_root``, ``hash_workers``).

    Returns:
        ``(image_hashes, new index rows)``: ``image_id``, ``path`` (as resolved), ``image_key`` (SHA-256
        hex, ``None`` if unreadable), ``error``; and the index rows of the files hashed now.

    Raises:
        ValueError: Missing columns or duplicated ``image_id`` (named).
    """
    missing = [c for c in ("image_id", "path") if c not in image_manifest.columns]
    if missing:
        raise ValueError(f"image_manifest lacks columns {missing}")
    duplicated = image_manifest["image_id"][image_manifest["image_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"image_manifest has duplicated image_id values: {duplicated.head(5).tolist()}")
    paths = resolve_paths(image_manifest["path"].astype(str).tolist(), params["image_root"])
    files = pd.concat([pd.DataFrame({"path": paths}), stat_files(paths)], axis=1)
    known = image_file_hashes_index[INDEX_COLUMNS].astype({"path": str, "size": "int64", "mtime_ns": "int64"})
    known = known.drop_duplicates(["path", "size", "mtime_ns"], keep="last")
    files = files.merge(
        known[["path", "size", "mtime_ns", "image_key"]], how="left", on=["path", "size", "mtime_ns"]
    )
    files["error"] = None
    todo = files["image_key"].isna().to_numpy()
    files.loc[todo, ["image_key", "error"]] = hash_files(
        files["path"][todo].tolist(), params["hash_workers"]
    ).to_numpy()
    logger.info("Hashed %d of %d image files (the others are unchanged since hashed)", todo.sum(), len(files))
    hashed = files[todo & files["error"].isna().to_numpy()]
    frame = files.assign(image_id=image_manifest["image_id"].astype(str).to_numpy())
    return frame[HASH_COLUMNS].astype({"image_key": object}), hashed[INDEX_COLUMNS].reset_index(drop=True)


def images_to_encode(image_hashes: pd.DataFrame, cached: pd.DataFrame) -> pd.DataFrame:
    """One row per readable image key that is not in the cache yet (first path of each key)."""
    readable = image_hashes[image_hashes["error"].isna()]
    todo = readable[~readable["image_key"].isin(cached["image_key"])]
    return todo.drop_duplicates("image_key").reset_index(drop=True)


def extract_image_embeddings(
    image_hashes: pd.DataFrame,
    image_embedding_index: EmbeddingStore,
    backbone_spec: dict[str, Any],
    params: dict[str, Any],
) -> Iterator[EmbeddingChunk]:
    """Encode the images missing from the cache (Eq. 1: global ``f_G^CLIP`` and patch features ``F_p``).

    A generator node: every yielded chunk is saved at once as one shard, so an interrupted run keeps what
    it computed and the next run resumes. Yields one empty chunk when nothing is new. ``engine: ray``
    encodes on Ray Data workers (:mod:`ovmlr.backbones.ray_engine`); the shards are still written here.

    Raises:
        ValueError: The cache was opened for another backbone than ``backbone_spec``.
    """
    check_engine(params)
    spec = BackboneSpec.from_dict(backbone_spec)
    if image_embedding_index.backbone_id != spec.backbone_id:
        raise ValueError(
            f"image_embedding_index is the cache of backbone {image_embedding_index.backbone_id}, but the "
            f"backbone spec is {spec.backbone_id}: both catalog entries must read the same backbone_spec file"
        )
    todo = images_to_encode(image_hashes, image_embedding_index.status())
    logger.info("%d new images to encode with backbone %s", len(todo), spec.backbone_id)
    if todo.empty:
        yield EmbeddingChunk.empty(spec.backbone_id, 0, 0)
        return
    if params.get("engine", "local") == "ray":
        yield from encode_images_ray(backbone_spec, todo, params)
        return
    loaded = load_backbone(spec, resolve_device(params["device"]))
    yield from encode_images(loaded, todo, params)


def index_image_features(
    image_hashes: pd.DataFrame, image_embeddings: EmbeddingStore
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``image_keys`` of the images with cached features, and the report of those without.

    Returns:
        ``(image_keys [image_id, image_key], image_feature_report [image_id, path, reason])``; every manifest
        image is in exactly one of them.
    """
    status = image_embeddings.status().set_index("image_key")["error"]
    cache_error = image_hashes["image_key"].map(status)
    in_cache = image_hashes["image_key"].isin(status.index)
    reason = image_hashes["error"].where(image_hashes["error"].notna(), cache_error)
    reason = reason.where(in_cache | image_hashes["error"].notna(), "not in the cache after extraction")
    ok = reason.isna()
    report = image_hashes.loc[~ok, ["image_id", "path"]].assign(reason=reason[~ok].astype(str))
    if not report.empty:
        logger.warning("%d images have no features (see image_feature_report)", len(report))
    keys = image_hashes.loc[ok, ["image_id", "image_key"]].reset_index(drop=True)
    return keys, report.reset_index(drop=True)


def encode_category_texts(
    categories: pd.DataFrame, backbone_spec: dict[str, Any], params: dict[str, Any]
) -> pd.DataFrame:
    """Text features of every category (seen and unseen) per template and ensembled (Eq. 3, Eq. 24).

    Returns:
        Long table ``category_id``, ``name``, ``template`` (``__ensemble__`` for the prompt ensemble),
        ``embedding`` (float32 array [D], L2-normalised), categories in ``category_id`` order.
    """
    missing = [c for c in ("category_id", "name") if c not in categories.columns]
    if missing:
        raise ValueError(f"categories lacks columns {missing}")
    ordered = categories.sort_values("category_id")
    names = ordered["name"].astype(str).tolist()
    templates = list(params["templates"])
    loaded = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device(params["device"]))
    per_template, ensemble = category_text_features(
        loaded.model, loaded.tokenizer, names, templates, params["text_batch_size"], loaded.device
    )  # [T, C, D], [C, D]
    blocks = [(template, per_template[t]) for t, template in enumerate(templates)] + [(ENSEMBLE, ensemble)]
    frames = [
        pd.DataFrame(
            {
                "category_id": ordered["category_id"].to_numpy(dtype=np.int64),
                "name": names,
                "template": template,
                "embedding": list(features.numpy().astype(np.float32)),
            }
        )
        for template, features in blocks
    ]
    logger.info("Text features: %d categories x (%d templates + ensemble)", len(names), len(templates))
    return pd.concat(frames, ignore_index=True)


def evaluate_zero_shot(
    image_embeddings: EmbeddingStore,
    image_keys: pd.DataFrame,
    text_features: pd.DataFrame,
    test_labels: pd.DataFrame,
    category_split: pd.DataFrame,
    top_k: list[int],
) -> dict[str, Any]:
    """The backbone's zero-shot mAP and ZSL / GZSL metrics on the test split ("CLIP zero-shot" baseline).

    Scores are cosine similarities between the cached global image feature and the prompt-ensemble text
    feature of every category; metrics from :mod:`ovmlr.metrics`. Top-K values larger than the number of
    unseen categories are left out.

    Returns:
        MLflow metrics ``mAP`` (all categories) and ``<zsl|gzsl>/<metric>`` (step 0); kedro-mlflow
        prefixes them with the dataset name (``backbone_zero_shot_metrics.zsl/mAP``).
    """
    names = category_split.sort_values("category_id")["name"].astype(str).tolist()
    unseen = (category_split.sort_values("category_id")["role"] == "unseen").to_numpy()
    labels = test_labels.set_index("image_id")
    absent = sorted(set(names) - set(labels.columns))
    if absent:
        raise ValueError(f"test_labels lacks category columns {absent[:10]}")
    key_of = image_keys.set_index("image_id")["image_key"]
    image_ids = labels.index[labels.index.isin(key_of.index)]
    global_feats = image_embeddings.load_global(key_of.loc[image_ids].tolist())
    ensemble = text_features[text_features["template"] == ENSEMBLE].set_index("name").loc[names]
    text = np.stack(ensemble["embedding"].to_numpy()).astype(np.float32)  # [C, D]
    image = global_feats / np.linalg.norm(global_feats, axis=1, keepdims=True)  # [N, D]
    scores, y = image @ text.T, labels.loc[image_ids, names].to_numpy()
    ks = [k for k in top_k if k <= int(unseen.sum())]
    metrics = {"mAP": mean_average_precision(scores, y)} | zsl_gzsl_metrics(scores, y, unseen, ks=ks)
    logger.info(
        "Backbone zero-shot on %d test images: ZSL mAP %.4f, GZSL mAP %.4f",
        len(image_ids),
        metrics["zsl/mAP"],
        metrics["gzsl/mAP"],
    )
    return {k: {"step": 0, "value": v} for k, v in metrics.items()}
