"""One configuration trained and selected in memory under a selection protocol (the ablation runner's unit).

The ``training`` pipeline does the same in checkpointed nodes (``train_c2srt`` then
``select_best_checkpoint``); this is the same sequence without the checkpoint store: the selection run
(``disjoint``), the final run, the epoch and zero-shot weight chosen on the protocol's validation data, and
the :class:`~ovmlr.trained.model.TrainedC2SRT` of the chosen epoch.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.features import FeatureSplit
from ovmlr.core.model_factory import build_model, resolve_model_config
from ovmlr.core.vocabulary import COOP_PROMPT, ENSEMBLE, Vocabulary, prompt_templates
from ovmlr.trained.model import TrainedC2SRT, split_module_state
from ovmlr.training.alignment import fit_head_alignment
from ovmlr.training.finetune import FinetuneConfig
from ovmlr.training.fit import best_epoch, fit
from ovmlr.training.loop import TrainingConfig
from ovmlr.training.protocol import SelectionConfig, choose_ensemble_weight, chooser_data, selection_data
from ovmlr.training.tasks import make_training_task

logger = logging.getLogger(__name__)


def _train_run(
    params: dict[str, Any],
    model_config: dict[str, Any],
    train: FeatureSplit,
    val: FeatureSplit,
    vocabulary: Vocabulary,
    context: dict[str, Any],
    metric: str,
    keep_epoch: int | None = None,
) -> tuple[dict, list[dict[str, float]], bool]:
    """``(state, history, trainable)`` of one run, keeping one state only: that of ``keep_epoch``, or
    (``None``) of the best epoch so far by ``metric``; the initial state when nothing is trained."""
    cfg = TrainingConfig.from_params(params["loop"])
    head = build_model(model_config, seed=cfg.seed)
    fit_head_alignment(head, train, vocabulary.subset("seen"), params.get("pico"))
    task = make_training_task(
        cfg,
        head,
        train,
        val,
        context["backbone_spec"],
        context["image_manifest"],
        params.get("finetune"),
    )
    trainable = any(p.requires_grad for p in task.module.parameters())
    state = {k: v.detach().cpu().clone() for k, v in task.module.state_dict().items()}
    history: list[dict[str, float]] = []
    if trainable and cfg.epochs > 0:
        for checkpoint in fit(task, val.labels, vocabulary.subset("seen"), vocabulary, cfg, "in-memory"):
            history, epoch = checkpoint["history"], checkpoint["epoch"]
            chosen = keep_epoch if keep_epoch is not None else best_epoch(history, metric)[0]
            if epoch == chosen:
                state = checkpoint["model_state"]
    else:
        logger.info("no trainable parameter (or 0 epochs): evaluated as initialised")
    return state, history, trainable


def train_selected_model(
    params: dict[str, Any],
    vocabulary: Vocabulary,
    splits: dict[str, FeatureSplit],
    context: dict[str, Any],
) -> tuple[TrainedC2SRT, dict[str, Any]]:
    """Train one configuration and keep the epoch (and zero-shot weight) its selection protocol chooses.

    ``disjoint``: the selection run trains first and chooses the epoch; the final run then keeps only that
    epoch's state. Otherwise the final run chooses itself (keeping its best state so far). At most two
    states are held in memory (a fine-tuned student's is large).

    Args:
        params: ``training`` parameters (``loop``, ``model``, ``finetune``, ``selection``, ``prompt``,
            ``pico``).
        vocabulary: Seen + unseen vocabulary (prompt set and neighbours).
        splits: ``train``, ``val`` feature splits.
        context: ``backbone_info``, ``backbone_spec``, ``image_manifest``, ``templates``.

    Returns:
        The selected model and facts: ``trainable``, ``epoch``, ``mode``, ``selection``, ``val_selection``,
        ``zero_shot_weight``.
    """
    cfg = TrainingConfig.from_params(params["loop"])
    ft = FinetuneConfig.from_params(params.get("finetune"))
    selection = SelectionConfig.from_params(params.get("selection"))
    model_config = resolve_model_config(params["model"], context["backbone_info"])
    data = selection_data(splits["train"], splits["val"], vocabulary, selection)
    chooser_vocab, chooser_val = chooser_data(data, selection)
    run = partial(_train_run, params, model_config, context=context, metric=selection.metric)
    if selection.protocol == "disjoint":
        chooser_state, chooser_history, trainable = run(data["selection_train"], chooser_val, chooser_vocab)
        epoch = best_epoch(chooser_history, selection.metric)[0] if chooser_history else 0
        final_state, _, _ = run(
            splits["train"], data["final_val"], data["final_vocabulary"], keep_epoch=epoch
        )
    else:
        final_state, chooser_history, trainable = run(splits["train"], chooser_val, chooser_vocab)
        chooser_state = final_state
        epoch = best_epoch(chooser_history, selection.metric)[0] if chooser_history else 0
    facts: dict[str, Any] = {
        "trainable": trainable,
        "epoch": epoch,
        "mode": cfg.mode,
        "selection": selection.name,
    }
    if chooser_history:
        facts["val_selection"] = best_epoch(chooser_history, selection.metric)[1]
    # the prompt tuning row's text features are in its vocabulary; new names would use the ensemble
    prompt = ENSEMBLE if params["prompt"] == COOP_PROMPT else params["prompt"]

    def model_at(state: dict, vocab: Vocabulary, config: dict[str, Any]) -> TrainedC2SRT:
        head_state, student_state = split_module_state(state, cfg.mode)
        return TrainedC2SRT(
            model_config=config,
            head_state=head_state,
            vocabulary=vocab,
            backbone_spec=BackboneSpec.from_dict(context["backbone_spec"]),
            templates=prompt_templates(prompt, context["templates"]),
            student_state=student_state,
            trainable_blocks=ft.trainable_blocks if student_state is not None else 0,
            device=cfg.device if cfg.device != "auto" else "cpu",
        )

    if selection.zero_shot_weights:
        chooser = model_at(chooser_state, chooser_vocab, model_config)
        weight, tried = choose_ensemble_weight(
            chooser,
            chooser_val,
            selection,
            context["image_manifest"],
            ft.image_root,
            cfg.eval_batch_size,
            cfg.ks,
        )
        facts["val_selection"] = tried[weight]
        model_config = {**model_config, "score": {**model_config["score"], "zero_shot_weight": weight}}
    facts["zero_shot_weight"] = float(model_config["score"].get("zero_shot_weight", 0.0))
    return model_at(final_state, vocabulary, model_config), facts
