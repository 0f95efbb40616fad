"""Distributed image-feature extraction on Ray Data (``feature_extraction.engine: ray``).

The images still to encode (the same ``todo`` table the local engine gets: the hash index and the "0 new
images" warm run are unchanged) are cut into shards of ``chunk_size`` images. Ray Data maps each shard
through a pool of encoder actors (:class:`ShardEncoder`: the backbone loaded once per actor, one GPU each
where ``num_gpus_per_worker`` > 0) with :func:`ovmlr.backbones.extraction.encode_images`, the local engine's
own code. The actors return arrays; only the driver (the Kedro node) turns each finished shard into an
:class:`~ovmlr.datasets.embedding_cache.EmbeddingChunk`, which the catalog writes as one atomic cache shard —
the same shards the local engine writes. A worker killed mid-shard has written nothing: Ray restarts the
actor (``max_restarts``) and redoes the shard (``max_task_retries``), and a shard is written once, when it
arrives (tested by SIGKILLing an actor). Past ``max_task_retries`` the run fails naming the first shard not
written; a rerun encodes only the shards missing from the cache.

Starts a local Ray instance by default (``ray.address: null``, ``num_cpus``); ``ray.address: auto`` or
``ray://host:10001`` joins a cluster.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.backbones.extraction import encode_images
from ovmlr.backbones.loading import load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.device import resolve_device
from ovmlr.core.features import EmbeddingChunk
from ovmlr.core.params import known_fields

logger = logging.getLogger(__name__)
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class RayConfig:
    """``feature_extraction.ray``."""

    address: str | None = None  # None: start a local instance; "auto" / "ray://…": join a cluster
    num_workers: int = 2  # encoder actors
    num_cpus: int | None = None  # CPUs of a local instance (None: all)
    num_gpus_per_worker: float = 0.0
    max_task_retries: int = 3  # a shard whose actor died is redone this many times

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> RayConfig:
        """Build from ``feature_extraction.ray``; unknown keys are an error naming them."""
        config = cls(**known_fields(params, cls.__dataclass_fields__, "feature_extraction.ray"))
        if config.num_workers < 1:
            raise ValueError(f"feature_extraction.ray.num_workers must be >= 1, got {config.num_workers}")
        return config


def check_engine(params: dict[str, Any]) -> None:
    """``engine`` is local or ray, and ray is importable for ``ray`` (before any work starts)."""
    engine = params.get("engine", "local")
    if engine not in ENGINES:
        raise ValueError(f"feature_extraction.engine must be one of {ENGINES}, got {engine!r}")
    if engine == "ray":
        RayConfig.from_params(params.get("ray"))
        if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.data") is None:
            raise ValueError(
                "feature_extraction.engine=ray needs Ray Data, which is not installed: "
                "pip install -e '.[scale]' (ray[data]), or set feature_extraction.engine=local"
            )


class ShardEncoder:
    """A Ray Data actor: loads the backbone once, encodes one shard of images per call."""

    def __init__(self, spec: dict[str, Any], params: dict[str, Any]) -> None:
        import torch

        torch.set_num_threads(max(1, int(params.get("threads_per_worker") or 1)))
        self.params = dict(params)
        self.loaded = load_backbone(BackboneSpec.from_dict(spec), resolve_device(params["device"]))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        todo = pd.DataFrame({"image_key": batch["image_key"].astype(str), "path": batch["path"].astype(str)})
        params = self.params | {"chunk_size": len(todo)}
        (chunk,) = list(encode_images(self.loaded, todo, params))
        return {
            "shard": batch["shard"],
            "image_key": np.asarray(chunk.image_keys, dtype=object),
            "global": chunk.global_feats,
            "patches": chunk.patch_feats,
            "error": np.asarray([e or "" for e in chunk.errors], dtype=object),
        }


def _arrived_shards(dataset: Any, table: pd.DataFrame, backbone_id: str, config: RayConfig):
    """Each finished shard as an :class:`EmbeddingChunk`, in shard order.

    Raises:
        RuntimeError: An actor died more often than ``max_task_retries`` allows; names the first shard not
            written (the ones before it are in the cache) and what to do.
    """
    import ray

    done = 0
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            yield EmbeddingChunk(
                backbone_id,
                [str(k) for k in batch["image_key"]],
                np.asarray(batch["global"], dtype=np.float32),
                np.asarray(batch["patches"], dtype=np.float32),
                [str(e) or None for e in batch["error"]],
            )
            done += 1
    except ray.exceptions.RayError as error:
        missing = table[table["shard"] >= done]
        raise RuntimeError(
            f"Ray encoder actors failed beyond feature_extraction.ray.max_task_retries="
            f"{config.max_task_retries} ({type(error).__name__}): shard {done} (first image "
            f"{missing['path'].iloc[0]!r}) and the shards after it ({len(missing)} images) were not written; "
            f"the {done} shard(s) before it are in the cache. Rerun to encode only the rest, or raise "
            "max_task_retries."
        ) from error


def encode_images_ray(
    spec: dict[str, Any], todo: pd.DataFrame, params: dict[str, Any]
) -> Iterator[EmbeddingChunk]:
    """Encode ``todo`` on Ray Data; yield one chunk per shard of ``chunk_size`` images as it arrives."""
    import ray

    config = RayConfig.from_params(params.get("ray"))
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=config.address,
            num_cpus=config.num_cpus if config.address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        shard_size = int(params["chunk_size"])
        table = todo[["image_key", "path"]].reset_index(drop=True)
        table["shard"] = np.arange(len(table)) // shard_size
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        shards = [part for _, part in table.groupby("shard", sort=True)]  # one Ray block per cache shard
        dataset = ray.data.from_pandas(shards).map_batches(
            ShardEncoder,
            fn_constructor_args=(spec, params),
            batch_size=None,  # one call per block: one shard
            batch_format="numpy",
            concurrency=config.num_workers,
            num_gpus=config.num_gpus_per_worker or None,
            max_task_retries=config.max_task_retries,
            max_restarts=config.max_task_retries,
        )
        backbone_id = BackboneSpec.from_dict(spec).backbone_id
        logger.info(
            "Ray Data: %d images in %d shards on %d workers", len(table), len(shards), config.num_workers
        )
        yield from _arrived_shards(dataset, table, backbone_id, config)
    finally:
        if started_here:
            ray.shutdown()
