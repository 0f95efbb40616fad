"""Fine-tuning from a registered model: where training starts, and what the new model keeps of its parent.

``training.init.model_uri`` names the parent (``models:/<name>@champion``); the catalog loads it as
``training_init_model``. :func:`head_init` gives the runs its head (architecture and weights), after checking
that it was trained on the features this dataset's cache holds. :func:`inherit` gives the selected model its
lineage (``info['lineage']``: parent URI, name, version) and, with ``training.init.vocabulary: keep``, the
parent's labels this dataset does not have: appended to the vocabulary (their text features and neighbours,
re-pointed into the new vocabulary) with the parent's thresholds for them. ``drop`` keeps only this dataset's.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from ovmlr.core.vocabulary import Vocabulary
from ovmlr.trained.model import TrainedC2SRT
from ovmlr.training.protocol import topped_up_neighbours
from ovmlr.training.recipe import TrainingRecipe
from ovmlr.training.runs import HeadInit

logger = logging.getLogger(__name__)


def check_parent(parent: TrainedC2SRT | None, recipe: TrainingRecipe) -> TrainedC2SRT | None:
    """The parent model the recipe asks for (``None``: train from scratch).

    Raises:
        ValueError: ``training.init.model_uri`` and the catalog's ``training_init_model`` disagree, or the
            recipe fine-tunes the student encoder (not supported from a parent yet).
    """
    uri = recipe.init.model_uri
    if parent is None and uri is None:
        return None
    if parent is None:
        raise ValueError(
            f"training.init.model_uri is {uri!r} but the catalog's training_init_model loaded no model: the "
            "catalog reads it from the command line, pass it there: "
            f"--params training.init.model_uri={uri}"
        )
    loaded = parent.info.get("model_uri")
    if uri is None or (loaded is not None and loaded != uri):
        raise ValueError(
            f"training_init_model loaded {loaded!r} but training.init.model_uri is {uri!r}: set both from "
            "--params training.init.model_uri=<models:/name@alias>"
        )
    if recipe.loop.mode != "frozen" or parent.mode != "frozen":
        raise ValueError(
            f"training.init: fine-tuning from a registered model trains the head on frozen features "
            f"(training.loop.mode frozen, a frozen parent); got mode {recipe.loop.mode!r}, parent "
            f"{parent.mode!r}"
        )
    return parent


def head_init(parent: TrainedC2SRT, backbone_info: dict[str, Any]) -> HeadInit:
    """The parent's head for the runs, once its backbone is checked to be this dataset's.

    Raises:
        ValueError: The parent was trained on another backbone's features (id or dimension).
    """
    mine, theirs = backbone_info.get("backbone_id"), parent.backbone_spec.backbone_id
    if theirs and mine and theirs != mine:
        raise ValueError(
            f"training.init: the parent {parent_uri(parent)} was trained on backbone {theirs!r}, this "
            f"dataset's features come from {mine!r}: fine-tune from a model of the same backbone"
        )
    dim = int(parent.model_config.get("embed_dim", backbone_info.get("embed_dim", 0)))
    if dim != int(backbone_info.get("embed_dim", dim)):
        raise ValueError(
            f"training.init: the parent's head takes {dim}-d features, the backbone gives "
            f"{backbone_info['embed_dim']}-d"
        )
    return HeadInit(parent_uri(parent), parent.model_config, parent.head_state)


def parent_uri(parent: TrainedC2SRT) -> str:
    """``models:/<name>/<version>`` when the registry gave the version, else the URI it was loaded from."""
    registered = parent.info.get("registered_model") or {}
    if registered.get("name") and registered.get("version"):
        return f"models:/{registered['name']}/{registered['version']}"
    return str(parent.info.get("model_uri", "?"))


def kept_vocabulary(own: Vocabulary, parent: Vocabulary) -> tuple[Vocabulary, tuple[str, ...]]:
    """``own`` plus the parent's categories it lacks (names compared case-insensitively), appended.

    A kept category keeps its text feature and role; its neighbours point to the same names in the new
    vocabulary (``own``'s entry for a shared name), and one that is no longer seen there is replaced by text
    similarity (:func:`~ovmlr.training.protocol.topped_up_neighbours`). ``own``'s rows are unchanged.

    Returns:
        The vocabulary and the kept names.

    Raises:
        ValueError: The two vocabularies differ in K or in the text features' dimension.
    """
    if own.neighbours.shape[1] != parent.neighbours.shape[1] or own.text.shape[1] != parent.text.shape[1]:
        raise ValueError(
            f"training.init.vocabulary keep: the parent's vocabulary has K={parent.neighbours.shape[1]}, "
            f"D={parent.text.shape[1]}; this dataset's K={own.neighbours.shape[1]}, D={own.text.shape[1]}: "
            "use vocabulary: drop"
        )
    known = {n.casefold(): i for i, n in enumerate(own.names)}
    extra = np.array([i for i, n in enumerate(parent.names) if n.casefold() not in known], dtype=np.int64)
    position = np.array([known.get(n.casefold(), -1) for n in parent.names], dtype=np.int64)
    position[extra] = len(own) + np.arange(len(extra))
    roles = (*own.roles, *(parent.roles[i] for i in extra))
    merged = Vocabulary(
        category_ids=np.concatenate(
            [own.category_ids, own.category_ids.max(initial=-1) + 1 + np.arange(len(extra))]
        ),
        names=(*own.names, *(parent.names[i] for i in extra)),
        roles=roles,
        text=np.concatenate([own.text, parent.text[extra]]).astype(np.float32),
        neighbours=np.concatenate([own.neighbours, position[parent.neighbours[extra]]]).astype(np.int64),
    )
    seen = np.array([r == "seen" for r in roles])
    neighbours, replaced = topped_up_neighbours(merged.neighbours, merged.text, seen)
    if replaced:
        logger.info("Kept labels: %d neighbour entries no longer seen, re-drawn by text similarity", replaced)
    return replace(merged, neighbours=neighbours), tuple(parent.names[i] for i in extra)


def inherit(trained: TrainedC2SRT, parent: TrainedC2SRT | None, recipe: TrainingRecipe) -> TrainedC2SRT:
    """The selected model with its lineage and, under ``vocabulary: keep``, the parent's other labels."""
    if parent is None:
        return trained
    source, keep = parent_uri(parent), recipe.init.vocabulary == "keep"
    registered = parent.info.get("registered_model") or {}
    vocabulary, kept = trained.vocabulary, ()
    if keep:
        vocabulary, kept = kept_vocabulary(trained.vocabulary, parent.vocabulary)
    thresholds = trained.thresholds
    if keep and thresholds is not None and parent.thresholds is not None:
        thresholds = thresholds.merged(parent.thresholds, kept, f"parent {source}")
    lineage = {
        "parent_uri": parent.info.get("model_uri"),
        "parent_name": registered.get("name"),
        "parent_version": registered.get("version"),
        "parent_dataset": parent.info.get("dataset"),
        "vocabulary": recipe.init.vocabulary,
        "kept_labels": list(kept),
    }
    logger.info(
        "Fine-tuned from %s (dataset %s): vocabulary %s, %d of its labels kept",
        source,
        lineage["parent_dataset"],
        recipe.init.vocabulary,
        len(kept),
    )
    info = {**trained.info, "lineage": lineage}
    return replace(trained, vocabulary=vocabulary, thresholds=thresholds, info=info)
