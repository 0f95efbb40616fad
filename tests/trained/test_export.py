"""The ONNX export: onnxruntime scores equal the PyTorch model's, any batch size, and the sidecar's
preprocessing reproduces the backbone's transform."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ovmlr.backbones.student import StudentImageEncoder
from ovmlr.trained.export import (
    check_export,
    export_onnx,
    export_sidecar,
    label_thresholds,
    onnx_scores,
    preprocessing,
)

onnxruntime = pytest.importorskip("onnxruntime")
TOLERANCE = 1e-4


@pytest.fixture(name="own_export", scope="module")
def own_export_fixture(trained):
    """The tiny model exported over its own vocabulary."""
    labels = trained.labels()
    return labels, export_onnx(trained, labels)


def preprocess_like_sidecar(image: Image.Image, sidecar: dict) -> np.ndarray:
    """What a runtime without Python's ovmlr does with the sidecar: shortest side to size, centre crop,
    /255, (x - mean) / std, CHW."""
    height, width = sidecar["size"]
    assert sidecar["resize_mode"] == "shortest" and height == width
    resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[sidecar["interpolation"]]
    short, long = sorted(image.size)
    long = int(height * long / short)  # torchvision's Resize(size): the long side truncated
    resized = image.convert("RGB").resize(
        (height, long) if image.width <= image.height else (long, height), resample
    )
    left, top = round((resized.width - width) / 2), round((resized.height - height) / 2)
    pixels = np.asarray(resized.crop((left, top, left + width, top + height)), dtype=np.float32) / 255
    return ((pixels - sidecar["mean"]) / sidecar["std"]).transpose(2, 0, 1).astype(np.float32)


def test_onnxruntime_equals_the_pytorch_model_on_images_of_any_batch_size(trained, own_export, image_files):
    labels, model = own_export
    images = [Image.open(path).convert("RGB") for path in image_files]
    batch = torch.stack([trained.preprocess(image) for image in images])
    reference = trained.score(*trained.encode_images(batch), labels)
    for rows in (slice(0, 1), slice(0, 5)):  # the batch dimension is dynamic (exported with 2)
        exported = onnx_scores(model, batch[rows].numpy())
        assert exported.shape == reference[rows].shape
        np.testing.assert_allclose(exported, reference[rows], atol=TOLERANCE, rtol=0)


def test_the_sidecar_preprocessing_reproduces_the_backbone_transform(trained, image_files):
    sidecar = preprocessing(trained)
    assert sidecar["size"] == [32, 32] and len(sidecar["mean"]) == 3
    for path in image_files:
        image = Image.open(path)
        ours = preprocess_like_sidecar(image, sidecar)
        np.testing.assert_allclose(ours, trained.preprocess(image.convert("RGB")).numpy(), atol=2e-2)


def test_a_label_list_with_new_names_is_baked_in(trained):
    labels = trained.labels(["dog", "zebra", "lion"], policy="similarity")
    model = export_onnx(trained, labels)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    reference = trained.score(*trained.encode_images(images), labels)
    np.testing.assert_allclose(onnx_scores(model, images.numpy()), reference, atol=TOLERANCE, rtol=0)
    assert check_export(trained, labels, model) < TOLERANCE


def test_a_finetuned_model_with_a_zero_shot_ensemble_exports_both_towers(trained):
    config = {**trained.model_config, "score": {**trained.model_config["score"], "zero_shot_weight": 0.4}}
    student = StudentImageEncoder(trained.backbone().model.visual, 1)
    with torch.no_grad():
        for parameter in student.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))
    model = dataclasses.replace(
        trained, model_config=config, student_state=student.state_dict(), trainable_blocks=1
    )
    assert model.needs_frozen_global
    assert check_export(model, model.labels(), export_onnx(model, model.labels())) < TOLERANCE


def test_a_wrong_shape_or_dtype_is_a_clear_error(own_export):
    _, model = own_export
    with pytest.raises(
        Exception, match=r"(?s)invalid dimensions for input: images .*index: 2 Got: 16 Expected: 32"
    ):
        onnx_scores(model, np.zeros((1, 3, 16, 32), np.float32))
    with pytest.raises(Exception, match=r"Unexpected input data type. Actual: \(tensor\(double\)\)"):
        onnx_scores(model, np.zeros((1, 3, 32, 32), np.float64))


def test_the_sidecar_names_labels_and_thresholds_when_the_model_has_them(trained):
    labels = trained.labels(["cat", "zebra"], policy="similarity")
    sidecar = export_sidecar(trained, labels, 1e-7)
    assert sidecar["labels"] == ["cat", "zebra"] and sidecar["output"]["shape"] == ["batch", 2]
    assert sidecar["input"] == {"name": "images", "shape": ["batch", 3, 32, 32], "dtype": "float32"}
    assert "thresholds" not in sidecar

    @dataclasses.dataclass
    class Calibrated:  # what TrainedC2SRT.thresholds offers: one threshold per name, nan for none
        rule = "f1"

        def for_names(self, names):
            return np.array([{"cat": 0.25}.get(n, math.nan) for n in names])

    @dataclasses.dataclass
    class WithThresholds:
        thresholds: object

    assert label_thresholds(WithThresholds(Calibrated()), ("cat", "zebra")) == {"cat": 0.25}
    assert label_thresholds(WithThresholds({"Cat": 0.25, "dog": 0.1}), ("cat", "zebra")) == {"cat": 0.25}
    with pytest.raises(TypeError, match="must have for_names\\(\\) or be a mapping"):
        label_thresholds(WithThresholds([0.1]), ("cat",))
    with_thresholds = dataclasses.replace(trained)
    with_thresholds.thresholds = Calibrated()
    sidecar = export_sidecar(with_thresholds, labels, 1e-7)
    assert sidecar["thresholds"] == {"cat": 0.25} and sidecar["threshold_rule"] == "f1"
