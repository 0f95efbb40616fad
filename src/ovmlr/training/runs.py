"""The training runs of one recipe under its selection protocol, epoch by epoch.

``disjoint`` trains a **selection run** first (the seen categories minus the pseudo-unseen ones, validated
on seen + pseudo-unseen) and then the **final run** (every seen category); ``lax`` and ``seen`` train the
final run alone, which then chooses its own epoch. :func:`plan_runs` fixes what each run trains and
validates on and its fingerprint; :func:`train_runs` trains them and yields one :class:`EpochRecord` per
epoch. What is chosen from the records (the epoch, the zero-shot weight) is :mod:`ovmlr.selection`'s.

A plan may start from a registered model (:class:`HeadInit`, ``training.init``): every run's head starts from
its weights, with its architecture, instead of a seeded initialisation.

A head with nothing to train on frozen features (ISR or IST off, ``head: mkt``), or ``epochs: 0``, is one rule
everywhere: it yields a single epoch-0 record with its initial state ("evaluated as initialised");
registering such a model is refused later, by the package step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from ovmlr.core.features import FeatureSplit
from ovmlr.core.model_factory import build_model, resolve_model_config
from ovmlr.core.params import fingerprint
from ovmlr.core.vocabulary import Vocabulary

from .alignment import fit_head_alignment
from .distributed import distributed_fit
from .fit import best_epoch, fit
from .protocol import selection_data
from .recipe import TrainingRecipe
from .tasks import make_training_task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingContext:
    """What training reads besides the recipe and the features: the backbone and the images."""

    backbone_info: dict[str, Any]  # embed_dim, logit_scale, backbone_id
    backbone_spec: dict[str, Any]  # the frozen backbone (finetune mode builds its student from it)
    image_manifest: pd.DataFrame  # finetune mode reads the images
    templates: tuple[str, ...] = ()  # the prompt templates of the text features (new names use them)


@dataclass(frozen=True)
class HeadInit:
    """The head a fine-tuning plan starts from: a registered model's head config and weights."""

    source: str  # the parent model (``models:/<name>/<version>``), for logs and the fingerprint
    model_config: dict[str, Any]  # the parent's head config: the weights fit only this architecture
    head_state: dict[str, torch.Tensor]

    def part(self) -> list[str]:
        """The fingerprint part: the source and a hash of the weights."""
        weights = fingerprint(
            *(self.head_state[k].detach().cpu().float().numpy() for k in sorted(self.head_state))
        )
        return [self.source, weights]


@dataclass(frozen=True)
class RunSpec:
    """One run: what it trains on, what it validates on, its identity."""

    role: str  # selection | final
    run_id: str
    train: FeatureSplit
    val: FeatureSplit
    vocabulary: Vocabulary  # seen (+ pseudo-unseen, or the true unseen under lax) categories it validates on


@dataclass(frozen=True)
class RunPlan:
    """The runs of a recipe, in training order (the selection run first), and the head's config."""

    recipe: TrainingRecipe
    model_config: dict[str, Any]
    vocabulary: Vocabulary  # the full training vocabulary (seen + unseen)
    runs: tuple[RunSpec, ...]
    init: HeadInit | None = None  # the registered model every run's head starts from (training.init)

    @property
    def final(self) -> RunSpec:
        """The run whose weights are kept."""
        return self.runs[-1]

    @property
    def chooser(self) -> RunSpec:
        """The run whose validation history chooses the epoch and the zero-shot weight."""
        return self.runs[0]


@dataclass
class EpochRecord:
    """One finished epoch of one run, as :func:`train_runs` yields it."""

    run: RunSpec
    checkpoint: dict[str, Any]
    keep_state: (
        bool  # a state the selection may read: the chooser's best so far, the final run's chosen epoch
    )
    summary: dict[str, Any] = field(default_factory=dict)  # the runs' facts (fingerprints, mode, PICO scores)


def plan_runs(
    recipe: TrainingRecipe,
    vocabulary: Vocabulary,
    train: FeatureSplit,
    val: FeatureSplit,
    context: TrainingContext,
    init: HeadInit | None = None,
) -> RunPlan:
    """The runs of ``recipe`` under its selection protocol (``protocol.selection_data``); with ``init``, every
    run's head is the parent's architecture and starts from its weights (``training.model`` is not read)."""
    if init is None:
        model_config = resolve_model_config(recipe.model.to_dict(), context.backbone_info)
    else:
        model_config = dict(init.model_config)
        logger.info(
            "Fine-tuning from %s: its head architecture and weights (training.model not read)", init.source
        )
    data = selection_data(train, val, vocabulary, recipe.selection)
    specs = []
    if recipe.selection.protocol == "disjoint":
        specs.append(
            ("selection", data["selection_train"], data["selection_val"], data["selection_vocabulary"])
        )
    specs.append(("final", train, data["final_val"], data["final_vocabulary"]))
    pico = asdict_if(recipe.pico, model_config.get("alignment") == "pico")
    extra = None if init is None else {"pico": pico, "init": init.part()}
    runs = tuple(
        RunSpec(
            role,
            run_fingerprint(recipe, model_config, context, vocab, split, pico if init is None else extra),
            split,
            val_split,
            vocab,
        )
        for role, split, val_split, vocab in specs
    )
    return RunPlan(recipe, model_config, vocabulary, runs, init)


def asdict_if(config: Any, condition: bool) -> dict[str, Any] | None:
    """``config`` as a dict when ``condition`` holds, else ``None`` (a fingerprint part)."""
    from dataclasses import asdict

    return asdict(config) if condition else None


def run_fingerprint(
    recipe: TrainingRecipe,
    model_config: dict[str, Any],
    context: TrainingContext,
    vocabulary: Vocabulary,
    train: FeatureSplit,
    pico: dict[str, Any] | None,
) -> str:
    """A run's identity: recipe, head, backbone, vocabulary (text, neighbours, roles), training images."""
    loop, finetune = recipe.run_parts()
    return fingerprint(
        loop,
        model_config,
        finetune,
        context.backbone_info.get("backbone_id"),
        vocabulary.text,
        vocabulary.neighbours,
        list(vocabulary.roles),
        train.image_ids.astype(str).tolist(),
        pico,
    )


def train_runs(plan: RunPlan, context: TrainingContext, store: Any) -> Iterator[EpochRecord]:
    """Train every run of ``plan`` and yield each finished epoch (``store`` gives resume points and the
    selection run's history; the caller saves the records into it).

    Under ``disjoint`` the final run stops at the epoch the selection run chose (the schedule is the full
    one's, so that epoch's weights are those of an uninterrupted run).
    """
    recipe, summary = plan.recipe, {"mode": plan.recipe.loop.mode, "model_config": plan.model_config}
    summary["selection"] = recipe.selection.name
    summary |= {f"{run.role}_fingerprint": run.run_id for run in plan.runs}
    stop = None
    for run in plan.runs:
        chooser = run is plan.chooser
        if run is plan.final and not chooser:
            stop = chosen_epoch(store.latest(plan.chooser.run_id), recipe.selection.metric)
        for record in _train_run(plan, run, context, store, stop):
            record.summary = summary | record.summary
            record.keep_state = _keep(record.checkpoint, chooser, stop, recipe.selection.metric)
            yield record


def chosen_epoch(last: dict[str, Any] | None, metric: str) -> int:
    """The epoch a run's history chooses (0 when it trained nothing)."""
    if last is None or not last["history"]:
        return 0
    return best_epoch(last["history"], metric)[0]


def _keep(checkpoint: dict[str, Any], chooser: bool, stop: int | None, metric: str) -> bool:
    """Whether the selection may need this epoch's state: the chooser's best epoch so far, or the final
    run's chosen epoch."""
    if not chooser:
        return int(checkpoint["epoch"]) == stop
    return chosen_epoch(checkpoint, metric) == int(checkpoint["epoch"])


def _train_run(
    plan: RunPlan, run: RunSpec, context: TrainingContext, store: Any, stop: int | None
) -> Iterator[EpochRecord]:
    """One run's epochs: resumed from ``store`` when ``loop.resume``, stopped after epoch ``stop`` if set."""
    cfg = plan.recipe.loop
    last_epoch = cfg.epochs if stop is None else min(stop, cfg.epochs)
    resume_from = store.latest(run.run_id) if cfg.resume else None
    if resume_from is not None and resume_from["epoch"] >= last_epoch:
        logger.info(
            "%s run %s already finished %d epochs; nothing to train", run.role, run.run_id, last_epoch
        )
        yield EpochRecord(run, resume_from, True)
        return
    head = build_model(plan.model_config, seed=cfg.seed)
    if plan.init is not None:
        head.load_state_dict(plan.init.head_state)
    facts = (
        {}
        if resume_from is not None
        else fit_head_alignment(head, run.train, run.vocabulary.subset("seen"), plan.recipe.pico)
    )
    summary = {f"{run.role}/{k}": v for k, v in facts.items()}
    if not _trainable(head, cfg.mode) or last_epoch == 0:
        logger.info(
            "%s run: nothing to train (no trainable parameter or 0 epochs): evaluated as initialised",
            run.role,
        )
        yield EpochRecord(run, initial_checkpoint(run.run_id, head), True, summary | {"trainable": False})
        return
    logger.info(
        "Training the %s run (%d categories, %d images)", run.role, len(run.vocabulary), len(run.train)
    )
    for checkpoint in _checkpoints(plan, run, head, context, resume_from):
        yield EpochRecord(run, checkpoint, True, summary | {"trainable": True})
        if int(checkpoint["epoch"]) >= last_epoch:
            return


def _trainable(head: nn.Module, mode: str) -> bool:
    """Whether training changes anything: a finetune run always trains its student."""
    return mode == "finetune" or any(p.requires_grad for p in head.parameters())


def initial_checkpoint(run_id: str, head: nn.Module) -> dict[str, Any]:
    """An epoch-0 checkpoint of an untrained head (no history)."""
    state = {k: v.detach().cpu().clone() for k, v in head.state_dict().items()}
    return {"fingerprint": run_id, "epoch": 0, "model_state": state, "history": []}


def _checkpoints(
    plan: RunPlan, run: RunSpec, head: nn.Module, context: TrainingContext, resume_from: dict[str, Any] | None
) -> Iterator[dict[str, Any]]:
    """The run's per-epoch checkpoints: one process, or DDP ranks under torchrun."""
    recipe = plan.recipe
    if recipe.distributed.enabled:
        return distributed_fit(
            head,
            run.train,
            run.val,
            run.vocabulary,
            recipe.loop,
            plan.model_config,
            run.run_id,
            recipe.distributed,
            resume_from,
        )
    task = make_training_task(
        recipe.loop, head, run.train, run.val, context.backbone_spec, context.image_manifest, recipe.finetune
    )
    return fit(
        task,
        run.val.labels,
        run.vocabulary.subset("seen"),
        run.vocabulary,
        recipe.loop,
        run.run_id,
        resume_from,
    )
