"""Save and load a :class:`~ovmlr.trained.model.TrainedC2SRT` as one folder, in safe formats only.

Layout (``FORMAT`` = ``ovmlr.trained_c2srt/1``)::

    <folder>/
      trained_model.json   # format, head config, templates, policy, student settings, info, backbone spec,
                           # decision thresholds (absent in folders written before calibration: None)
      head.safetensors     # the C²SRT head
      student.safetensors  # the fine-tuned student image encoder (finetune mode only)
      backbone.safetensors # the backbone's weights when they are a local checkpoint (self-contained model)
      vocabulary.parquet   # category_id, name, role, text [D] (float32), neighbours [K] (int64)
      checksums.json       # SHA-256 of each file above, verified on load (ovmlr.integrity)

Tensors are safetensors, everything else JSON or parquet: loading runs no pickle. A backbone given by a
pretrained *tag* (``openai``, ``laion2b_…``) is stored as the tag and fetched by open_clip when loaded;
a local checkpoint (the demo backbone) is copied in, so the folder is all a served model needs. A text tower
named ``pypkg:<module>`` in the architecture is resolved on the loading machine: no machine path is stored.
The backbone keeps its ``backbone_id`` (the identity of the features), whatever file now holds its weights.
A truncated or changed file is an error naming it and what to do, before anything reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.thresholds import Thresholds
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.integrity import read_or_damaged, verify_checksums, write_checksums

from .model import TrainedC2SRT

FORMAT = "ovmlr.trained_c2srt/1"
CONFIG_FILE = "trained_model.json"
BACKBONE_FILE = "backbone.safetensors"
DAMAGED_ADVICE = (
    "Delete the model folder and write it again (`kedro run --pipeline=train` trains and registers a new "
    "model), or load another version (predict.model_uri=models:/<name>/<version>)"
)


def _save_tensors(state: dict[str, torch.Tensor], path: Path) -> None:
    # safetensors refuses shared or non-contiguous storage: every tensor gets its own contiguous copy
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, str(path))


def checkpoint_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The model weights of an open_clip checkpoint file, read without pickle (``weights_only=True``)."""
    if path.endswith(".safetensors"):
        return load_file(path)
    data = torch.load(path, map_location="cpu", weights_only=True)
    state = data.get("state_dict", data) if isinstance(data, dict) else data
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _uses_packaged_tower(spec: BackboneSpec) -> bool:
    text_cfg = (spec.model_config or {}).get("text_cfg", {})
    return str(text_cfg.get("hf_model_name", "")).startswith("pypkg:")


def _portable_spec(spec: BackboneSpec, folder: Path) -> dict[str, Any]:
    """The spec as stored: local weights copied in (relative name), machine paths dropped."""
    data = spec.to_dict()
    if spec.pretrained is not None and Path(spec.pretrained).is_file():
        _save_tensors(checkpoint_state_dict(spec.pretrained), folder / BACKBONE_FILE)
        data["pretrained"] = BACKBONE_FILE
    if _uses_packaged_tower(spec):
        data["hf_text_tower"] = None
    return data


def vocabulary_frame(vocabulary: Vocabulary) -> pd.DataFrame:
    """The vocabulary as a table (one row per category)."""
    return pd.DataFrame(
        {
            "category_id": vocabulary.category_ids.astype(np.int64),
            "name": list(vocabulary.names),
            "role": list(vocabulary.roles),
            "text": list(vocabulary.text.astype(np.float32)),
            "neighbours": list(vocabulary.neighbours.astype(np.int64)),
        }
    )


def vocabulary_from_frame(frame: pd.DataFrame) -> Vocabulary:
    """The inverse of :func:`vocabulary_frame`."""
    return Vocabulary(
        category_ids=frame["category_id"].to_numpy(dtype=np.int64),
        names=tuple(frame["name"].astype(str)),
        roles=tuple(frame["role"].astype(str)),
        text=np.stack([np.asarray(v, dtype=np.float32) for v in frame["text"]]),
        neighbours=np.stack([np.asarray(v, dtype=np.int64) for v in frame["neighbours"]]),
    )


def save_trained(model: TrainedC2SRT, folder: str | Path) -> Path:
    """Write ``model`` into ``folder`` (created; existing files of the layout are replaced)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save_tensors(model.head_state, folder / "head.safetensors")
    if model.student_state is not None:
        _save_tensors(model.student_state, folder / "student.safetensors")
    vocabulary_frame(model.vocabulary).to_parquet(folder / "vocabulary.parquet", index=False)
    config = {
        "format": FORMAT,
        "model_config": model.model_config,
        "templates": list(model.templates),
        "trainable_blocks": model.trainable_blocks,
        "neighbour_policy": model.neighbour_policy,
        "mode": model.mode,
        "info": model.info,
        "backbone_spec": _portable_spec(model.backbone_spec, folder),
        "thresholds": None if model.thresholds is None else model.thresholds.to_dict(),
    }
    text = json.dumps(config, indent=2, ensure_ascii=False, default=_json_default)
    (folder / CONFIG_FILE).write_text(text, encoding="utf-8")
    write_checksums(folder, ["head.safetensors", "vocabulary.parquet", CONFIG_FILE, *_weight_files(config)])
    return folder


def _weight_files(config: dict[str, Any]) -> list[str]:
    """The optional weight files of a saved folder: the student's, the copied-in backbone's."""
    student = ["student.safetensors"] if config["mode"] == "finetune" else []
    return student + ([BACKBONE_FILE] if config["backbone_spec"].get("pretrained") == BACKBONE_FILE else [])


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable in a trained model's info: {type(value).__name__}")


def load_trained(folder: str | Path, device: str = "cpu") -> TrainedC2SRT:
    """Read a model written by :func:`save_trained`, its files checked against ``checksums.json`` first.

    Raises:
        ValueError: Naming the folder when it is not a trained-model folder of a known format.
        DamagedFile: (a ValueError) Naming a truncated, changed or unreadable file and what to do.
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"'{folder}' is not a trained ovmlr model: it has no {CONFIG_FILE}")
    verify_checksums(folder, DAMAGED_ADVICE)
    config = read_or_damaged(path, lambda p: json.loads(p.read_text(encoding="utf-8")), DAMAGED_ADVICE)
    if config.get("format") != FORMAT:
        raise ValueError(f"'{path}': format {config.get('format')!r} is not {FORMAT!r}")
    spec = dict(config["backbone_spec"])
    if spec.get("pretrained") == BACKBONE_FILE:
        spec["pretrained"] = str((folder / BACKBONE_FILE).resolve())
    student = folder / "student.safetensors"
    thresholds = config.get("thresholds")
    return TrainedC2SRT(
        model_config=config["model_config"],
        head_state=_read_weights(folder / "head.safetensors"),
        vocabulary=read_or_damaged(
            folder / "vocabulary.parquet", lambda p: vocabulary_from_frame(pd.read_parquet(p)), DAMAGED_ADVICE
        ),
        backbone_spec=BackboneSpec.from_dict(spec),
        templates=tuple(config["templates"]),
        student_state=_read_weights(student) if config["mode"] == "finetune" else None,
        trainable_blocks=int(config["trainable_blocks"]),
        neighbour_policy=config["neighbour_policy"],
        info=config.get("info", {}),
        thresholds=None if thresholds is None else Thresholds.from_dict(thresholds),
        device=device,
    )


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file of the folder (a damaged one named)."""
    return read_or_damaged(path, lambda p: load_file(str(p)), DAMAGED_ADVICE)
