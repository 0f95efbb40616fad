"""The MLflow pyfunc flavour of a trained C²SRT model: scores images given their backbone features.

Input: a DataFrame with one row per image and two list columns, ``global_feature`` (D floats, the frozen
backbone's global feature) and ``patch_features`` (P·D floats, the projected patch tokens, row-major).
Output: a DataFrame of scores, one column per category of the model's vocabulary (seen + unseen).

Load it back with ``mlflow.pyfunc.load_model("models:/ovmlr-c2srt@champion")``. The logged model carries
the ``ovmlr`` package as MLflow ``code_paths`` and pins its third-party requirements
(:func:`model_requirements`), so it also loads in an environment built from its ``requirements.txt`` alone.

A model trained in ``finetune`` mode also carries its student image encoder (``student_state``, ``mode``):
its inputs must then be the *student's* features (``ovmlr.backbones.student.StudentImageEncoder`` built from
the same backbone with these weights), not the frozen backbone's cached ones.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from ovmlr.training.vocabulary import Vocabulary

# Third-party distributions the scoring path imports (the head, PyG's reference GATv2, the vocabulary, tqdm).
MODEL_DISTRIBUTIONS = ("torch", "torch_geometric", "numpy", "pandas", "tqdm", "cloudpickle")


def model_requirements() -> list[str]:
    """``pip_requirements`` of the logged model: :data:`MODEL_DISTRIBUTIONS` pinned to the installed versions.

    MLflow's own inference of requirements fails on a model defined in a local package (it falls back to
    ``cloudpickle`` alone), so they are stated explicitly; MLflow adds itself.
    """
    return [f"{name}=={version(name)}" for name in MODEL_DISTRIBUTIONS]


def model_code_paths() -> list[str]:
    """``code_paths`` of the logged model: the ``ovmlr`` package, which defines the pickled classes."""
    return [str(Path(__file__).resolve().parents[1])]


def features_to_frame(
    global_feats: np.ndarray, patch_feats: np.ndarray, dtype: type = np.float32
) -> pd.DataFrame:
    """The pyfunc input frame of global [N, D] and patch [N, P, D] features.

    ``dtype`` float64 is for the logged input example: MLflow's serving example goes through JSON, which
    comes back as float64, and a float32 signature would refuse it; float32 inputs cast up to it safely.
    """
    n = len(global_feats)
    return pd.DataFrame(
        {
            "global_feature": list(np.asarray(global_feats, dtype=dtype).reshape(n, -1)),
            "patch_features": list(np.asarray(patch_feats, dtype=dtype).reshape(n, -1)),
        }
    )


class C2SRTPyfuncModel(mlflow.pyfunc.PythonModel):
    """A trained C²SRT head with its vocabulary, servable through MLflow.

    Args:
        model_config: The model config dict (``C2SRTConfig`` fields).
        model_state: The trained state dict.
        vocabulary: The categories it scores (text features and IST neighbours included).
        num_patches: P, to unflatten ``patch_features``.
        mode: ``frozen`` (inputs: the backbone's cached features) or ``finetune``.
        student_state: The student encoder's weights (``finetune`` only).
    """

    def __init__(
        self,
        model_config: dict[str, Any],
        model_state: dict[str, torch.Tensor],
        vocabulary: Vocabulary,
        num_patches: int,
        mode: str = "frozen",
        student_state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        if (mode == "finetune") != (student_state is not None):
            raise ValueError("a finetune-mode model needs its student_state, and only it has one")
        self.model_config = model_config
        self.model_state = model_state
        self.vocabulary = vocabulary
        self.num_patches = num_patches
        self.mode = mode
        self.student_state = student_state
        self._model = None

    def _module(self):
        if self._model is None:
            from ovmlr.training.model_factory import build_model

            model = build_model(self.model_config)
            model.load_state_dict(self.model_state)
            self._model = model.eval()
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Scores [N, C] for the images of ``model_input``."""
        from ovmlr.training.loop import predict_scores

        missing = {"global_feature", "patch_features"} - set(model_input.columns)
        if missing:
            raise ValueError(f"model input lacks columns {sorted(missing)}")
        g = np.stack([np.asarray(v, dtype=np.float32) for v in model_input["global_feature"]])
        p = np.stack([np.asarray(v, dtype=np.float32) for v in model_input["patch_features"]])
        p = p.reshape(len(p), self.num_patches, g.shape[1])
        scores = predict_scores(self._module(), g, p, self.vocabulary, 256, torch.device("cpu"))
        return pd.DataFrame(scores, columns=list(self.vocabulary.names))
