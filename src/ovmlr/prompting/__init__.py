"""Learnt prompts for the category text features (Table 5, "Prompt Tuning"): CoOp's learnable context.

Shape letters: N images, S seen categories, C categories, M context vectors, W text-tower width,
L tokens per prompt, D joint image-text dimension.
"""

from ovmlr.prompting.coop import (
    CoOpConfig,
    HFTextTower,
    NamePrompts,
    NativeTextTower,
    PromptLearner,
    context_order,
    context_text_features,
    embedding_text_tower,
    initial_context,
    learn_context,
    multilabel_loss,
)

__all__ = [
    "CoOpConfig",
    "HFTextTower",
    "NamePrompts",
    "NativeTextTower",
    "PromptLearner",
    "context_order",
    "context_text_features",
    "embedding_text_tower",
    "initial_context",
    "learn_context",
    "multilabel_loss",
]
