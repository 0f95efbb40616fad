"""ONNX export of a trained model for a fixed label list: image encoder + C²SRT head in one graph.

The exported graph maps preprocessed images to scores: ``images [B, 3, H, W] float32 -> scores [B, L]``,
with B dynamic and H, W the backbone's input size. The labels' text features and IST neighbours (the
requested labels, then the seen categories their scores depend on, see
:meth:`~ovmlr.trained.model.TrainedC2SRT.labels`) are computed at export time and baked in as constants; so
is the frozen backbone's image tower when a fine-tuned model mixes in zero-shot CLIP. A JSON sidecar carries
what a runtime needs around the graph: the preprocessing (size, mean, std, interpolation, resize mode), the
label names, and their decision thresholds when the model has them.

What the export cannot do: score a name that was not exported (new names need the text tower and the
neighbour search of the Python model), or take raw image files (resize and normalise as the sidecar says).
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

import open_clip
import torch
from torch import Tensor, nn

from ovmlr.core.model_factory import build_model
from ovmlr.models.config import deep_merge

from .labels import LabelSet
from .model import TrainedC2SRT

logger = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "scores"
OPSET = 18


def traceable_head(trained: TrainedC2SRT) -> nn.Module:
    """The trained head with IST's ``dense`` reference layers: the same weights and, within float rounding,
    the same scores as the default ``lean`` layers (whose fused maps and attention have no ONNX form)."""
    head = build_model(deep_merge(trained.model_config, {"ist": {"implementation": "dense"}}))
    head.load_state_dict(trained.head_state)
    return head.eval()


class ExportedScorer(nn.Module):
    """``images [B, 3, H, W] -> scores [B, L]``: the image encoder, then the head over a fixed label set.

    Args:
        trained: The trained model (its encoder and head are used as they are, in eval mode).
        labels: The label set to score; the first ``len(labels)`` columns of the head's scores are returned.

    Shapes:
        images: [B, 3, H, W] → scores [B, L]
    """

    def __init__(self, trained: TrainedC2SRT, labels: LabelSet) -> None:
        super().__init__()
        self.encoder = trained.image_encoder()
        self.frozen = trained.backbone().model.visual if trained.needs_frozen_global else None
        self.head = traceable_head(trained)
        self.register_buffer("text", torch.from_numpy(labels.vocabulary.text.copy()))
        self.register_buffer("neighbours", torch.from_numpy(labels.vocabulary.neighbours.copy()))
        self.num_labels = len(labels)

    def forward(self, images: Tensor) -> Tensor:
        g, p = self.encoder(images)  # [B, D], [B, P, D]
        g0 = None if self.frozen is None else self.frozen(images)  # [B, D]: the zero-shot term's feature
        logits = self.head(g, p, self.text, self.neighbours, g0)["logits"]  # [B, C]
        return logits[:, : self.num_labels].float()


def preprocessing(trained: TrainedC2SRT) -> dict[str, Any]:
    """The backbone's inference preprocessing as data: what a runtime does before the graph."""
    config = open_clip.get_model_preprocess_cfg(trained.backbone().model)
    size = config.get("size", trained.backbone().model.visual.image_size)
    size = list(size) if isinstance(size, tuple | list) else [int(size), int(size)]
    return {
        "size": size,  # [H, W] of the graph's input
        "mean": [float(v) for v in config["mean"]],
        "std": [float(v) for v in config["std"]],
        "interpolation": config.get("interpolation", "bicubic"),
        "resize_mode": config.get("resize_mode", "shortest"),  # shortest side to size, then centre crop
        "channels": "RGB",
        "scale": "pixel values / 255, then (x - mean) / std",
        "layout": "NCHW float32",
    }


def label_thresholds(trained: TrainedC2SRT, names: tuple[str, ...]) -> dict[str, float] | None:
    """Decision thresholds of the exported labels, when the model has calibrated thresholds.

    ``trained.thresholds`` is the model's calibrated thresholds (an object whose ``for_names(names)`` gives
    one threshold per name, ``nan`` for none: seen labels their own, new names the new-name threshold), or a
    mapping name -> threshold. Labels without a threshold are left out. ``None`` when the model has none.
    """
    thresholds = getattr(trained, "thresholds", None)
    if thresholds is None:
        return None
    if hasattr(thresholds, "for_names"):
        values = [float(v) for v in thresholds.for_names(list(names))]
    elif isinstance(thresholds, Mapping):
        folded = {str(k).casefold(): float(v) for k, v in thresholds.items() if v is not None}
        values = [folded.get(n.casefold(), math.nan) for n in names]
    else:
        raise TypeError(
            f"trained.thresholds must have for_names() or be a mapping of label -> threshold, got "
            f"{type(thresholds).__name__}"
        )
    return {n: v for n, v in zip(names, values, strict=True) if math.isfinite(v)}


def export_onnx(trained: TrainedC2SRT, labels: LabelSet, opset: int = OPSET) -> bytes:
    """The ONNX model (serialised) of ``trained`` over ``labels``; batch dimension dynamic.

    Uses the TorchScript-based exporter (``dynamo=False``): the head's checks on its constant vocabulary
    run once at trace time, and the graph needs no ``onnxscript``.
    """
    scorer = ExportedScorer(trained, labels).eval()
    height, width = preprocessing(trained)["size"]
    example = torch.zeros(2, 3, height, width, device=trained.backbone().device)
    buffer = io.BytesIO()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused attention kernel has no ONNX form
    try:
        _trace(scorer, example, buffer, opset)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return buffer.getvalue()


def _stable_sort(g: Any, values: Any, *args: Any) -> Any:
    """ONNX of ``aten::sort``, its ``stable`` overload included (``values, stable, dim, descending``), as
    TopK over the whole axis: ONNX's TopK breaks ties by the lower index, as a stable sort does (ISR's
    Eq. 4 patch selection sorts with ``stable=True``, which the exporter's own rule misreads)."""
    from torch.onnx._internal.torchscript_exporter import symbolic_helper

    dim, descending = args[-2:] if len(args) == 3 else args[:2]
    dim = symbolic_helper._get_const(dim, "i", "dim")
    descending = symbolic_helper._get_const(descending, "i", "descending")
    return symbolic_helper._sort_helper(g, values, dim, descending=bool(descending))


def _trace(scorer: ExportedScorer, example: Tensor, buffer: io.BytesIO, opset: int) -> None:
    """``torch.onnx.export`` of the scorer into ``buffer`` (TorchScript-based exporter)."""
    torch.onnx.register_custom_op_symbolic("aten::sort", _stable_sort, opset)
    try:
        _export(scorer, example, buffer, opset)
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::sort", opset)


def _export(scorer: ExportedScorer, example: Tensor, buffer: io.BytesIO, opset: int) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace warnings about the head's Python checks on constants
        torch.onnx.export(
            scorer,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
        )


def onnx_scores(model: bytes, images: Any) -> Any:
    """Scores [B, L] of an exported model on preprocessed images [B, 3, H, W] (onnxruntime, CPU)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


def check_export(
    trained: TrainedC2SRT, labels: LabelSet, model: bytes, batch_size: int = 3, seed: int = 0
) -> float:
    """The largest |onnxruntime − PyTorch| score over a seeded batch of random images (shape checked).

    Raises:
        ValueError: The exported graph's scores have the wrong shape.
    """
    height, width = preprocessing(trained)["size"]
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch_size, 3, height, width, generator=generator)
    exported = onnx_scores(model, images.numpy())
    frozen = trained.encode_frozen_global(images) if trained.needs_frozen_global else None
    reference = trained.score(*trained.encode_images(images), labels, frozen_global=frozen)
    if exported.shape != reference.shape:
        raise ValueError(f"the exported model scores {exported.shape}, the PyTorch model {reference.shape}")
    return float(abs(exported - reference).max())


def export_sidecar(trained: TrainedC2SRT, labels: LabelSet, max_abs_diff: float) -> dict[str, Any]:
    """The JSON sidecar: input/output names, preprocessing, labels, thresholds, provenance, the check."""
    sidecar = {
        "format": "onnx",
        "opset": OPSET,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", 3, *preprocessing(trained)["size"]],
            "dtype": "float32",
        },
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(labels)], "dtype": "float32"},
        "preprocessing": preprocessing(trained),
        "labels": list(labels.names),
        "label_policies": list(labels.policies),
        "model": {
            "mode": trained.mode,
            "backbone_id": trained.backbone_spec.backbone_id,
            "dataset": trained.info.get("dataset"),
            "registered_version": trained.info.get("registered_version"),
        },
        "check": {"max_abs_diff_vs_pytorch": max_abs_diff, "images": "3 seeded random preprocessed images"},
    }
    thresholds = label_thresholds(trained, labels.names)
    if thresholds is not None:
        sidecar["thresholds"] = thresholds  # tag a label when its score >= its threshold
        sidecar["threshold_rule"] = getattr(trained.thresholds, "rule", None)
    return sidecar
